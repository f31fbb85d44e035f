// Backends: every dispatcher set with its destinations, their health and load, the operator's
// buttons (activate, drain, disable) and the forms that add and remove sets and destinations.
// A `destination` event changes a row at once; a refresh follows, and one every 5 s.
import { useEffect, useRef, useState } from 'preact/hooks';
import { seg, type Destination, type DispatcherSet, type OperatorState } from '../api.js';
import { DrainControl } from '../components/drain-control.js';
import { Empty, LoadState } from '../components/load-state.js';
import { ProbeChart } from '../components/probe-chart.js';
import { StateBadge } from '../components/state-badge.js';
import { formatRate, formatRtt } from '../format.js';
import { useAction, useConsole, useResource } from '../hooks.js';
import { emptyRates, rateKey, sumRates, updateRates, type RateState } from '../rates.js';

const ALGORITHMS = ['round-robin', 'weighted', 'hash-callid', 'hash-from', 'hash-to', 'priority', 'least-calls', 'random'] as const;
const OPERATOR_STATES: readonly string[] = ['disabled', 'draining'];

interface DestinationEvent {
  setId?: number;
  uri?: string;
  to?: string;
}

const lastProbeText = (d: Destination): string => {
  const p = d.lastProbe ?? d.probes[0];
  if (p === undefined || p === null) return 'not probed yet';
  if (p.timedOut || p.code === null) return `timeout (${formatRtt(p.rttMs)})`;
  return `${p.code} in ${formatRtt(p.rttMs)}`;
};

export const Backends = () => {
  const { bus, api, confirm } = useConsole();
  const act = useAction();
  const sets = useResource<DispatcherSet[]>('sets', async (a, signal) => (await a.get<{ sets: DispatcherSet[] }>('/dispatcher/sets', signal)).sets, {
    intervalMs: 5000,
    // `call`: active calls and selections change with every call that starts or ends
    events: ['destination', 'dispatcher', 'call'],
  });
  const rates = useRef<{ at: number; state: RateState }>({ at: 0, state: emptyRates() });
  if (sets.data !== undefined && sets.fetchedAt !== rates.current.at) {
    const totals = sets.data.flatMap((s) => s.destinations.map((d) => ({ key: rateKey(s.id, d.uri), total: d.selectedTotal })));
    rates.current = { at: sets.fetchedAt, state: updateRates(rates.current.state, totals, sets.fetchedAt) };
  }
  const rateOf = (setId: number, uri: string): number | null => rates.current.state.rates.get(rateKey(setId, uri)) ?? null;

  // a state change arrives: show it now, the refresh the bus also triggers brings the rest
  const { mutate } = sets;
  useEffect(
    () =>
      bus.on('destination', (_t, data) => {
        const e = data as DestinationEvent;
        if (typeof e.uri !== 'string' || typeof e.to !== 'string') return;
        const to = e.to as Destination['state'];
        mutate((list) =>
          list.map((s) =>
            e.setId !== undefined && s.id !== e.setId ? s : { ...s, destinations: s.destinations.map((d) => (d.uri === e.uri || d.id === e.uri ? { ...d, state: to } : d)) },
          ),
        );
      }),
    [bus, mutate],
  );

  const setState = async (set: DispatcherSet, d: Destination, state: OperatorState): Promise<void> => {
    if (state !== 'active') {
      const ok = await confirm({
        title: state === 'disabled' ? `Disable ${d.uri}?` : `Drain ${d.uri}?`,
        message:
          state === 'disabled'
            ? `No new calls go to ${d.uri} (set ${set.id}), whatever its probes say, until it is activated again. Calls in progress continue.`
            : `${d.uri} (set ${set.id}) takes no new calls and becomes disabled when its ${d.activeCalls} active call(s) end.`,
        confirmLabel: state === 'disabled' ? 'Disable' : 'Drain',
        danger: true,
      });
      if (!ok) return;
    }
    await act(
      `Setting ${d.uri} to ${state}`,
      async () => {
        const updated = await api.send<Destination>('PATCH', `/dispatcher/sets/${seg(set.id)}/destinations/${seg(d.id)}`, { state });
        if (updated !== undefined) mutate((list) => list.map((s) => (s.id !== set.id ? s : { ...s, destinations: s.destinations.map((x) => (x.id === d.id ? updated : x)) })));
      },
      `${d.uri} is now ${state === 'active' ? 'back under the probes' : state}.`,
    );
    sets.reload();
  };

  const removeDestination = async (set: DispatcherSet, d: Destination): Promise<void> => {
    const ok = await confirm({
      title: `Remove ${d.uri}?`,
      message: `${d.uri} leaves set ${set.id} (${set.name}). Its ${d.activeCalls} active call(s) continue.`,
      confirmLabel: 'Remove',
      danger: true,
    });
    if (!ok) return;
    await act(`Removing ${d.uri}`, () => api.send('DELETE', `/dispatcher/sets/${seg(set.id)}/destinations/${seg(d.id)}`), `${d.uri} was removed from set ${set.id}.`);
    sets.reload();
  };

  const removeSet = async (set: DispatcherSet): Promise<void> => {
    const ok = await confirm({
      title: `Remove set ${set.id}?`,
      message: `Set ${set.id} (${set.name}) and its ${set.destinations.length} destination(s) are removed. Routes that name this set will find no destination.`,
      confirmLabel: 'Remove set',
      danger: true,
    });
    if (!ok) return;
    await act(`Removing set ${set.id}`, () => api.send('DELETE', `/dispatcher/sets/${seg(set.id)}`), `Set ${set.id} was removed.`);
    sets.reload();
  };

  const list = sets.data ?? [];
  return (
    <>
      <DrainControl />
      <LoadState what="the dispatcher sets" error={sets.error} loading={sets.loading} hasData={sets.data !== undefined} fetchedAt={sets.fetchedAt} onRetry={sets.reload} />
      {sets.data !== undefined && list.length === 0 ? <Empty>No dispatcher sets yet. Add one below.</Empty> : null}
      {list.map((set) => {
        const up = set.destinations.filter((d) => d.state === 'active').length;
        const calls = set.destinations.reduce((n, d) => n + d.activeCalls, 0);
        const cps = sumRates(set.destinations.map((d) => rateOf(set.id, d.uri)));
        const headingId = `set-${set.id}-title`;
        return (
          <section key={set.id} class="card set" aria-labelledby={headingId} data-set={set.id}>
            <header class="card-head">
              <div>
                <h3 id={headingId}>
                  Set {set.id} <span class="muted">· {set.name}</span>
                </h3>
                <p class="meta">
                  {set.algorithm} · {up} of {set.destinations.length} active · {calls} active call{calls === 1 ? '' : 's'} · {formatRate(cps)} calls/s
                </p>
              </div>
              <button type="button" class="secondary small" onClick={() => void removeSet(set)}>
                Remove set <span class="sr-only">{set.id}</span>
              </button>
            </header>
            {set.destinations.length === 0 ? (
              <Empty>No destinations in this set.</Empty>
            ) : (
              <div class="table-scroll">
                <table class="responsive">
                  <caption class="sr-only">Destinations of set {set.id}</caption>
                  <thead>
                    <tr>
                      <th scope="col">Destination</th>
                      <th scope="col">State</th>
                      <th scope="col">Last probes</th>
                      <th scope="col" class="num">
                        Active calls
                      </th>
                      <th scope="col" class="num">
                        Calls/s
                      </th>
                      <th scope="col" class="num">
                        Selected
                      </th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {set.destinations.map((d) => (
                      <tr key={d.id} data-dest={d.uri} data-state={d.state}>
                        <th scope="row" data-label="Destination">
                          <span class="mono">{d.uri}</span>
                          <span class="meta">
                            weight {d.weight} · priority {d.priority}
                          </span>
                        </th>
                        <td data-label="State">
                          <StateBadge state={d.state} />
                        </td>
                        <td data-label="Last probes">
                          <span class="probes">
                            <ProbeChart probes={d.probes} />
                            <span class="meta">{lastProbeText(d)}</span>
                          </span>
                        </td>
                        <td data-label="Active calls" class="num">
                          {d.activeCalls}
                        </td>
                        <td data-label="Calls/s" class="num">
                          {formatRate(rateOf(set.id, d.uri))}
                        </td>
                        <td data-label="Selected" class="num">
                          {d.selectedTotal}
                        </td>
                        <td data-label="Actions">
                          <div class="button-row">
                            <button type="button" class="small" disabled={!OPERATOR_STATES.includes(d.state)} onClick={() => void setState(set, d, 'active')}>
                              Activate<span class="sr-only"> {d.uri}</span>
                            </button>
                            <button type="button" class="small" disabled={d.state === 'draining' || d.state === 'disabled'} onClick={() => void setState(set, d, 'draining')}>
                              Drain<span class="sr-only"> {d.uri}</span>
                            </button>
                            <button type="button" class="small warn" disabled={d.state === 'disabled'} onClick={() => void setState(set, d, 'disabled')}>
                              Disable<span class="sr-only"> {d.uri}</span>
                            </button>
                            <button type="button" class="small secondary" onClick={() => void removeDestination(set, d)}>
                              Remove<span class="sr-only"> {d.uri}</span>
                            </button>
                          </div>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <AddDestination set={set} onAdded={sets.reload} />
          </section>
        );
      })}
      {sets.data !== undefined || sets.error === undefined ? <AddSet existing={list.map((s) => s.id)} onAdded={sets.reload} /> : null}
    </>
  );
};

const AddDestination = ({ set, onAdded }: { set: DispatcherSet; onAdded(): void }) => {
  const { api } = useConsole();
  const act = useAction();
  const [uri, setUri] = useState('');
  const [weight, setWeight] = useState('1');
  const [priority, setPriority] = useState('0');
  const [disabled, setDisabled] = useState(false);
  const id = `add-dest-${set.id}`;
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const u = uri.trim();
    const ok = await act(
      `Adding ${u} to set ${set.id}`,
      () =>
        api.send('POST', `/dispatcher/sets/${seg(set.id)}/destinations`, {
          uri: u,
          weight: Number(weight),
          priority: Number(priority),
          ...(disabled ? { state: 'disabled' } : {}),
        }),
      `${u} was added to set ${set.id}.`,
    );
    if (ok) {
      setUri('');
      onAdded();
    }
  };
  return (
    <details class="add">
      <summary>Add a destination to set {set.id}</summary>
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <div class="field grow">
          <label for={`${id}-uri`}>SIP URI</label>
          <input id={`${id}-uri`} required pattern="[sS][iI][pP][sS]?:\S+" placeholder="sip:10.0.0.11:5060" value={uri} onInput={(e) => setUri(e.currentTarget.value)} />
        </div>
        <div class="field narrow">
          <label for={`${id}-weight`}>Weight</label>
          <input id={`${id}-weight`} type="number" min="0" step="any" required value={weight} onInput={(e) => setWeight(e.currentTarget.value)} />
        </div>
        <div class="field narrow">
          <label for={`${id}-priority`}>Priority</label>
          <input id={`${id}-priority`} type="number" step="any" required value={priority} onInput={(e) => setPriority(e.currentTarget.value)} />
        </div>
        <div class="field check">
          <input id={`${id}-disabled`} type="checkbox" checked={disabled} onChange={(e) => setDisabled(e.currentTarget.checked)} />
          <label for={`${id}-disabled`}>Add it disabled</label>
        </div>
        <button type="submit" class="primary">
          Add destination
        </button>
      </form>
    </details>
  );
};

const AddSet = ({ existing, onAdded }: { existing: number[]; onAdded(): void }) => {
  const { api } = useConsole();
  const act = useAction();
  const next = existing.length === 0 ? 1 : Math.max(...existing) + 1;
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [algorithm, setAlgorithm] = useState<string>('round-robin');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const n = Number(id === '' ? next : id);
    const ok = await act(
      `Creating set ${n}`,
      () => api.send('POST', '/dispatcher/sets', { id: n, ...(name.trim() !== '' ? { name: name.trim() } : {}), algorithm }),
      `Set ${n} was created.`,
    );
    if (ok) {
      setId('');
      setName('');
      onAdded();
    }
  };
  return (
    <section class="card" aria-labelledby="add-set-title">
      <h3 id="add-set-title">Add a set</h3>
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <div class="field narrow">
          <label for="set-id">Set id</label>
          <input id="set-id" type="number" min="0" step="1" placeholder={String(next)} value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </div>
        <div class="field grow">
          <label for="set-name">Name</label>
          <input id="set-name" placeholder={`set-${id === '' ? next : id}`} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="set-algorithm">Algorithm</label>
          <select id="set-algorithm" value={algorithm} onChange={(e) => setAlgorithm(e.currentTarget.value)}>
            {ALGORITHMS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary">
          Add set
        </button>
      </form>
    </section>
  );
};
