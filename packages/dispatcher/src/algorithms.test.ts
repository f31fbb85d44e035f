import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDispatcher } from './dispatcher.js';
import type { Dispatcher } from './dispatcher.js';
import type { Algorithm, DestinationConfig, SelectKey } from './types.js';
import { fakeBackends } from '../test/helpers/fake-probe-sender.js';
import { uriKey } from './hash.js';

const PROBE = { interval: 1000, timeout: 500, downAfter: 2, upAfter: 1, accept: [200] };
const A = 'sip:10.0.0.11:5060';
const B = 'sip:10.0.0.12:5060';
const C = 'sip:10.0.0.13:5060';
const D = 'sip:10.0.0.14:5060';

const dest = (uri: string, weight = 1, priority = 0): DestinationConfig => ({ uri, weight, priority });
const key = (i: number): SelectKey => ({
  callId: `a84b4c76e66710-${i}@pc33.atlanta.example.com`,
  fromUri: `sip:user${i}@atlanta.example.com`,
  toUri: `sip:${1000 + (i % 50)}@biloxi.example.com`,
  ruri: `sip:${1000 + (i % 50)}@biloxi.example.com`,
});

/** Deterministic [0, 1) source (mulberry32), so `random` tests never flake. */
const seeded = (seed: number) => (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

let open: Dispatcher[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const d of open) d.close();
  open = [];
  vi.useRealTimers();
});

// Timers never advance in these tests: no probe runs, every destination stays as configured.
function dispatcher(algorithm: Algorithm, destinations: DestinationConfig[], random?: () => number): Dispatcher {
  const d = createDispatcher(
    { prober: fakeBackends().sender, ...(random ? { random } : {}) },
    { probe: PROBE, sets: [{ id: 1, name: 'asterisk', algorithm, destinations }] },
  );
  open.push(d);
  return d;
}

const pick = (d: Dispatcher, i: number): string => d.select(1, key(i))[0]?.uri ?? 'none';

function count(picks: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of picks) out[p] = (out[p] ?? 0) + 1;
  return out;
}

describe('round-robin', () => {
  it('spreads evenly and gives the others as failover', () => {
    const d = dispatcher('round-robin', [dest(A), dest(B), dest(C)]);
    const orders = Array.from({ length: 300 }, (_, i) => d.select(1, key(i)).map((x) => x.uri));
    expect(count(orders.map((o) => o[0] as string))).toEqual({ [A]: 100, [B]: 100, [C]: 100 });
    for (let i = 1; i < orders.length; i++) expect(orders[i]?.[0]).not.toBe(orders[i - 1]?.[0]);
    for (const o of orders) expect([...o].sort()).toEqual([A, B, C]);
  });

  it('skips destinations that take no new calls and is empty when none is up', () => {
    const d = dispatcher('round-robin', [dest(A), dest(B), dest(C)]);
    d.setState(1, B, 'disabled');
    const picks = Array.from({ length: 100 }, (_, i) => pick(d, i));
    expect(count(picks)).toEqual({ [A]: 50, [C]: 50 });
    expect(d.select(1, key(0)).map((x) => x.uri)).not.toContain(B);
    d.setState(1, A, 'disabled');
    d.setState(1, C, 'disabled');
    expect(d.select(1, key(0))).toEqual([]);
    expect(d.select(99, key(0))).toEqual([]);
  });
});

describe('weighted (smooth weighted round-robin)', () => {
  it('gives 3:1 exactly over 400 picks, interleaved', () => {
    const d = dispatcher('weighted', [dest(A, 3), dest(B, 1)]);
    const picks = Array.from({ length: 400 }, (_, i) => pick(d, i));
    expect(count(picks)).toEqual({ [A]: 300, [B]: 100 });
    // every window of 4 holds exactly one B: never a burst of B, never more than 3 A in a row
    for (let i = 0; i + 4 <= picks.length; i++) {
      expect(picks.slice(i, i + 4).filter((p) => p === B)).toHaveLength(1);
    }
  });

  it('keeps ratios with three weights and puts weight 0 last, as a last resort', () => {
    const d = dispatcher('weighted', [dest(A, 5), dest(B, 2), dest(C, 1), dest(D, 0)]);
    const orders = Array.from({ length: 800 }, (_, i) => d.select(1, key(i)).map((x) => x.uri));
    expect(count(orders.map((o) => o[0] as string))).toEqual({ [A]: 500, [B]: 200, [C]: 100 });
    for (const o of orders) {
      expect(o).toHaveLength(4);
      expect(o[3]).toBe(D);
    }
  });
});

describe('hash-callid, hash-from, hash-to (rendezvous hashing)', () => {
  const N = 4000;

  it('sends one Call-ID always to the same destination and spreads Call-IDs evenly', () => {
    const d = dispatcher('hash-callid', [dest(A), dest(B), dest(C), dest(D)]);
    const first = Array.from({ length: N }, (_, i) => pick(d, i));
    const again = Array.from({ length: N }, (_, i) => pick(d, i));
    expect(again).toEqual(first);
    for (const n of Object.values(count(first))) {
      expect(n).toBeGreaterThan(N / 4 - 150);
      expect(n).toBeLessThan(N / 4 + 150);
    }
  });

  it('moves only the share of a destination that leaves, spread over all the others', () => {
    const d = dispatcher('hash-callid', [dest(A), dest(B), dest(C), dest(D)]);
    const before = Array.from({ length: N }, (_, i) => pick(d, i));
    d.removeDestination(1, D);
    const after = Array.from({ length: N }, (_, i) => pick(d, i));

    const moved = before.map((b, i) => [b, after[i]] as const).filter(([b, a]) => b !== a);
    const share = before.filter((b) => b === D).length;
    // exactly D's calls moved, nothing else
    expect(moved.length).toBe(share);
    expect(moved.every(([b]) => b === D)).toBe(true);
    // and they spread over A, B and C, about a third each
    const to = count(moved.map(([, a]) => a as string));
    expect(Object.keys(to).sort()).toEqual([A, B, C]);
    for (const n of Object.values(to)) {
      expect(n).toBeGreaterThan(share / 3 - 90);
      expect(n).toBeLessThan(share / 3 + 90);
    }
    // when D comes back, its calls return to it and nothing else moves
    d.addDestination(1, dest(D));
    expect(Array.from({ length: N }, (_, i) => pick(d, i))).toEqual(before);
  });

  it('fails over to where the call would go if the chosen destination were gone', () => {
    const d = dispatcher('hash-callid', [dest(A), dest(B), dest(C), dest(D)]);
    const orders = Array.from({ length: 200 }, (_, i) => d.select(1, key(i)).map((x) => x.uri));
    d.setState(1, A, 'disabled');
    for (let i = 0; i < orders.length; i++) {
      const o = orders[i] as string[];
      expect(pick(d, i)).toBe(o[0] === A ? o[1] : o[0]);
    }
  });

  it('counts a leaving destination the same whether removed or down', () => {
    const d = dispatcher('hash-callid', [dest(A), dest(B), dest(C), dest(D)]);
    d.setState(1, D, 'disabled');
    const down = Array.from({ length: 500 }, (_, i) => pick(d, i));
    d.removeDestination(1, D);
    expect(Array.from({ length: 500 }, (_, i) => pick(d, i))).toEqual(down);
  });

  it('hash-from and hash-to key on the party, not on tags or display names', () => {
    const from = dispatcher('hash-from', [dest(A), dest(B), dest(C), dest(D)]);
    const to = dispatcher('hash-to', [dest(A), dest(B), dest(C), dest(D)]);
    const base = key(7);
    const variants: SelectKey[] = [
      base,
      { ...base, callId: 'other-call', fromUri: '<sip:user7@atlanta.example.com>;tag=9fxced76sl' },
      { ...base, callId: 'third', fromUri: 'sip:user7@atlanta.example.com;transport=tcp' },
    ];
    const fromPicks = new Set(variants.map((k) => from.select(1, k)[0]?.uri));
    expect(fromPicks.size).toBe(1);
    const toPicks = new Set(Array.from({ length: 100 }, (_, i) => to.select(1, { ...key(i), toUri: 'sip:1001@biloxi.example.com' })[0]?.uri));
    expect(toPicks.size).toBe(1);
    // different callers do spread
    const spread = new Set(Array.from({ length: 200 }, (_, i) => from.select(1, key(i))[0]?.uri));
    expect(spread.size).toBe(4);
    expect(uriKey('"Alice" <sips:alice@atlanta.example.com:5061;lr>')).toBe('alice@atlanta.example.com:5061');
    expect(uriKey('sip:bob@biloxi.example.com?subject=x')).toBe('bob@biloxi.example.com');
    expect(uriKey('bob@biloxi.example.com')).toBe('bob@biloxi.example.com');
  });

  it('weights the rendezvous scores', () => {
    const d = dispatcher('hash-callid', [dest(A, 3), dest(B, 1)]);
    const c = count(Array.from({ length: N }, (_, i) => pick(d, i)));
    expect((c[A] ?? 0) / N).toBeGreaterThan(0.72);
    expect((c[A] ?? 0) / N).toBeLessThan(0.78);
  });
});

describe('priority', () => {
  it('takes the lowest value first, ties in turn, the rest in priority order', () => {
    const d = dispatcher('priority', [dest(D, 1, 5), dest(C, 1, 1), dest(A, 1, 0), dest(B, 1, 0)]);
    const orders = Array.from({ length: 100 }, (_, i) => d.select(1, key(i)).map((x) => x.uri));
    expect(count(orders.map((o) => o[0] as string))).toEqual({ [A]: 50, [B]: 50 });
    for (const o of orders) {
      expect([...o.slice(0, 2)].sort()).toEqual([A, B]);
      expect(o.slice(2)).toEqual([C, D]);
    }
  });

  it('goes to the next priority only when the better ones are not up', () => {
    const d = dispatcher('priority', [dest(A, 1, 0), dest(B, 1, 0), dest(C, 1, 1), dest(D, 1, 5)]);
    d.setState(1, A, 'disabled');
    d.setState(1, B, 'draining');
    expect(d.select(1, key(0)).map((x) => x.uri)).toEqual([C, D]);
    d.setState(1, A, 'active');
    expect(d.select(1, key(0)).map((x) => x.uri)).toEqual([A, C, D]);
  });
});

describe('least-calls', () => {
  it('picks the least loaded, and orders the rest by load', () => {
    const d = dispatcher('least-calls', [dest(A), dest(B), dest(C)]);
    for (let i = 0; i < 3; i++) d.callStarted(1, A);
    d.callStarted(1, B);
    expect(d.select(1, key(0)).map((x) => x.uri)).toEqual([C, B, A]);
    d.callStarted(1, C);
    d.callStarted(1, C);
    expect(d.select(1, key(1)).map((x) => x.uri)).toEqual([B, C, A]);
    for (let i = 0; i < 3; i++) d.callEnded(1, A);
    expect(pick(d, 2)).toBe(A);
    expect(d.getDestination(1, A)?.activeCalls).toBe(0);
    d.callEnded(1, A); // never below 0
    expect(d.getDestination(1, A)?.activeCalls).toBe(0);
  });

  it('takes turns among equally loaded destinations (a burst before any 2xx still spreads)', () => {
    const d = dispatcher('least-calls', [dest(A), dest(B), dest(C)]);
    expect(count(Array.from({ length: 90 }, (_, i) => pick(d, i)))).toEqual({ [A]: 30, [B]: 30, [C]: 30 });
  });

  it('follows the load as calls start and end', () => {
    const d = dispatcher('least-calls', [dest(A), dest(B), dest(C)]);
    for (let i = 0; i < 30; i++) {
      const uri = pick(d, i);
      d.callStarted(1, uri);
    }
    expect([A, B, C].map((u) => d.getDestination(1, u)?.activeCalls)).toEqual([10, 10, 10]);
  });
});

describe('random', () => {
  it('covers all destinations, about evenly, with a random failover order', () => {
    const d = dispatcher('random', [dest(A), dest(B), dest(C), dest(D)], seeded(42));
    const orders = Array.from({ length: 400 }, (_, i) => d.select(1, key(i)).map((x) => x.uri));
    const c = count(orders.map((o) => o[0] as string));
    expect(Object.keys(c).sort()).toEqual([A, B, C, D]);
    for (const n of Object.values(c)) expect(n).toBeGreaterThan(60);
    for (const o of orders) expect([...o].sort()).toEqual([A, B, C, D]);
    expect(new Set(orders.map((o) => o.join())).size).toBeGreaterThan(12);
  });

  it('uses Math.random by default', () => {
    const d = dispatcher('random', [dest(A), dest(B)]);
    expect(new Set(Array.from({ length: 200 }, (_, i) => pick(d, i))).size).toBe(2);
  });
});

describe('markSelected', () => {
  it('counts what was actually sent, not what select offered', () => {
    const d = dispatcher('round-robin', [dest(A), dest(B)]);
    const [first, second] = d.select(1, key(0));
    d.markSelected(1, first?.uri ?? '');
    d.markSelected(1, second?.uri ?? ''); // a failover
    d.select(1, key(1));
    d.markSelected(1, 'sip:gone.example.com'); // unknown: ignored
    expect(d.getDestination(1, A)?.selectedTotal).toBe(1);
    expect(d.getDestination(1, B)?.selectedTotal).toBe(1);
  });
});
