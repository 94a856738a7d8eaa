// The edge fleet (platform admin): every edge, connected or not, the config
// version it acknowledged against the current one, and when it was last seen.

import { Heading } from 'react-aria-components';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';

export function Edges() {
  const edges = useLoad(async () => unwrap(await api.GET('/v1/edges', { params: { query: { limit: 200 } } })), []);
  return (
    <>
      <Heading level={1}>Edges</Heading>
      {edges.data ? (
        <p className="muted">Current config version: {edges.data.config_version}</p>
      ) : null}
      <ListView what="edges" loading={edges.loading} error={edges.error} items={edges.data?.edges} empty="No edge has connected yet.">
        {(items) => (
          <table aria-label="Edges">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">State</th>
                <th scope="col">Acknowledged version</th>
                <th scope="col">Last seen</th>
                <th scope="col">Version</th>
              </tr>
            </thead>
            <tbody>
              {items.map((edge) => (
                <tr key={edge.node_id}>
                  <td>
                    <code>{edge.node_id}</code>
                  </td>
                  <td>{edge.connected ? (edge.in_sync ? 'connected, in sync' : 'connected, behind') : 'disconnected'}</td>
                  <td>{edge.acked_version ?? '—'}</td>
                  <td>{new Date(edge.last_seen).toLocaleString()}</td>
                  <td>{edge.software_version}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </>
  );
}
