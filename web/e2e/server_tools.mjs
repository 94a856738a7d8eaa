// The server detail page end to end, against a real control plane, edge and MCP
// upstream started by `tests/tests/integration/console_tools.rs`: the live tool
// list, a deny glob typed into a workspace's provisioning with the preview
// following as it is typed, saved, and a tool tried through the edge with the
// form generated from its input schema.
//
// Env: CONSOLE_URL, ADMIN_TOKEN, SCREENSHOT_DIR.

import { expect, launch, report, screenshot, waitForGo } from './browser.mjs';

const base = process.env.CONSOLE_URL;
const { context, page, problems } = await launch(base);

try {
  await page.goto('/');
  await page.getByLabel('API key', { exact: true }).fill(process.env.ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in with API key' }).click();
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor();
  // The list's new columns: where the server is provisioned, and its OAuth set-up.
  const row = page.getByRole('row').filter({ hasText: 'Test tools' });
  await row.getByRole('cell', { name: 'eng', exact: true }).waitFor();
  await row.getByRole('link', { name: 'Test tools' }).click();
  await page.getByRole('heading', { name: 'Test tools', level: 1 }).waitFor();

  // The live tool list, with what the workspace lets through.
  const list = page.getByRole('table', { name: 'Tools of the server' });
  await list.getByRole('cell', { name: 'delete_everything', exact: true }).waitFor();
  await list.getByRole('cell', { name: 'Echo the text back' }).waitFor();
  const deleteRow = list.getByRole('row').filter({ hasText: 'delete_everything' });
  expect((await deleteRow.getByRole('cell', { name: 'allowed', exact: true }).count()) === 1, 'delete_everything starts allowed in eng');

  // A deny glob typed into the provisioning: the preview follows each keystroke, before saving.
  const editor = page.getByRole('form', { name: 'Provisioning in eng' });
  const preview = editor.getByRole('status', { name: 'Preview for eng' });
  await preview.getByText('5 of 5 tools pass').waitFor();
  await editor.getByLabel('Deny globs').pressSequentially('delete_*');
  await preview.getByText('4 of 5 tools pass').waitFor();
  const denied = await preview.getByRole('listitem').filter({ hasText: 'delete_everything' }).textContent();
  expect(denied.includes('is denied'), `the preview denies delete_everything: ${denied}`);
  await editor.getByLabel('Deny globs').fill('nothing_*');
  await preview.getByText('5 of 5 tools pass').waitFor();
  await editor.getByLabel('Deny globs').fill('delete_*');
  await preview.getByText('4 of 5 tools pass').waitFor();
  await screenshot(page, 'server-detail');
  await editor.getByRole('button', { name: 'Save provisioning in eng' }).click();
  await editor.getByText('Saved the provisioning in eng.').waitFor();
  await deleteRow.getByRole('cell', { name: 'denied', exact: true }).waitFor();
  report('saved');
  await waitForGo();

  // Try a tool: pick it, the form comes from its input schema, required fields are checked first.
  const tryForm = page.getByRole('form', { name: 'Try a tool' });
  await tryForm.getByRole('button', { name: /Tool$/ }).click();
  await page.getByRole('option', { name: 'add', exact: true }).click();
  await tryForm.getByRole('button', { name: 'Run add' }).click();
  await tryForm.getByText('is required').first().waitFor();
  await tryForm.getByRole('textbox', { name: /^a\b/ }).fill('2');
  await tryForm.getByRole('textbox', { name: /^b\b/ }).fill('forty');
  await tryForm.getByRole('button', { name: 'Run add' }).click();
  await tryForm.getByText('must be a whole number').waitFor();
  await tryForm.getByRole('textbox', { name: /^b\b/ }).fill('40');
  await tryForm.getByRole('button', { name: 'Run add' }).click();
  const result = page.getByRole('region', { name: 'Result' });
  await result.getByText('42', { exact: true }).waitFor();
  await result.getByText('As platform-admin in eng').waitFor();
  await screenshot(page, 'try-tool');
  report('tried');

  expect(problems.length === 0, `the console logged errors:\n${problems.join('\n')}`);
  report('done');
} catch (error) {
  await screenshot(page, 'server-tools-failure').catch(() => {});
  report('failed', { error: String(error?.stack ?? error), problems });
  process.exitCode = 1;
} finally {
  await context.close();
}
