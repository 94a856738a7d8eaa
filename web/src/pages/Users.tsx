// The org's SSO users with their roles; admins deactivate (revoking everything
// the user holds) and reactivate them, both confirmed. Roles come from the SSO
// provider's claim mappings at each sign-in, so they are shown, not edited here.

import { Heading } from 'react-aria-components';
import { useState } from 'react';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { canAdminister, type Role } from '../lib/roles';

type Revoked = Schemas['RevokedCounts'];

/** "3 gateway tokens, 1 session" from the counts of a deactivation. */
export function describeRevoked(revoked: Revoked): string {
  const parts = Object.entries(revoked)
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${what.replace(/_/g, ' ')}`);
  return parts.length ? parts.join(', ') : 'nothing';
}

export function Users() {
  const caller = useCaller();
  const admin = canAdminister(caller.role as Role);
  const users = useLoad(async () => unwrap(await api.GET('/v1/users', { params: { query: { limit: 1000 } } })), []);
  const [done, setDone] = useState('');
  return (
    <>
      <Heading level={1}>Users</Heading>
      <p className="muted">
        People who signed in with SSO. Their role comes from the provider's claim mappings (Org settings) at every
        sign-in.
      </p>
      <p role="status" className="muted">
        {done}
      </p>
      <ListView what="users" loading={users.loading} error={users.error} items={users.data?.users}
        empty="Nobody has signed in with SSO yet.">
        {(items) => (
          <table aria-label="Users">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">E-mail</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Last sign-in</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {items.map((user) => {
                const who = user.email || user.name || user.id;
                return (
                  <tr key={user.id}>
                    <td>{user.name || '—'}</td>
                    <td>{user.email || '—'}</td>
                    <td>{user.role}</td>
                    <td>{user.status}</td>
                    <td>{user.last_login_at ? new Date(user.last_login_at).toLocaleString() : 'never'}</td>
                    {admin ? (
                      <td className="row-actions">
                        {user.status === 'active' ? (
                          <ConfirmButton
                            label={`Deactivate ${who}`}
                            title={`Deactivate ${who}?`}
                            body="They cannot sign in, and their gateway tokens, sessions, refresh tokens, consents and upstream connections are revoked at once; their certificate identities are disabled. Reactivating does not bring those back."
                            confirmLabel="Deactivate user"
                            onConfirm={async () => {
                              const result = unwrap(
                                await api.POST('/v1/users/{id}/deactivate', { params: { path: { id: user.id } } }),
                              );
                              setDone(`Deactivated ${who}; revoked ${describeRevoked(result.revoked)}.`);
                              users.reload();
                            }}
                          />
                        ) : (
                          <ConfirmButton
                            label={`Reactivate ${who}`}
                            title={`Reactivate ${who}?`}
                            body="They may sign in again. Nothing revoked at deactivation comes back."
                            confirmLabel="Reactivate user"
                            onConfirm={async () => {
                              unwrap(await api.POST('/v1/users/{id}/reactivate', { params: { path: { id: user.id } } }));
                              setDone(`Reactivated ${who}.`);
                              users.reload();
                            }}
                          />
                        )}
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
