// What the call trace captures (GET/PUT /trace): every call, none, or only the calls that match
// an AOR, user or number (a substring of From, To or the Request-URI) or come from or go to an IP.
import { useEffect, useState } from 'preact/hooks';
import { useAction, useConsole, useResource } from '../hooks.js';
import { LoadState } from './load-state.js';

export type Capture = 'all' | 'off' | 'filtered';

export interface TraceSettings {
  capture: Capture;
  filter?: { match?: string[]; ips?: string[] };
}

const CAPTURES: Array<[Capture, string]> = [
  ['all', 'every call'],
  ['filtered', 'only matching calls'],
  ['off', 'nothing'],
];

/** `a, b  c` → `['a', 'b', 'c']` */
export const splitList = (s: string): string[] =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter((x) => x !== '');

export const TraceControl = () => {
  const { api } = useConsole();
  const act = useAction();
  const trace = useResource<TraceSettings>('trace', (a, signal) => a.get<TraceSettings>('/trace', signal), { intervalMs: 30_000 });
  const [capture, setCapture] = useState<Capture>('all');
  const [match, setMatch] = useState('');
  const [ips, setIps] = useState('');
  const [dirty, setDirty] = useState(false);
  // the form follows the server until the operator starts editing it
  useEffect(() => {
    if (trace.data === undefined || dirty) return;
    setCapture(trace.data.capture);
    setMatch((trace.data.filter?.match ?? []).join(', '));
    setIps((trace.data.filter?.ips ?? []).join(', '));
  }, [trace.data, dirty]);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const m = splitList(match);
    const i = splitList(ips);
    const body: TraceSettings = { capture, filter: { ...(m.length > 0 ? { match: m } : {}), ...(i.length > 0 ? { ips: i } : {}) } };
    const ok = await act(
      'Changing the capture',
      async () => {
        const saved = await api.send<TraceSettings>('PUT', '/trace', body);
        trace.mutate(() => saved);
      },
      `Capture: ${CAPTURES.find(([c]) => c === capture)?.[1] ?? capture}.`,
    );
    if (ok) setDirty(false);
  };

  const edit = <T,>(set: (v: T) => void) => (v: T) => {
    setDirty(true);
    set(v);
  };
  const current = trace.data;
  return (
    <section class="card" aria-labelledby="trace-title">
      <h3 id="trace-title">Trace capture</h3>
      <LoadState what="the capture settings" error={trace.error} loading={trace.loading} hasData={current !== undefined} fetchedAt={trace.fetchedAt} onRetry={trace.reload} />
      {current !== undefined ? (
        <form class="inline-form" onSubmit={(e) => void submit(e)} data-capture={current.capture}>
          <div class="field">
            <label for="trace-capture">Capture</label>
            <select id="trace-capture" value={capture} onChange={(e) => edit(setCapture)(e.currentTarget.value as Capture)}>
              {CAPTURES.map(([c, words]) => (
                <option key={c} value={c}>
                  {c} — {words}
                </option>
              ))}
            </select>
          </div>
          <div class="field grow">
            <label for="trace-match">Match (AORs, users or numbers)</label>
            <input id="trace-match" placeholder="1001@example.com, 600" disabled={capture !== 'filtered'} value={match} onInput={(e) => edit(setMatch)(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="trace-ips">IP addresses</label>
            <input id="trace-ips" placeholder="203.0.113.7" disabled={capture !== 'filtered'} value={ips} onInput={(e) => edit(setIps)(e.currentTarget.value)} />
          </div>
          <button type="submit" class="primary">
            Save capture
          </button>
        </form>
      ) : null}
    </section>
  );
};
