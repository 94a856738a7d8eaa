// The signed-in frame: navigation by what the caller's role may see, the
// caller, sign-out, and the page of the current URL.

import { Button } from 'react-aria-components';
import { NavLink, Outlet } from 'react-router';
import { useState } from 'react';
import { useCaller, useSession } from '../api/session';
import { canAudit, canReadOrg, type Role } from '../lib/roles';
import { ErrorNotice } from '../components/Status';

export function Shell() {
  const caller = useCaller();
  const { signOut } = useSession();
  const [error, setError] = useState<unknown>(null);
  const role = caller.role as Role;
  const who = caller.user?.email || caller.user?.name || (caller.kind === 'platform' ? 'platform admin' : 'API key');
  const links: [string, string, boolean][] = [
    ['/servers', 'Servers', true],
    ['/workspaces', 'Workspaces', true],
    ['/tokens', 'Tokens', true],
    ['/edges', 'Edges', caller.platform_admin],
    ['/connections', 'My connections', true],
    ['/users', 'Users', canReadOrg(role)],
    ['/api-keys', 'API keys', canReadOrg(role)],
    ['/certificate-identities', 'Certificate identities', canReadOrg(role)],
    ['/settings', 'Org settings', canReadOrg(role)],
    ['/audit', 'Audit', canAudit(role)],
    ['/usage', 'Usage', canAudit(role)],
  ];
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Gatehouse</span>
        <span className="muted">
          {caller.org.name} · {who} · {role}
        </span>
        <Button
          className="button small"
          onPress={() => signOut().catch((failure: unknown) => setError(failure))}
        >
          Sign out
        </Button>
      </header>
      <nav aria-label="Console">
        <ul>
          {links
            .filter(([, , shown]) => shown)
            .map(([to, label]) => (
              <li key={to}>
                <NavLink to={to}>{label}</NavLink>
              </li>
            ))}
        </ul>
      </nav>
      <main className="content">
        <ErrorNotice error={error} />
        <Outlet />
      </main>
    </div>
  );
}
