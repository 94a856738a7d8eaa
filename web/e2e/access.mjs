// The console's access pages end to end, driven by
// `tests/tests/integration/console_access.rs`, which checks from outside what
// each step did and answers on standard input when a step must wait for it.
//
// Env: CONSOLE_URL, ADMIN_TOKEN, CA_SHA256, SCREENSHOT_DIR.

import { commands, expect, launch, report, screenshot } from './browser.mjs';

const { context, page, problems } = await launch(process.env.CONSOLE_URL);
const test = commands();

/** Picks `option` in the select labelled `label` (React Aria: a button, then a list box). */
async function choose(scope, label, option) {
  await scope.getByRole('button', { name: new RegExp(`${label}$`) }).click();
  await page.getByRole('option', { name: option, exact: true }).click();
}

/** Runs `step`, which makes exactly one refused request on purpose, and drops that one console error. */
async function expectingOneRefusal(status, step) {
  const before = problems.length;
  await step();
  const seen = problems.splice(before);
  expect(seen.length === 1 && seen[0].includes(String(status)), `one ${status}, got: ${seen.join('; ')}`);
}

try {
  await page.goto('/');
  await page.getByLabel('API key', { exact: true }).fill(process.env.ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in with API key' }).click();
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor();

  // Tokens: mint with the pickers.
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByRole('button', { name: 'Mint a token' }).click();
  const mint = page.getByRole('dialog');
  await mint.getByRole('combobox', { name: 'User' }).fill('agent@example.com');
  await choose(mint, 'Workspace', 'eng');
  // The servers offered are the workspace's provisioned ones.
  await mint.getByRole('checkbox', { name: 'linear' }).waitFor();
  await mint.getByRole('checkbox', { name: 'tools' }).check({ force: true });
  expect(await mint.getByRole('checkbox', { name: 'tools' }).isChecked(), 'tools is checked');
  const globs = mint.getByLabel('Tool globs', { exact: true });
  await globs.fill('echo');
  await mint.getByRole('button', { name: 'Add tool glob' }).click();
  await globs.fill('echo');
  await mint.getByRole('button', { name: 'Add tool glob' }).click();
  await mint.getByText('echo is in the list already').first().waitFor();
  await globs.fill('');
  await mint.getByRole('checkbox', { name: /^mcp:read/ }).check({ force: true });
  await choose(mint, 'Expires in', '7 days');
  await screenshot(page, 'token-mint');
  await mint.getByRole('button', { name: 'Mint token' }).click();
  await page.getByRole('heading', { name: 'Copy the token now' }).waitFor();
  const token = await page.getByLabel('Token', { exact: true }).inputValue();
  await page.getByRole('button', { name: 'Copy client configuration' }).click();
  await page.getByText('Copied the client configuration.').waitFor();
  const clientConfig = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  await page.getByRole('button', { name: 'Done' }).click();
  report('minted', { token, clientConfig });

  // Rotate (confirmed): shown once again.
  expect((await test.next()) === 'rotate', 'the test asks to rotate');
  await page.getByRole('button', { name: `Rotate ${token.slice(0, 8)}…${token.slice(-4)}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Rotate token' }).click();
  await page.getByRole('heading', { name: 'Copy the token now' }).waitFor();
  const rotated = await page.getByLabel('Token', { exact: true }).inputValue();
  expect(rotated !== token, 'rotation shows a new secret');
  await page.getByRole('button', { name: 'Done' }).click();
  report('rotated', { token: rotated });
  expect((await test.next()) === 'continue', 'the test checked the rotation');

  // The list's filters: by workspace and status, into the URL.
  await choose(page, 'Workspace', 'eng');
  await choose(page, 'Status', 'Revoked');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText('No tokens match.').waitFor();
  await choose(page, 'Status', 'Active');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('cell', { name: 'agent@example.com' }).waitFor();
  expect(page.url().includes('status=active') && page.url().includes('team=eng'), `filters in the URL: ${page.url()}`);
  await screenshot(page, 'tokens');

  // API keys: an auditor key, shown once and copied.
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  await page.getByLabel('Key name').fill('audit-bot');
  await choose(page, 'Role', 'auditor: viewer plus the audit trail');
  await page.getByRole('button', { name: 'Create API key' }).click();
  await page.getByRole('heading', { name: 'Copy the API key now' }).waitFor();
  const key = await page.getByLabel('API key', { exact: true }).inputValue();
  await page.getByRole('button', { name: 'Copy API key' }).click();
  await page.getByText('Copied the API key.').waitFor();
  expect((await page.evaluate(() => navigator.clipboard.readText())) === key, 'the copied key is the key');
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('cell', { name: 'audit-bot', exact: true }).waitFor();
  await screenshot(page, 'api-keys');
  report('api_key', { key });

  // Users: deactivate (confirmed), then reactivate.
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByRole('cell', { name: 'carol@example.com', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Deactivate carol@example.com' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Deactivate user' }).click();
  await page.getByText('Deactivated carol@example.com; revoked').waitFor();
  await page.getByRole('button', { name: 'Reactivate carol@example.com' }).waitFor();
  report('deactivated');
  expect((await test.next()) === 'reactivate', 'the test asks to reactivate');
  await page.getByRole('button', { name: 'Reactivate carol@example.com' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Reactivate user' }).click();
  await page.getByRole('button', { name: 'Deactivate carol@example.com' }).waitFor();
  await screenshot(page, 'users');
  report('reactivated');

  // Certificate identities: the issuing CA is required, named next to its field.
  await page.getByRole('link', { name: 'Certificate identities' }).click();
  await page.getByText('No certificate identities registered.').waitFor();
  await page.getByLabel('Certificate name').fill('spiffe://acme.example/ci');
  await page.getByLabel('Acts as user').fill('ci-bot');
  await choose(page, 'In workspace', 'eng');
  await page.getByRole('button', { name: 'Register identity' }).click();
  await page.getByText("paste the issuing CA certificate's SHA-256 fingerprint").first().waitFor();
  await page.getByLabel('Issuing CA fingerprint (SHA-256)').fill(process.env.CA_SHA256);
  await page.getByLabel('SPIFFE trust domain').fill('acme.example');
  await page.getByRole('button', { name: 'Register identity' }).click();
  await page.getByRole('cell', { name: 'san_uri spiffe://acme.example/ci', exact: true }).waitFor();
  await screenshot(page, 'certificate-identities');
  report('certificate_identity');

  // Org settings: the SSO provider's secret is only "set"; a rate limit; JWT settings
  // refused next to the field, then saved with the server's warning.
  await page.getByRole('link', { name: 'Org settings' }).click();
  await page.getByRole('cell', { name: 'set', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Add a rate limit or budget' }).click();
  await page.getByLabel('Limit name').fill('agent-rate');
  await page.getByLabel('Requests', { exact: true }).fill('100');
  await choose(page, 'Server', 'tools');
  await page.getByRole('button', { name: 'Add rate limit' }).click();
  await page.getByRole('cell', { name: 'agent-rate', exact: true }).waitFor();
  await page.getByRole('cell', { name: '100 requests per minute' }).waitFor();
  const jwt = page.getByLabel('JWT validation (JSON)');
  await jwt.fill('{"jwksUri": "https://idp.example/jwks"}');
  await expectingOneRefusal(400, async () => {
    await page.getByRole('button', { name: 'Save edge authentication' }).click();
    await page.locator('[slot="errorMessage"]').filter({ hasText: /required/ }).first().waitFor();
  });
  await jwt.fill('{"jwksUri": "https://idp.example/jwks", "skipIssuerAndAudienceCheck": true}');
  await page.getByRole('button', { name: 'Save edge authentication' }).click();
  await page.getByRole('alert', { name: 'Warnings' }).waitFor();
  await screenshot(page, 'org-settings');
  report('org_settings');

  // A member (bob, by SSO): My connections, and none of the admin pages.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.getByText('bob@example.com').waitFor();
  for (const name of ['Users', 'API keys', 'Certificate identities', 'Org settings', 'Edges']) {
    expect((await page.getByRole('link', { name, exact: true }).count()) === 0, `a member has no ${name} page`);
  }
  await page.getByRole('link', { name: 'My connections' }).click();
  await page.getByRole('cell', { name: 'not connected', exact: true }).waitFor();
  // Connect opens the upstream's authorization in a new tab; the test provider
  // consents at once and the tab lands on Gatehouse's callback page.
  const [tab] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Connect linear' }).click()]);
  await tab.waitForURL(/\/oauth\/upstream\/callback/, { timeout: 30000 });
  await tab.getByText('Connected', { exact: false }).first().waitFor();
  await tab.close();
  report('connected');
  expect((await test.next()) === 'disconnect', 'the test asks to disconnect');
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.getByRole('cell', { name: 'connected', exact: true }).waitFor();
  await screenshot(page, 'connections');
  await page.getByRole('button', { name: 'Disconnect linear' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Disconnect' }).click();
  await page.getByRole('cell', { name: 'not connected', exact: true }).waitFor();
  report('disconnected');

  expect(problems.length === 0, `the console logged errors:\n${problems.join('\n')}`);
  report('done');
} catch (error) {
  await screenshot(page, 'failure').catch(() => {});
  report('failed', { error: String(error?.stack ?? error), problems });
  process.exitCode = 1;
} finally {
  test.close();
  await context.close();
}
