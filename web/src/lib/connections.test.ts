import { describe, expect, it } from 'vitest';
import type { Schemas } from '../api/client';
import { myConnections, namesUser } from './connections';

const server = (id: string, slug: string, auth_type: string) => ({ id, slug, auth_type }) as Schemas['ServerView'];
const grant = (id: string, user: string, server_id: string, source = 'gatehouse') =>
  ({ id, user, server_id, source, issuer: '', server: '', scopes: [], status: 'active' }) as unknown as Schemas['ConnectionView'];

describe('namesUser', () => {
  it('is the id, or the e-mail in any case', () => {
    expect(namesUser('u1', 'u1', 'bob@example.com')).toBe(true);
    expect(namesUser('Bob@Example.com', 'u1', 'bob@example.com')).toBe(true);
    expect(namesUser('alice@example.com', 'u1', 'bob@example.com')).toBe(false);
    expect(namesUser('', 'u1', '')).toBe(false);
  });
});

describe('myConnections', () => {
  it("lists oauth2 servers only, each with the person's own gatehouse grants", () => {
    const servers = [server('s2', 'linear', 'oauth2'), server('s1', 'tools', 'none'), server('s3', 'github', 'oauth2')];
    const grants = [
      grant('g1', 'u1', 's2'),
      grant('g2', 'someone', 's2'),
      grant('g3', 'u1', 's3', 'jwt'),
      grant('g4', 'BOB@example.com', 's3'),
    ];
    const rows = myConnections(servers, grants, 'u1', 'bob@example.com');
    expect(rows.map((r) => r.server.slug)).toEqual(['github', 'linear']);
    expect(rows[0].connections.map((c) => c.id)).toEqual(['g4']);
    expect(rows[1].connections.map((c) => c.id)).toEqual(['g1']);
  });
});
