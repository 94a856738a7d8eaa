// Usage (auditors, admins, owners): tool calls over time per server, tool,
// user or workspace; calls by status (succeeded, errors, denials); one key's
// latency percentiles; and the numbers in tables under the charts. Every
// choice is a URL query parameter. Charts are recharts SVG, styled through
// props only (the console's CSP allows no inline <style>).

import { Button, Form, Heading } from 'react-aria-components';
import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { Choice } from '../components/Choice';
import { Field } from '../components/Field';
import { Empty, ErrorNotice, Loading } from '../components/Status';
import { useLoad } from '../components/useLoad';
import { localToRfc3339, rfc3339ToLocal } from '../lib/auditFilters';
import {
  bucketLabel,
  bucketsBetween,
  callsByKey,
  callsByStatus,
  latencyOf,
  totalsByKey,
  type Interval,
  type UsageRowLike,
} from '../lib/usageChart';
import { GROUPS, usageFromParams, usageToParams, usageWindow, type Group, type UsageChoice } from '../lib/usageQuery';

const PALETTE = ['#2a5bd7', '#1f8a70', '#c2410c', '#7c3aed', '#0e7490', '#a16207', '#be185d', '#4b5563'];
const STATUS_COLOURS = { succeeded: '#1f8a70', errors: '#c2410c', denials: '#b3261e' };
const CHART_HEIGHT = 260;

export function Usage() {
  const [params, setParams] = useSearchParams();
  const choice = useMemo(() => usageFromParams(params), [params]);
  const key = usageToParams(choice).toString();
  const usage = useLoad(async () => {
    const window = usageWindow(choice, new Date());
    const report = unwrap(
      await api.GET('/v1/usage', {
        params: { query: { group_by: choice.groupBy, interval: choice.interval, ...window } },
      }),
    );
    // The choice travels with its data, so a table is never labelled with a newer choice than its rows.
    return { report, window, groupBy: choice.groupBy, interval: choice.interval };
  }, [key]);

  return (
    <>
      <Heading level={1}>Usage</Heading>
      <UsageForm key={key} choice={choice} error={usage.error} onApply={(next) => setParams(usageToParams(next))} />
      {usage.loading && !usage.data ? <Loading what="usage" /> : null}
      <ErrorNotice error={usage.error} />
      {usage.data && !usage.error ? (
        usage.data.report.usage.length === 0 ? (
          <Empty>No MCP requests in this window.</Empty>
        ) : (
          <Charts
            rows={usage.data.report.usage}
            groupBy={usage.data.groupBy}
            interval={usage.data.interval}
            since={usage.data.window.since}
            until={usage.data.window.until}
            truncated={usage.data.report.truncated}
          />
        )
      ) : null}
    </>
  );
}

function UsageForm(props: { choice: UsageChoice; error: unknown; onApply: (choice: UsageChoice) => void }) {
  const [draft, setDraft] = useState<UsageChoice>({
    ...props.choice,
    since: rfc3339ToLocal(props.choice.since),
    until: rfc3339ToLocal(props.choice.until),
  });
  return (
    <Form
      className="filters"
      aria-label="Usage range"
      onSubmit={(event) => {
        event.preventDefault();
        props.onApply({ ...draft, since: localToRfc3339(draft.since), until: localToRfc3339(draft.until) });
      }}
    >
      <Choice
        label="Group by"
        value={draft.groupBy}
        onChange={(value) => setDraft((d) => ({ ...d, groupBy: value as Group }))}
        options={GROUPS.map((g): [string, string] => [g, g])}
      />
      <Choice
        label="Interval"
        value={draft.interval}
        onChange={(value) => setDraft((d) => ({ ...d, interval: value as Interval }))}
        options={[
          ['hour', 'hour'],
          ['day', 'day'],
        ]}
      />
      <Field label="Since" name="since" type="datetime-local" value={draft.since} error={props.error}
        onChange={(since) => setDraft((d) => ({ ...d, since }))} description="Empty: 24 hours before Until." />
      <Field label="Until" name="until" type="datetime-local" value={draft.until} error={props.error}
        onChange={(until) => setDraft((d) => ({ ...d, until }))} description="Empty: now." />
      <Button type="submit" className="button primary">
        Show usage
      </Button>
    </Form>
  );
}

function Charts(props: {
  rows: UsageRowLike[];
  groupBy: Group;
  interval: Interval;
  since: string;
  until: string;
  truncated: boolean;
}) {
  const { rows, interval } = props;
  const buckets = useMemo(
    () => bucketsBetween(new Date(props.since), new Date(props.until), interval, rows),
    [props.since, props.until, interval, rows],
  );
  const byKey = useMemo(() => callsByKey(rows, buckets), [rows, buckets]);
  const byStatus = useMemo(() => callsByStatus(rows, buckets), [rows, buckets]);
  const totals = useMemo(() => totalsByKey(rows), [rows]);
  const [latencyKey, setLatencyKey] = useState(totals[0]?.key ?? '');
  const shownKey = totals.some((t) => t.key === latencyKey) ? latencyKey : (totals[0]?.key ?? '');
  const latency = useMemo(() => latencyOf(rows, shownKey, buckets), [rows, shownKey, buckets]);
  const label = (bucket: unknown) => bucketLabel(String(bucket), interval);

  return (
    <>
      {props.truncated ? (
        <p className="error" role="alert">
          The window held more requests than one report reads; the oldest are left out. Choose a shorter window.
        </p>
      ) : null}
      <div className="charts">
        <figure className="chart" aria-labelledby="chart-calls">
          <figcaption id="chart-calls">Calls per {props.groupBy}</figcaption>
          <ResponsiveContainer width="100%" height={CHART_HEIGHT}>
            <BarChart data={byKey.points}>
              <CartesianGrid stroke="#d9dee7" vertical={false} />
              <XAxis dataKey="bucket" tickFormatter={label} minTickGap={24} />
              <YAxis allowDecimals={false} />
              <Tooltip labelFormatter={label} />
              <Legend />
              {byKey.keys.map((k, i) => (
                <Bar key={k} dataKey={k} name={k} stackId="calls" fill={PALETTE[i % PALETTE.length]} isAnimationActive={false} />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </figure>
        <figure className="chart" aria-labelledby="chart-status">
          <figcaption id="chart-status">Calls by status</figcaption>
          <ResponsiveContainer width="100%" height={CHART_HEIGHT}>
            <BarChart data={byStatus}>
              <CartesianGrid stroke="#d9dee7" vertical={false} />
              <XAxis dataKey="bucket" tickFormatter={label} minTickGap={24} />
              <YAxis allowDecimals={false} />
              <Tooltip labelFormatter={label} />
              <Legend />
              <Bar dataKey="succeeded" name="succeeded" stackId="status" fill={STATUS_COLOURS.succeeded} isAnimationActive={false} />
              <Bar dataKey="errors" name="errors" stackId="status" fill={STATUS_COLOURS.errors} isAnimationActive={false} />
              <Bar dataKey="denials" name="denials" stackId="status" fill={STATUS_COLOURS.denials} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
        <figure className="chart" aria-labelledby="chart-latency">
          <figcaption id="chart-latency">Latency of {shownKey} (ms)</figcaption>
          <Choice
            label={`Latency of which ${props.groupBy}`}
            value={shownKey}
            onChange={setLatencyKey}
            options={totals.map((t): [string, string] => [t.key, t.key])}
          />
          <ResponsiveContainer width="100%" height={CHART_HEIGHT}>
            <LineChart data={latency}>
              <CartesianGrid stroke="#d9dee7" vertical={false} />
              <XAxis dataKey="bucket" tickFormatter={label} minTickGap={24} />
              <YAxis allowDecimals={false} />
              <Tooltip labelFormatter={label} />
              <Legend />
              <Line dataKey="p50" name="p50" stroke="#2a5bd7" connectNulls dot isAnimationActive={false} />
              <Line dataKey="p95" name="p95" stroke="#c2410c" connectNulls dot isAnimationActive={false} />
              <Line dataKey="p99" name="p99" stroke="#b3261e" connectNulls dot isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </figure>
      </div>
      <Heading level={2}>Totals per {props.groupBy}</Heading>
      <table aria-label={`Usage totals per ${props.groupBy}`}>
        <thead>
          <tr>
            <th scope="col">{props.groupBy}</th>
            <th scope="col">Calls</th>
            <th scope="col">Errors</th>
            <th scope="col">Denials</th>
          </tr>
        </thead>
        <tbody>
          {totals.map((t) => (
            <tr key={t.key}>
              <th scope="row">{t.key}</th>
              <td>{t.calls}</td>
              <td>{t.errors}</td>
              <td>{t.denials}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Heading level={2}>By {interval}</Heading>
      <table aria-label={`Usage per ${interval} and ${props.groupBy}`}>
        <thead>
          <tr>
            <th scope="col">{interval === 'hour' ? 'Hour' : 'Day'}</th>
            <th scope="col">{props.groupBy}</th>
            <th scope="col">Calls</th>
            <th scope="col">Errors</th>
            <th scope="col">Denials</th>
            <th scope="col">p50 ms</th>
            <th scope="col">p95 ms</th>
            <th scope="col">p99 ms</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.bucket} ${r.key}`}>
              <td>{label(r.bucket)}</td>
              <td>{r.key}</td>
              <td>{r.calls}</td>
              <td>{r.errors}</td>
              <td>{r.denials}</td>
              <td>{r.latency_p50_ms}</td>
              <td>{r.latency_p95_ms}</td>
              <td>{r.latency_p99_ms}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
