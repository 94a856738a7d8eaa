// The conformance suite's "client under test": Gatehouse itself.
//
// The suite runs `node gatehouse-client.mjs <server-url>` with MCP_CONFORMANCE_SCENARIO
// set. This wrapper registers the suite's MCP server in a running Gatehouse through
// the admin API, provisions it, mints a gateway token and drives the scenario's MCP
// calls THROUGH THE EDGE with the official TypeScript SDK. What the suite observes
// is therefore Gatehouse's edge acting as the MCP client of its server (and, for
// auth/* scenarios, Gatehouse's upstream OAuth client doing the OAuth dance).
//
// Environment (set by tests/tests/integration/conformance.rs):
//   GATEHOUSE_ADMIN_URL, GATEHOUSE_ADMIN_TOKEN  the control plane's admin API
//   GATEHOUSE_EDGE_URL                          the edge's base URL
//   GATEHOUSE_WORKSPACE                         an existing workspace to provision into

import { randomUUID } from 'node:crypto';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const SYNC_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 1_000;

function env(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`gatehouse-client: ${name} is not set\n`);
    process.exit(2);
  }
  return value;
}

const serverUrl = process.argv.at(-1);
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const adminUrl = env('GATEHOUSE_ADMIN_URL').replace(/\/$/, '');
const adminToken = env('GATEHOUSE_ADMIN_TOKEN');
const edgeUrl = env('GATEHOUSE_EDGE_URL').replace(/\/$/, '');
const workspace = env('GATEHOUSE_WORKSPACE');

async function admin(method, path, body) {
  const resp = await fetch(`${adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${path} answered ${resp.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Waits until the edge serves the control plane's current config version. */
async function waitForEdge() {
  const { config_version: want } = await admin('GET', '/v1/edges');
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${edgeUrl}/readyz`).then((r) => r.json(), () => ({}));
    if ((ready.config_version ?? 0) >= want) return;
    if (Date.now() > deadline) throw new Error(`edge did not reach config version ${want}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The server registration for this scenario: plain for protocol scenarios, OAuth for auth/*. */
function serverBody(slug) {
  const body = { slug, name: `conformance ${scenario}`, url: serverUrl, auth_type: 'none' };
  if (scenario.startsWith('auth/')) body.auth_type = 'oauth2';
  return body;
}

async function main() {
  const slug = `conf-${randomUUID().slice(0, 8)}`;
  await admin('POST', '/v1/servers', serverBody(slug));
  await admin('PUT', `/v1/workspaces/${workspace}/servers/${slug}`, { tools: { allow: [], deny: [] } });
  const { token } = await admin('POST', '/v1/auth/tokens', {
    user: 'conformance@example.com',
    team: workspace,
  });
  await waitForEdge();

  const client = await withAuthorization(async () => {
    const fresh = new Client({ name: 'gatehouse-conformance-client', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${edgeUrl}/mcp/${slug}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    try {
      await fresh.connect(transport);
    } catch (err) {
      await fresh.close().catch(() => {});
      throw err;
    }
    return fresh;
  });
  const { tools } = await withAuthorization(() => client.listTools());
  if (scenario === 'tools_call' || scenario.startsWith('auth/')) {
    const add = tools.find((t) => t.name === 'add_numbers') ?? tools[0];
    if (add) {
      const result = await withAuthorization(() => client.callTool({ name: add.name, arguments: { a: 5, b: 3 } }));
      process.stderr.write(`gatehouse-client: ${add.name} answered ${JSON.stringify(result.content)}\n`);
    }
  }
  // Ending the session is best effort: the scenario's verdict is already recorded.
  await Promise.race([client.close(), new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS))]);
}

/**
 * Runs `step`; when the edge answers -32042 (URL elicitation: the user must
 * authorize Gatehouse at the upstream's AS), opens the authorization link like a
 * browser would (the suite's AS approves without interaction, redirecting to
 * Gatehouse's callback) and retries. Other errors are retried until the
 * deadline while the control plane finishes discovery and registration.
 */
async function withAuthorization(step) {
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  let authorizations = 0;
  let lastError;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      const elicitation = err?.code === -32042 ? err.data?.elicitations?.[0] : undefined;
      if (elicitation?.url && authorizations < 3) {
        authorizations += 1;
        const resp = await fetch(elicitation.url, { redirect: 'follow' });
        if (!resp.ok) throw new Error(`authorization link ended with ${resp.status}: ${await resp.text()}`);
        continue;
      }
      if (!scenario.startsWith('auth/') || Date.now() > deadline) throw err;
      if (!lastError) process.stderr.write(`gatehouse-client: retrying after: ${err}\n`);
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`gatehouse-client: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
