// Gateway tokens: mint (shown once, with a copy button and the client
// configuration to paste), list with filters and pages, revoke, rotate.

import { Button, Dialog, DialogTrigger, Form, Heading, Modal } from 'react-aria-components';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Field } from '../components/Field';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { clientConfig } from '../lib/clientConfig';
import { parseGlobs } from '../lib/glob';

type Issued = Schemas['IssuedToken'];

export function Tokens() {
  const [params, setParams] = useSearchParams();
  const team = params.get('team') ?? '';
  const user = params.get('user') ?? '';
  const cursor = params.get('cursor') ?? '';
  const [teamInput, setTeamInput] = useState(team);
  const [userInput, setUserInput] = useState(user);
  const [issued, setIssued] = useState<Issued | null>(null);
  const tokens = useLoad(
    async () =>
      unwrap(
        await api.GET('/v1/auth/tokens', {
          params: { query: { team: team || undefined, user: user || undefined, cursor: cursor || undefined, limit: 50 } },
        }),
      ),
    [team, user, cursor],
  );

  return (
    <>
      <div className="page-head">
        <Heading level={1}>Tokens</Heading>
        <MintDialog onIssued={(token) => { setIssued(token); tokens.reload(); }} />
      </div>
      {issued ? <ShowOnce issued={issued} onClose={() => setIssued(null)} /> : null}
      <Form
        className="filters"
        aria-label="Filter tokens"
        onSubmit={(event) => {
          event.preventDefault();
          const next: Record<string, string> = {};
          if (teamInput.trim()) next.team = teamInput.trim();
          if (userInput.trim()) next.user = userInput.trim();
          setParams(next);
        }}
      >
        <Field label="Workspace" name="team" value={teamInput} onChange={setTeamInput} />
        <Field label="User" name="user_filter" value={userInput} onChange={setUserInput} />
        <Button type="submit" className="button">
          Filter
        </Button>
      </Form>
      <ListView what="tokens" loading={tokens.loading} error={tokens.error} items={tokens.data?.tokens} empty="No tokens match.">
        {(items) => (
        <table aria-label="Tokens">
          <thead>
            <tr>
              <th scope="col">Token</th>
              <th scope="col">User</th>
              <th scope="col">Workspace</th>
              <th scope="col">Servers</th>
              <th scope="col">Tools</th>
              <th scope="col">Expires</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((token) => (
              <tr key={token.id}>
                <td>
                  <code>{token.token_hint}</code>
                </td>
                <td>{token.user}</td>
                <td>{token.team}</td>
                <td>{(token.permissions.servers ?? []).join(', ') || 'all provisioned'}</td>
                <td>{(token.permissions.tools ?? []).join(', ') || 'all'}</td>
                <td>{token.expires_at ? new Date(token.expires_at).toLocaleString() : 'never'}</td>
                <td>{token.status}</td>
                <td className="row-actions">
                  {token.status === 'active' ? (
                    <>
                      <ConfirmButton
                        label={`Rotate ${token.token_hint}`}
                        title="Rotate this token?"
                        body="A new secret replaces this one at once; clients using the old one are refused."
                        confirmLabel="Rotate token"
                        onConfirm={async () => {
                          setIssued(unwrap(await api.POST('/v1/auth/tokens/{id}/rotate', { params: { path: { id: token.id } } })));
                          tokens.reload();
                        }}
                      />
                      <ConfirmButton
                        label={`Revoke ${token.token_hint}`}
                        title="Revoke this token?"
                        body="Every edge refuses it within a second. This cannot be undone."
                        confirmLabel="Revoke token"
                        onConfirm={async () => {
                          unwrap(await api.DELETE('/v1/auth/tokens/{id}', { params: { path: { id: token.id } } }));
                          tokens.reload();
                        }}
                      />
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        )}
      </ListView>
      <div className="pager">
        {cursor ? (
          <Button className="button small" onPress={() => setParams({ ...Object.fromEntries(params), cursor: '' })}>
            First page
          </Button>
        ) : null}
        {tokens.data?.next_cursor ? (
          <Button
            className="button small"
            onPress={() => setParams({ ...Object.fromEntries(params), cursor: tokens.data?.next_cursor ?? '' })}
          >
            Next page
          </Button>
        ) : null}
      </div>
    </>
  );
}

function MintDialog({ onIssued }: { onIssued: (token: Issued) => void }) {
  const caller = useCaller();
  const [user, setUser] = useState(caller.user?.email ?? '');
  const [team, setTeam] = useState('');
  const [scopes, setScopes] = useState('');
  const [servers, setServers] = useState('');
  const [tools, setTools] = useState('');
  const [expiresIn, setExpiresIn] = useState('30d');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <DialogTrigger>
      <Button className="button primary">Mint a token</Button>
      <Modal className="modal" isDismissable>
        <Dialog className="dialog">
          {({ close }) => (
            <Form
              onSubmit={async (event) => {
                event.preventDefault();
                setBusy(true);
                setError(null);
                try {
                  const token = unwrap(
                    await api.POST('/v1/auth/tokens', {
                      body: {
                        user,
                        team,
                        scopes: parseGlobs(scopes),
                        permissions: { servers: parseGlobs(servers), tools: parseGlobs(tools) },
                        expiresIn: expiresIn || undefined,
                      },
                    }),
                  );
                  close();
                  onIssued(token);
                } catch (failure) {
                  setError(failure);
                } finally {
                  setBusy(false);
                }
              }}
            >
              <Heading slot="title">Mint a gateway token</Heading>
              <Field label="User" name="user" value={user} onChange={setUser} error={error} isRequired />
              <Field label="Workspace" name="team" value={team} onChange={setTeam} error={error} isRequired />
              <Field label="Scopes" name="scopes" value={scopes} onChange={setScopes} error={error} description="Comma-separated; optional." />
              <Field label="Servers" name="permissions.servers" value={servers} onChange={setServers} error={error}
                description="Server slugs, comma-separated; empty for every server provisioned to the workspace." />
              <Field label="Tools" name="permissions.tools" value={tools} onChange={setTools} error={error}
                description="Tool globs (* and ?), comma-separated; empty for every tool." />
              <Field label="Expires in" name="expiresIn" value={expiresIn} onChange={setExpiresIn} error={error}
                description="Like 90m, 12h, 30d, 2w, or never." />
              <ErrorNotice error={error} />
              <div className="actions">
                <Button className="button" onPress={close}>
                  Cancel
                </Button>
                <Button type="submit" className="button primary" isDisabled={busy}>
                  Mint token
                </Button>
              </div>
            </Form>
          )}
        </Dialog>
      </Modal>
    </DialogTrigger>
  );
}

/** The token text, once: a copy button and the client configuration for its servers. */
function ShowOnce({ issued, onClose }: { issued: Issued; onClose: () => void }) {
  const caller = useCaller();
  const [copied, setCopied] = useState('');
  const servers = issued.permissions.servers ?? [];
  const slugs = servers.length > 0 ? servers : ['<server-slug>'];
  const config = JSON.stringify(clientConfig(caller.edge_url, caller.org.slug, slugs, issued.token), null, 2);
  const copy = async (what: string, text: string) => {
    await navigator.clipboard.writeText(text);
    setCopied(what);
  };
  return (
    <Modal className="modal" isOpen onOpenChange={(open) => !open && onClose()}>
      <Dialog className="dialog wide">
        <Heading slot="title">Copy the token now</Heading>
        <p>This is the only time Gatehouse shows it; it stores only a hash.</p>
        <label className="label" htmlFor="issued-token">
          Token
        </label>
        <input id="issued-token" className="mono" readOnly value={issued.token} />
        <Button className="button" onPress={() => copy('token', issued.token)}>
          Copy token
        </Button>
        <label className="label" htmlFor="client-config">
          Client configuration
        </label>
        <textarea id="client-config" className="mono" readOnly rows={10} value={config} />
        <Button className="button" onPress={() => copy('config', config)}>
          Copy client configuration
        </Button>
        <p role="status" className="muted">
          {copied ? `Copied the ${copied === 'token' ? 'token' : 'client configuration'}.` : ''}
        </p>
        <div className="actions">
          <Button className="button primary" onPress={onClose}>
            Done
          </Button>
        </div>
      </Dialog>
    </Modal>
  );
}
