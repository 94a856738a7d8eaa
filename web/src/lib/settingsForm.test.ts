import { describe, expect, it } from 'vitest';
import { ApiFailure } from '../api/errors';
import { parseSettingsJson, rateLimitBody, rateLimitForm, type RateLimitForm } from './settingsForm';

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof ApiFailure ? error.field : 'not an ApiFailure';
  }
  return undefined;
}

describe('parseSettingsJson', () => {
  it('is null when empty, the object otherwise', () => {
    expect(parseSettingsJson('jwt_validation', '  ')).toBeNull();
    expect(parseSettingsJson('jwt_validation', '{"issuer": "x"}')).toEqual({ issuer: 'x' });
  });
  it('names the field of bad JSON and of non-objects', () => {
    expect(fieldOf(() => parseSettingsJson('jwt_validation', '{'))).toBe('jwt_validation');
    expect(fieldOf(() => parseSettingsJson('external_auth_config', '[]'))).toBe('external_auth_config');
  });
});

const limit: RateLimitForm = {
  name: ' api ',
  kind: 'limit',
  amount: '100',
  per: 'minute',
  burst: '',
  workspace: 'eng',
  server: '',
  user: '',
  tool: ' search_* ',
  perCaller: true,
};

describe('rateLimitBody', () => {
  it('builds a limit with only the match fields given; no burst is null', () => {
    expect(rateLimitBody(limit)).toEqual({
      name: 'api',
      match: { workspace: 'eng', tool: 'search_*' },
      per_caller: true,
      limit: { requests: 100, per: 'minute' },
      burst: null,
    });
  });
  it('builds a budget without burst', () => {
    expect(rateLimitBody({ ...limit, kind: 'budget', amount: '5000', per: 'month', burst: '9' })).toEqual({
      name: 'api',
      match: { workspace: 'eng', tool: 'search_*' },
      per_caller: true,
      budget: { calls: 5000, per: 'month' },
    });
  });
  it('names the count that is not a whole number in range', () => {
    expect(fieldOf(() => rateLimitBody({ ...limit, amount: '0' }))).toBe('limit.requests');
    expect(fieldOf(() => rateLimitBody({ ...limit, kind: 'budget', amount: '1.5' }))).toBe('budget.calls');
    expect(fieldOf(() => rateLimitBody({ ...limit, burst: '-1' }))).toBe('burst');
  });
  it('round-trips a stored budget through the form', () => {
    const form = rateLimitForm({
      id: 'r1',
      name: 'calls',
      match: { server: 'tools' },
      per_caller: false,
      budget: { calls: 10, per: 'day' },
      created_at: '',
      updated_at: '',
    });
    expect(rateLimitBody(form)).toEqual({ name: 'calls', match: { server: 'tools' }, per_caller: false, budget: { calls: 10, per: 'day' } });
  });
});
