// Real Chromium (Debian's package) driven by playwright-core, for the console's
// end-to-end scenarios. Every page's console errors, failed requests and
// uncaught exceptions are collected, so a scenario can assert there were none.

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A persistent context on a fresh profile; `problems` lists every console error seen. */
export async function launch(baseURL) {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    args: FLAGS,
    baseURL,
    viewport: { width: 1280, height: 820 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const problems = [];
  const watch = (page) => {
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error on ${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`uncaught exception on ${page.url()}: ${error.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page, problems };
}

/** Saves a full-page screenshot as `<dir>/<name>.png`. */
export async function screenshot(page, name) {
  const dir = process.env.SCREENSHOT_DIR ?? 'screenshots';
  mkdirSync(dir, { recursive: true });
  // The default caret hiding injects a <style>, which the console's CSP rightly refuses.
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true, caret: 'initial' });
}

/** One JSON line to the test driving this scenario. */
export function report(step, data = {}) {
  process.stdout.write(`${JSON.stringify({ step, ...data })}\n`);
}

/** Waits for the driving test to send a line on standard input. */
export function waitForGo() {
  return new Promise((resolve) => {
    process.stdin.once('data', (chunk) => {
      // An open standard input would keep the process alive after the scenario.
      process.stdin.destroy();
      resolve(chunk.toString().trim());
    });
  });
}

/** Fails the scenario with a message the test shows. */
export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** Reads the driving test's lines on standard input one at a time: `await next()` for each. */
export function commands() {
  const lines = [];
  const waiting = [];
  let buffered = '';
  process.stdin.on('data', (chunk) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  return {
    next: () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((resolve) => waiting.push(resolve))),
    // An open standard input would keep the process alive after the scenario.
    close: () => process.stdin.destroy(),
  };
}
