// What an MCP client needs to reach a server through the edge with a gateway
// token: the `{"mcpServers": …}` file most clients read (Claude Desktop, Cursor).

/** The edge URL of a server: `{edge}/mcp/{org}/{slug}`. */
export function serverUrl(edgeUrl: string, org: string, slug: string): string {
  return `${edgeUrl.replace(/\/+$/, '')}/mcp/${encodeURIComponent(org)}/${encodeURIComponent(slug)}`;
}

export interface McpClientConfig {
  mcpServers: Record<string, { type: 'http'; url: string; headers: Record<string, string> }>;
}

/** The client configuration of `token` for each server slug. */
export function clientConfig(edgeUrl: string, org: string, slugs: string[], token: string): McpClientConfig {
  const mcpServers: McpClientConfig['mcpServers'] = {};
  for (const slug of slugs) {
    mcpServers[slug] = {
      type: 'http',
      url: serverUrl(edgeUrl, org, slug),
      headers: { Authorization: `Bearer ${token}` },
    };
  }
  return { mcpServers };
}
