import { describe, expect, it } from 'vitest';
import { parseAdvancedConfig, parseHeaderLines } from './serverForm';

describe('parseHeaderLines', () => {
  it('reads Name: value lines', () => {
    expect(parseHeaderLines('Authorization: Bearer a:b\n\nX-Key:  k ')).toEqual({ Authorization: 'Bearer a:b', 'X-Key': 'k' });
  });
  it('names the line without a colon', () => {
    expect(() => parseHeaderLines('ok: 1\nbroken')).toThrow(/line 2/);
  });
});

describe('parseAdvancedConfig', () => {
  it('accepts an object and an empty field', () => {
    expect(parseAdvancedConfig('')).toEqual({});
    expect(parseAdvancedConfig('{"a": 1}')).toEqual({ a: 1 });
  });
  it('refuses invalid JSON and non-objects', () => {
    expect(() => parseAdvancedConfig('{')).toThrow(/not valid JSON/);
    expect(() => parseAdvancedConfig('[1]')).toThrow(/JSON object/);
  });
});
