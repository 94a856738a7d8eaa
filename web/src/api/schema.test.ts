// The committed client types must be what openapi-typescript makes of the
// committed OpenAPI document (which a Rust test keeps equal to the control
// plane's). Regenerate both with `scripts/gen-console-api`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('schema.d.ts', () => {
  it('is generated from openapi.json', { timeout: 60_000 }, () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gatehouse-schema-')), 'schema.d.ts');
    execFileSync('node_modules/.bin/openapi-typescript', ['src/api/openapi.json', '-o', out], { stdio: 'pipe' });
    const committed = readFileSync('src/api/schema.d.ts', 'utf8');
    expect(readFileSync(out, 'utf8') === committed, 'schema.d.ts is stale: run scripts/gen-console-api').toBe(true);
  });
});
