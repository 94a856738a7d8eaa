// The typed admin API client: openapi-fetch over the types generated from the
// control plane's OpenAPI document (`schema.d.ts`), so a renamed field or route
// breaks the build. Same-origin cookie session; mutating calls carry the
// session's CSRF token, which lives only in memory.

import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

let csrfToken: string | null = null;

/** Remembers the session's CSRF token (from sign-in or `GET /v1/console/session`). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      request.headers.set('X-CSRF-Token', csrfToken);
    }
    return request;
  },
};

export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? '',
  credentials: 'same-origin',
});
api.use(csrf);

export type Schemas = import('./schema').components['schemas'];
