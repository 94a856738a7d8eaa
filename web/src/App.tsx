// Every page is a URL: deep links and the back button work. Until the
// session is known nothing renders; signed out, every URL shows sign-in and
// stays where it is, so signing in lands on the page that was asked for.

import { RouterProvider, createBrowserRouter, Navigate, useNavigate, useHref } from 'react-router';
import { RouterProvider as AriaRouter } from 'react-aria-components';
import { SessionProvider, useSession } from './api/session';
import { Loading } from './components/Status';
import { Audit } from './pages/Audit';
import { Edges } from './pages/Edges';
import { ServerDetail } from './pages/ServerDetail';
import { ServerForm } from './pages/ServerForm';
import { Servers } from './pages/Servers';
import { Shell } from './pages/Shell';
import { SignIn } from './pages/SignIn';
import { Tokens } from './pages/Tokens';
import { ApiKeys } from './pages/ApiKeys';
import { CertificateIdentities } from './pages/CertificateIdentities';
import { Connections } from './pages/Connections';
import { OrgSettings } from './pages/OrgSettings';
import { Users } from './pages/Users';
import { Usage } from './pages/Usage';
import { WorkspaceDetail, Workspaces } from './pages/Workspaces';

function Gate() {
  const { caller } = useSession();
  const navigate = useNavigate();
  if (caller === undefined) return <Loading what="your session" />;
  return <AriaRouter navigate={navigate} useHref={useHref}>{caller ? <Shell /> : <SignIn />}</AriaRouter>;
}

function NotFound() {
  return (
    <p role="alert" className="error">
      There is no such page.
    </p>
  );
}

const router = createBrowserRouter([
  {
    element: <Gate />,
    children: [
      { index: true, element: <Navigate to="/servers" replace /> },
      { path: 'servers', element: <Servers /> },
      { path: 'servers/new', element: <ServerForm /> },
      { path: 'servers/:slug', element: <ServerDetail /> },
      { path: 'servers/:slug/edit', element: <ServerForm /> },
      { path: 'workspaces', element: <Workspaces /> },
      { path: 'workspaces/:ws', element: <WorkspaceDetail /> },
      { path: 'tokens', element: <Tokens /> },
      { path: 'edges', element: <Edges /> },
      { path: 'users', element: <Users /> },
      { path: 'api-keys', element: <ApiKeys /> },
      { path: 'certificate-identities', element: <CertificateIdentities /> },
      { path: 'connections', element: <Connections /> },
      { path: 'settings', element: <OrgSettings /> },
      { path: 'audit', element: <Audit /> },
      { path: 'usage', element: <Usage /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

export function App() {
  return (
    <SessionProvider>
      <RouterProvider router={router} />
    </SessionProvider>
  );
}
