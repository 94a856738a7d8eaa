// Org settings: SSO providers, the edges' authentication settings
// (bring-your-own JWT, an external authorization server), and rate limits and
// budgets. Each section shows its controls only to the roles the API lets change it.

import { Button, Form, Heading } from 'react-aria-components';
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { ApiFailure, unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { Field } from '../components/Field';
import { ErrorNotice, Loading } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { isOwner, type Role } from '../lib/roles';
import { parseSettingsJson, settingsText } from '../lib/settingsForm';
import { RateLimits } from './RateLimits';
import { SsoProviders } from './SsoProviders';

export function OrgSettings() {
  const caller = useCaller();
  return (
    <>
      <Heading level={1}>Org settings</Heading>
      <p className="muted">
        {caller.org.name} (<code>{caller.org.slug}</code>)
      </p>
      <SsoProviders />
      <EdgeAuthentication />
      <RateLimits />
    </>
  );
}

/** `jwt_validation` and `external_auth_config`: owners edit, others read. */
function EdgeAuthentication() {
  const caller = useCaller();
  const owner = isOwner(caller.role as Role);
  const settings = useLoad(async () => unwrap(await api.GET('/v1/org')), []);
  const [jwt, setJwt] = useState('');
  const [external, setExternal] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [warnings, setWarnings] = useState<string[]>([]);
  const [saved, setSaved] = useState('');
  useEffect(() => {
    if (!settings.data) return;
    setJwt(settingsText(settings.data.jwt_validation));
    setExternal(settingsText(settings.data.external_auth_config));
  }, [settings.data]);
  // A problem inside a setting (`jwt_validation.issuer`) shows under that setting's field.
  const fieldError = (name: string) =>
    error instanceof ApiFailure && error.field?.startsWith(name) ? error : undefined;
  return (
    <section aria-labelledby="edge-auth">
      <Heading level={2} id="edge-auth">
        Edge authentication
      </Heading>
      <p className="muted">
        Bring-your-own JWT: the edges accept your identity provider's tokens for every server of the org. External
        authorization server: what the edges' protected resource metadata names instead of Gatehouse's.
      </p>
      {settings.loading && !settings.data ? <Loading what="the org's settings" /> : null}
      <ErrorNotice error={settings.error} />
      {settings.data ? (
        <Form
          className="form"
          aria-label="Edge authentication"
          onSubmit={async (event) => {
            event.preventDefault();
            setError(null);
            setSaved('');
            setWarnings([]);
            try {
              const body = {
                jwt_validation: parseSettingsJson('jwt_validation', jwt),
                external_auth_config: parseSettingsJson('external_auth_config', external),
              } as { jwt_validation: Record<string, never> | null; external_auth_config: Record<string, never> | null };
              const updated = unwrap(await api.PATCH('/v1/org', { body }));
              setWarnings(updated.warnings ?? []);
              setSaved('Saved; the edges use it within a second.');
            } catch (failure) {
              setError(failure);
            }
          }}
        >
          <Field label="JWT validation (JSON)" name="jwt_validation" multiline value={jwt} onChange={setJwt}
            error={fieldError('jwt_validation')} isReadOnly={!owner}
            description='Like {"jwksUri": "https://idp.example/jwks", "issuer": "https://idp.example", "audience": "gatehouse"}; empty: none.' />
          {warnings.length > 0 ? (
            <div className="warning" role="alert" aria-label="Warnings">
              <strong>Saved, with warnings:</strong>
              <ul>
                {warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </div>
          ) : null}
          <Field label="External authorization server (JSON)" name="external_auth_config" multiline value={external}
            onChange={setExternal} error={fieldError('external_auth_config')} isReadOnly={!owner}
            description={'Like {"issuer": "https://idp.example", "scopes_supported": ["mcp"]}; empty: Gatehouse\'s own.'} />
          {error && !fieldError('jwt_validation') && !fieldError('external_auth_config') ? <ErrorNotice error={error} /> : null}
          <p role="status" className="muted">
            {saved}
          </p>
          {owner ? (
            <Button type="submit" className="button primary">
              Save edge authentication
            </Button>
          ) : (
            <p className="muted">Only owners change these.</p>
          )}
        </Form>
      ) : null}
    </section>
  );
}
