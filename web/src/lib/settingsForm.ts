// The org settings forms' logic: JSON settings fields (null when empty), and
// the rate-limit body from its form.

import type { Schemas } from '../api/client';
import { formProblem } from './tokenForm';

/** A JSON-object settings field: empty is `null` (cleared); anything else must be an object. */
export function parseSettingsJson(field: string, text: string): Record<string, unknown> | null {
  const trimmed = text.trim();
  if (!trimmed) return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    throw formProblem(field, `not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw formProblem(field, 'must be a JSON object, or empty to clear it');
  }
  return value as Record<string, unknown>;
}

/** A stored settings object as the text of its field. */
export function settingsText(value: unknown): string {
  return value === null || value === undefined ? '' : JSON.stringify(value, null, 2);
}

export interface RateLimitForm {
  name: string;
  kind: 'limit' | 'budget';
  amount: string;
  per: string;
  burst: string;
  workspace: string;
  server: string;
  user: string;
  tool: string;
  perCaller: boolean;
}

export const LIMIT_PERIODS: [id: string, label: string][] = [
  ['second', 'per second'],
  ['minute', 'per minute'],
  ['hour', 'per hour'],
  ['day', 'per day'],
];
export const BUDGET_PERIODS: [id: string, label: string][] = [
  ['day', 'per day'],
  ['month', 'per month'],
];

function count(field: string, text: string): number {
  const trimmed = text.trim();
  if (!/^[1-9][0-9]{0,12}$/.test(trimmed) || Number(trimmed) > 1e12) {
    throw formProblem(field, 'a whole number from 1 to 1000000000000');
  }
  return Number(trimmed);
}

/** The body of `POST /v1/rate-limits` (also a whole `PATCH`); throws an `ApiFailure` naming the field. */
export function rateLimitBody(form: RateLimitForm): Schemas['CreateRateLimit'] {
  const match: Schemas['RateLimitMatch'] = {};
  if (form.workspace) match.workspace = form.workspace;
  if (form.server) match.server = form.server;
  if (form.user.trim()) match.user = form.user.trim();
  if (form.tool.trim()) match.tool = form.tool.trim();
  const body: Schemas['CreateRateLimit'] = { name: form.name.trim(), match, per_caller: form.perCaller };
  if (form.kind === 'limit') {
    body.limit = { requests: count('limit.requests', form.amount), per: form.per };
    body.burst = form.burst.trim() ? count('burst', form.burst) : null;
  } else {
    body.budget = { calls: count('budget.calls', form.amount), per: form.per };
  }
  return body;
}

/** The form of a stored limit or budget, for editing it. */
export function rateLimitForm(view: Schemas['RateLimitView']): RateLimitForm {
  const budget = view.budget ?? null;
  return {
    name: view.name,
    kind: budget ? 'budget' : 'limit',
    amount: String(budget ? budget.calls : (view.limit?.requests ?? '')),
    per: budget ? budget.per : (view.limit?.per ?? 'minute'),
    burst: view.burst ? String(view.burst) : '',
    workspace: view.match.workspace ?? '',
    server: view.match.server ?? '',
    user: view.match.user ?? '',
    tool: view.match.tool ?? '',
    perCaller: view.per_caller,
  };
}

/** "100 requests per minute" / "1000 tool calls per day". */
export function describeRate(view: Schemas['RateLimitView']): string {
  if (view.budget) return `${view.budget.calls} tool calls per ${view.budget.per}`;
  if (view.limit) return `${view.limit.requests} requests per ${view.limit.per}${view.burst ? `, burst ${view.burst}` : ''}`;
  return '—';
}
