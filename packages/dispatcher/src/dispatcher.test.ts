import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDispatcher } from './dispatcher.js';
import type { Dispatcher } from './dispatcher.js';
import { DispatcherError } from './errors.js';
import type { ProbeOptions, SetConfig, StateChange } from './types.js';
import { fakeBackends, OK } from '../test/helpers/fake-probe-sender.js';
import type { FakeBackends } from '../test/helpers/fake-probe-sender.js';

const A = 'sip:10.0.0.11:5060';
const B = 'sip:10.0.0.12:5060';
const C = 'sip:10.0.0.13:5060;transport=tcp';
const D = 'sip:10.0.0.14:5060';
const KEY = { callId: 'c1', fromUri: 'sip:1001@example.com', toUri: 'sip:1002@example.com', ruri: 'sip:1002@example.com' };
const PROBE: ProbeOptions = { interval: 1000, timeout: 500, downAfter: 2, upAfter: 1, accept: [200] };

const set1 = (uris: string[], algorithm: SetConfig['algorithm'] = 'round-robin'): SetConfig => ({
  id: 1,
  name: 'asterisk',
  algorithm,
  destinations: uris.map((uri) => ({ uri, weight: 1, priority: 0 })),
});

let open: Dispatcher[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const d of open) d.close();
  open = [];
  vi.useRealTimers();
});

function rig(sets: SetConfig[]): { d: Dispatcher; backends: FakeBackends; changes: StateChange[] } {
  const backends = fakeBackends();
  const changes: StateChange[] = [];
  const d = createDispatcher({ prober: backends.sender, onStateChange: (c) => changes.push(c) }, { probe: PROBE, sets });
  open.push(d);
  return { d, backends, changes };
}

const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

describe('views', () => {
  it('returns destinations in the contract shape', async () => {
    const { d } = rig([{ ...set1([A]), destinations: [{ uri: A, weight: 2, priority: 1, attrs: { site: 'fra' } }] }]);
    expect(d.getDestination(1, A)).toEqual({
      id: A, uri: A, weight: 2, priority: 1, attrs: { site: 'fra' }, state: 'active',
      lastProbe: null, probes: [], activeCalls: 0, selectedTotal: 0,
    });
    await advance(20);
    const v = d.getDestination(1, A);
    expect(v?.lastProbe).toEqual({ at: new Date(Date.now() - 10).toISOString(), code: 200, rttMs: 10, timedOut: false });
    expect(v?.probes).toEqual([v?.lastProbe]);
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
    expect(d.getSets()).toEqual([{ id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [v] }]);
    expect(d.getSet(1)?.destinations).toEqual([v]);
    expect(d.getSet(2)).toBeUndefined();
    expect(d.getDestination(1, B)).toBeUndefined();
    expect(d.hasSet(1)).toBe(true);
    expect(d.hasSet(2)).toBe(false);
  });

  it('hands out copies: changing a view changes nothing inside', async () => {
    const { d } = rig([set1([A])]);
    await advance(20);
    const v = d.getDestination(1, A);
    v?.probes.pop();
    if (v?.lastProbe) v.lastProbe.code = 500;
    expect(d.getDestination(1, A)?.probes).toHaveLength(1);
    expect(d.getDestination(1, A)?.lastProbe?.code).toBe(200);
    expect(Object.isFrozen(d.select(1, KEY)[0])).toBe(true);
  });

  it('starts a destination configured as disabled in that state', () => {
    const { d } = rig([{ ...set1([A, B]), destinations: [{ uri: A, weight: 1, priority: 0, state: 'disabled' }, { uri: B, weight: 1, priority: 0 }] }]);
    expect(d.getDestination(1, A)?.state).toBe('disabled');
    expect(d.select(1, KEY).map((x) => x.uri)).toEqual([B]);
  });
});

describe('changes at run time', () => {
  it('replaceSets keeps state, probes and counters of destinations that remain', async () => {
    const { d, backends, changes } = rig([set1([A, B, C]), { ...set1([D]), id: 2, name: 'other' }]);
    backends.set(B, { kind: 'timeout' });
    d.setState(1, A, 'disabled');
    d.callStarted(1, C);
    d.markSelected(1, C);
    await advance(3 * (PROBE.interval + PROBE.timeout));
    expect(d.getDestination(1, B)?.state).toBe('inactive');
    const before = { a: d.getDestination(1, A), b: d.getDestination(1, B), c: d.getDestination(1, C) };
    const changesBefore = changes.length;

    d.replaceSets([
      {
        id: 1,
        name: 'asterisk-new',
        algorithm: 'weighted',
        destinations: [
          { uri: A, weight: 5, priority: 0 },
          { uri: B, weight: 1, priority: 0 },
          { uri: C, weight: 1, priority: 0 },
          { uri: D, weight: 1, priority: 0 },
        ],
      },
    ]);

    const s = d.getSet(1);
    expect(s).toMatchObject({ name: 'asterisk-new', algorithm: 'weighted' });
    expect(s?.destinations.map((x) => x.uri)).toEqual([A, B, C, D]);
    expect(d.getDestination(1, A)).toEqual({ ...before.a, weight: 5 });
    expect(d.getDestination(1, B)).toEqual(before.b);
    expect(d.getDestination(1, C)).toEqual(before.c);
    expect(d.getDestination(1, C)).toMatchObject({ activeCalls: 1, selectedTotal: 1 });
    expect(d.getDestination(1, D)).toMatchObject({ state: 'active', probes: [] });
    expect(d.getSet(2)).toBeUndefined();
    expect(changes.length).toBe(changesBefore); // a swap is no state change
    // the new list is live: weighted over C and D (A disabled, B inactive)
    expect(new Set(Array.from({ length: 10 }, () => d.select(1, KEY)[0]?.uri))).toEqual(new Set([C, D]));
    // probes go on for those kept, start for the new one, stop for the one removed (set 2's D)
    const counts = (): number[] => [A, B, C, D].map((u) => backends.callsTo(u).length);
    const c0 = counts();
    await advance(3 * (PROBE.interval + PROBE.timeout));
    const c1 = counts();
    for (let i = 0; i < 4; i++) expect(c1[i] ?? 0).toBeGreaterThan(c0[i] ?? 0);
    // one loop to D's URI (set 1's), about one probe per interval + 10 ms: set 2's loop stopped at the swap
    expect((c1[3] ?? 0) - (c0[3] ?? 0)).toBeGreaterThanOrEqual(4);
    expect((c1[3] ?? 0) - (c0[3] ?? 0)).toBeLessThanOrEqual(5);
  });

  it('stops probing a destination that is removed, and ignores late call events for it', async () => {
    const { d, backends } = rig([set1([A, B])]);
    await advance(100);
    d.callStarted(1, B);
    d.removeDestination(1, B);
    const n = backends.callsTo(B).length;
    await advance(10 * PROBE.interval);
    expect(backends.callsTo(B).length).toBe(n);
    expect(d.getDestination(1, B)).toBeUndefined();
    d.callEnded(1, B);
    expect(d.select(1, KEY).map((x) => x.uri)).toEqual([A]);
    // back again: a new destination, health from scratch
    expect(d.addDestination(1, { uri: B, weight: 1, priority: 0 })).toMatchObject({ state: 'active', activeCalls: 0, probes: [] });
  });

  it('putSet adds or replaces one set, removeSet removes it', () => {
    const { d } = rig([set1([A, B])]);
    d.setState(1, A, 'disabled');
    expect(d.putSet({ id: 2, name: 'voicemail', algorithm: 'priority', destinations: [{ uri: D, weight: 1, priority: 0 }] }).destinations).toHaveLength(1);
    const replaced = d.putSet({ id: 1, name: 'asterisk', algorithm: 'hash-callid', destinations: [{ uri: A, weight: 1, priority: 0 }, { uri: C, weight: 1, priority: 0 }] });
    expect(replaced.algorithm).toBe('hash-callid');
    expect(replaced.destinations.map((x) => [x.uri, x.state])).toEqual([[A, 'disabled'], [C, 'active']]);
    expect(d.getSets().map((s) => s.id)).toEqual([1, 2]);
    d.removeSet(2);
    expect(d.getSets().map((s) => s.id)).toEqual([1]);
    expect(d.select(2, KEY)).toEqual([]);
  });

  it('keeps round-robin position across a swap that keeps the set', () => {
    const { d } = rig([set1([A, B])]);
    expect(d.select(1, KEY)[0]?.uri).toBe(A);
    d.replaceSets([set1([A, B])]);
    expect(d.select(1, KEY)[0]?.uri).toBe(B);
  });

  it('rejects bad input before changing anything, naming the field', () => {
    const { d } = rig([set1([A, B])]);
    const bad: Array<[() => unknown, string, string | undefined]> = [
      [() => d.replaceSets([set1([A, 'http://example.com'])]), 'INVALID_SET', 'sets[0].destinations[1].uri'],
      [() => d.replaceSets([set1([A, A])]), 'DUPLICATE_DESTINATION', 'sets[0].destinations[1].uri'],
      [() => d.replaceSets([set1([A]), set1([B])]), 'DUPLICATE_SET', 'sets[1].id'],
      [() => d.replaceSets([set1([A], 'fastest' as never)]), 'INVALID_SET', 'sets[0].algorithm'],
      [() => d.addDestination(1, { uri: A, weight: 1, priority: 0 }), 'DUPLICATE_DESTINATION', 'uri'],
      [() => d.addDestination(1, { uri: D, weight: -1, priority: 0 }), 'INVALID_SET', 'weight'],
      [() => d.addDestination(9, { uri: D, weight: 1, priority: 0 }), 'UNKNOWN_SET', undefined],
      [() => d.removeDestination(1, D), 'UNKNOWN_DESTINATION', undefined],
      [() => d.setState(1, D, 'disabled'), 'UNKNOWN_DESTINATION', undefined],
      [() => d.removeSet(9), 'UNKNOWN_SET', undefined],
    ];
    for (const [fn, code, field] of bad) {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DispatcherError);
      expect(caught).toMatchObject({ code, field });
    }
    expect(d.getSet(1)?.destinations.map((x) => x.uri)).toEqual([A, B]);
    expect(() => d.addDestination(9, { uri: D, weight: 1, priority: 0 })).toThrowError(expect.objectContaining({ httpStatus: 404 }));
  });

  it('rejects bad probe options at creation', () => {
    const make = (probe: Partial<ProbeOptions>) => () => createDispatcher({ prober: fakeBackends().sender }, { probe: { ...PROBE, ...probe }, sets: [] });
    expect(make({ interval: 0 })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS', field: 'probe.interval' }));
    expect(make({ downAfter: 0 })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS', field: 'probe.downAfter' }));
    expect(make({ accept: [2000] })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS', field: 'probe.accept' }));
  });
});

describe('close', () => {
  it('leaves no timers, even with a probe in flight, and sends no more probes', async () => {
    const { d, backends } = rig([set1([A, B])]);
    backends.set(A, { kind: 'silent' });
    backends.set(B, OK);
    await advance(PROBE.interval + 20); // A's probe is in flight (waiting for its timeout); B's next is armed
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    d.close();
    expect(vi.getTimerCount()).toBe(0);
    const n = backends.calls.length;
    await advance(10 * PROBE.interval);
    expect(backends.calls.length).toBe(n);
    expect(() => d.setState(1, A, 'disabled')).toThrowError(expect.objectContaining({ code: 'CLOSED' }));
    expect(d.select(1, KEY).length).toBe(2); // reading still works
  });

  it('drops a result that arrives after close', async () => {
    const { d, backends, changes } = rig([set1([A])]);
    backends.set(A, { kind: 'answer', code: 500, delayMs: 100 });
    await advance(10);
    d.close();
    await advance(200);
    expect(d.getDestination(1, A)?.probes).toEqual([]);
    expect(changes).toEqual([]);
  });

  it('a throwing listener breaks neither the probe loop nor the state', async () => {
    const backends = fakeBackends();
    const errors: unknown[] = [];
    const log = { debug() {}, info() {}, warn() {}, error: (o: object) => void errors.push(o) };
    const d = createDispatcher(
      { prober: backends.sender, log, onStateChange: () => { throw new Error('boom'); }, onProbe: () => { throw new Error('boom'); } },
      { probe: PROBE, sets: [set1([A])] },
    );
    open.push(d);
    backends.set(A, { kind: 'answer', code: 500, delayMs: 10 });
    await advance(3 * PROBE.interval);
    expect(d.getDestination(1, A)?.state).toBe('inactive');
    expect(backends.callsTo(A).length).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('sticky selection (stateless mode)', () => {
  const stickyRig = (set: SetConfig): Dispatcher => {
    const d = createDispatcher({ prober: fakeBackends().sender }, { probe: PROBE, sets: [set], sticky: true });
    open.push(d);
    return d;
  };
  const key = (callId: string) => ({ ...KEY, callId });
  const ALGORITHMS: SetConfig['algorithm'][] = ['round-robin', 'weighted', 'random', 'priority', 'least-calls', 'hash-callid', 'hash-from', 'hash-to'];

  it.each(ALGORITHMS)('%s: the same Call-ID gets the same order every time, other Call-IDs spread', (algorithm) => {
    const d = stickyRig(set1([A, B, C, D], algorithm));
    const first = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) {
        const order = d.select(1, key(`call-${i}`)).map((x) => x.uri).join(' ');
        if (round === 0) first.set(`call-${i}`, order);
        else expect(order).toBe(first.get(`call-${i}`));
      }
    }
    const firstChoices = new Set([...first.values()].map((o) => o.split(' ')[0]));
    // From and To are the same for every key here: those hashes keep one destination
    expect(firstChoices.size).toBe(algorithm === 'hash-from' || algorithm === 'hash-to' ? 1 : 4);
  });

  it.each([
    ['weighted 1:3', 'weighted', 1, 3, 0.25],
    ['round-robin', 'round-robin', 1, 1, 0.5],
  ] as const)('%s: the first choices keep the shares', (_name, algorithm, wa, wb, share) => {
    const d = stickyRig({ id: 1, name: 's', algorithm, destinations: [{ uri: A, weight: wa, priority: 0 }, { uri: B, weight: wb, priority: 0 }] });
    let a = 0;
    const n = 8000;
    for (let i = 0; i < n; i++) if (d.select(1, key(`${algorithm}-${i}`))[0]!.uri === A) a++;
    // binomial σ at n = 8000 is under 0.6 %: ±3 % is over 5 σ
    expect(Math.abs(a / n - share)).toBeLessThan(0.03);
  });

  it('weighted with every weight 0 still spreads', () => {
    const d = stickyRig({ id: 1, name: 'w0', algorithm: 'weighted', destinations: [{ uri: A, weight: 0, priority: 0 }, { uri: B, weight: 0, priority: 0 }] });
    const firsts = new Set<string>();
    for (let i = 0; i < 100; i++) firsts.add(d.select(1, key(`z-${i}`))[0]!.uri);
    expect(firsts).toEqual(new Set([A, B]));
  });

  it('priority: the lowest value first, the Call-ID spreads over its equals', () => {
    const d = stickyRig({ id: 1, name: 'p', algorithm: 'priority', destinations: [{ uri: A, weight: 1, priority: 1 }, { uri: B, weight: 1, priority: 1 }, { uri: C, weight: 1, priority: 0 }] });
    const seconds = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const order = d.select(1, key(`p-${i}`)).map((x) => x.uri);
      expect(order[0]).toBe(C);
      seconds.add(order[1]!);
    }
    expect(seconds).toEqual(new Set([A, B]));
  });

  it.each(['round-robin', 'weighted', 'random', 'priority'] as const)('%s: a destination that goes down moves only its own calls', (algorithm) => {
    const d = stickyRig(set1([A, B, C, D], algorithm));
    const before = new Map<string, string>();
    for (let i = 0; i < 400; i++) before.set(`m-${i}`, d.select(1, key(`m-${i}`))[0]!.uri);
    d.setState(1, C, 'disabled');
    let moved = 0;
    for (const [id, was] of before) {
      const now = d.select(1, key(id))[0]!.uri;
      expect(now).not.toBe(C);
      if (was !== C) expect(now, id).toBe(was);
      else moved++;
    }
    // C had about a quarter of them
    expect(moved).toBeGreaterThan(50);
    expect(moved).toBeLessThan(150);
  });

  it('without sticky, round-robin takes turns regardless of the Call-ID', () => {
    const { d } = rig([set1([A, B])]);
    expect([0, 1, 2, 3].map(() => d.select(1, key('same'))[0]!.uri)).toEqual([A, B, A, B]);
  });
});
