// One server: its settings, its URL on the edge, and where it is provisioned.

import { Heading } from 'react-aria-components';
import { Link, useParams } from 'react-router';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ErrorNotice, Loading } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { serverUrl } from '../lib/clientConfig';
import { canAdminister, type Role } from '../lib/roles';
import { ToolList } from './ServerTools';
import { TryTool } from './TryTool';

export function ServerDetail() {
  const { slug = '' } = useParams();
  const caller = useCaller();
  const server = useLoad(async () => unwrap(await api.GET('/v1/servers/{slug}', { params: { path: { slug } } })), [slug]);
  const tools = useLoad(async () => unwrap(await api.GET('/v1/servers/{slug}/tools', { params: { path: { slug } } })), [slug]);
  const role = caller.role as Role;
  // Trying a tool is using the server: viewers and auditors only read.
  const mayTry = role === 'member' || canAdminister(role);
  if (!server.data) return server.error ? <ErrorNotice error={server.error} /> : <Loading what="the server" />;
  const s = server.data;
  return (
    <>
      <div className="page-head">
        <Heading level={1}>{s.name}</Heading>
        {canAdminister(role) ? (
          <Link className="button" to={`/servers/${s.slug}/edit`}>
            Edit server
          </Link>
        ) : null}
      </div>
      <dl className="facts">
        <dt>Slug</dt>
        <dd>
          <code>{s.slug}</code>
        </dd>
        <dt>Upstream URL</dt>
        <dd className="url">{s.url}</dd>
        <dt>Gatehouse URL</dt>
        <dd className="url">{serverUrl(caller.edge_url, caller.org.slug, s.slug)}</dd>
        <dt>Auth type</dt>
        <dd>{s.auth_type}</dd>
        <dt>Static headers</dt>
        <dd>{s.headers.length > 0 ? s.headers.map((h) => `${h}: set`).join(', ') : '—'}</dd>
        <dt>Provisioned to new workspaces</dt>
        <dd>{s.auto_provision ? 'yes' : 'no'}</dd>
        <dt>Workspaces</dt>
        <dd>{s.workspaces.length > 0 ? s.workspaces.join(', ') : '—'}</dd>
        {s.oauth_setup ? (
          <>
            <dt>OAuth set-up</dt>
            <dd>{s.oauth_setup}</dd>
          </>
        ) : null}
      </dl>
      <ToolList slug={s.slug} tools={tools} canEdit={canAdminister(role)} />
      {mayTry && tools.data ? <TryTool slug={s.slug} tools={tools.data} /> : null}
    </>
  );
}
