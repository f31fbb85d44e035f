// Calls: the active and recent calls from the trace ring, each with its outcome; opening one
// shows its ladder (see call-detail.tsx).
import { useState } from 'preact/hooks';
import type { CallSummary } from '../api.js';
import { Empty, LoadState } from '../components/load-state.js';
import { StateBadge } from '../components/state-badge.js';
import { TraceControl } from '../components/trace-control.js';
import { formatSeconds, formatTime, toMillis } from '../format.js';
import { useNow, useResource } from '../hooks.js';

export const isActive = (c: CallSummary): boolean => c.endedAt === null && c.state !== 'failed' && c.state !== 'ended';

export const callHref = (callId: string): string => `#/calls/${encodeURIComponent(callId)}`;

const outcome = (c: CallSummary): string => {
  if (c.status === null) return '—';
  return String(c.status);
};

const CallTable = ({ calls, caption, now }: { calls: CallSummary[]; caption: string; now: number }) => (
  <div class="table-scroll">
    <table class="responsive calls">
      <caption class="sr-only">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">From → To</th>
          <th scope="col">State</th>
          <th scope="col" class="num">
            Status
          </th>
          <th scope="col" class="num">
            Duration
          </th>
          <th scope="col" class="num">
            Messages
          </th>
        </tr>
      </thead>
      <tbody>
        {calls.map((c) => {
          const start = toMillis(c.startedAt);
          const end = c.endedAt !== null ? toMillis(c.endedAt) : now;
          const failed = c.state === 'failed' || (c.status !== null && c.status >= 300 && c.status !== 487);
          return (
            <tr key={c.callId} class={failed ? 'failed' : ''} data-call={c.callId}>
              <td data-label="Started">
                <a href={callHref(c.callId)} aria-label={`Open the ladder of the call from ${c.from} to ${c.to} started ${formatTime(start, now)}`}>
                  {formatTime(start, now)}
                </a>
              </td>
              <th scope="row" data-label="From → To">
                <span class="mono">{c.from}</span>
                <span class="meta mono">→ {c.to}</span>
              </th>
              <td data-label="State">
                <StateBadge state={c.state} />
              </td>
              <td data-label="Status" class="num">
                {outcome(c)}
              </td>
              <td data-label="Duration" class="num">
                {Number.isFinite(start) && Number.isFinite(end) ? formatSeconds(end - start) : '—'}
              </td>
              <td data-label="Messages" class="num">
                {c.messages}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  </div>
);

export const Calls = () => {
  const now = useNow(1000);
  const [query, setQuery] = useState('');
  const calls = useResource<CallSummary[]>('calls', async (a, signal) => (await a.get<{ calls: CallSummary[] }>('/calls', signal)).calls, {
    intervalMs: 5000,
    events: ['call'],
  });
  const q = query.trim().toLowerCase();
  const all = (calls.data ?? []).filter((c) => q === '' || `${c.callId} ${c.from} ${c.to} ${c.ruri} ${c.status ?? ''}`.toLowerCase().includes(q));
  const active = all.filter(isActive);
  const recent = all.filter((c) => !isActive(c));
  return (
    <>
      {/* above the lists: the recent calls can run to thousands of rows */}
      <TraceControl />
      <form class="inline-form search" role="search" onSubmit={(e) => e.preventDefault()}>
        <div class="field grow">
          <label for="call-search">Filter calls</label>
          <input id="call-search" type="search" placeholder="number, AOR, Call-ID or status" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </div>
      </form>
      <LoadState what="the calls" error={calls.error} loading={calls.loading} hasData={calls.data !== undefined} fetchedAt={calls.fetchedAt} onRetry={calls.reload} />
      {calls.data !== undefined ? (
        <>
          <section class="card" aria-labelledby="active-calls-title">
            <h3 id="active-calls-title">Active calls ({active.length})</h3>
            {active.length === 0 ? <Empty>No call in progress.</Empty> : <CallTable calls={active} caption="Active calls" now={now} />}
          </section>
          <section class="card" aria-labelledby="recent-calls-title">
            <h3 id="recent-calls-title">Recent calls ({recent.length})</h3>
            {recent.length === 0 ? <Empty>No recent call{q !== '' ? ' matches' : ' in the trace'}.</Empty> : <CallTable calls={recent} caption="Recent calls" now={now} />}
          </section>
        </>
      ) : null}
    </>
  );
};
