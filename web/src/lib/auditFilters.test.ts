import { describe, expect, it } from 'vitest';
import {
  apiQuery,
  exportHref,
  filtersFromParams,
  filtersToParams,
  localToRfc3339,
  noFilters,
  rfc3339ToLocal,
} from './auditFilters';
import { eventDecision, eventWhat, eventWho } from './auditEvent';

describe('audit filters in the URL', () => {
  it('reads every filter and ignores other parameters', () => {
    const filters = filtersFromParams(
      new URLSearchParams('kind=tool_call&tool=echo&decision=deny&since=2026-12-01T00:00:00Z&page=3&server=+tools+'),
    );
    expect(filters).toEqual({
      ...noFilters(),
      kind: 'tool_call',
      tool: 'echo',
      decision: 'deny',
      server: 'tools',
      since: '2026-12-01T00:00:00Z',
    });
  });

  it('writes only the filters that are set, and reads back what it wrote', () => {
    const filters = { ...noFilters(), action: 'PATCH /v1/servers/{slug}', actor: 'platform', user: '  ' };
    const params = filtersToParams(filters);
    expect(params.toString()).toBe('actor=platform&action=PATCH+%2Fv1%2Fservers%2F%7Bslug%7D');
    expect(filtersFromParams(params)).toEqual({ ...filters, user: '' });
    expect(filtersToParams(noFilters()).toString()).toBe('');
  });

  it('gives the API only the filters that are set', () => {
    expect(apiQuery({ ...noFilters(), kind: 'admin', until: '2026-12-07T00:00:00Z' })).toEqual({
      kind: 'admin',
      until: '2026-12-07T00:00:00Z',
    });
    expect(apiQuery(noFilters())).toEqual({});
  });

  it('links the export with the same filters', () => {
    expect(exportHref({ ...noFilters(), tool: 'echo', decision: 'allow' })).toBe(
      '/v1/audit-events/export?tool=echo&decision=allow&format=jsonl',
    );
    expect(exportHref(noFilters())).toBe('/v1/audit-events/export?format=jsonl');
  });
});

describe('date-time inputs', () => {
  it('turns a local date-time into UTC RFC 3339 and back', () => {
    const local = '2026-12-07T08:30';
    const utc = localToRfc3339(local);
    expect(utc).toBe(new Date(2026, 11, 7, 8, 30).toISOString());
    expect(rfc3339ToLocal(utc)).toBe(local);
  });

  it('keeps empty values empty and passes unreadable ones to the API to name', () => {
    expect(localToRfc3339('')).toBe('');
    expect(localToRfc3339('yesterday')).toBe('yesterday');
    expect(rfc3339ToLocal('yesterday')).toBe('');
  });
});

describe('audit table columns', () => {
  it('reads admin and edge events', () => {
    const admin = { kind: 'admin', actor: 'platform', action: 'POST /v1/servers', decision: 'allow' };
    expect([eventWho(admin), eventWhat(admin), eventDecision(admin)]).toEqual(['platform', 'POST /v1/servers', 'allow']);
    const call = { kind: 'tool_call', user: 'a@example.com', method: 'tools/call', tool: 'echo', decision: 'deny', reason: 'tool_denied' };
    expect([eventWho(call), eventWhat(call), eventDecision(call)]).toEqual([
      'a@example.com',
      'tools/call echo',
      'deny: tool_denied',
    ]);
    const list = { kind: 'mcp_request', method: 'tools/list' };
    expect([eventWho(list), eventWhat(list), eventDecision(list)]).toEqual(['', 'tools/list', '']);
  });
});
