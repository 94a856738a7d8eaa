// The usage page's choices as URL query parameters: what calls are grouped by,
// the bucket width and the time range (empty: the last 24 hours).

import type { Interval } from './usageChart';

export const GROUPS = ['server', 'tool', 'user', 'workspace'] as const;
export type Group = (typeof GROUPS)[number];

/** The window when the URL names none. */
export const DEFAULT_WINDOW_MS = 24 * 3_600_000;

export interface UsageChoice {
  groupBy: Group;
  interval: Interval;
  /** RFC 3339, or '' for the default window. */
  since: string;
  until: string;
}

/** The choice a URL's query names; unknown values fall back to server, hour. */
export function usageFromParams(params: URLSearchParams): UsageChoice {
  const group = params.get('group_by') ?? '';
  const interval = params.get('interval');
  return {
    groupBy: (GROUPS as readonly string[]).includes(group) ? (group as Group) : 'server',
    interval: interval === 'day' ? 'day' : 'hour',
    since: (params.get('since') ?? '').trim(),
    until: (params.get('until') ?? '').trim(),
  };
}

/** The URL query of a choice (defaults left out). */
export function usageToParams(choice: UsageChoice): URLSearchParams {
  const params = new URLSearchParams();
  if (choice.groupBy !== 'server') params.set('group_by', choice.groupBy);
  if (choice.interval !== 'hour') params.set('interval', choice.interval);
  if (choice.since) params.set('since', choice.since);
  if (choice.until) params.set('until', choice.until);
  return params;
}

/**
 * The window the page asks the API for: the URL's times, else the last 24
 * hours before `now` (or before `until`). Unreadable times are passed as
 * written so the API names them.
 */
export function usageWindow(choice: UsageChoice, now: Date): { since: string; until: string } {
  const until = choice.until || now.toISOString();
  const end = new Date(until);
  const since =
    choice.since || (Number.isNaN(end.getTime()) ? '' : new Date(end.getTime() - DEFAULT_WINDOW_MS).toISOString());
  return { since, until };
}
