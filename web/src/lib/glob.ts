// The tool policy's globs, exactly as the edge reads them: `*` any run, `?`
// one character, everything else literal, matched against the whole name.

export function globMatch(pattern: string, name: string): boolean {
  const p = [...pattern];
  const n = [...name];
  let pi = 0;
  let ni = 0;
  let star = -1;
  let mark = 0;
  while (ni < n.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === n[ni]))) {
      pi++;
      ni++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ni;
    } else if (star >= 0) {
      pi = star + 1;
      ni = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** Whether a workspace's provisioning lets `tool` through: allow empty or matching, no deny matching. */
export function toolPasses(tool: string, allow: string[], deny: string[]): boolean {
  const allowed = allow.length === 0 || allow.some((g) => globMatch(g, tool));
  return allowed && !deny.some((g) => globMatch(g, tool));
}

/** Globs from a text field: one per line or comma-separated, blanks dropped. */
export function parseGlobs(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((g) => g.trim())
    .filter((g) => g.length > 0);
}
