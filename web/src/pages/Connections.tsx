// My connections: the signed-in person's upstream OAuth connections, one row
// per server that needs one; Connect opens the upstream's authorization page
// in a new tab, Disconnect (confirmed) deletes the grant.

import { Button, Heading } from 'react-aria-components';
import { useState } from 'react';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { myConnections } from '../lib/connections';
import { canWriteOwn, type Role } from '../lib/roles';

export function Connections() {
  const caller = useCaller();
  const me = caller.user;
  const mayChange = canWriteOwn(caller.role as Role);
  const [error, setError] = useState<unknown>(null);
  const [opened, setOpened] = useState('');
  const rows = useLoad(async () => {
    if (!me) return [];
    const [servers, connections] = await Promise.all([
      api.GET('/v1/servers', { params: { query: { limit: 1000 } } }).then(unwrap),
      api.GET('/v1/connections', { params: { query: { limit: 1000 } } }).then(unwrap),
    ]);
    return myConnections(servers.servers, connections.connections, me.id, me.email);
  }, [me?.id]);

  if (!me) {
    return (
      <>
        <Heading level={1}>My connections</Heading>
        <p className="empty">Connections belong to people: sign in with SSO to see and connect your own.</p>
      </>
    );
  }

  const connect = async (server: string) => {
    setError(null);
    setOpened('');
    // Opened before the request, while the click still counts, so no popup blocker
    // stops it; cut off from this page before it goes anywhere.
    const tab = window.open('', '_blank');
    if (tab) tab.opener = null;
    try {
      const link = unwrap(await api.POST('/v1/connections', { body: { server } }));
      if (tab) tab.location.href = link.authorization_url;
      else window.location.assign(link.authorization_url);
      setOpened(`Opened ${server}'s authorization page in a new tab; come back here when it says you are connected.`);
    } catch (failure) {
      tab?.close();
      setError(failure);
    }
  };

  return (
    <>
      <div className="page-head">
        <Heading level={1}>My connections</Heading>
        <Button className="button small" onPress={rows.reload}>
          Refresh
        </Button>
      </div>
      <p className="muted">
        Servers that act on your behalf at another service need your authorization there once. Gatehouse keeps the
        connection sealed and uses it only for your requests.
      </p>
      <ErrorNotice error={error} />
      <p role="status" className="muted">
        {opened}
      </p>
      <ListView what="your connections" loading={rows.loading} error={rows.error} items={rows.data}
        empty="None of your servers needs a connection of yours.">
        {(items) => (
          <table aria-label="My connections">
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">Status</th>
                <th scope="col">Scopes</th>
                <th scope="col">Token expires</th>
                {mayChange ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {items.map(({ server, connections }) => {
                const grant = connections[0];
                const state = !grant ? 'not connected' : grant.status === 'active' ? 'connected' : 'needs re-authorization';
                return (
                  <tr key={server.id}>
                    <td>
                      {server.name} <code>{server.slug}</code>
                    </td>
                    <td>{state}</td>
                    <td>{grant ? grant.scopes.join(' ') || '—' : '—'}</td>
                    <td>{grant?.expires_at ? new Date(grant.expires_at).toLocaleString() : '—'}</td>
                    {mayChange ? (
                      <td className="row-actions">
                        {!grant || grant.status !== 'active' ? (
                          <Button className="button small primary" onPress={() => connect(server.slug)}>
                            {`Connect ${server.slug}`}
                          </Button>
                        ) : null}
                        {connections.map((c) => (
                          <ConfirmButton
                            key={c.id}
                            label={`Disconnect ${server.slug}`}
                            title={`Disconnect ${server.name}?`}
                            body="Gatehouse deletes the connection and asks the service to revoke it; your requests to this server need a new authorization."
                            confirmLabel="Disconnect"
                            onConfirm={async () => {
                              unwrap(await api.DELETE('/v1/connections/{id}', { params: { path: { id: c.id } } }));
                              rows.reload();
                            }}
                          />
                        ))}
                      </td>
                    ) : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </ListView>
    </>
  );
}
