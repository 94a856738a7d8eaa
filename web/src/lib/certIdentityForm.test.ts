import { describe, expect, it } from 'vitest';
import { ApiFailure } from '../api/errors';
import { certIdentityBody } from './certIdentityForm';

const hex = 'ab'.repeat(32);
const base = { kind: 'san_uri', value: ' spiffe://acme.example/ci ', user: 'ci-bot', team: 'eng', issuer: hex, trustDomain: '' };

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof ApiFailure ? error.field : 'not an ApiFailure';
  }
  return undefined;
}

describe('certIdentityBody', () => {
  it('builds the body; an empty trust domain is null', () => {
    expect(certIdentityBody(base)).toEqual({
      kind: 'san_uri',
      value: 'spiffe://acme.example/ci',
      user: 'ci-bot',
      team: 'eng',
      issuer_ca_sha256: hex,
      spiffe_trust_domain: null,
    });
  });
  it("takes openssl's fingerprint line and a spiffe:// trust domain", () => {
    const colons = Array(32).fill('AB').join(':');
    const body = certIdentityBody({ ...base, issuer: `sha256 Fingerprint=${colons}`, trustDomain: 'spiffe://acme.example' });
    expect(body.issuer_ca_sha256).toBe(colons);
    expect(body.spiffe_trust_domain).toBe('acme.example');
  });
  it('requires the issuer fingerprint and names the field', () => {
    expect(fieldOf(() => certIdentityBody({ ...base, issuer: '' }))).toBe('issuer_ca_sha256');
    expect(fieldOf(() => certIdentityBody({ ...base, issuer: 'abc' }))).toBe('issuer_ca_sha256');
    expect(fieldOf(() => certIdentityBody({ ...base, trustDomain: 'Acme Example' }))).toBe('spiffe_trust_domain');
  });
});
