// The org's SSO providers: list, create, edit and delete (owners). The client
// secret is write-only: the list says whether one is set, and an edit replaces
// it only when a new one is typed.

import { Button, Checkbox, Form, Heading } from 'react-aria-components';
import { useState } from 'react';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Field } from '../components/Field';
import { Choice, type Option } from '../components/Pickers';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { isOwner, type Role } from '../lib/roles';
import { parseSettingsJson, settingsText } from '../lib/settingsForm';

type Provider = Schemas['SsoProviderView'];
type Kind = Schemas['ProviderKind'];

const KINDS: Option[] = [
  ['oidc', 'OpenID Connect'],
  ['okta', 'Okta'],
  ['auth0', 'Auth0'],
  ['entra', 'Microsoft Entra ID'],
  ['google', 'Google'],
];

export function SsoProviders() {
  const caller = useCaller();
  const owner = isOwner(caller.role as Role);
  const providers = useLoad(async () => unwrap(await api.GET('/v1/sso/providers', { params: { query: { limit: 1000 } } })), []);
  const [editing, setEditing] = useState<Provider | 'new' | null>(null);
  return (
    <section aria-labelledby="sso-providers">
      <div className="page-head">
        <Heading level={2} id="sso-providers">
          SSO providers
        </Heading>
        {owner && editing === null ? (
          <Button className="button" onPress={() => setEditing('new')}>
            Add an SSO provider
          </Button>
        ) : null}
      </div>
      {editing !== null ? (
        <ProviderForm
          provider={editing === 'new' ? null : editing}
          onDone={() => {
            setEditing(null);
            providers.reload();
          }}
        />
      ) : null}
      <ListView what="SSO providers" loading={providers.loading} error={providers.error}
        items={providers.data?.providers} empty="No SSO providers: people sign in with API keys only.">
        {(items) => (
          <table aria-label="SSO providers">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Issuer</th>
                <th scope="col">Client id</th>
                <th scope="col">Client secret</th>
                <th scope="col">Enabled</th>
                <th scope="col">Redirect URI</th>
                {owner ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {items.map((p) => (
                <tr key={p.id}>
                  <td>
                    {p.name} <span className="muted">{p.kind}</span>
                  </td>
                  <td className="url">{p.issuer}</td>
                  <td>
                    <code>{p.client_id}</code>
                  </td>
                  <td>{p.client_secret_set ? 'set' : 'none (public client)'}</td>
                  <td>{p.enabled ? 'yes' : 'no'}</td>
                  <td className="url">
                    <code>{p.redirect_uri}</code>
                  </td>
                  {owner ? (
                    <td className="row-actions">
                      <Button className="button small" onPress={() => setEditing(p)}>
                        {`Edit ${p.name}`}
                      </Button>
                      <ConfirmButton
                        label={`Delete ${p.name}`}
                        title={`Delete the SSO provider ${p.name}?`}
                        body="Nobody can sign in with it any more; users who signed in with it stay listed."
                        confirmLabel="Delete provider"
                        onConfirm={async () => {
                          unwrap(await api.DELETE('/v1/sso/providers/{id}', { params: { path: { id: p.id } } }));
                          providers.reload();
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
    </section>
  );
}

function ProviderForm({ provider, onDone }: { provider: Provider | null; onDone: () => void }) {
  const [name, setName] = useState(provider?.name ?? '');
  const [kind, setKind] = useState<string>(provider?.kind ?? 'oidc');
  const [issuer, setIssuer] = useState(provider?.issuer ?? '');
  const [clientId, setClientId] = useState(provider?.client_id ?? '');
  const [secret, setSecret] = useState('');
  const [scopes, setScopes] = useState((provider?.scopes ?? []).join(' '));
  const [mappings, setMappings] = useState(settingsText(provider?.claim_mappings ?? null));
  const [enabled, setEnabled] = useState(provider?.enabled ?? true);
  const [error, setError] = useState<unknown>(null);
  return (
    <Form
      className="form"
      aria-label={provider ? `Edit ${provider.name}` : 'Add an SSO provider'}
      onSubmit={async (event) => {
        event.preventDefault();
        setError(null);
        try {
          const claim_mappings = parseSettingsJson('claim_mappings', mappings) as Schemas['ClaimMappingsInput'] | null;
          const common = {
            name,
            kind: kind as Kind,
            issuer,
            client_id: clientId,
            scopes: scopes.split(/\s+/).filter(Boolean),
            enabled,
            ...(claim_mappings ? { claim_mappings } : {}),
            ...(secret ? { client_secret: secret } : {}),
          };
          if (provider) {
            unwrap(await api.PATCH('/v1/sso/providers/{id}', { params: { path: { id: provider.id } }, body: common }));
          } else {
            unwrap(await api.POST('/v1/sso/providers', { body: common }));
          }
          onDone();
        } catch (failure) {
          setError(failure);
        }
      }}
    >
      <Heading level={3}>{provider ? `Edit ${provider.name}` : 'Add an SSO provider'}</Heading>
      <Field label="Provider name" name="name" value={name} onChange={setName} error={error} isRequired
        description="Shown on the sign-in button." />
      <Choice label="Kind" name="kind" value={kind} onChange={setKind} options={KINDS} error={error} />
      <Field label="Issuer URL" name="issuer" type="url" value={issuer} onChange={setIssuer} error={error} isRequired />
      <Field label="Client id" name="client_id" value={clientId} onChange={setClientId} error={error} isRequired />
      <Field label="Client secret" name="client_secret" type="password" value={secret} onChange={setSecret} error={error}
        autoComplete="new-password"
        description={provider?.client_secret_set ? 'Set. Type a new one to replace it; it is never shown.' : 'Write-only; empty for a public client.'} />
      <Field label="Scopes" name="scopes" value={scopes} onChange={setScopes} error={error}
        description="Space-separated; empty for the kind's defaults." />
      <Field label="Claim mappings (JSON)" name="claim_mappings" multiline value={mappings} onChange={setMappings} error={error}
        description='Like {"groups_claim": "groups", "role_mappings": [{"claim": "groups", "value": "admins", "role": "admin"}]}' />
      <Checkbox isSelected={enabled} onChange={setEnabled}>
        Enabled for sign-in
      </Checkbox>
      <ErrorNotice error={error} />
      <div className="actions">
        <Button className="button" onPress={onDone}>
          Cancel
        </Button>
        <Button type="submit" className="button primary">
          {provider ? 'Save provider' : 'Add provider'}
        </Button>
      </div>
    </Form>
  );
}
