// The mint form's logic, apart from the page: expiry presets, tool globs, and
// the `POST /v1/auth/tokens` body the pickers add up to.

import type { Schemas } from '../api/client';
import { ApiFailure } from '../api/errors';

/** Expiry presets as `expiresIn` values, and `custom` for a typed one. */
export const EXPIRY_PRESETS: [id: string, label: string][] = [
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
  ['never', 'Never'],
  ['custom', 'Custom…'],
];

/** The scopes the edges enforce. */
export const MCP_SCOPES: [id: string, label: string][] = [
  ['mcp:read', 'mcp:read (discovery and reading only)'],
  ['mcp:write', 'mcp:write (everything)'],
];

const EXPIRES_IN = /^(never|[1-9][0-9]{0,8}[smhdw])$/;

/** Why `text` is not an `expiresIn` the API takes, or null. */
export function expiryProblem(text: string): string | null {
  return EXPIRES_IN.test(text.trim()) ? null : 'write a number and a unit (s, m, h, d, w), like 12h or 2w, or never';
}

/** Why `glob` cannot be added to `current`, or null: the API's own rules for a tool glob. */
export function globProblem(glob: string, current: string[]): string | null {
  if (!glob) return 'type a tool name or glob first';
  if (glob.length > 256) return 'a tool glob is at most 256 characters';
  if (/[\s\u0000-\u001f\u007f]/.test(glob)) return 'a tool glob has no spaces or control characters';
  if (current.includes(glob)) return `${glob} is in the list already`;
  return null;
}

export interface MintForm {
  user: string;
  team: string;
  scopes: string[];
  servers: string[];
  tools: string[];
  expiry: string;
  customExpiry: string;
}

/** The request body; throws an Error naming the field when the form is not complete. */
export function mintBody(form: MintForm): Schemas['MintToken'] {
  const expiresIn = form.expiry === 'custom' ? form.customExpiry.trim() : form.expiry;
  const problem = expiryProblem(expiresIn);
  if (problem) throw formProblem('expiresIn', problem);
  return {
    user: form.user.trim(),
    team: form.team,
    scopes: form.scopes,
    permissions: { servers: form.servers, tools: form.tools },
    expiresIn,
  };
}

/** A form value the page refuses before calling the API, shown like the API's own field errors. */
export function formProblem(field: string, message: string): ApiFailure {
  return new ApiFailure(400, { code: 'invalid_field', message, field });
}
