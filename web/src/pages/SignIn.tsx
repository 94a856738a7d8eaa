// Sign in: the org's SSO providers, one button each, and an API key (an org
// API key or the platform admin token, for bootstrap and break-glass) that the
// control plane exchanges for a session cookie; the key is never stored here.

import { Button, Form, Heading } from 'react-aria-components';
import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useSession } from '../api/session';
import { Field } from '../components/Field';
import { ErrorNotice } from '../components/Status';

export function SignIn() {
  const { signedIn } = useSession();
  const [params, setParams] = useSearchParams();
  const org = params.get('org') ?? 'default';
  const [orgInput, setOrgInput] = useState(org);
  const [options, setOptions] = useState<Schemas['SignInOptions']>();
  const [optionsError, setOptionsError] = useState<unknown>(null);
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    api.GET('/v1/console/sign-in-options', { params: { query: { org } } }).then(
      (result) => {
        if (!live) return;
        try {
          setOptions(unwrap(result));
          setOptionsError(null);
        } catch (failure) {
          setOptionsError(failure);
        }
      },
      (failure: unknown) => live && setOptionsError(failure),
    );
    return () => {
      live = false;
    };
  }, [org]);

  return (
    <main className="sign-in">
      <Heading level={1}>Sign in to Gatehouse</Heading>
      <section aria-labelledby="sso-heading">
        <Heading level={2} id="sso-heading">
          Single sign-on
        </Heading>
        <Form
          className="inline"
          onSubmit={(event) => {
            event.preventDefault();
            setParams({ org: orgInput.trim() || 'default' });
          }}
        >
          <Field label="Organization" name="org" value={orgInput} onChange={setOrgInput} />
          <Button type="submit" className="button">
            Show sign-in options
          </Button>
        </Form>
        <ErrorNotice error={optionsError} />
        {options && options.sso.length === 0 ? (
          <p className="muted">No single sign-on is set up for “{options.org}”.</p>
        ) : null}
        <ul className="sso-buttons">
          {options?.sso.map((provider) => (
            <li key={provider.id}>
              <a className="button primary" href={provider.login_url}>
                Sign in with {provider.name}
              </a>
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="key-heading">
        <Heading level={2} id="key-heading">
          Sign in with an API key
        </Heading>
        <p className="muted">For bootstrap and break-glass: an org API key or the platform admin token.</p>
        <Form
          onSubmit={async (event) => {
            event.preventDefault();
            setBusy(true);
            setError(null);
            try {
              const caller = unwrap(await api.POST('/v1/console/session', { body: { api_key: apiKey } }));
              setApiKey('');
              signedIn(caller);
            } catch (failure) {
              setError(failure);
            } finally {
              setBusy(false);
            }
          }}
        >
          <Field label="API key" name="api_key" type="password" value={apiKey} onChange={setApiKey} error={error} isRequired autoComplete="off" />
          <ErrorNotice error={error} />
          <Button type="submit" className="button primary" isDisabled={busy || apiKey.length === 0}>
            Sign in with API key
          </Button>
        </Form>
      </section>
    </main>
  );
}
