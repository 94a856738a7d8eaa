// The org's audit settings: retention and the authentication-failure burst
// threshold and window. Auditors and admins see them; owners change them.

import { Button, Form, Heading } from 'react-aria-components';
import { useState } from 'react';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { Field } from '../components/Field';
import { ErrorNotice, Loading } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { isOwner, type Role } from '../lib/roles';

type Settings = Schemas['AuditSettings'];

const LABELS: [keyof Settings, string, string][] = [
  ['audit_retention_days', 'Retention (days)', 'Events older than this are deleted, 1–3650.'],
  ['auth_failure_burst_threshold', 'Burst threshold', 'Failed sign-ins from one address that make a burst, 1–100000.'],
  ['auth_failure_burst_window_secs', 'Burst window (seconds)', 'The window those failures are counted in, 1–86400.'],
];

export function AuditSettings() {
  const caller = useCaller();
  const settings = useLoad(async () => unwrap(await api.GET('/v1/audit-settings')), []);
  return (
    <section aria-labelledby="audit-settings">
      <Heading level={2} id="audit-settings">
        Audit settings
      </Heading>
      {settings.data ? (
        isOwner(caller.role as Role) ? (
          <SettingsForm current={settings.data} onSaved={settings.reload} />
        ) : (
          <dl className="facts">
            {LABELS.map(([name, label]) => (
              <Fact key={name} term={label} value={String(settings.data?.[name])} />
            ))}
          </dl>
        )
      ) : settings.error ? (
        <ErrorNotice error={settings.error} />
      ) : (
        <Loading what="the audit settings" />
      )}
    </section>
  );
}

function Fact({ term, value }: { term: string; value: string }) {
  return (
    <>
      <dt>{term}</dt>
      <dd>{value}</dd>
    </>
  );
}

function SettingsForm({ current, onSaved }: { current: Settings; onSaved: () => void }) {
  const [values, setValues] = useState<Record<keyof Settings, string>>({
    audit_retention_days: String(current.audit_retention_days),
    auth_failure_burst_threshold: String(current.auth_failure_burst_threshold),
    auth_failure_burst_window_secs: String(current.auth_failure_burst_window_secs),
  });
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <Form
      className="form"
      aria-label="Audit settings"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        setError(null);
        setSaved(false);
        try {
          // Sent as typed; a value that is not a whole number in range comes back named by the API.
          const body = Object.fromEntries(
            Object.entries(values).map(([name, value]) => [name, value.trim() === '' ? null : Number(value)]),
          ) as unknown as Settings;
          unwrap(await api.PUT('/v1/audit-settings', { body }));
          setSaved(true);
          onSaved();
        } catch (failure) {
          setError(failure);
        } finally {
          setBusy(false);
        }
      }}
    >
      {LABELS.map(([name, label, description]) => (
        <Field
          key={name}
          label={label}
          name={name}
          type="number"
          value={values[name]}
          onChange={(value) => setValues((v) => ({ ...v, [name]: value }))}
          error={error}
          description={description}
          isRequired
        />
      ))}
      <ErrorNotice error={error} />
      <p role="status" className="muted">
        {saved ? 'Saved the audit settings.' : ''}
      </p>
      <div>
        <Button type="submit" className="button primary" isDisabled={busy}>
          Save audit settings
        </Button>
      </div>
    </Form>
  );
}
