// The certificate identity form's logic: the body of
// `POST /v1/auth/certificate-identities`, with the page's own early checks.

import type { Schemas } from '../api/client';
import { formProblem } from './tokenForm';

export const CERT_KINDS: [id: string, label: string][] = [
  ['san_uri', 'URI SAN (SPIFFE ID)'],
  ['san_dns', 'DNS SAN'],
  ['san_email', 'E-mail SAN'],
  ['subject_cn', 'Subject CN'],
];

/** 64 hex digits, or `openssl x509 -fingerprint -sha256`'s `AB:CD:…` form. */
const FINGERPRINT = /^([0-9A-Fa-f]{64}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31})$/;
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

export interface CertIdentityForm {
  kind: string;
  value: string;
  user: string;
  team: string;
  issuer: string;
  trustDomain: string;
}

/** The request body; throws an `ApiFailure` naming the field the page refuses. */
export function certIdentityBody(form: CertIdentityForm): Schemas['RegisterCertificateIdentity'] {
  const issuer = form.issuer.trim().replace(/^sha256 fingerprint=/i, '');
  if (!FINGERPRINT.test(issuer)) {
    throw formProblem(
      'issuer_ca_sha256',
      "paste the issuing CA certificate's SHA-256 fingerprint: 64 hex digits, or AB:CD:… as openssl prints it",
    );
  }
  const trustDomain = form.trustDomain.trim().replace(/^spiffe:\/\//, '');
  if (trustDomain && !TRUST_DOMAIN.test(trustDomain)) {
    throw formProblem('spiffe_trust_domain', 'a trust domain is lower-case letters, digits, dots, dashes and underscores');
  }
  return {
    kind: form.kind,
    value: form.value.trim(),
    user: form.user.trim(),
    team: form.team,
    issuer_ca_sha256: issuer,
    spiffe_trust_domain: trustDomain || null,
  };
}
