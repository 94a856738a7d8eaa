// The audit trail (auditors, admins, owners): events newest first, filtered by
// URL query parameters, "Load more" by cursor, each row expandable to the
// event's full JSON, the JSON-lines export with the same filters, and the
// org's audit settings.

import { Button, Form, Heading } from 'react-aria-components';
import { Fragment, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { Choice } from '../components/Choice';
import { Field } from '../components/Field';
import { ErrorNotice, ListView } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { eventDecision, eventWhat, eventWho } from '../lib/auditEvent';
import {
  AUDIT_KINDS,
  apiQuery,
  exportHref,
  filtersFromParams,
  filtersToParams,
  localToRfc3339,
  rfc3339ToLocal,
  type AuditFilters,
} from '../lib/auditFilters';
import { AuditSettings } from './AuditSettings';

type AuditEvent = Schemas['AuditEvent'];

const PAGE = 50;

export function Audit() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const key = filtersToParams(filters).toString();
  const list = (cursor?: string) =>
    api.GET('/v1/audit-events', { params: { query: { ...apiQuery(filters), limit: PAGE, cursor } } });
  const first = useLoad(async () => unwrap(await list()), [key]);
  // Pages after the first, valid only while that first page is the one shown
  // (new filters, or the same ones again, load a new first page).
  const [more, setMore] = useState<{ base: unknown; events: AuditEvent[]; next?: string }>({ base: null, events: [] });
  const [moreError, setMoreError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const extra = first.data && more.base === first.data ? more : { base: first.data, events: [], next: undefined };
  const events = first.data ? [...first.data.audit_events, ...extra.events] : undefined;
  const next = extra.events.length > 0 ? extra.next : (first.data?.next_cursor ?? undefined);

  const loadMore = async () => {
    if (!next) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = unwrap(await list(next));
      setMore({ base: extra.base, events: [...extra.events, ...page.audit_events], next: page.next_cursor ?? undefined });
    } catch (failure) {
      setMoreError(failure);
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <>
      <div className="page-head">
        <Heading level={1}>Audit</Heading>
        <a className="button" href={exportHref(filters)} download="audit-events.jsonl">
          Download JSON lines
        </a>
      </div>
      <FilterForm key={key} filters={filters} error={first.error} onApply={(next) => setParams(filtersToParams(next))} />
      <ListView what="audit events" loading={first.loading} error={first.error} items={events} empty="No events match.">
        {(items) => <EventTable events={items} />}
      </ListView>
      <ErrorNotice error={moreError} />
      {next ? (
        <div className="pager">
          <Button className="button small" isDisabled={loadingMore} onPress={loadMore}>
            {loadingMore ? 'Loading…' : 'Load more'}
          </Button>
        </div>
      ) : null}
      <AuditSettings />
    </>
  );
}

function FilterForm(props: { filters: AuditFilters; error: unknown; onApply: (filters: AuditFilters) => void }) {
  // Times show in the browser's zone; the URL and the API get RFC 3339.
  const [draft, setDraft] = useState<AuditFilters>({
    ...props.filters,
    since: rfc3339ToLocal(props.filters.since),
    until: rfc3339ToLocal(props.filters.until),
  });
  const set = (name: keyof AuditFilters) => (value: string) => setDraft((d) => ({ ...d, [name]: value }));
  const text = (label: string, name: keyof AuditFilters) => (
    <Field label={label} name={name} value={draft[name]} onChange={set(name)} error={props.error} />
  );
  return (
    <Form
      className="filters"
      aria-label="Filter audit events"
      onSubmit={(event) => {
        event.preventDefault();
        props.onApply({ ...draft, since: localToRfc3339(draft.since), until: localToRfc3339(draft.until) });
      }}
    >
      <Choice
        label="Kind"
        value={draft.kind}
        onChange={set('kind')}
        options={[['', 'Any kind'], ...AUDIT_KINDS.map((k): [string, string] => [k, k])]}
      />
      {text('Actor', 'actor')}
      {text('Action', 'action')}
      {text('User', 'user')}
      {text('Server', 'server')}
      {text('Tool', 'tool')}
      <Choice
        label="Decision"
        value={draft.decision}
        onChange={set('decision')}
        options={[
          ['', 'Any decision'],
          ['allow', 'allow'],
          ['deny', 'deny'],
        ]}
      />
      <Field label="Since" name="since" type="datetime-local" value={draft.since} onChange={set('since')} error={props.error} />
      <Field label="Until" name="until" type="datetime-local" value={draft.until} onChange={set('until')} error={props.error} />
      <Button type="submit" className="button primary">
        Apply filters
      </Button>
      <Button className="button" onPress={() => props.onApply(filtersFromParams(new URLSearchParams()))}>
        Clear filters
      </Button>
    </Form>
  );
}

function EventTable({ events }: { events: AuditEvent[] }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  return (
    <table aria-label="Audit events">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Kind</th>
          <th scope="col">Actor or user</th>
          <th scope="col">Action</th>
          <th scope="col">Server</th>
          <th scope="col">Decision</th>
          <th scope="col">Latency</th>
          <th scope="col">Event</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => {
          const time = new Date(e.occurred_at).toLocaleString();
          const what = eventWhat(e);
          const expanded = open.has(e.id);
          return (
            <Fragment key={e.id}>
              <tr>
                <td>{time}</td>
                <td>{e.kind}</td>
                <td>{eventWho(e)}</td>
                <td>
                  <code>{what}</code>
                </td>
                <td>{e.server ?? ''}</td>
                <td>{eventDecision(e)}</td>
                <td>{e.latency_ms != null ? `${e.latency_ms} ms` : ''}</td>
                <td>
                  <Button
                    className="button small"
                    aria-expanded={expanded}
                    aria-controls={`event-${e.id}`}
                    aria-label={`Details of ${what || e.kind} at ${time}`}
                    onPress={() => toggle(e.id)}
                  >
                    {expanded ? 'Hide' : 'Details'}
                  </Button>
                </td>
              </tr>
              {expanded ? (
                <tr id={`event-${e.id}`}>
                  <td colSpan={8}>
                    <pre className="event-json" aria-label={`Event ${e.id}`}>
                      {JSON.stringify(e, null, 2)}
                    </pre>
                  </td>
                </tr>
              ) : null}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}
