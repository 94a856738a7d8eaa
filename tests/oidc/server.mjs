// A real OpenID Provider / OAuth 2.1 authorization server for Gatehouse's tests.
//
// Wraps `oidc-provider` with headless interactions (the /authorize login and
// consent steps auto-complete for the configured default user or `login_hint`),
// JWT (or opaque, introspectable) access tokens per resource indicator (RFC 8707), dynamic client
// registration (RFC 7591), client credentials, introspection, revocation,
// refresh-token rotation with reuse detection, RFC 9207 `iss` in authorization
// responses, and test-control endpoints under /__test/.
//
// Configuration: one JSON object from `--config <json>` or the OIDC_CONFIG env
// variable (see README.md). Prints ONE JSON line on stdout once listening:
//   {"issuer":"http://127.0.0.1:PORT","port":PORT,...}
// Everything else (oidc-provider warnings, request errors) goes to stderr.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const OIDC_SCOPES = ['openid', 'offline_access', 'email', 'profile', 'groups', 'roles'];
const DEFAULT_RESOURCE_SCOPES = ['mcp', 'mcp:read', 'mcp:write', 'mcp:tools', 'read', 'write', 'admin'];

/** Reads and validates the configuration from --config / OIDC_CONFIG. */
function loadConfig() {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
    },
  });
  const raw = values.config ?? process.env.OIDC_CONFIG ?? '{}';
  let config;
  try {
    config = JSON.parse(raw);
  } catch (err) {
    fail(`OIDC_CONFIG / --config is not valid JSON: ${err.message}`);
  }
  if (values.port !== undefined) config.port = Number(values.port);
  const users = config.users ?? [{ sub: 'alice', email: 'alice@example.com', name: 'Alice' }];
  if (!Array.isArray(users) || users.length === 0 || users.some((u) => typeof u.sub !== 'string')) {
    fail('config.users must be a non-empty array of objects with a string `sub`');
  }
  if (!['jwt', 'opaque'].includes(config.access_token_format ?? 'jwt')) {
    fail('config.access_token_format must be "jwt" or "opaque"');
  }
  const defaultUser = config.default_user ?? users[0].sub;
  if (!users.some((u) => u.sub === defaultUser)) {
    fail(`config.default_user ${JSON.stringify(defaultUser)} is not one of config.users`);
  }
  return {
    host: config.host ?? '127.0.0.1',
    port: Number.isInteger(config.port) ? config.port : 0,
    clients: config.clients ?? [],
    users,
    defaultUser,
    accessTokenTtl: config.access_token_ttl ?? 3600,
    refreshTokenTtl: config.refresh_token_ttl ?? 14 * 24 * 3600,
    resourceScopes: config.resource_scopes ?? DEFAULT_RESOURCE_SCOPES,
    registration: config.registration ?? true,
    rotateRefreshTokens: config.rotate_refresh_tokens ?? true,
    accessTokenFormat: config.access_token_format ?? 'jwt',
  };
}

function fail(message) {
  process.stderr.write(`test-oidc: ${message}\n`);
  process.exit(2);
}

/** A fresh RS256 signing key as a private JWK with a unique kid. */
function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

function emptyStats() {
  return {
    token_requests: {},
    token_errors: {},
    refresh_requests: 0,
    registrations: 0,
    authorizations: 0,
    introspections: 0,
    revocations: 0,
  };
}

const config = loadConfig();
let stats = emptyStats();
/** Grant ids per account, so /__test/revoke-grants can destroy them. */
const grantsByAccount = new Map();
let signingKeys = [newSigningKey()];
let provider;

const usersBySub = new Map(config.users.map((u) => [u.sub, u]));

/** Resolves `login_hint` (a sub or an email) to a user, or the default user. */
function userFor(loginHint) {
  if (loginHint) {
    const hit = config.users.find((u) => u.sub === loginHint || u.email === loginHint);
    if (hit) return hit;
  }
  return usersBySub.get(config.defaultUser);
}

/** The claims a user releases: standard ones plus everything under `claims`. */
function userClaims(user) {
  const { sub, claims: custom = {}, ...standard } = user;
  return { sub, email_verified: standard.email ? true : undefined, ...standard, ...custom };
}

/** Scope → claims mapping. Groups, roles and custom claims are released with `openid`. */
function claimsConfig() {
  const custom = new Set();
  for (const u of config.users) {
    for (const k of Object.keys(u.claims ?? {})) custom.add(k);
  }
  return {
    openid: ['sub', 'groups', 'roles', ...custom],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture'],
    groups: ['groups'],
    roles: ['roles'],
  };
}

/** Builds a provider over the shared in-memory storage with the current signing keys. */
function buildProvider(issuer) {
  const p = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys: signingKeys },
    cookies: { keys: ['gatehouse-test-oidc-cookie-key'] },
    claims: claimsConfig(),
    scopes: [...OIDC_SCOPES],
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => {
      const user = usersBySub.get(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => userClaims(user) };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: {
      AccessToken: config.accessTokenTtl,
      ClientCredentials: config.accessTokenTtl,
      RefreshToken: config.refreshTokenTtl,
      Grant: config.refreshTokenTtl,
      Session: config.refreshTokenTtl,
      Interaction: 600,
      AuthorizationCode: 60,
      IdToken: 3600,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => config.rotateRefreshTokens,
    expiresWithSession: async () => false,
    extraTokenClaims: async (_ctx, token) => {
      const user = token.accountId ? usersBySub.get(token.accountId) : undefined;
      return user?.email ? { email: user.email } : undefined;
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: config.registration, initialAccessToken: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async () => true },
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => {
          // Any absolute resource is accepted; it may carry the configured resource
          // scopes plus whatever non-OIDC scope the request asked for.
          const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
          const scopes = new Set([...config.resourceScopes, ...requested.filter((s) => !OIDC_SCOPES.includes(s))]);
          return {
            audience: resource,
            scope: [...scopes].join(' '),
            accessTokenTTL: config.accessTokenTtl,
            accessTokenFormat: config.accessTokenFormat,
            ...(config.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          };
        },
      },
    },
  });
  p.proxy = false;

  p.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'token') {
      const grantType = String(ctx.oidc.params?.grant_type ?? 'unknown');
      stats.token_requests[grantType] = (stats.token_requests[grantType] ?? 0) + 1;
      if (grantType === 'refresh_token') stats.refresh_requests += 1;
      if (ctx.status >= 400) {
        const code = ctx.body?.error ?? String(ctx.status);
        stats.token_errors[code] = (stats.token_errors[code] ?? 0) + 1;
      }
    } else if (ctx.oidc?.route === 'introspection') {
      stats.introspections += 1;
    } else if (ctx.oidc?.route === 'revocation') {
      stats.revocations += 1;
    }
  });
  p.use(interactionMiddleware(p));

  p.on('registration_create.success', () => {
    stats.registrations += 1;
  });
  p.on('authorization.success', () => {
    stats.authorizations += 1;
  });
  p.on('grant.saved', (grant) => {
    const ids = grantsByAccount.get(grant.accountId) ?? new Set();
    ids.add(grant.jti);
    grantsByAccount.set(grant.accountId, ids);
  });
  p.on('server_error', (_ctx, err) => {
    process.stderr.write(`test-oidc: server_error: ${err?.stack ?? err}\n`);
  });
  return p;
}

/** Auto-completes login (default user or login_hint) and consent (everything requested). */
function interactionMiddleware(p) {
  return async (ctx, next) => {
    const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
    if (!match || ctx.method !== 'GET') return next();
    const details = await p.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, session } = details;
    let result;
    if (prompt.name === 'login') {
      const user = userFor(params.login_hint);
      result = { login: { accountId: user.sub } };
    } else if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await p.Grant.find(details.grantId)
        : new p.Grant({ accountId: session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    } else {
      result = { error: 'access_denied', error_description: `unsupported prompt ${prompt.name}` };
    }
    await p.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  };
}

/** Handles /__test/* control endpoints; returns false for anything else. */
async function testControl(req, res, issuer) {
  const url = new URL(req.url, issuer);
  if (!url.pathname.startsWith('/__test/')) return false;
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /__test/stats') {
    reply(200, stats);
  } else if (route === 'POST /__test/reset-stats') {
    stats = emptyStats();
    reply(200, stats);
  } else if (route === 'POST /__test/revoke-grants') {
    const sub = url.searchParams.get('sub');
    if (!sub) {
      reply(400, { error: 'missing sub' });
      return true;
    }
    let revoked = 0;
    for (const id of grantsByAccount.get(sub) ?? []) {
      const grant = await provider.Grant.find(id);
      if (grant) {
        await grant.destroy();
        revoked += 1;
      }
    }
    grantsByAccount.delete(sub);
    reply(200, { revoked });
  } else if (route === 'POST /__test/rotate-keys') {
    const keepOld = url.searchParams.get('keep_old') !== 'false';
    const fresh = newSigningKey();
    signingKeys = keepOld ? [fresh, ...signingKeys] : [fresh];
    provider = buildProvider(issuer);
    handler = provider.callback();
    reply(200, { kid: fresh.kid, kids: signingKeys.map((k) => k.kid) });
  } else {
    reply(404, { error: `no test route ${route}` });
  }
  return true;
}

let handler = () => {};
const server = createServer((req, res) => {
  testControl(req, res, issuerOf(server))
    .then((handled) => {
      if (!handled) handler(req, res);
    })
    .catch((err) => {
      process.stderr.write(`test-oidc: test control failed: ${err.stack}\n`);
      res.writeHead(500).end();
    });
});

function issuerOf(srv) {
  return `http://${config.host}:${srv.address().port}`;
}

server.listen(config.port, config.host, () => {
  const issuer = issuerOf(server);
  provider = buildProvider(issuer);
  handler = provider.callback();
  const line = {
    issuer,
    port: server.address().port,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    registration_endpoint: `${issuer}/reg`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    pid: process.pid,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
// The harness holds our stdin; when the test process dies, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
