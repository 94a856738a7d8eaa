// The console end to end, against a real control plane, edge, OpenID provider
// and MCP upstream started by `tests/tests/integration/console.rs`, which
// reads the JSON lines this prints and answers on standard input.
//
// Env: CONSOLE_URL, ADMIN_TOKEN, UPSTREAM_URL, OIDC_ISSUER, SCREENSHOT_DIR.

import { expect, launch, report, screenshot, waitForGo } from './browser.mjs';

const base = process.env.CONSOLE_URL;
const { context, page, problems } = await launch(base);

try {
  // Sign-in page: the org's SSO button and the API key form.
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).waitFor();
  await screenshot(page, 'sign-in');

  // A wrong key is refused, with the API's message next to the field.
  const before = problems.length;
  await page.getByLabel('API key', { exact: true }).fill('gak_not-a-real-key');
  await page.getByRole('button', { name: 'Sign in with API key' }).click();
  await page.getByRole('alert').filter({ hasText: 'not a valid org API key' }).first().waitFor();
  // Chromium logs the refused request itself; that one 401 is the point of this step.
  const refused = problems.splice(before);
  expect(refused.length === 1 && refused[0].includes('401'), `one refused sign-in, got: ${refused.join('; ')}`);

  // Sign in with the admin token: the session is a cookie; nothing is stored in the page's storage.
  await page.getByLabel('API key', { exact: true }).fill(process.env.ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in with API key' }).click();
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor();
  await page.getByText('No servers yet.').waitFor();
  const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
  expect(stored === 0, `the console stored ${stored} items in web storage`);
  const cookies = await context.cookies();
  expect(cookies.some((c) => c.name === 'gatehouse_session' && c.httpOnly), 'an HttpOnly session cookie is set');

  // Register a server; a bad advanced config is refused next to its field first.
  await page.getByRole('link', { name: 'Register a server' }).click();
  await page.getByLabel('Slug', { exact: true }).fill('tools');
  await page.getByLabel('Name', { exact: true }).fill('Test tools');
  await page.getByLabel('Upstream URL').fill(process.env.UPSTREAM_URL);
  await page.getByLabel('Advanced config (JSON)').fill('{"broken": ');
  await page.getByRole('button', { name: 'Register server' }).click();
  await page.getByText('advanced config is not valid JSON').first().waitFor();
  await page.getByLabel('Advanced config (JSON)').fill('{}');
  await screenshot(page, 'server-form');
  await page.getByRole('button', { name: 'Register server' }).click();
  await page.getByRole('heading', { name: 'Test tools', level: 1 }).waitFor();
  await screenshot(page, 'server-detail');
  await page.getByRole('link', { name: 'Servers' }).click();
  await page.getByRole('cell', { name: 'tools', exact: true }).waitFor();
  await screenshot(page, 'servers');

  // A workspace, with the server provisioned and a deny glob.
  await page.getByRole('link', { name: 'Workspaces' }).click();
  await page.getByLabel('Workspace slug').fill('eng');
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await page.getByRole('link', { name: 'eng' }).click();
  await page.getByText('No servers provisioned.').waitFor();
  await page.getByLabel('Server', { exact: true }).fill('tools');
  await page.getByLabel('Deny globs').fill('delete_*');
  await page.getByRole('button', { name: 'Save provisioning' }).click();
  await page.getByRole('cell', { name: 'delete_*' }).waitFor();
  await screenshot(page, 'workspace');

  // The deep link survives a reload and the back button works.
  await page.reload();
  await page.getByRole('heading', { name: 'Workspace eng' }).waitFor();
  await page.goBack();
  await page.getByRole('heading', { name: 'Workspaces', level: 1 }).waitFor();

  // Mint a token: shown once with the client configuration, copied to the clipboard.
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByRole('button', { name: 'Mint a token' }).click();
  const mint = page.getByRole('dialog');
  await mint.getByRole('combobox', { name: 'User' }).fill('agent@example.com');
  await mint.getByRole('button', { name: /Workspace$/ }).click();
  await page.getByRole('option', { name: 'eng', exact: true }).click();
  await mint.getByRole('checkbox', { name: 'tools' }).check({ force: true });
  await mint.getByRole('button', { name: 'Mint token' }).click();
  await page.getByRole('heading', { name: 'Copy the token now' }).waitFor();
  const token = await page.getByLabel('Token', { exact: true }).inputValue();
  await page.getByRole('button', { name: 'Copy client configuration' }).click();
  await page.getByText('Copied the client configuration.').waitFor();
  const clientConfig = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  await screenshot(page, 'token-minted');
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('cell', { name: 'agent@example.com' }).waitFor();
  await screenshot(page, 'tokens');
  report('minted', { token, clientConfig });

  // The platform admin sees the fleet: the test's edge, connected.
  await page.getByRole('link', { name: 'Edges' }).click();
  await page.getByRole('cell', { name: /^connected/ }).first().waitFor();
  await screenshot(page, 'edges');
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByRole('cell', { name: 'agent@example.com' }).waitFor();
  expect((await waitForGo()) === 'revoke', 'the test asks to revoke');

  // Revoke it (confirmed); the test then sees the edge refuse it.
  await page.getByRole('button', { name: /^Revoke gth_/ }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke token' }).click();
  await page.getByRole('cell', { name: 'revoked' }).waitFor();
  report('revoked');

  // Sign out, then in with SSO (the provider signs in its default user, an admin).
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor();
  await page.getByText('alice@example.com').waitFor();
  await page.getByRole('link', { name: 'Register a server' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();

  // A member (bob) sees member pages only: no registering, editing or deleting.
  await context.clearCookies();
  // The provider signs in whoever `login_hint` names; add it to the authorization
  // request the login route redirects to (route handlers do not see redirects).
  await page.route(/\/auth\/sso\/[^/]+\/login/, async (route) => {
    const response = await route.fetch({ maxRedirects: 0 });
    const location = new URL(response.headers().location);
    expect(location.origin === process.env.OIDC_ISSUER, `login redirects to the provider, not ${location}`);
    location.searchParams.set('login_hint', 'bob');
    await route.fulfill({ status: 302, headers: { location: location.toString(), 'cache-control': 'no-store' } });
  });
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.getByText('bob@example.com').waitFor();
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor();
  expect((await page.getByRole('link', { name: 'Register a server' }).count()) === 0, 'a member cannot register servers');
  expect((await page.getByRole('button', { name: /^Delete / }).count()) === 0, 'a member cannot delete servers');
  await screenshot(page, 'member-servers');
  expect((await page.getByRole('link', { name: 'Edges' }).count()) === 0, 'only the platform admin sees the edges');
  await page.getByRole('link', { name: 'Workspaces' }).click();
  await page.getByRole('heading', { name: 'Workspaces', level: 1 }).waitFor();
  expect((await page.getByRole('button', { name: 'Create workspace' }).count()) === 0, 'a member cannot create workspaces');

  expect(problems.length === 0, `the console logged errors:\n${problems.join('\n')}`);
  report('done');
} catch (error) {
  await screenshot(page, 'failure').catch(() => {});
  report('failed', { error: String(error?.stack ?? error), problems });
  process.exitCode = 1;
} finally {
  await context.close();
}
