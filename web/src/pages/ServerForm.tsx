// Register or edit a server: fields per auth type, header values write-only
// (an existing header shows "set", never its value), and the advanced config
// as JSON, checked here for syntax and by the API for meaning, with the API's
// error next to the field.

import { Button, Checkbox, Form, Heading } from 'react-aria-components';
import { useEffect, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { api, type Schemas } from '../api/client';
import { ApiFailure, unwrap } from '../api/errors';
import { Choice } from '../components/Choice';
import { Field } from '../components/Field';
import { ErrorNotice, Loading } from '../components/Status';
import { parseAdvancedConfig, parseHeaderLines } from '../lib/serverForm';

const AUTH_TYPES = [
  ['none', 'None'],
  ['headers', 'Static headers'],
  ['oauth2', 'OAuth 2.1 (each user connects)'],
  ['client_credentials', 'OAuth client credentials'],
] as const;

export function ServerForm() {
  const { slug: editing } = useParams();
  const navigate = useNavigate();
  const [existing, setExisting] = useState<Schemas['ServerView']>();
  const [loadError, setLoadError] = useState<unknown>(null);
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [authType, setAuthType] = useState<string>('none');
  const [headers, setHeaders] = useState('');
  const [replaceHeaders, setReplaceHeaders] = useState(!editing);
  const [advanced, setAdvanced] = useState('{}');
  const [autoProvision, setAutoProvision] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!editing) return;
    api.GET('/v1/servers/{slug}', { params: { path: { slug: editing } } }).then((result) => {
      try {
        const server = unwrap(result);
        setExisting(server);
        setSlug(server.slug);
        setName(server.name);
        setUrl(server.url);
        setAuthType(server.auth_type);
        setAdvanced(JSON.stringify(server.advanced_config ?? {}, null, 2));
        setAutoProvision(server.auto_provision);
      } catch (failure) {
        setLoadError(failure);
      }
    }, setLoadError);
  }, [editing]);

  if (editing && !existing) return loadError ? <ErrorNotice error={loadError} /> : <Loading what="the server" />;

  const submit = async () => {
    const advancedConfig = parseAdvancedConfig(advanced);
    const headerMap = authType === 'headers' && replaceHeaders ? parseHeaderLines(headers) : undefined;
    if (editing) {
      const body: Schemas['UpdateServer'] = {
        name,
        url,
        auth_type: authType,
        advanced_config: advancedConfig as Schemas['UpdateServer']['advanced_config'],
        auto_provision: autoProvision,
      };
      if (headerMap) body.headers = headerMap;
      unwrap(await api.PATCH('/v1/servers/{slug}', { params: { path: { slug: editing } }, body }));
    } else {
      unwrap(
        await api.POST('/v1/servers', {
          body: {
            slug,
            name: name || undefined,
            url,
            auth_type: authType,
            headers: headerMap ?? {},
            advanced_config: advancedConfig as Schemas['CreateServer']['advanced_config'],
            auto_provision: autoProvision,
          },
        }),
      );
    }
    navigate(`/servers/${editing ?? slug}`);
  };

  return (
    <>
      <Heading level={1}>{editing ? `Edit ${editing}` : 'Register a server'}</Heading>
      <Form
        className="form"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await submit();
          } catch (failure) {
            setError(failure);
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Slug" name="slug" value={slug} onChange={setSlug} error={error} isRequired isReadOnly={!!editing}
          description="Lower-case letters, digits and dashes; part of the server's URL; cannot change." />
        <Field label="Name" name="name" value={name} onChange={setName} error={error} />
        <Field label="Upstream URL" name="url" type="url" value={url} onChange={setUrl} error={error} isRequired />
        <Choice label="Auth type" value={authType} options={AUTH_TYPES} onChange={setAuthType} />
        {authType === 'headers' ? (
          <fieldset>
            <legend>Static headers</legend>
            {existing && existing.headers.length > 0 ? (
              <ul aria-label="Stored headers">
                {existing.headers.map((h) => (
                  <li key={h}>
                    <code>{h}</code>: set
                  </li>
                ))}
              </ul>
            ) : null}
            {editing ? (
              <Checkbox isSelected={replaceHeaders} onChange={setReplaceHeaders}>
                Replace the stored headers
              </Checkbox>
            ) : null}
            {replaceHeaders ? (
              <Field label="Headers" name="headers" multiline value={headers} onChange={setHeaders} error={error}
                description="One per line, as Name: value. Values are write-only: stored sealed, never shown again." />
            ) : null}
          </fieldset>
        ) : null}
        {authType === 'oauth2' || authType === 'client_credentials' ? (
          <p className="muted">
            Gatehouse discovers the upstream's authorization server. Override what discovery finds with
            <code> oauth_metadata</code> in the advanced config.
          </p>
        ) : null}
        <Field label="Advanced config (JSON)" name="advanced_config" multiline value={advanced} onChange={setAdvanced}
          error={error instanceof SyntaxError ? new ApiFailure(400, { code: 'invalid_json', message: error.message, field: 'advanced_config' }) : error} />
        <Checkbox isSelected={autoProvision} onChange={setAutoProvision}>
          Provision to every new workspace
        </Checkbox>
        <ErrorNotice error={error} />
        <div className="actions">
          <Button className="button" onPress={() => navigate(-1)}>
            Cancel
          </Button>
          <Button type="submit" className="button primary" isDisabled={busy}>
            {editing ? 'Save server' : 'Register server'}
          </Button>
        </div>
      </Form>
    </>
  );
}
