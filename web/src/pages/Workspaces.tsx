// Workspaces: list, create, delete; each workspace's servers with their tool
// rules, provisioning, and its tokens.

import { Button, Form, Heading } from 'react-aria-components';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Field } from '../components/Field';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { canAdminister, type Role } from '../lib/roles';
import { ProvisionForm } from './ProvisionForm';

export function Workspaces() {
  const caller = useCaller();
  const admin = canAdminister(caller.role as Role);
  const workspaces = useLoad(async () => unwrap(await api.GET('/v1/workspaces', { params: { query: { limit: 200 } } })), []);
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <Heading level={1}>Workspaces</Heading>
      {admin ? (
        <Form
          className="inline"
          aria-label="Create a workspace"
          onSubmit={async (event) => {
            event.preventDefault();
            setError(null);
            try {
              unwrap(await api.POST('/v1/workspaces', { body: { slug, name: name || undefined } }));
              setSlug('');
              setName('');
              workspaces.reload();
            } catch (failure) {
              setError(failure);
            }
          }}
        >
          <Field label="Workspace slug" name="slug" value={slug} onChange={setSlug} error={error} isRequired />
          <Field label="Workspace name" name="name" value={name} onChange={setName} error={error} />
          <Button type="submit" className="button primary">
            Create workspace
          </Button>
        </Form>
      ) : null}
      <ErrorNotice error={error} />
      <ListView
        what="workspaces"
        loading={workspaces.loading}
        error={workspaces.error}
        items={workspaces.data?.workspaces}
        empty="No workspaces yet."
      >
        {(items) => (
        <table aria-label="Workspaces">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Slug</th>
              <th scope="col">Created</th>
              {admin ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {items.map((ws) => (
              <tr key={ws.id}>
                <td>
                  <Link to={`/workspaces/${ws.slug}`}>{ws.name}</Link>
                </td>
                <td>
                  <code>{ws.slug}</code>
                </td>
                <td>{new Date(ws.created_at).toLocaleString()}</td>
                {admin ? (
                  <td>
                    <ConfirmButton
                      label={`Delete ${ws.slug}`}
                      title={`Delete workspace ${ws.name}?`}
                      body="Its provisioning and every token of it go too; the edges refuse those tokens at once."
                      confirmLabel="Delete workspace"
                      onConfirm={async () => {
                        unwrap(await api.DELETE('/v1/workspaces/{ws}', { params: { path: { ws: ws.slug } } }));
                        workspaces.reload();
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

export function WorkspaceDetail() {
  const { ws = '' } = useParams();
  const caller = useCaller();
  const admin = canAdminister(caller.role as Role);
  const provisions = useLoad(
    async () => unwrap(await api.GET('/v1/workspaces/{ws}/servers', { params: { path: { ws } } })),
    [ws],
  );
  return (
    <>
      <div className="page-head">
        <Heading level={1}>Workspace {ws}</Heading>
        <Link className="button" to={`/tokens?team=${encodeURIComponent(ws)}`}>
          Tokens of {ws}
        </Link>
      </div>
      <Heading level={2}>Servers</Heading>
      <ListView
        what="provisioned servers"
        loading={provisions.loading}
        error={provisions.error}
        items={provisions.data?.servers}
        empty="No servers provisioned."
      >
        {(items) => (
        <table aria-label="Provisioned servers">
          <thead>
            <tr>
              <th scope="col">Server</th>
              <th scope="col">Allow</th>
              <th scope="col">Deny</th>
              {admin ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.server}>
                <td>
                  <Link to={`/servers/${p.server}`}>{p.server}</Link>
                </td>
                <td>{(p.tools.allow ?? []).join(', ') || 'all'}</td>
                <td>{(p.tools.deny ?? []).join(', ') || '—'}</td>
                {admin ? (
                  <td>
                    <ConfirmButton
                      label={`Unprovision ${p.server}`}
                      title={`Remove ${p.server} from ${ws}?`}
                      body="The workspace's tokens stop reaching this server at once."
                      confirmLabel="Unprovision"
                      onConfirm={async () => {
                        unwrap(
                          await api.DELETE('/v1/workspaces/{ws}/servers/{slug}', {
                            params: { path: { ws, slug: p.server } },
                          }),
                        );
                        provisions.reload();
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
      {admin ? <ProvisionForm workspace={ws} onSaved={provisions.reload} /> : null}
    </>
  );
}
