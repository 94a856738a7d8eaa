// Parsing of the server form's free-text fields.

/** `Name: value` lines to a header map; blank lines skipped, a line without a colon is an error. */
export function parseHeaderLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SyntaxError(`headers line ${index + 1}: expected "Name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** The advanced config text as a JSON object; a syntax error names the field's problem. */
export function parseAdvancedConfig(text: string): Record<string, unknown> {
  const trimmed = text.trim();
  if (!trimmed) return {};
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    throw new SyntaxError(`advanced config is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SyntaxError('advanced config must be a JSON object');
  }
  return value as Record<string, unknown>;
}
