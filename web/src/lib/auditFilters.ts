// The audit page's filters as URL query parameters (so a filtered view is a
// link), as the API's query, and as the export link with the same filters.
// Times are RFC 3339 in the URL and the API; the page's date-time inputs show
// them in the browser's time zone.

/** The filters `GET /v1/audit-events` and its export take, as text ('' = any). */
export interface AuditFilters {
  kind: string;
  actor: string;
  action: string;
  user: string;
  server: string;
  tool: string;
  decision: string;
  since: string;
  until: string;
}

/** Every filter, in the order the page and the URL show them. */
export const AUDIT_FILTER_NAMES: (keyof AuditFilters)[] = [
  'kind',
  'actor',
  'action',
  'user',
  'server',
  'tool',
  'decision',
  'since',
  'until',
];

/** The kinds of event, for the kind filter. */
export const AUDIT_KINDS = ['admin', 'tool_call', 'mcp_request', 'auth_failure', 'auth_failure_burst'] as const;

/** No filter at all. */
export function noFilters(): AuditFilters {
  return { kind: '', actor: '', action: '', user: '', server: '', tool: '', decision: '', since: '', until: '' };
}

/** The filters a URL's query names; anything else in it is ignored. */
export function filtersFromParams(params: URLSearchParams): AuditFilters {
  const filters = noFilters();
  for (const name of AUDIT_FILTER_NAMES) filters[name] = (params.get(name) ?? '').trim();
  return filters;
}

/** The URL query of `filters`: empty filters are left out, so the plain page is `/audit`. */
export function filtersToParams(filters: AuditFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of AUDIT_FILTER_NAMES) {
    const value = filters[name].trim();
    if (value) params.set(name, value);
  }
  return params;
}

/** The API query of `filters` (absent for empty ones), for openapi-fetch. */
export function apiQuery(filters: AuditFilters): Partial<Record<keyof AuditFilters, string>> {
  const query: Partial<Record<keyof AuditFilters, string>> = {};
  for (const [name, value] of filtersToParams(filters)) query[name as keyof AuditFilters] = value;
  return query;
}

/** The JSON-lines export of the events `filters` select. */
export function exportHref(filters: AuditFilters): string {
  const params = filtersToParams(filters);
  params.set('format', 'jsonl');
  return `/v1/audit-events/export?${params}`;
}

/**
 * A `datetime-local` input's value (`2026-12-07T08:30`, the browser's time
 * zone) as an RFC 3339 UTC time; '' stays ''. An unreadable value is passed
 * through unchanged so the API names it.
 */
export function localToRfc3339(value: string): string {
  if (!value.trim()) return '';
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? value : time.toISOString();
}

/** An RFC 3339 time as a `datetime-local` value in the browser's time zone; '' when unreadable. */
export function rfc3339ToLocal(value: string): string {
  if (!value.trim()) return '';
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())}T${pad(time.getHours())}:${pad(time.getMinutes())}`;
}
