// My connections: which of the caller's servers need a per-user upstream
// OAuth connection, and the caller's connection to each (if any).

import type { Schemas } from '../api/client';

type Server = Schemas['ServerView'];
type Connection = Schemas['ConnectionView'];

/** Whether a grant's user names the person `id` / `email`, as the API decides (id, or e-mail in any case). */
export function namesUser(name: string, id: string, email: string): boolean {
  return name === id || (email !== '' && name.toLowerCase() === email.toLowerCase());
}

export interface ServerConnections {
  server: Server;
  connections: Connection[];
}

/** Every oauth2 server with the person's own connections to it, by slug. */
export function myConnections(servers: Server[], connections: Connection[], id: string, email: string): ServerConnections[] {
  const mine = connections.filter((c) => c.source === 'gatehouse' && namesUser(c.user, id, email));
  return servers
    .filter((s) => s.auth_type === 'oauth2')
    .sort((a, b) => a.slug.localeCompare(b.slug))
    .map((server) => ({ server, connections: mine.filter((c) => c.server_id === server.id) }));
}
