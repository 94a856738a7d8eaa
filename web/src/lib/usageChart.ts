// The usage page's chart data, shaped from `GET /v1/usage` rows (one per time
// bucket and group key): calls per key over time, calls by status (succeeded,
// errors, denials) over time, one key's latency percentiles, and per-key totals.
// Buckets with no events are filled with zeros so the time axis is even.

/** One row of `GET /v1/usage`. */
export interface UsageRowLike {
  bucket: string;
  key: string;
  calls: number;
  errors: number;
  denials: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  latency_p99_ms: number;
}

export type Interval = 'hour' | 'day';

/** Keys drawn as their own series; the rest are summed into `OTHER`. */
export const MAX_SERIES = 8;
export const OTHER = 'other';

const STEP: Record<Interval, number> = { hour: 3_600_000, day: 86_400_000 };

/** The start of the UTC hour or day `time` falls in, as the API buckets it. */
export function bucketStart(time: Date, interval: Interval): number {
  const step = STEP[interval];
  return Math.floor(time.getTime() / step) * step;
}

/**
 * Every bucket start from the bucket of `since` to the one of `until`
 * (exclusive of `until` itself when it is a bucket start), as ISO strings;
 * the rows' own buckets are added when outside the window.
 */
export function bucketsBetween(since: Date, until: Date, interval: Interval, rows: UsageRowLike[] = []): string[] {
  const step = STEP[interval];
  const starts = new Set<number>();
  const last = until.getTime() - 1;
  // A window is at most 93 days: at most 2 232 hourly buckets.
  for (let t = bucketStart(since, interval); t <= last; t += step) starts.add(t);
  for (const row of rows) starts.add(new Date(row.bucket).getTime());
  return [...starts].sort((a, b) => a - b).map((t) => new Date(t).toISOString());
}

/** Calls, errors and denials of each key over the whole window, busiest first (then by key). */
export function totalsByKey(rows: UsageRowLike[]): { key: string; calls: number; errors: number; denials: number }[] {
  const totals = new Map<string, { key: string; calls: number; errors: number; denials: number }>();
  for (const row of rows) {
    const t = totals.get(row.key) ?? { key: row.key, calls: 0, errors: 0, denials: 0 };
    t.calls += row.calls;
    t.errors += row.errors;
    t.denials += row.denials;
    totals.set(row.key, t);
  }
  return [...totals.values()].sort((a, b) => b.calls - a.calls || a.key.localeCompare(b.key));
}

/** The keys drawn as series: the busiest `MAX_SERIES`, then `OTHER` when more keys had calls. */
export function seriesKeys(rows: UsageRowLike[]): string[] {
  const keys = totalsByKey(rows).map((t) => t.key);
  return keys.length > MAX_SERIES ? [...keys.slice(0, MAX_SERIES - 1), OTHER] : keys;
}

/** One point of the calls-per-key chart: the bucket and each series' calls. */
export type KeyPoint = { bucket: string } & Record<string, number | string>;

/** Calls per key and bucket, with the quieter keys summed into `OTHER`. */
export function callsByKey(rows: UsageRowLike[], buckets: string[]): { keys: string[]; points: KeyPoint[] } {
  const keys = seriesKeys(rows);
  const drawn = new Set(keys);
  const points = new Map<string, KeyPoint>();
  for (const bucket of buckets) {
    const point: KeyPoint = { bucket };
    for (const key of keys) point[key] = 0;
    points.set(bucket, point);
  }
  for (const row of rows) {
    const point = points.get(normal(row.bucket));
    if (!point) continue;
    const series = drawn.has(row.key) ? row.key : OTHER;
    point[series] = (point[series] as number) + row.calls;
  }
  return { keys, points: [...points.values()] };
}

/** One point of the status chart: calls that succeeded, failed and were denied. */
export interface StatusPoint {
  bucket: string;
  succeeded: number;
  errors: number;
  denials: number;
}

/** Every key's calls per bucket by status: succeeded = calls − errors − denials. */
export function callsByStatus(rows: UsageRowLike[], buckets: string[]): StatusPoint[] {
  const points = new Map<string, StatusPoint>(
    buckets.map((bucket) => [bucket, { bucket, succeeded: 0, errors: 0, denials: 0 }]),
  );
  for (const row of rows) {
    const point = points.get(normal(row.bucket));
    if (!point) continue;
    point.succeeded += row.calls - row.errors - row.denials;
    point.errors += row.errors;
    point.denials += row.denials;
  }
  return [...points.values()];
}

/** One point of the latency chart. */
export interface LatencyPoint {
  bucket: string;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/**
 * One key's latency percentiles per bucket (null where it had no calls).
 * Percentiles of different keys cannot be added, so the chart shows one key.
 */
export function latencyOf(rows: UsageRowLike[], key: string, buckets: string[]): LatencyPoint[] {
  const byBucket = new Map(rows.filter((r) => r.key === key).map((r) => [normal(r.bucket), r]));
  return buckets.map((bucket) => {
    const row = byBucket.get(bucket);
    return {
      bucket,
      p50: row ? row.latency_p50_ms : null,
      p95: row ? row.latency_p95_ms : null,
      p99: row ? row.latency_p99_ms : null,
    };
  });
}

/** A bucket's label on the time axis: the hour or the day, in the browser's time zone. */
export function bucketLabel(bucket: string, interval: Interval): string {
  const time = new Date(bucket);
  return interval === 'hour'
    ? time.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
    : time.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** The API writes `2026-12-07T08:00:00Z`; the page's buckets are `toISOString()` (with milliseconds). */
function normal(bucket: string): string {
  return new Date(bucket).toISOString();
}
