// A server's live tools: the list as the upstream gives it, which tools each
// workspace lets through, and (for admins) each workspace's provisioning
// editor with a live preview, as the edge's globs will judge it, of which tools pass.

import { Button, Form, Heading } from 'react-aria-components';
import { useState } from 'react';
import { api, type Schemas } from '../api/client';
import { ApiFailure, unwrap } from '../api/errors';
import { Field } from '../components/Field';
import { ErrorNotice, Loading } from '../components/Status';
import type { Loaded } from '../components/useLoad';
import { parseGlobs, toolPasses } from '../lib/glob';

type ServerTools = Schemas['ServerTools'];

export function ToolList({ slug, tools, canEdit }: { slug: string; tools: Loaded<ServerTools>; canEdit: boolean }) {
  if (!tools.data) {
    return (
      <section aria-label="Tools">
        <Heading level={2}>Tools</Heading>
        {tools.error ? <ToolsError slug={slug} error={tools.error} /> : <Loading what="the live tool list" />}
      </section>
    );
  }
  const { tools: list, workspaces, fetched_at } = tools.data;
  return (
    <section aria-label="Tools">
      <div className="page-head">
        <Heading level={2}>Tools</Heading>
        <Button className="button small" onPress={tools.reload}>
          Refresh tools
        </Button>
      </div>
      <p className="muted">
        {list.length} tools, fetched live from the upstream at {new Date(fetched_at).toLocaleTimeString()}.
      </p>
      {list.length === 0 ? (
        <p className="empty">The upstream lists no tools.</p>
      ) : (
        <table aria-label="Tools of the server">
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col">Description</th>
              {workspaces.map((w) => (
                <th scope="col" key={w.workspace}>
                  In {w.workspace}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {list.map((tool) => (
              <tr key={tool.name}>
                <td>
                  <code>{tool.name}</code>
                  {tool.title ? <div className="muted">{tool.title}</div> : null}
                </td>
                <td>{tool.description ?? '—'}</td>
                {workspaces.map((w) => (
                  <td key={w.workspace} className={w.allowed.includes(tool.name) ? 'allowed' : 'denied'}>
                    {w.allowed.includes(tool.name) ? 'allowed' : 'denied'}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {workspaces.length === 0 ? <p className="muted">Not provisioned to any workspace yet.</p> : null}
      {canEdit
        ? workspaces.map((w) => (
            <ProvisionEditor key={w.workspace} slug={slug} workspace={w} tools={list.map((t) => t.name)} onSaved={tools.reload} />
          ))
        : null}
    </section>
  );
}

/** Why the list could not be had; for a per-user OAuth server without a connection, a way to connect. */
function ToolsError({ slug, error }: { slug: string; error: unknown }) {
  const [failure, setFailure] = useState<unknown>(null);
  const needsConnection = error instanceof ApiFailure && error.code === 'connection_required' && error.message.includes('/v1/connections');
  return (
    <>
      <ErrorNotice error={error} />
      {needsConnection ? (
        <Button
          className="button primary"
          onPress={async () => {
            try {
              const link = unwrap(await api.POST('/v1/connections', { body: { server: slug } }));
              window.location.assign(link.authorization_url);
            } catch (e) {
              setFailure(e);
            }
          }}
        >
          Connect your account
        </Button>
      ) : null}
      <ErrorNotice error={failure} />
    </>
  );
}

/** One workspace's allow and deny globs, with a live preview of which tools pass. */
function ProvisionEditor({
  slug,
  workspace,
  tools,
  onSaved,
}: {
  slug: string;
  workspace: Schemas['WorkspaceTools'];
  tools: string[];
  onSaved: () => void;
}) {
  const [allow, setAllow] = useState(workspace.allow.join(', '));
  const [deny, setDeny] = useState(workspace.deny.join(', '));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  const allowGlobs = parseGlobs(allow);
  const denyGlobs = parseGlobs(deny);
  const passing = tools.filter((t) => toolPasses(t, allowGlobs, denyGlobs));
  const name = workspace.workspace;
  return (
    <Form
      className="form provision-editor"
      aria-label={`Provisioning in ${name}`}
      onSubmit={async (event) => {
        event.preventDefault();
        setError(null);
        setSaved('');
        try {
          unwrap(
            await api.PUT('/v1/workspaces/{ws}/servers/{slug}', {
              params: { path: { ws: name, slug } },
              body: { tools: { allow: allowGlobs, deny: denyGlobs } },
            }),
          );
          setSaved(`Saved the provisioning in ${name}.`);
          onSaved();
        } catch (failure) {
          setError(failure);
        }
      }}
    >
      <Heading level={3}>Provisioning in {name}</Heading>
      <Field label="Allow globs" name="tools.allow" value={allow} onChange={setAllow} error={error}
        description="Comma-separated; empty allows every tool. * is any run, ? one character." />
      <Field label="Deny globs" name="tools.deny" value={deny} onChange={setDeny} error={error}
        description="Comma-separated; a tool matching one is always denied." />
      <div role="status" aria-live="polite" aria-label={`Preview for ${name}`} className="preview">
        <strong>
          {passing.length} of {tools.length} tools pass
        </strong>
        <ul>
          {tools.map((t) => (
            <li key={t} className={passing.includes(t) ? 'allowed' : 'denied'}>
              <code>{t}</code> {passing.includes(t) ? 'passes' : 'is denied'}
            </li>
          ))}
        </ul>
      </div>
      <ErrorNotice error={error} />
      <p role="status" className="muted">
        {saved}
      </p>
      <Button type="submit" className="button primary">
        Save provisioning in {name}
      </Button>
    </Form>
  );
}
