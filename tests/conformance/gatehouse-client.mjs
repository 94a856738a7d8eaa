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
// and from the suite:
//   MCP_CONFORMANCE_SCENARIO          the scenario name
//   MCP_CONFORMANCE_PROTOCOL_VERSION  the wire revision the scenario server speaks
//   MCP_CONFORMANCE_CONTEXT           JSON the scenario hands the client (e.g. the
//                                     pre-registered client_id/client_secret an admin
//                                     would have been given by the upstream's owner)
//
// The TypeScript SDK speaks up to 2025-11-25. For 2026-07-28 scenario servers
// (stateless: no initialize, MCP-Protocol-Version and Mcp-Method/Mcp-Name headers
// and `_meta` on every request) the wrapper sends those requests itself
// (StatelessClient below); the edge forwards them as a client sent them.

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
const protocolVersion = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION ?? '2025-11-25';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}');
const CLIENT_INFO = { name: 'gatehouse-conformance-client', version: '1.0.0' };
/** Revisions the SDK client speaks; anything newer is driven by StatelessClient. */
const SDK_VERSIONS = new Set(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']);
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

/**
 * The server registration for this scenario, as an admin would enter it: plain for
 * protocol scenarios, OAuth for auth/*; the client-credentials extension uses the
 * machine-to-machine flow. Credentials the scenario says were registered out of
 * band go where an admin puts them: `advanced_config.oauth_metadata`.
 */
function serverBody(slug) {
  const body = { slug, name: `conformance ${scenario}`, url: serverUrl, auth_type: 'none' };
  if (scenario.startsWith('auth/')) body.auth_type = 'oauth2';
  if (scenario.startsWith('auth/client-credentials')) body.auth_type = 'client_credentials';
  if (body.auth_type !== 'none' && context.client_id) {
    const oauth_metadata = { client_id: context.client_id };
    if (context.client_secret) oauth_metadata.client_secret = context.client_secret;
    body.advanced_config = { oauth_metadata };
  }
  return body;
}

/**
 * A 2026-07-28 client over Streamable HTTP: every request is self-contained
 * (`_meta` with protocol version, capabilities and client info; the
 * MCP-Protocol-Version, Mcp-Method and Mcp-Name headers mirroring the body).
 * Errors are thrown with `code`/`data` like the SDK's McpError.
 */
class StatelessClient {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.nextId = 1;
  }

  async request(method, params = {}) {
    const id = this.nextId++;
    const _meta = {
      ...params._meta,
      'io.modelcontextprotocol/protocolVersion': protocolVersion,
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
    };
    const headers = {
      authorization: `Bearer ${this.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': protocolVersion,
      'mcp-method': method,
    };
    const name = method === 'resources/read' ? params.uri : ['tools/call', 'prompts/get'].includes(method) ? params.name : undefined;
    if (name !== undefined) headers['mcp-name'] = headerValue(name);
    const resp = await fetch(this.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta } }),
    });
    const text = await resp.text();
    const message = parseResponse(resp.headers.get('content-type') ?? '', text, id);
    if (message?.error) {
      const err = new Error(`MCP error ${message.error.code}: ${message.error.message}`);
      Object.assign(err, { code: message.error.code, data: message.error.data });
      throw err;
    }
    if (!resp.ok || !message) throw new Error(`${method} answered ${resp.status}: ${text.slice(0, 500)}`);
    return message.result;
  }

  listTools() {
    return this.request('tools/list');
  }

  callTool(params) {
    return this.request('tools/call', params);
  }

  async close() {}
}

/** A header value: as is when it is visible ASCII, else the spec's `=?base64?…?=` form. */
function headerValue(value) {
  return /^[\x20-\x7e]*$/.test(value) && value.trim() === value
    ? value
    : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The JSON-RPC response with `id` from a JSON or SSE body. */
function parseResponse(contentType, text, id) {
  if (contentType.includes('text/event-stream')) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      const message = JSON.parse(data);
      if (message.id === id && ('result' in message || 'error' in message)) return message;
    }
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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

  const endpoint = new URL(`${edgeUrl}/mcp/${slug}`);
  const client = SDK_VERSIONS.has(protocolVersion)
    ? await withAuthorization(() => connectSdkClient(endpoint, token))
    : new StatelessClient(endpoint, token);
  const { tools } = await withAuthorization(() => client.listTools());
  const echo = tools.find((t) => t.name === 'json_schema_echo');
  if (echo) {
    // Hands back the schema of the other tool exactly as it came through the edge
    // (whose tools/list filtering must not alter any JSON Schema keyword).
    const focal = tools.find((t) => t !== echo);
    await client.callTool({ name: echo.name, arguments: { schema: focal.inputSchema } });
  }
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

/** The SDK client, connected (initialize) to the edge. */
async function connectSdkClient(endpoint, token) {
  const client = new Client(CLIENT_INFO);
  const transport = new StreamableHTTPClientTransport(endpoint, {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  try {
    await client.connect(transport);
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return client;
}

/**
 * Follows redirects from `url` like a browser: cookies are kept per host and port
 * and sent back (fetch's own redirect following drops them), as Gatehouse's
 * upstream OAuth callback requires the cookie its start set in the same browser.
 */
async function browse(url) {
  const jar = new Map();
  let next = new URL(url);
  for (let hop = 0; hop < 20; hop += 1) {
    const cookies = jar.get(next.host) ?? new Map();
    const headers = cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
    const resp = await fetch(next, { redirect: 'manual', headers });
    for (const line of resp.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    jar.set(next.host, cookies);
    const location = resp.headers.get('location');
    if (resp.status < 300 || resp.status >= 400 || !location) return resp;
    await resp.arrayBuffer();
    next = new URL(location, next);
  }
  throw new Error(`authorization link: too many redirects from ${url}`);
}

/**
 * Runs `step`; when the edge answers -32042 (URL elicitation: the user must
 * authorize Gatehouse at the upstream's AS), opens the authorization link like a
 * browser would (the suite's AS approves without interaction, redirecting to
 * Gatehouse's callback) and retries. Errors the edge marks `retryable` (e.g.
 * the control plane is still resolving a client-credentials server) are
 * retried until the deadline; anything else ends the run at once.
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
        const resp = await browse(elicitation.url);
        if (!resp.ok) throw new Error(`authorization link ended with ${resp.status}: ${await resp.text()}`);
        continue;
      }
      if (!retryable(err) || Date.now() > deadline) throw err;
      if (!lastError) process.stderr.write(`gatehouse-client: retrying after: ${err}\n`);
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Whether the edge said this error may be retried (`error.data.retryable`). */
function retryable(err) {
  if (err?.data?.retryable !== undefined) return err.data.retryable === true;
  // The SDK reports HTTP errors as text ending in the response body.
  const body = /(\{.*\})\s*$/s.exec(String(err?.message ?? ''))?.[1];
  try {
    return JSON.parse(body).error?.data?.retryable === true;
  } catch {
    return false;
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`gatehouse-client: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
