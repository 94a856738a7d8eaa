// Provision a server to a workspace with allow and deny globs.

import { Button, Form, Heading } from 'react-aria-components';
import { useState } from 'react';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { Field } from '../components/Field';
import { ErrorNotice } from '../components/Status';
import { parseGlobs } from '../lib/glob';

export function ProvisionForm({ workspace, server: fixedServer, onSaved }: { workspace?: string; server?: string; onSaved: () => void }) {
  const [ws, setWs] = useState(workspace ?? '');
  const [server, setServer] = useState(fixedServer ?? '');
  const [allow, setAllow] = useState('');
  const [deny, setDeny] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  return (
    <Form
      className="form"
      aria-label="Provision a server"
      onSubmit={async (event) => {
        event.preventDefault();
        setError(null);
        setSaved('');
        try {
          unwrap(
            await api.PUT('/v1/workspaces/{ws}/servers/{slug}', {
              params: { path: { ws, slug: server } },
              body: { tools: { allow: parseGlobs(allow), deny: parseGlobs(deny) } },
            }),
          );
          setSaved(`Provisioned ${server} to ${ws}.`);
          onSaved();
        } catch (failure) {
          setError(failure);
        }
      }}
    >
      <Heading level={2}>Provision a server</Heading>
      {workspace ? null : <Field label="Workspace" name="ws" value={ws} onChange={setWs} error={error} isRequired />}
      {fixedServer ? null : <Field label="Server" name="server" value={server} onChange={setServer} error={error} isRequired />}
      <Field label="Allow globs" name="tools.allow" value={allow} onChange={setAllow} error={error}
        description="Comma-separated; empty allows every tool." />
      <Field label="Deny globs" name="tools.deny" value={deny} onChange={setDeny} error={error}
        description="Comma-separated; a tool matching one is always denied." />
      <ErrorNotice error={error} />
      <p role="status" className="muted">{saved}</p>
      <Button type="submit" className="button primary">
        Save provisioning
      </Button>
    </Form>
  );
}
