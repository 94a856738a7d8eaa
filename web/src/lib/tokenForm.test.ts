import { describe, expect, it } from 'vitest';
import { ApiFailure } from '../api/errors';
import { expiryProblem, globProblem, mintBody, type MintForm } from './tokenForm';

const form: MintForm = {
  user: ' agent@example.com ',
  team: 'eng',
  scopes: ['mcp:read'],
  servers: ['tools'],
  tools: ['echo', 'get_*'],
  expiry: '30d',
  customExpiry: '',
};

describe('mintBody', () => {
  it('turns the pickers into the API body', () => {
    expect(mintBody(form)).toEqual({
      user: 'agent@example.com',
      team: 'eng',
      scopes: ['mcp:read'],
      permissions: { servers: ['tools'], tools: ['echo', 'get_*'] },
      expiresIn: '30d',
    });
  });
  it('takes a custom expiry and refuses a malformed one, naming expiresIn', () => {
    expect(mintBody({ ...form, expiry: 'custom', customExpiry: ' 12h ' }).expiresIn).toBe('12h');
    let thrown: unknown;
    try {
      mintBody({ ...form, expiry: 'custom', customExpiry: '12 hours' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiFailure);
    expect((thrown as ApiFailure).field).toBe('expiresIn');
  });
});

describe('expiryProblem', () => {
  it('accepts what the API parses', () => {
    for (const ok of ['90m', '12h', '30d', '2w', '45s', 'never']) expect(expiryProblem(ok)).toBeNull();
    for (const bad of ['', '0d', 'd', '3y', '1.5h', 'forever']) expect(expiryProblem(bad)).not.toBeNull();
  });
});

describe('globProblem', () => {
  it('refuses empty, spaced and repeated globs', () => {
    expect(globProblem('get_*', [])).toBeNull();
    expect(globProblem('', [])).toMatch(/first/);
    expect(globProblem('a b', [])).toMatch(/spaces/);
    expect(globProblem('echo', ['echo'])).toMatch(/already/);
  });
});
