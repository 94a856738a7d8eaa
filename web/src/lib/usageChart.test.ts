import { describe, expect, it } from 'vitest';
import {
  MAX_SERIES,
  OTHER,
  bucketsBetween,
  callsByKey,
  callsByStatus,
  latencyOf,
  seriesKeys,
  totalsByKey,
  type UsageRowLike,
} from './usageChart';

function row(bucket: string, key: string, calls: number, errors = 0, denials = 0, p = [1, 2, 3]): UsageRowLike {
  return { bucket, key, calls, errors, denials, latency_p50_ms: p[0], latency_p95_ms: p[1], latency_p99_ms: p[2] };
}

const H8 = '2026-12-07T08:00:00Z';
const H10 = '2026-12-07T10:00:00Z';

describe('buckets', () => {
  it('lists every hour of the window, empty ones too', () => {
    const buckets = bucketsBetween(new Date('2026-12-07T08:20:00Z'), new Date('2026-12-07T11:00:00Z'), 'hour');
    expect(buckets).toEqual([
      '2026-12-07T08:00:00.000Z',
      '2026-12-07T09:00:00.000Z',
      '2026-12-07T10:00:00.000Z',
    ]);
  });

  it('lists UTC days, and keeps rows outside the window', () => {
    const buckets = bucketsBetween(new Date('2026-12-05T13:00:00Z'), new Date('2026-12-07T01:00:00Z'), 'day', [
      row('2026-12-01T00:00:00Z', 'a', 1),
    ]);
    expect(buckets).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2026-12-05T00:00:00.000Z',
      '2026-12-06T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z',
    ]);
  });
});

describe('chart data', () => {
  const rows = [row(H8, 'tools', 5, 1, 2), row(H8, 'other-server', 1), row(H10, 'tools', 3, 0, 1, [4, 9, 12])];
  const buckets = bucketsBetween(new Date(H8), new Date('2026-12-07T11:00:00Z'), 'hour');

  it('totals each key over the window, busiest first', () => {
    expect(totalsByKey(rows)).toEqual([
      { key: 'tools', calls: 8, errors: 1, denials: 3 },
      { key: 'other-server', calls: 1, errors: 0, denials: 0 },
    ]);
  });

  it('pivots calls per key and bucket, zeros where a key had none', () => {
    const { keys, points } = callsByKey(rows, buckets);
    expect(keys).toEqual(['tools', 'other-server']);
    expect(points).toEqual([
      { bucket: '2026-12-07T08:00:00.000Z', tools: 5, 'other-server': 1 },
      { bucket: '2026-12-07T09:00:00.000Z', tools: 0, 'other-server': 0 },
      { bucket: '2026-12-07T10:00:00.000Z', tools: 3, 'other-server': 0 },
    ]);
  });

  it('sums the quieter keys into one series past the limit', () => {
    const many = Array.from({ length: MAX_SERIES + 2 }, (_, i) => row(H8, `k${i}`, 100 - i));
    const keys = seriesKeys(many);
    expect(keys).toHaveLength(MAX_SERIES);
    expect(keys.at(-1)).toBe(OTHER);
    const { points } = callsByKey(many, [new Date(H8).toISOString()]);
    const total = many.reduce((sum, r) => sum + r.calls, 0);
    const drawn = keys.reduce((sum, k) => sum + (points[0][k] as number), 0);
    expect(drawn).toBe(total);
  });

  it('splits calls into succeeded, errors and denials', () => {
    expect(callsByStatus(rows, buckets)).toEqual([
      { bucket: '2026-12-07T08:00:00.000Z', succeeded: 3, errors: 1, denials: 2 },
      { bucket: '2026-12-07T09:00:00.000Z', succeeded: 0, errors: 0, denials: 0 },
      { bucket: '2026-12-07T10:00:00.000Z', succeeded: 2, errors: 0, denials: 1 },
    ]);
  });

  it("shows one key's latency, null where it had no calls", () => {
    expect(latencyOf(rows, 'tools', buckets)).toEqual([
      { bucket: '2026-12-07T08:00:00.000Z', p50: 1, p95: 2, p99: 3 },
      { bucket: '2026-12-07T09:00:00.000Z', p50: null, p95: null, p99: null },
      { bucket: '2026-12-07T10:00:00.000Z', p50: 4, p95: 9, p99: 12 },
    ]);
  });
});
