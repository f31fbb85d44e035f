// Selection algorithms, one function per name in a table (no magic numbers, no big switch).
// Each orders the usable destinations of a set for one initial request: the first is chosen,
// the rest is the failover order. They see only destinations that take new calls.
import type { Algorithm, SelectKey } from './types.js';
import { fnv1a, rendezvousScore, uriKey } from './hash.js';

/** What an algorithm reads (and, for `weighted`, updates) on a destination. */
export interface Candidate {
  readonly uri: string;
  readonly weight: number;
  readonly priority: number;
  readonly activeCalls: number;
  /** smooth weighted round-robin's running weight */
  currentWeight: number;
  /** destinationSeed(uri) */
  readonly hashSeed: number;
}

/** Per-set state the algorithms keep between requests. */
export interface SelectionState {
  /** requests ordered so far; the round-robin position */
  cursor: number;
  readonly random: () => number;
}

export type Order = <C extends Candidate>(usable: readonly C[], key: SelectKey, state: SelectionState) => C[];

const nextTurn = (state: SelectionState): number => {
  const n = state.cursor;
  state.cursor = n >= Number.MAX_SAFE_INTEGER ? 0 : n + 1;
  return n;
};

function rotate<C>(list: readonly C[], by: number): C[] {
  const n = list.length;
  const out = new Array<C>(n);
  const k = by % n;
  for (let i = 0; i < n; i++) out[i] = list[(i + k) % n] as C;
  return out;
}

/**
 * Sorts by `rank` (ascending, stable) and rotates every group of equal rank by `turn`, so
 * ties take turns as in round-robin instead of always favouring the first configured.
 */
function sortTakingTurns<C>(list: readonly C[], rank: (c: C) => number, turn: number): C[] {
  const sorted = list.slice().sort((a, b) => rank(a) - rank(b));
  const out: C[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    const r = rank(sorted[i] as C);
    while (j < sorted.length && rank(sorted[j] as C) === r) j++;
    if (j - i === 1) out.push(sorted[i] as C);
    else out.push(...rotate(sorted.slice(i, j), turn));
    i = j;
  }
  return out;
}

const roundRobin: Order = (usable, _key, state) => rotate(usable, nextTurn(state));

/**
 * nginx's smooth weighted round-robin: every destination gains its weight, the highest is
 * chosen and loses the total. 3:1 gives A A B A, exact over each cycle and interleaved. The
 * failover order is who would come next (highest running weight first); weight 0 comes last.
 */
const lastResort = (c: Candidate): number => (c.weight > 0 ? 0 : 1);

const weighted: Order = (usable, key, state) => {
  let total = 0;
  let best: (typeof usable)[number] | undefined;
  for (const c of usable) {
    if (c.weight <= 0) continue;
    c.currentWeight += c.weight;
    total += c.weight;
    if (best === undefined || c.currentWeight > best.currentWeight) best = c;
  }
  if (best === undefined) return roundRobin(usable, key, state);
  best.currentWeight -= total;
  const chosen = best;
  const rest = usable
    .filter((c) => c !== chosen)
    .sort((a, b) => lastResort(a) - lastResort(b) || b.currentWeight - a.currentWeight);
  return [chosen, ...rest];
};

const byHash = (pick: (key: SelectKey) => string): Order => (usable, key) => {
  const h = fnv1a(pick(key));
  const scored = usable.map((c) => ({ c, s: rendezvousScore(h, c.hashSeed, c.weight) }));
  scored.sort((a, b) => b.s - a.s);
  return scored.map((x) => x.c);
};

/** Lower priority value first (as DNS SRV); equal priorities take turns. */
const priority: Order = (usable, _key, state) => sortTakingTurns(usable, (c) => c.priority, nextTurn(state));

/** Fewest active calls first; equal counts take turns, so a burst before any 2xx still spreads. */
const leastCalls: Order = (usable, _key, state) => sortTakingTurns(usable, (c) => c.activeCalls, nextTurn(state));

/** Uniform: a Fisher–Yates shuffle, so the failover order is random too. */
const random: Order = (usable, _key, state) => {
  const out = usable.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(state.random() * (i + 1));
    const t = out[i] as (typeof out)[number];
    out[i] = out[j] as (typeof out)[number];
    out[j] = t;
  }
  return out;
};

const byCallId = byHash((k) => k.callId);

export const ORDERS: Readonly<Record<Algorithm, Order>> = {
  'round-robin': roundRobin,
  weighted,
  'hash-callid': byCallId,
  'hash-from': byHash((k) => uriKey(k.fromUri)),
  'hash-to': byHash((k) => uriKey(k.toUri)),
  priority,
  'least-calls': leastCalls,
  random,
};

/**
 * A stateless proxy (§16.11) keeps nothing between requests, yet a retransmitted request, the
 * CANCEL of an INVITE and the ACK of its non-2xx must reach the destination the INVITE reached.
 * So with `sticky` every order is a function of the Call-ID: rendezvous hashing, each destination
 * scoring the Call-ID on its own, highest first. `weighted` scores by weight (weighted rendezvous,
 * the same share of calls per weight); round-robin, random and least-calls with equal weights;
 * priority the same within each priority. A destination that stops taking calls moves only its
 * own calls to the others (a retransmission of any other call still finds its first copy's).
 */
/** rendezvous on the Call-ID, equal weights; `first` ranks before the score (priority) */
const rendezvous = (first: (c: Candidate) => number): Order => (usable, key) => {
  const h = fnv1a(key.callId);
  return usable
    .map((c) => ({ c, s: rendezvousScore(h, c.hashSeed, 1) }))
    .sort((a, b) => first(a.c) - first(b.c) || b.s - a.s)
    .map((x) => x.c);
};

const evenHash = rendezvous(() => 0);
const priorityThenHash = rendezvous((c) => c.priority);

/** weight 0 everywhere would leave every score 0 (one destination for all): equal shares then */
const weightedHash: Order = (usable, key, state) => (usable.some((c) => c.weight > 0) ? byCallId(usable, key, state) : evenHash(usable, key, state));

export const STICKY_ORDERS: Readonly<Record<Algorithm, Order>> = {
  ...ORDERS,
  'round-robin': evenHash,
  random: evenHash,
  'least-calls': evenHash,
  priority: priorityThenHash,
  weighted: weightedHash,
};
