// Servers: the org's upstream MCP servers, with create, edit and delete.

import { Heading } from 'react-aria-components';
import { Link } from 'react-router';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { canAdminister, type Role } from '../lib/roles';

export function Servers() {
  const caller = useCaller();
  const admin = canAdminister(caller.role as Role);
  const servers = useLoad(async () => unwrap(await api.GET('/v1/servers', { params: { query: { limit: 200 } } })), []);
  return (
    <>
      <div className="page-head">
        <Heading level={1}>Servers</Heading>
        {admin ? (
          <Link className="button primary" to="/servers/new">
            Register a server
          </Link>
        ) : null}
      </div>
      <ListView
        what="servers"
        loading={servers.loading}
        error={servers.error}
        items={servers.data?.servers}
        empty={`No servers yet.${admin ? ' Register the first upstream MCP server.' : ''}`}
      >
        {(items) => (
        <table aria-label="Servers">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Slug</th>
              <th scope="col">URL</th>
              <th scope="col">Auth</th>
              <th scope="col">Headers</th>
              <th scope="col">Workspaces</th>
              <th scope="col">OAuth set-up</th>
              {admin ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {items.map((server) => (
              <tr key={server.id}>
                <td>
                  <Link to={`/servers/${server.slug}`}>{server.name}</Link>
                </td>
                <td>
                  <code>{server.slug}</code>
                </td>
                <td className="url">{server.url}</td>
                <td>{server.auth_type}</td>
                <td>{server.headers.length > 0 ? server.headers.map((h) => `${h}: set`).join(', ') : '—'}</td>
                <td>{server.workspaces.length > 0 ? server.workspaces.join(', ') : '—'}</td>
                <td>{server.oauth_setup ?? '—'}</td>
                {admin ? (
                  <td className="row-actions">
                    <Link className="button small" to={`/servers/${server.slug}/edit`} aria-label={`Edit ${server.slug}`}>
                      Edit
                    </Link>
                    <ConfirmButton
                      label={`Delete ${server.slug}`}
                      title={`Delete ${server.name}?`}
                      body="Its provisioning, and every user's connection to it, go too. Clients using it get 404 from the edge."
                      confirmLabel="Delete server"
                      onConfirm={async () => {
                        unwrap(await api.DELETE('/v1/servers/{slug}', { params: { path: { slug: server.slug } } }));
                        servers.reload();
                      }}
                    />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
        )}
      </ListView>
    </>
  );
}
