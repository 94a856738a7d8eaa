// The audit and usage pages end to end, against a real control plane and edge
// started by `tests/tests/integration/console_audit.rs`, which made known
// traffic first (allowed and denied tool calls through the edge, admin changes)
// and checks what this reports against the API.
//
// Env: CONSOLE_URL, ADMIN_TOKEN, AUDITOR_KEY, MEMBER_KEY, SCREENSHOT_DIR.

import { readFileSync } from 'node:fs';
import { expect, launch, report, screenshot } from './browser.mjs';

const base = process.env.CONSOLE_URL;
const { context, page, problems } = await launch(base);

const events = () => page.getByRole('table', { name: 'Audit events' });
/** The audit table's data rows, each as the text of its cells but the last (the details button). */
async function auditRows() {
  const rows = events().locator('tbody > tr').filter({ has: page.getByRole('button', { name: /^Details of / }) });
  return rows.evaluateAll((trs) => trs.map((tr) => [...tr.cells].slice(0, -1).map((td) => td.textContent.trim())));
}
/** Waits until the audit table shows exactly `count` rows, then returns them. */
async function expectRows(count, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = (await events().count()) > 0 ? await auditRows() : [];
    if (found.length === count) return found;
    if (Date.now() > deadline) throw new Error(`${what}: ${count} rows expected, saw ${found.length}: ${JSON.stringify(found)}`);
    await page.waitForTimeout(100);
  }
}
async function choose(label, option) {
  // A React Aria select's button is named by its value, then its label.
  await page.getByRole('button', { name: new RegExp(`${label}$`) }).click();
  await page.getByRole('option', { name: option, exact: true }).click();
}
/** Signs in on the servers page (signing in stays on the URL it was asked on). */
async function signIn(key) {
  await page.goto('/servers');
  await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Sign in with API key' }).click();
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor();
}
/** Removes and returns the console errors since `from`; each must be a refused request of `status`. */
function refusedSince(from, status, what) {
  const seen = problems.splice(from);
  expect(seen.length > 0 && seen.every((p) => p.includes(String(status))), `${what}: only ${status}s, got: ${seen.join('; ')}`);
  return seen.length;
}

try {
  await signIn(process.env.ADMIN_TOKEN);

  // Every event, newest first, one page at a time.
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
  await expectRows(50, 'the first page');
  let pages = 1;
  while ((await page.getByRole('button', { name: 'Load more' }).count()) > 0) {
    const before = (await auditRows()).length;
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.waitForFunction(
      (n) => document.querySelectorAll('table[aria-label="Audit events"] tbody tr').length > n,
      before,
    );
    pages += 1;
  }
  const all = await auditRows();
  report('all', { rows: all.length, pages });

  // Kind and decision: exactly the denied tool call; the filters are the URL's.
  await choose('Kind', 'tool_call');
  await choose('Decision', 'deny');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/\/audit\?kind=tool_call&decision=deny$/);
  const denied = await expectRows(1, 'kind=tool_call&decision=deny');
  report('denied', { rows: denied });

  // The action filter: every tool call, allowed or not; the denied one's full event.
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForURL(/\/audit$/);
  await expectRows(50, 'cleared');
  await page.getByLabel('Action', { exact: true }).fill('tools/call');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/\/audit\?action=tools%2Fcall$/);
  const calls = await expectRows(4, 'action=tools/call');
  await page.getByRole('button', { name: /^Details of tools\/call delete_everything/ }).click();
  const full = JSON.parse(await page.getByLabel(/^Event /).textContent());
  expect(full.reason === 'tool_denied' && full.decision === 'deny', `the denied event in full: ${JSON.stringify(full)}`);
  await screenshot(page, 'audit');
  report('calls', { rows: calls, expanded: full });

  // The export link carries the same filters and downloads those events as JSON lines.
  const href = await page.getByRole('link', { name: 'Download JSON lines' }).getAttribute('href');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download JSON lines' }).click(),
  ]);
  const text = readFileSync(await download.path(), 'utf8');
  report('export', { href, lines: text.trim().split('\n').map((line) => JSON.parse(line)) });

  // An admin change, by its route: before and after.
  await page.goto('/audit?kind=admin&action=PATCH+%2Fv1%2Fservers%2F%7Bslug%7D');
  const patch = await expectRows(1, 'the admin change');
  await page.getByRole('button', { name: /^Details of PATCH / }).click();
  const change = JSON.parse(await page.getByLabel(/^Event /).textContent());
  report('change', { rows: patch, detail: change.detail });

  // A bad filter is refused by the API, named at its field.
  await page.goto('/audit?since=yesterday');
  let from = problems.length;
  await page.getByRole('alert').filter({ hasText: 'RFC 3339' }).first().waitFor();
  refusedSince(from, 400, 'a bad since');

  // Audit settings: the owner edits them; an out-of-range value is named at its field.
  await page.goto('/audit');
  await expectRows(50, 'the audit page again');
  from = problems.length;
  await page.getByLabel('Retention (days)').fill('0');
  await page.getByRole('button', { name: 'Save audit settings' }).click();
  await page.getByText('must be between 1 and 3650').first().waitFor();
  refusedSince(from, 400, 'retention 0');
  await page.getByLabel('Retention (days)').fill('45');
  await page.getByRole('button', { name: 'Save audit settings' }).click();
  await page.getByText('Saved the audit settings.').waitFor();
  report('settings');

  // Usage by tool: the charts render and the table holds the totals.
  await page.getByRole('link', { name: 'Usage' }).click();
  await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
  await page.getByRole('table', { name: 'Usage totals per server' }).waitFor();
  const totals = async (group) =>
    page
      .getByRole('table', { name: `Usage totals per ${group}` })
      .locator('tbody > tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
  const byServer = await totals('server');
  await choose('Group by', 'tool');
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.waitForURL(/\/usage\?group_by=tool$/);
  await page.getByRole('table', { name: 'Usage totals per tool' }).waitFor();
  const byTool = await totals('tool');
  for (const name of ['Calls per tool', 'Calls by status']) {
    const chart = page.getByRole('figure', { name });
    // recharts draws each bar as a path of its documented class `recharts-rectangle`; the legend names the series.
    const bars = await chart.locator('svg .recharts-rectangle').count();
    expect(bars > 0, `${name}: bars drawn (${bars})`);
  }
  await page.getByRole('figure', { name: 'Calls per tool' }).getByText('echo').first().waitFor();
  await page.getByRole('figure', { name: /^Latency of / }).locator('svg').first().waitFor();
  await screenshot(page, 'usage');
  report('usage', { byServer, byTool });

  // An auditor: reads the audit trail and usage, sees the settings, changes nothing.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
  await signIn(process.env.AUDITOR_KEY);
  await page.getByRole('cell', { name: 'tools', exact: true }).waitFor();
  expect((await page.getByRole('link', { name: 'Register a server' }).count()) === 0, 'an auditor cannot register servers');
  expect((await page.getByRole('link', { name: /^Edit / }).count()) === 0, 'an auditor cannot edit servers');
  await page.goto('/servers/tools');
  await page.getByRole('heading', { level: 1 }).filter({ hasNotText: 'Servers' }).waitFor();
  expect((await page.getByRole('link', { name: 'Edit server' }).count()) === 0, 'no Edit server for an auditor');
  await page.getByRole('link', { name: 'Audit' }).click();
  const seen = await expectRows(50, "the auditor's audit page");
  await page.getByText('Retention (days)').waitFor();
  await page.getByText('45', { exact: true }).waitFor();
  expect((await page.getByRole('button', { name: 'Save audit settings' }).count()) === 0, 'an auditor cannot change settings');
  await page.getByRole('link', { name: 'Usage' }).click();
  await page.getByRole('table', { name: 'Usage totals per server' }).waitFor();
  report('auditor', { rows: seen.length });

  // A member: no audit, no usage; the API refuses the page's calls all the same.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Gatehouse' }).waitFor();
  await signIn(process.env.MEMBER_KEY);
  expect((await page.getByRole('link', { name: 'Audit' }).count()) === 0, 'a member sees no audit link');
  expect((await page.getByRole('link', { name: 'Usage' }).count()) === 0, 'a member sees no usage link');
  from = problems.length;
  await page.goto('/audit');
  await page.getByRole('alert').first().waitFor();
  const refusals = refusedSince(from, 403, "a member's audit page");
  expect((await page.getByRole('table', { name: 'Audit events' }).count()) === 0, 'a member sees no events');
  report('member', { refusals });

  expect(problems.length === 0, `the console logged errors:\n${problems.join('\n')}`);
  report('done');
} catch (error) {
  await screenshot(page, 'audit-failure').catch(() => {});
  report('failed', { error: String(error?.stack ?? error), problems });
  process.exitCode = 1;
} finally {
  await context.close();
}
