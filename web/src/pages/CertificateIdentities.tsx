// Certificate identities: a client certificate name, bound to the CA that
// issues it, acting as a user in a workspace at the edges. Admins register and
// delete them (confirmed); the issuing CA's fingerprint is required.

import { Button, Form, Heading } from 'react-aria-components';
import { useState } from 'react';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Field } from '../components/Field';
import { Choice, type Option } from '../components/Pickers';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { CERT_KINDS, certIdentityBody } from '../lib/certIdentityForm';
import { canAdminister, type Role } from '../lib/roles';

export function CertificateIdentities() {
  const caller = useCaller();
  const admin = canAdminister(caller.role as Role);
  const identities = useLoad(
    async () => unwrap(await api.GET('/v1/auth/certificate-identities', { params: { query: { limit: 1000 } } })),
    [],
  );
  return (
    <>
      <Heading level={1}>Certificate identities</Heading>
      <p className="muted">
        A client certificate carrying the name below, issued by the CA with this fingerprint, authenticates at the
        edges as the user, in the workspace.
      </p>
      {admin ? <RegisterForm onSaved={identities.reload} /> : null}
      <ListView what="certificate identities" loading={identities.loading} error={identities.error}
        items={identities.data?.certificate_identities} empty="No certificate identities registered.">
        {(items) => (
          <table aria-label="Certificate identities">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">User</th>
                <th scope="col">Workspace</th>
                <th scope="col">Issuing CA (SHA-256)</th>
                <th scope="col">Trust domain</th>
                <th scope="col">Status</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {items.map((identity) => (
                <tr key={identity.id}>
                  <td>
                    <span className="muted">{identity.kind}</span> <code>{identity.value}</code>
                  </td>
                  <td>{identity.user}</td>
                  <td>{identity.team}</td>
                  <td className="url">
                    <code>{identity.issuer_ca_sha256 ?? 'any trusted CA'}</code>
                  </td>
                  <td>{identity.spiffe_trust_domain ?? '—'}</td>
                  <td>{identity.disabled_at ? 'disabled' : 'active'}</td>
                  {admin ? (
                    <td>
                      <ConfirmButton
                        label={`Delete ${identity.value}`}
                        title={`Delete the identity ${identity.value}?`}
                        body="Certificates carrying this name stop authenticating at every edge within a second."
                        confirmLabel="Delete identity"
                        onConfirm={async () => {
                          unwrap(
                            await api.DELETE('/v1/auth/certificate-identities/{id}', {
                              params: { path: { id: identity.id } },
                            }),
                          );
                          identities.reload();
                        }}
                      />
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </>
  );
}

function RegisterForm({ onSaved }: { onSaved: () => void }) {
  const workspaces = useLoad(async () => unwrap(await api.GET('/v1/workspaces', { params: { query: { limit: 1000 } } })), []);
  const workspaceOptions = (workspaces.data?.workspaces ?? []).map((w): Option => [w.slug, w.slug]);
  const [kind, setKind] = useState('san_uri');
  const [value, setValue] = useState('');
  const [user, setUser] = useState('');
  const [team, setTeam] = useState('');
  const [issuer, setIssuer] = useState('');
  const [trustDomain, setTrustDomain] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  return (
    <Form
      className="form"
      aria-label="Register a certificate identity"
      onSubmit={async (event) => {
        event.preventDefault();
        setError(null);
        setSaved('');
        try {
          const body = certIdentityBody({ kind, value, user, team, issuer, trustDomain });
          unwrap(await api.POST('/v1/auth/certificate-identities', { body }));
          setSaved(`Registered ${body.value}.`);
          setValue('');
          onSaved();
        } catch (failure) {
          setError(failure);
        }
      }}
    >
      <Heading level={2}>Register a certificate identity</Heading>
      <Choice label="Match" name="kind" value={kind} onChange={setKind} options={CERT_KINDS} error={error} />
      <Field label="Certificate name" name="value" value={value} onChange={setValue} error={error} isRequired
        description="The SAN or CN value, e.g. spiffe://acme.example/ci or build.acme.example." />
      <Field label="Acts as user" name="user" value={user} onChange={setUser} error={error} isRequired />
      <Choice label="In workspace" name="team" value={team} onChange={setTeam} options={workspaceOptions} error={error} />
      <Field label="Issuing CA fingerprint (SHA-256)" name="issuer_ca_sha256" value={issuer} onChange={setIssuer}
        error={error} isRequired description="openssl x509 -noout -fingerprint -sha256 -in ca.crt" />
      <Field label="SPIFFE trust domain" name="spiffe_trust_domain" value={trustDomain} onChange={setTrustDomain}
        error={error} description="Optional: the certificate must also carry a SPIFFE ID in it." />
      <ErrorNotice error={error} />
      <p role="status" className="muted">
        {saved}
      </p>
      <Button type="submit" className="button primary">
        Register identity
      </Button>
    </Form>
  );
}
