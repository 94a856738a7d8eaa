import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { globMatch, parseGlobs, toolPasses } from './glob';

describe('globMatch', () => {
  it('matches the whole name with * and ?', () => {
    expect(globMatch('get_*', 'get_issue')).toBe(true);
    expect(globMatch('get_*', 'forget_issue')).toBe(false);
    expect(globMatch('*_issue', 'get_issue')).toBe(true);
    expect(globMatch('g?t', 'get')).toBe(true);
    expect(globMatch('g?t', 'geet')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('a*b*c', 'aXXbYYc')).toBe(true);
    expect(globMatch('a*b*c', 'aXXbYY')).toBe(false);
    expect(globMatch('delete_repo', 'delete_repo')).toBe(true);
  });
  it('treats regex characters literally', () => {
    expect(globMatch('a.b', 'aXb')).toBe(false);
    expect(globMatch('a+b', 'a+b')).toBe(true);
  });
});

describe('toolPasses', () => {
  it('applies allow, then deny', () => {
    expect(toolPasses('search', [], [])).toBe(true);
    expect(toolPasses('search', ['get_*'], [])).toBe(false);
    expect(toolPasses('get_x', ['get_*'], ['get_x'])).toBe(false);
    expect(toolPasses('delete_repo', [], ['delete_*'])).toBe(false);
  });
});

describe('parseGlobs', () => {
  it('splits on commas and lines and drops blanks', () => {
    expect(parseGlobs(' a, b\n\nc ,')).toEqual(['a', 'b', 'c']);
  });
});

// The cases the edge's matcher (gatehouse_config::tool_glob) is tested against, so both agree.
describe('the shared glob cases', () => {
  const cases = JSON.parse(
    readFileSync(new URL('../../../config-model/src/tool_glob_cases.json', import.meta.url), 'utf8'),
  ) as {
    globs: [string, string, boolean][];
    rules: { allow: string[]; deny: string[]; tool: string; passes: boolean }[];
  };
  it('matches as the edge does', () => {
    for (const [pattern, name, expected] of cases.globs) {
      expect([pattern, name, globMatch(pattern, name)]).toEqual([pattern, name, expected]);
    }
  });
  it('judges provisioning as the edge does', () => {
    for (const c of cases.rules) expect([c.tool, toolPasses(c.tool, c.allow, c.deny)]).toEqual([c.tool, c.passes]);
  });
});
