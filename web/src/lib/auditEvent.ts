// How one audit event reads in the audit table's columns.

/** The fields of an audit event the table reads (every field is optional but id, kind and time). */
export interface AuditEventLike {
  kind: string;
  actor?: string | null;
  user?: string | null;
  action?: string | null;
  method?: string | null;
  tool?: string | null;
  decision?: string | null;
  reason?: string | null;
}

/** Who: an admin event's actor, an edge event's user. */
export function eventWho(e: AuditEventLike): string {
  return e.actor || e.user || '';
}

/** What: an admin event's action (`PATCH /v1/servers/{slug}`), or the MCP method and tool. */
export function eventWhat(e: AuditEventLike): string {
  if (e.action) return e.action;
  return [e.method, e.tool].filter(Boolean).join(' ');
}

/** The decision and, for a denial, why (`deny: tool_denied`). */
export function eventDecision(e: AuditEventLike): string {
  if (!e.decision) return '';
  return e.reason ? `${e.decision}: ${e.reason}` : e.decision;
}
