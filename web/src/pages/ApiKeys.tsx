// Org API keys: create with a role (the key shown once, with a copy button),
// list, delete (confirmed). Admins create keys up to admin; owner keys need an owner.

import { Button, Dialog, Form, Heading, Modal } from 'react-aria-components';
import { useState } from 'react';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useCaller } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Field } from '../components/Field';
import { Choice, type Option } from '../components/Pickers';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { canAdminister, isOwner, type Role } from '../lib/roles';

type IssuedKey = Schemas['IssuedApiKey'];

const ROLES: Option[] = [
  ['viewer', 'viewer: reads everything but secrets'],
  ['auditor', 'auditor: viewer plus the audit trail'],
  ['member', 'member: acts for nobody; reads little'],
  ['admin', 'admin: the registry, tokens, users, keys'],
  ['owner', 'owner: everything, settings included'],
];

export function ApiKeys() {
  const caller = useCaller();
  const role = caller.role as Role;
  const admin = canAdminister(role);
  const keys = useLoad(async () => unwrap(await api.GET('/v1/api-keys', { params: { query: { limit: 1000 } } })), []);
  const [name, setName] = useState('');
  const [keyRole, setKeyRole] = useState<string>('viewer');
  const [error, setError] = useState<unknown>(null);
  const [issued, setIssued] = useState<IssuedKey | null>(null);
  return (
    <>
      <Heading level={1}>API keys</Heading>
      <p className="muted">Org API keys act in this org with their role, for scripts and the console's key sign-in.</p>
      {admin ? (
        <Form
          className="inline"
          aria-label="Create an API key"
          onSubmit={async (event) => {
            event.preventDefault();
            setError(null);
            try {
              const key = unwrap(await api.POST('/v1/api-keys', { body: { name, role: keyRole as Role } }));
              setIssued(key);
              setName('');
              keys.reload();
            } catch (failure) {
              setError(failure);
            }
          }}
        >
          <Field label="Key name" name="name" value={name} onChange={setName} error={error} isRequired />
          <Choice label="Role" name="role" value={keyRole} onChange={setKeyRole} error={error}
            options={ROLES.filter(([id]) => id !== 'owner' || isOwner(role))} />
          <Button type="submit" className="button primary">
            Create API key
          </Button>
        </Form>
      ) : null}
      <ErrorNotice error={error} />
      {issued ? <ShowKey issued={issued} onClose={() => setIssued(null)} /> : null}
      <ListView what="API keys" loading={keys.loading} error={keys.error} items={keys.data?.api_keys} empty="No API keys yet.">
        {(items) => (
          <table aria-label="API keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {items.map((key) => (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.hint}</code>
                  </td>
                  <td>{key.role}</td>
                  <td>{new Date(key.created_at).toLocaleString()}</td>
                  <td>{key.last_used_at ? new Date(key.last_used_at).toLocaleString() : 'never'}</td>
                  {admin ? (
                    <td>
                      {key.role !== 'owner' || isOwner(role) ? (
                        <ConfirmButton
                          label={`Delete ${key.name}`}
                          title={`Delete API key ${key.name}?`}
                          body="It stops working at once, and console sessions opened with it end."
                          confirmLabel="Delete API key"
                          onConfirm={async () => {
                            unwrap(await api.DELETE('/v1/api-keys/{id}', { params: { path: { id: key.id } } }));
                            keys.reload();
                          }}
                        />
                      ) : null}
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

/** The key text, once, with a copy button. */
function ShowKey({ issued, onClose }: { issued: IssuedKey; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <Modal className="modal" isOpen onOpenChange={(open) => !open && onClose()}>
      <Dialog className="dialog wide">
        <Heading slot="title">Copy the API key now</Heading>
        <p>
          This is the only time Gatehouse shows it; it stores only a hash. Use it as <code>Authorization: Bearer</code>.
        </p>
        <label className="label" htmlFor="issued-key">
          API key
        </label>
        <input id="issued-key" className="mono" readOnly value={issued.key} />
        <Button
          className="button"
          onPress={async () => {
            await navigator.clipboard.writeText(issued.key);
            setCopied(true);
          }}
        >
          Copy API key
        </Button>
        <p role="status" className="muted">
          {copied ? 'Copied the API key.' : ''}
        </p>
        <div className="actions">
          <Button className="button primary" onPress={onClose}>
            Done
          </Button>
        </div>
      </Dialog>
    </Modal>
  );
}
