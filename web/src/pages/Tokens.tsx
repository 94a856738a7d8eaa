// Gateway tokens: mint with pickers (user, workspace, its provisioned servers,
// tool globs, scopes, expiry), shown once with a copy button and the client
// configuration to paste; list with filters (user, workspace, status) and the
// API's cursor pages; revoke and rotate (shown once again), both confirmed.

import { Button, Dialog, DialogTrigger, Form, Heading, Modal } from 'react-aria-components';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Field } from '../components/Field';
import { Checkboxes, Choice, Suggest, TextList, type Option } from '../components/Pickers';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { clientConfig } from '../lib/clientConfig';
import { canReadOrg, canWriteOwn, type Role } from '../lib/roles';
import { EXPIRY_PRESETS, MCP_SCOPES, globProblem, mintBody } from '../lib/tokenForm';

type Issued = Schemas['IssuedToken'];
type TokenStatus = NonNullable<Schemas['TokenView']['status']>;

const STATUSES: Option[] = [
  ['', 'Any status'],
  ['active', 'Active'],
  ['expired', 'Expired'],
  ['revoked', 'Revoked'],
];

/** The org's people as user suggestions (e-mail, else id), for roles that may list them. */
function useUserOptions(): Option[] {
  const caller = useCaller();
  const users = useLoad(async () => {
    if (!canReadOrg(caller.role as Role)) return [];
    return unwrap(await api.GET('/v1/users', { params: { query: { limit: 1000 } } })).users;
  }, [caller.role]);
  return (users.data ?? [])
    .filter((u) => u.status === 'active')
    .map((u): Option => [u.email || u.id, u.name ? `${u.name} (${u.email || u.id})` : u.email || u.id]);
}

function useWorkspaceOptions(): Option[] {
  const workspaces = useLoad(async () => unwrap(await api.GET('/v1/workspaces', { params: { query: { limit: 1000 } } })), []);
  return (workspaces.data?.workspaces ?? []).map((w): Option => [w.slug, w.name === w.slug ? w.slug : `${w.name} (${w.slug})`]);
}

export function Tokens() {
  const caller = useCaller();
  // Viewers and auditors read tokens; minting, rotating and revoking are for members, admins and owners.
  const mayChange = canWriteOwn(caller.role as Role);
  const [params, setParams] = useSearchParams();
  const team = params.get('team') ?? '';
  const user = params.get('user') ?? '';
  const status = (params.get('status') ?? '') as TokenStatus | '';
  const cursor = params.get('cursor') ?? '';
  const [teamInput, setTeamInput] = useState(team);
  const [userInput, setUserInput] = useState(user);
  const [statusInput, setStatusInput] = useState<string>(status);
  const [issued, setIssued] = useState<Issued | null>(null);
  const userOptions = useUserOptions();
  const workspaceOptions = useWorkspaceOptions();
  const tokens = useLoad(
    async () =>
      unwrap(
        await api.GET('/v1/auth/tokens', {
          params: {
            query: {
              team: team || undefined,
              user: user || undefined,
              status: status || undefined,
              cursor: cursor || undefined,
              limit: 25,
            },
          },
        }),
      ),
    [team, user, status, cursor],
  );

  return (
    <>
      <div className="page-head">
        <Heading level={1}>Tokens</Heading>
        {mayChange ? (
          <MintDialog
            userOptions={userOptions}
            workspaceOptions={workspaceOptions}
            onIssued={(token) => {
              setIssued(token);
              tokens.reload();
            }}
          />
        ) : null}
      </div>
      {issued ? <ShowOnce issued={issued} onClose={() => setIssued(null)} /> : null}
      <Form
        className="filters"
        aria-label="Filter tokens"
        onSubmit={(event) => {
          event.preventDefault();
          const next: Record<string, string> = {};
          if (teamInput) next.team = teamInput;
          if (userInput.trim()) next.user = userInput.trim();
          if (statusInput) next.status = statusInput;
          setParams(next);
        }}
      >
        <Choice label="Workspace" name="team_filter" value={teamInput} onChange={setTeamInput}
          options={[['', 'Any workspace'], ...workspaceOptions]} />
        <Suggest label="User" name="user_filter" value={userInput} onChange={setUserInput} options={userOptions} />
        <Choice label="Status" name="status_filter" value={statusInput} onChange={setStatusInput} options={STATUSES} />
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
              <th scope="col">Scopes</th>
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
                <td>{token.scopes.join(', ') || 'all'}</td>
                <td>{(token.permissions.servers ?? []).join(', ') || 'all provisioned'}</td>
                <td>{(token.permissions.tools ?? []).join(', ') || 'all'}</td>
                <td>{token.expires_at ? new Date(token.expires_at).toLocaleString() : 'never'}</td>
                <td>{token.status}</td>
                <td className="row-actions">
                  {mayChange && token.status === 'active' ? (
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

function MintDialog(props: { userOptions: Option[]; workspaceOptions: Option[]; onIssued: (token: Issued) => void }) {
  const caller = useCaller();
  const member = !canReadOrg(caller.role as Role);
  const [user, setUser] = useState(caller.user?.email || caller.user?.id || '');
  const [team, setTeam] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [servers, setServers] = useState<string[]>([]);
  const [tools, setTools] = useState<string[]>([]);
  const [expiry, setExpiry] = useState('30d');
  const [customExpiry, setCustomExpiry] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const provisioned = useLoad(async () => {
    if (!team) return [];
    return unwrap(await api.GET('/v1/workspaces/{ws}/servers', { params: { path: { ws: team } } })).servers;
  }, [team]);
  const serverOptions = (provisioned.data ?? []).map((p): Option => [p.server, p.server]);
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
                  const body = mintBody({ user, team, scopes, servers, tools, expiry, customExpiry });
                  const token = unwrap(await api.POST('/v1/auth/tokens', { body }));
                  close();
                  props.onIssued(token);
                } catch (failure) {
                  setError(failure);
                } finally {
                  setBusy(false);
                }
              }}
            >
              <Heading slot="title">Mint a gateway token</Heading>
              <Suggest label="User" name="user" value={user} onChange={setUser} options={props.userOptions} error={error}
                isRequired isReadOnly={member}
                description={member ? 'Members mint tokens for themselves.' : 'One of the org\'s people, or any name for an agent.'} />
              <Choice label="Workspace" name="team" value={team} options={props.workspaceOptions} error={error}
                onChange={(next) => {
                  setTeam(next);
                  setServers([]);
                }} />
              {team ? (
                provisioned.loading && !provisioned.data ? (
                  <p className="muted" role="status">Loading the workspace's servers…</p>
                ) : serverOptions.length === 0 ? (
                  <p className="muted">No servers are provisioned to {team}.</p>
                ) : (
                  <Checkboxes label="Servers" name="permissions.servers" value={servers} onChange={setServers}
                    options={serverOptions} error={error}
                    description="None checked: every server provisioned to the workspace, now and later." />
                )
              ) : null}
              <ErrorNotice error={provisioned.error} />
              <TextList label="Tool globs" itemLabel="tool glob" name="permissions.tools" value={tools} onChange={setTools}
                check={globProblem} error={error}
                description="* matches any run, ? one character; none: every tool the workspace allows." />
              <Checkboxes label="Scopes" name="scopes" value={scopes} onChange={setScopes} options={MCP_SCOPES} error={error}
                description="None: every MCP method." />
              <Choice label="Expires in" name="expiry" value={expiry} onChange={setExpiry} options={EXPIRY_PRESETS} />
              {expiry === 'custom' ? (
                <Field label="Custom expiry" name="expiresIn" value={customExpiry} onChange={setCustomExpiry} error={error}
                  description="Like 90m, 12h, 30d or 2w." isRequired />
              ) : null}
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
