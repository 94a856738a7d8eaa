import { describe, expect, it } from 'vitest';
import { clientConfig, serverUrl } from './clientConfig';

describe('clientConfig', () => {
  it('names each server with its edge URL and the bearer header', () => {
    const config = clientConfig('http://127.0.0.1:8787/', 'acme', ['github'], 'gth_x');
    expect(config).toEqual({
      mcpServers: {
        github: { type: 'http', url: 'http://127.0.0.1:8787/mcp/acme/github', headers: { Authorization: 'Bearer gth_x' } },
      },
    });
  });
  it('encodes path segments', () => {
    expect(serverUrl('https://edge', 'a b', 's')).toBe('https://edge/mcp/a%20b/s');
  });
});
