import { describe, expect, it } from 'vitest';
import { ApiFailure, failureFrom, fieldMessage } from './errors';

describe('failureFrom', () => {
  it('reads the error envelope', () => {
    const failure = failureFrom(400, { error: { code: 'invalid_field', message: 'must be https', field: 'url' } });
    expect(failure).toBeInstanceOf(ApiFailure);
    expect([failure.status, failure.code, failure.message, failure.field]).toEqual([400, 'invalid_field', 'must be https', 'url']);
  });
  it('names the status when the body is not the envelope', () => {
    expect(failureFrom(502, 'bad gateway').message).toBe('the server answered 502');
  });
});

describe('fieldMessage', () => {
  it('matches the field and its children only', () => {
    const failure = failureFrom(400, { error: { code: 'invalid_field', message: 'bad glob', field: 'permissions.tools[0]' } });
    expect(fieldMessage(failure, 'permissions.tools')).toBe('bad glob');
    expect(fieldMessage(failure, 'permissions')).toBe('bad glob');
    expect(fieldMessage(failure, 'user')).toBeUndefined();
    expect(fieldMessage(new Error('x'), 'user')).toBeUndefined();
  });
});
