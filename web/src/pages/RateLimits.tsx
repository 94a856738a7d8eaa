// Rate limits and budgets of the org: list with each budget's usage in its
// current window, create, edit and delete (admins; confirmed).

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
import { canAdminister, type Role } from '../lib/roles';
import {
  BUDGET_PERIODS,
  LIMIT_PERIODS,
  describeRate,
  rateLimitBody,
  rateLimitForm,
  type RateLimitForm,
} from '../lib/settingsForm';

type Limit = Schemas['RateLimitView'];

export function RateLimits() {
  const caller = useCaller();
  const admin = canAdminister(caller.role as Role);
  const limits = useLoad(async () => unwrap(await api.GET('/v1/rate-limits', { params: { query: { limit: 1000 } } })), []);
  const [editing, setEditing] = useState<Limit | 'new' | null>(null);
  return (
    <section aria-labelledby="rate-limits">
      <div className="page-head">
        <Heading level={2} id="rate-limits">
          Rate limits and budgets
        </Heading>
        {admin && editing === null ? (
          <Button className="button" onPress={() => setEditing('new')}>
            Add a rate limit or budget
          </Button>
        ) : null}
      </div>
      {editing !== null ? (
        <LimitForm
          limit={editing === 'new' ? null : editing}
          onDone={() => {
            setEditing(null);
            limits.reload();
          }}
        />
      ) : null}
      <ListView what="rate limits" loading={limits.loading} error={limits.error} items={limits.data?.rate_limits}
        empty="No rate limits or budgets: the edges let every request through.">
        {(items) => (
          <table aria-label="Rate limits and budgets">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Rate</th>
                <th scope="col">Applies to</th>
                <th scope="col">Counter</th>
                <th scope="col">Usage</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {items.map((limit) => (
                <tr key={limit.id}>
                  <td>{limit.name}</td>
                  <td>{describeRate(limit)}</td>
                  <td>{describeMatch(limit.match)}</td>
                  <td>{limit.per_caller ? 'per caller' : 'shared'}</td>
                  <td>{limit.budget ? <BudgetUsage limit={limit} /> : '—'}</td>
                  {admin ? (
                    <td className="row-actions">
                      <Button className="button small" onPress={() => setEditing(limit)}>
                        {`Edit ${limit.name}`}
                      </Button>
                      <ConfirmButton
                        label={`Delete ${limit.name}`}
                        title={`Delete ${limit.name}?`}
                        body="The edges stop enforcing it within a second."
                        confirmLabel="Delete rate limit"
                        onConfirm={async () => {
                          unwrap(await api.DELETE('/v1/rate-limits/{id}', { params: { path: { id: limit.id } } }));
                          limits.reload();
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

function describeMatch(match: Schemas['RateLimitMatch']): string {
  const parts = [
    match.workspace ? `workspace ${match.workspace}` : '',
    match.server ? `server ${match.server}` : '',
    match.user ? `user ${match.user}` : '',
    match.tool ? `tools ${match.tool}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'every request of the org';
}

/** A budget's use in its current window; a per-caller budget's for the user typed. */
function BudgetUsage({ limit }: { limit: Limit }) {
  const [user, setUser] = useState('');
  const [asked, setAsked] = useState('');
  const usage = useLoad(async () => {
    if (limit.per_caller && !asked) return null;
    return unwrap(
      await api.GET('/v1/rate-limits/{id}/usage', {
        params: { path: { id: limit.id }, query: asked ? { user: asked } : {} },
      }),
    );
  }, [limit.id, asked]);
  return (
    <>
      {limit.per_caller ? (
        <Form
          className="inline"
          aria-label={`Usage of ${limit.name} by caller`}
          onSubmit={(event) => {
            event.preventDefault();
            setAsked(user.trim());
          }}
        >
          <Field label={`Caller of ${limit.name}`} name="user" value={user} onChange={setUser} />
          <Button type="submit" className="button small">
            Show usage
          </Button>
        </Form>
      ) : null}
      {usage.loading && !usage.data ? <span className="muted">Loading…</span> : null}
      {usage.error ? <ErrorNotice error={usage.error} /> : null}
      {usage.data ? (
        <span>
          {usage.data.used} of {usage.data.limit} used, {usage.data.remaining} left until{' '}
          {new Date(usage.data.period_end).toLocaleString()}
        </span>
      ) : null}
    </>
  );
}

function LimitForm({ limit, onDone }: { limit: Limit | null; onDone: () => void }) {
  const [form, setForm] = useState<RateLimitForm>(
    limit
      ? rateLimitForm(limit)
      : { name: '', kind: 'limit', amount: '', per: 'minute', burst: '', workspace: '', server: '', user: '', tool: '', perCaller: false },
  );
  const [error, setError] = useState<unknown>(null);
  const workspaces = useLoad(async () => unwrap(await api.GET('/v1/workspaces', { params: { query: { limit: 1000 } } })), []);
  const servers = useLoad(async () => unwrap(await api.GET('/v1/servers', { params: { query: { limit: 1000 } } })), []);
  const set = <K extends keyof RateLimitForm>(key: K) => (value: RateLimitForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const periods = form.kind === 'limit' ? LIMIT_PERIODS : BUDGET_PERIODS;
  const any: Option = ['', 'Any'];
  return (
    <Form
      className="form"
      aria-label={limit ? `Edit ${limit.name}` : 'Add a rate limit or budget'}
      onSubmit={async (event) => {
        event.preventDefault();
        setError(null);
        try {
          const body = rateLimitBody(form);
          if (limit) {
            unwrap(await api.PATCH('/v1/rate-limits/{id}', { params: { path: { id: limit.id } }, body }));
          } else {
            unwrap(await api.POST('/v1/rate-limits', { body }));
          }
          onDone();
        } catch (failure) {
          setError(failure);
        }
      }}
    >
      <Heading level={3}>{limit ? `Edit ${limit.name}` : 'Add a rate limit or budget'}</Heading>
      <Field label="Limit name" name="name" value={form.name} onChange={set('name')} error={error} isRequired />
      <Choice label="Kind" name="kind" value={form.kind} error={error}
        options={[['limit', 'Rate limit (requests)'], ['budget', 'Budget (tool calls)']]}
        onChange={(kind) => setForm((f) => ({ ...f, kind: kind as RateLimitForm['kind'], per: kind === 'limit' ? 'minute' : 'day' }))} />
      <Field label={form.kind === 'limit' ? 'Requests' : 'Tool calls'} name={form.kind === 'limit' ? 'limit.requests' : 'budget.calls'}
        value={form.amount} onChange={set('amount')} error={error} isRequired />
      <Choice label="Period" name={form.kind === 'limit' ? 'limit.per' : 'budget.per'} value={form.per} onChange={set('per')}
        options={periods} error={error} />
      {form.kind === 'limit' ? (
        <Field label="Burst" name="burst" value={form.burst} onChange={set('burst')} error={error}
          description="Requests let through at once; empty: the rate's own number." />
      ) : null}
      <Choice label="Workspace" name="match.workspace" value={form.workspace} onChange={set('workspace')} error={error}
        options={[any, ...(workspaces.data?.workspaces ?? []).map((w): Option => [w.slug, w.slug])]} />
      <Choice label="Server" name="match.server" value={form.server} onChange={set('server')} error={error}
        options={[any, ...(servers.data?.servers ?? []).map((s): Option => [s.slug, s.slug])]} />
      <Field label="User" name="match.user" value={form.user} onChange={set('user')} error={error}
        description="Only this caller's requests; empty: everyone's." />
      <Field label="Tool glob" name="match.tool" value={form.tool} onChange={set('tool')} error={error}
        description="Only calls of matching tools; empty: every request (a budget counts tool calls only)." />
      <Checkbox isSelected={form.perCaller} onChange={set('perCaller')}>
        One counter per caller
      </Checkbox>
      <ErrorNotice error={error} />
      <div className="actions">
        <Button className="button" onPress={onDone}>
          Cancel
        </Button>
        <Button type="submit" className="button primary">
          {limit ? 'Save rate limit' : 'Add rate limit'}
        </Button>
      </div>
    </Form>
  );
}
