import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDispatcher } from './dispatcher.js';
import type { Dispatcher } from './dispatcher.js';
import type { ProbeEvent, ProbeOptions, SetConfig, StateChange } from './types.js';
import { fakeBackends, OK } from '../test/helpers/fake-probe-sender.js';
import type { Behaviour, FakeBackends } from '../test/helpers/fake-probe-sender.js';

const A = 'sip:10.0.0.11:5060';
const B = 'sip:10.0.0.12:5060';
const KEY = { callId: 'c1', fromUri: 'sip:1001@example.com', toUri: 'sip:1002@example.com', ruri: 'sip:1002@example.com' };

const PROBE: ProbeOptions = { interval: 1000, timeout: 500, downAfter: 2, upAfter: 2, accept: [200] };
const SETS: SetConfig[] = [
  { id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [{ uri: A, weight: 1, priority: 0 }, { uri: B, weight: 1, priority: 0 }] },
];

interface Rig {
  d: Dispatcher;
  backends: FakeBackends;
  changes: Array<StateChange & { at: number }>;
  probes: ProbeEvent[];
  t0: number;
}

let open: Dispatcher[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const d of open) d.close();
  open = [];
  vi.useRealTimers();
});

function rig(probe: ProbeOptions = PROBE, initial: Behaviour = OK): Rig {
  const backends = fakeBackends(initial);
  const changes: Rig['changes'] = [];
  const probes: ProbeEvent[] = [];
  const t0 = Date.now();
  const d = createDispatcher(
    { prober: backends.sender, onStateChange: (c) => changes.push({ ...c, at: Date.now() - t0 }), onProbe: (p) => probes.push(p) },
    { probe, sets: SETS },
  );
  open.push(d);
  return { d, backends, changes, probes, t0 };
}

const state = (r: Rig, uri = A): string | undefined => r.d.getDestination(1, uri)?.state;
const usable = (r: Rig): string[] => r.d.select(1, KEY).map((x) => x.uri);
const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);
const now = (r: Rig): number => Date.now() - r.t0;

describe('probing hysteresis', () => {
  // Both ways a probe can go unanswered: the sender says "timed out" (code null), or it never
  // settles and the dispatcher's own timeout ends the probe.
  it.each([['timeout'], ['silent']] as const)('a dead destination is inactive within down_after × (interval + timeout) + 0.5 s (%s)', async (kind) => {
    const r = rig();
    // probes start every interval + 10 ms answer; die right after the 5th answer, the worst
    // case for detection (the next probe is a whole interval away)
    await advance(4 * (PROBE.interval + 10) + 10);
    expect(state(r)).toBe('active');
    expect(r.backends.callsTo(A).at(-1)?.end).toBe(Date.now());
    r.backends.set(A, { kind });
    const died = now(r);

    // one failure is not enough (hysteresis)
    await advance(PROBE.interval + PROBE.timeout + 10);
    expect(r.d.getDestination(1, A)?.lastProbe).toMatchObject({ code: null, timedOut: true });
    expect(state(r)).toBe('active');

    await advance(PROBE.downAfter * (PROBE.interval + PROBE.timeout) + 500);
    const down = r.changes.find((c) => c.uri === A && c.to === 'inactive');
    expect(down).toMatchObject({ setId: 1, from: 'active', cause: 'probe' });
    const bound = PROBE.downAfter * (PROBE.interval + PROBE.timeout) + 500;
    expect((down?.at ?? Infinity) - died).toBeLessThanOrEqual(bound);
    expect((down?.at ?? 0) - died).toBeGreaterThanOrEqual((PROBE.downAfter - 1) * PROBE.interval + PROBE.downAfter * PROBE.timeout - 20);
    expect(usable(r)).toEqual([B]);
    const view = r.d.getDestination(1, A);
    expect(view?.probes.slice(0, 2).every((p) => p.code === null && p.timedOut)).toBe(true);
    expect(view?.lastProbe).toEqual(view?.probes[0]);
  });

  it('comes back to active after up_after accepted answers, probing in between', async () => {
    const r = rig();
    r.backends.set(A, { kind: 'timeout' });
    await advance(PROBE.downAfter * (PROBE.interval + PROBE.timeout) + 100);
    expect(state(r)).toBe('inactive');
    const inactiveAt = r.changes.length;

    r.backends.set(A, OK);
    const back = now(r);
    const probesBefore = r.backends.callsTo(A).length;
    // the first accepted answer: probing, still no calls
    while (r.backends.callsTo(A).filter((c) => c.end !== undefined).length < probesBefore + 1) await advance(10);
    await advance(1);
    expect(state(r)).toBe('probing');
    expect(usable(r)).toEqual([B]);

    await advance(PROBE.upAfter * (PROBE.interval + PROBE.timeout) + 500);
    expect(state(r)).toBe('active');
    const up = r.changes.slice(inactiveAt).filter((c) => c.uri === A);
    expect(up.map((c) => c.to)).toEqual(['probing', 'active']);
    expect((up[1]?.at ?? Infinity) - back).toBeLessThanOrEqual(PROBE.upAfter * (PROBE.interval + PROBE.timeout) + 500);
    expect(usable(r).sort()).toEqual([A, B]);
  });

  it('counts codes from `accept` as alive and other codes as failures', async () => {
    const r = rig({ ...PROBE, accept: [200, 404, 405], upAfter: 1 });
    r.backends.set(A, { kind: 'answer', code: 405, delayMs: 5 });
    r.backends.set(B, { kind: 'answer', code: 500, delayMs: 5 });
    await advance(5_000);
    expect(state(r, A)).toBe('active');
    expect(state(r, B)).toBe('inactive');
    expect(r.d.getDestination(1, B)?.lastProbe).toMatchObject({ code: 500, timedOut: false, rttMs: 5 });
    expect(r.d.getDestination(1, A)?.lastProbe).toMatchObject({ code: 405, timedOut: false });
  });

  it('records a local send failure as a failure with its reason', async () => {
    const r = rig({ ...PROBE, downAfter: 1 });
    r.backends.set(A, { kind: 'error', message: 'connect ECONNREFUSED 10.0.0.11:5060' });
    await advance(10);
    expect(state(r)).toBe('inactive');
    expect(r.d.getDestination(1, A)?.lastProbe).toMatchObject({ code: null, timedOut: false, error: 'connect ECONNREFUSED 10.0.0.11:5060' });
  });

  it('keeps the last 10 probes, newest first, and reports each one', async () => {
    const r = rig();
    await advance(15 * (PROBE.interval + 10));
    const probes = r.d.getDestination(1, A)?.probes ?? [];
    expect(probes).toHaveLength(10);
    const times = probes.map((p) => Date.parse(p.at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    expect(probes[0]).toEqual({ at: probes[0]?.at, code: 200, rttMs: 10, timedOut: false });
    expect(r.probes.filter((p) => p.uri === A).length).toBeGreaterThan(10);
  });
});

describe('probe loop', () => {
  it('never overlaps probes when one takes longer than the interval', async () => {
    const probe = { ...PROBE, interval: 100, timeout: 1_000 };
    const r = rig(probe, { kind: 'answer', code: 200, delayMs: 300 });
    await advance(4_000);
    const calls = r.backends.callsTo(A);
    expect(r.backends.maxInFlight(A)).toBe(1);
    // one probe per 300 ms answer + 100 ms interval
    expect(calls.length).toBeGreaterThanOrEqual(9);
    expect(calls.length).toBeLessThanOrEqual(11);
    for (let i = 1; i < calls.length; i++) {
      expect((calls[i]?.start ?? 0) - (calls[i - 1]?.end ?? Infinity)).toBeGreaterThanOrEqual(probe.interval);
    }
  });

  it('waits a whole timeout, then the interval, for a destination that never answers', async () => {
    const r = rig(PROBE, { kind: 'silent' });
    await advance(10 * (PROBE.interval + PROBE.timeout) - 1);
    const starts = r.backends.callsTo(A).map((c) => c.start - r.t0);
    expect(starts).toEqual(Array.from({ length: 10 }, (_, i) => i * (PROBE.interval + PROBE.timeout)));
  });
});

describe('503 from the backend: draining', () => {
  it('drains while the 503s go on and becomes inactive at 0 calls, then active after up_after', async () => {
    const r = rig();
    await advance(50);
    r.d.callStarted(1, A);
    r.d.callStarted(1, A);
    r.backends.set(A, { kind: 'answer', code: 503, delayMs: 10 });
    await advance(PROBE.interval + 50);
    expect(state(r)).toBe('draining');
    expect(usable(r)).toEqual([B]);
    await advance(3 * PROBE.interval);
    expect(state(r)).toBe('draining');

    r.d.callEnded(1, A);
    expect(state(r)).toBe('draining');
    r.d.callEnded(1, A);
    expect(state(r)).toBe('inactive');
    expect(r.changes.filter((c) => c.uri === A).map((c) => [c.to, c.cause])).toEqual([
      ['draining', 'probe'],
      ['inactive', 'drained'],
    ]);

    await advance(3 * PROBE.interval);
    expect(state(r)).toBe('inactive'); // never disabled: that is an operator's word
    r.backends.set(A, OK);
    await advance(PROBE.upAfter * (PROBE.interval + 10) + 100);
    expect(state(r)).toBe('active');
  });

  it('with no calls up, a 503 goes through draining straight to inactive', async () => {
    const r = rig();
    r.backends.set(A, { kind: 'answer', code: 503, delayMs: 10 });
    await advance(50);
    expect(r.changes.filter((c) => c.uri === A).map((c) => c.to)).toEqual(['draining', 'inactive']);
  });

  it('ends the drain when the 503s stop, even with calls up', async () => {
    const r = rig();
    r.d.callStarted(1, A);
    r.backends.set(A, { kind: 'answer', code: 503, delayMs: 10 });
    await advance(50);
    expect(state(r)).toBe('draining');
    r.backends.set(A, OK);
    await advance(PROBE.interval + 50);
    expect(state(r)).toBe('probing');
    await advance(PROBE.interval + 50);
    expect(state(r)).toBe('active');
    expect(r.d.getDestination(1, A)?.activeCalls).toBe(1);
  });

  it('treats 503 as alive when the operator lists it in accept', async () => {
    const r = rig({ ...PROBE, accept: [200, 503] });
    r.backends.set(A, { kind: 'answer', code: 503, delayMs: 10 });
    await advance(3 * PROBE.interval);
    expect(state(r)).toBe('active');
  });
});

describe('operator states', () => {
  it('disabled is never re-enabled by probes; active by the operator re-enables', async () => {
    const r = rig();
    r.d.setState(1, A, 'disabled');
    await advance(20 * PROBE.interval);
    expect(state(r)).toBe('disabled');
    expect(usable(r)).toEqual([B]);
    expect(r.d.getDestination(1, A)?.lastProbe?.code).toBe(200); // still probed, for the operator to see
    expect(r.d.setState(1, A, 'active').state).toBe('active');
    expect(usable(r).sort()).toEqual([A, B]);
    expect(r.changes.map((c) => [c.to, c.cause])).toEqual([
      ['disabled', 'operator'],
      ['active', 'operator'],
    ]);
  });

  it('disabled stays disabled through failures and 503s; re-enabled while dead it drops at the next probe', async () => {
    const r = rig();
    r.d.setState(1, A, 'disabled');
    r.backends.set(A, { kind: 'answer', code: 503, delayMs: 10 });
    await advance(3 * PROBE.interval);
    r.backends.set(A, { kind: 'timeout' });
    await advance(5 * (PROBE.interval + PROBE.timeout));
    expect(state(r)).toBe('disabled');
    r.d.setState(1, A, 'active');
    expect(state(r)).toBe('active');
    // the re-enable probes at once; the failures seen while disabled still count
    await advance(PROBE.timeout + 10);
    expect(state(r)).toBe('inactive');
  });

  it("an operator's drain stops new calls and ends in disabled at 0 calls", async () => {
    const r = rig();
    r.d.callStarted(1, A);
    expect(r.d.setState(1, A, 'draining').state).toBe('draining');
    expect(usable(r)).toEqual([B]);
    await advance(10 * PROBE.interval); // probes answer 200 meanwhile: the drain holds
    expect(state(r)).toBe('draining');
    r.d.callEnded(1, A);
    expect(state(r)).toBe('disabled');
    await advance(10 * PROBE.interval);
    expect(state(r)).toBe('disabled');
    expect(r.changes.map((c) => [c.to, c.cause])).toEqual([
      ['draining', 'operator'],
      ['disabled', 'drained'],
    ]);
  });

  it('an operator drain with no calls up is disabled at once; it takes over a backend drain', async () => {
    const r = rig();
    expect(r.d.setState(1, A, 'draining').state).toBe('disabled');

    r.d.callStarted(1, B);
    r.backends.set(B, { kind: 'answer', code: 503, delayMs: 10 });
    await advance(PROBE.interval + 50);
    expect(state(r, B)).toBe('draining');
    r.d.setState(1, B, 'draining');
    r.d.callEnded(1, B);
    expect(state(r, B)).toBe('disabled'); // an operator's drain ends in disabled, not inactive
  });

  it('refuses states only the probes set', () => {
    const r = rig();
    expect(() => r.d.setState(1, A, 'inactive' as never)).toThrowError(expect.objectContaining({ code: 'INVALID_STATE', httpStatus: 400, field: 'state' }));
  });
});

describe('failure feedback from calls', () => {
  it('marks an active destination probing at once and probes it now', async () => {
    const r = rig({ ...PROBE, upAfter: 1 });
    await advance(100);
    const before = r.backends.callsTo(A).length;
    r.d.reportFailure(1, A);
    expect(state(r)).toBe('probing');
    expect(usable(r)).toEqual([B]);
    expect(r.backends.callsTo(A).length).toBe(before + 1); // no wait for the interval
    r.d.reportFailure(1, A); // already probing: no second probe
    expect(r.backends.callsTo(A).length).toBe(before + 1);
    await advance(20);
    expect(state(r)).toBe('active'); // it answered: the call failure was the call's own
    expect(r.changes.map((c) => [c.to, c.cause])).toEqual([
      ['probing', 'traffic'],
      ['active', 'probe'],
    ]);
  });

  it('a dead destination goes from probing to inactive after down_after failed probes', async () => {
    const r = rig();
    await advance(100);
    r.backends.set(A, { kind: 'silent' });
    r.d.reportFailure(1, A);
    await advance(PROBE.downAfter * (PROBE.interval + PROBE.timeout));
    expect(state(r)).toBe('inactive');
  });

  it('leaves other states alone', async () => {
    const r = rig();
    r.d.setState(1, A, 'disabled');
    r.d.reportFailure(1, A);
    r.d.reportFailure(1, 'sip:unknown.example.com');
    expect(state(r)).toBe('disabled');
  });
});
