// What a finished transaction leaves behind for the rest of its time. Most of a transaction's
// life at load is the linger after its final response (RFC 6026 Timers L and M, RFC 3261 Timers
// J, I and K: 64·T1 or T4), in which it only absorbs retransmissions, replays one response or
// passes on a 2xx. For that the layer needs no transaction object and no timer per transaction:
// a RestTable keeps, under the transaction's key, a value that says what to do (the response to
// replay, a mark, where a 2xx goes), and ends the entries in order, a queue per duration.
import type { TimerHandle, TransactionClock } from './types.js';

/** One duration's entries, linked in due order through the table's prev/next arrays. */
interface Queue {
  head: number;
  tail: number;
  pending: TimerHandle | undefined;
}

const NONE = -1;
const MIN_CAPACITY = 64;
/** distinct durations a table queues (queueOf is 16 bits; the layer uses two or three) */
const MAX_QUEUES = 0xffff;

const seed = (): number => (Math.random() * 0x100000000) >>> 0;

/**
 * The entries at rest of one map (server or client transactions), outside the JavaScript heap
 * but for their values: at a few thousand calls a second some 250,000 transactions rest at once
 * (64·T1 = 32 s), and a Map of key strings and a queue of arrays cost ~140 bytes each and a major
 * GC's tracing of all of them; here an entry is 22 bytes of typed arrays, one value slot and 8
 * bytes of the index (the arrays double when full and halve when under an eighth full).
 *
 * An entry is found by a 64-bit hash of its key (two 32-bit lanes, seeded per process), not by the
 * key itself: a new transaction's key meeting an entry's hash has a chance of about n / 2^64
 * (n entries; ~1e-14 at 250,000), far below a datagram's undetected corruption. Someone who could
 * aim a request at a hash could as well send the key itself (the branch), which the exact
 * matching of RFC 3261 §17.2.3 would take as a retransmission all the same.
 *
 * Entries end in due order: one linked queue per duration (Timer J, L, M are 64·T1, K and I are
 * T4), one timer of the base clock for each queue's head. Slots are an open-addressing index
 * (linear probing, backward-shift deletion, at most half full).
 */
export class RestTable<V> {
  private h1 = new Int32Array(MIN_CAPACITY);
  private h2 = new Int32Array(MIN_CAPACITY);
  /**
   * when the entry ends: whole ms since `origin`, modulo 2^32 (compared by their difference, as
   * TCP compares sequence numbers: right for any two times less than 24 days apart)
   */
  private due = new Int32Array(MIN_CAPACITY);
  private prev = new Int32Array(MIN_CAPACITY);
  /** the next entry in its queue, or in the free list */
  private next = new Int32Array(MIN_CAPACITY);
  private queueOf = new Uint16Array(MIN_CAPACITY);
  private vals: Array<V | undefined> = new Array<V | undefined>(MIN_CAPACITY);
  /** entry + 1, 0 for an empty slot */
  private index = new Int32Array(MIN_CAPACITY * 2);
  private mask = MIN_CAPACITY * 2 - 1;
  private top = 0;
  private free = NONE;
  private count = 0;
  private readonly queues: Queue[] = [];
  private readonly queueByMs = new Map<number, number>();
  private readonly s1 = seed();
  private readonly s2 = seed();
  private readonly base: TransactionClock;
  private readonly mono: () => number;
  private readonly origin: number;
  /** told of each value whose entry ends by its time or by remove() */
  private readonly onEnd: ((val: V) => void) | undefined;
  /** the last key slotOf() hashed and its hash: get() then remove() of the same key hash it once */
  private lastKey = '';
  private lastH1 = 0;
  private lastH2 = 0;

  constructor(base: TransactionClock, mono: () => number, onEnd?: (val: V) => void) {
    this.base = base;
    this.mono = mono;
    this.origin = mono();
    this.onEnd = onEnd;
  }

  get size(): number {
    return this.count;
  }

  private hash(key: string): void {
    if (key === this.lastKey && key !== '') return; // a function of the key and the seeds only
    // two lanes: FNV-1a and a multiply-rotate, each a bijection per character; mixed at the end
    let a = this.s1 ^ key.length;
    let b = this.s2;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b + c, 0x9e3779b1);
      b = (b << 13) | (b >>> 19);
    }
    this.lastKey = key;
    this.lastH1 = fmix(a ^ Math.imul(b, 0x85ebca6b));
    this.lastH2 = fmix(b ^ key.length);
  }

  /** the entry of `key`, or -1 */
  private slotOf(key: string): number {
    this.hash(key);
    const x = this.lastH1;
    const y = this.lastH2;
    const { index, mask, h1, h2 } = this;
    for (let i = x & mask; ; i = (i + 1) & mask) {
      const e = index[i]! - 1;
      if (e < 0) return -(i + 1);
      if (h1[e] === x && h2[e] === y) return i;
    }
  }

  has(key: string): boolean {
    return this.slotOf(key) >= 0;
  }

  /** the value resting under `key`, or undefined */
  get(key: string): V | undefined {
    const i = this.slotOf(key);
    return i >= 0 ? this.vals[this.index[i]! - 1] : undefined;
  }

  /**
   * Rests `val` under `key` for `ms` (never less), in the queue of the duration `nominal` (the
   * transaction's timer; `ms` is what it had left, at most that). An entry already under the key
   * is replaced (its value told to onEnd).
   */
  set(key: string, val: V, ms: number, nominal: number = ms): void {
    let i = this.slotOf(key);
    if (i >= 0) {
      this.drop(i, true);
      i = this.slotOf(key);
    }
    if (this.free === NONE && this.top === this.h1.length) {
      // doubled: growing by half saved nothing (A/B at 4,500 calls/s: 144 MB PSS either way), as
      // the pages of an array that no entry has reached yet are never touched
      this.resize(this.h1.length * 2);
      i = this.slotOf(key);
    }
    let e: number;
    if (this.free !== NONE) {
      e = this.free;
      this.free = this.next[e]!;
    } else e = this.top++;
    this.h1[e] = this.lastH1;
    this.h2[e] = this.lastH2;
    this.vals[e] = val;
    this.index[-i - 1] = e + 1;
    this.count++;
    this.enqueue(e, Math.ceil(this.now() + ms) | 0, nominal);
  }

  /** ends the entry under `key` now; its value is told to onEnd. False when there is none. */
  remove(key: string): boolean {
    const i = this.slotOf(key);
    if (i < 0) return false;
    this.drop(i, true);
    return true;
  }

  private now(): number {
    return this.mono() - this.origin;
  }

  /** now() in whole ms (rounded down), modulo 2^32 as the due times are */
  private nowMs(): number {
    return Math.floor(this.now()) | 0;
  }

  private enqueue(e: number, due: number, nominal: number): void {
    let qi = this.queueByMs.get(nominal);
    if (qi === undefined) {
      qi = this.queues.length;
      if (qi === MAX_QUEUES) throw new RangeError(`a RestTable queues at most ${MAX_QUEUES} durations`);
      this.queues.push({ head: NONE, tail: NONE, pending: undefined });
      this.queueByMs.set(nominal, qi);
    }
    const q = this.queues[qi]!;
    const prev = this.prev;
    const next = this.next;
    const dues = this.due;
    dues[e] = due;
    this.queueOf[e] = qi;
    // after the last entry not due later (one duration: nearly always the tail)
    let p = q.tail;
    while (p !== NONE && ((dues[p]! - due) | 0) > 0) p = prev[p]!;
    prev[e] = p;
    if (p === NONE) {
      next[e] = q.head;
      if (q.head !== NONE) prev[q.head] = e;
      else q.tail = e;
      q.head = e;
      // a new head: the pending timer (if any) is for a later one
      if (q.pending !== undefined) this.base.clearTimeout(q.pending);
      this.arm(qi);
    } else {
      const n = next[p]!;
      next[e] = n;
      next[p] = e;
      if (n !== NONE) prev[n] = e;
      else q.tail = e;
    }
  }

  private arm(qi: number): void {
    const q = this.queues[qi]!;
    q.pending = this.base.setTimeout(this.run, Math.max(1, (this.due[q.head]! - this.nowMs()) | 0), qi);
  }

  private readonly run = (qi: number): void => {
    const q = this.queues[qi]!;
    q.pending = undefined;
    const now = this.nowMs();
    while (q.head !== NONE && ((this.due[q.head]! - now) | 0) <= 0) {
      const e = q.head;
      const i = this.find(e);
      this.drop(i, true);
    }
    if (q.head !== NONE) this.arm(qi);
  };

  /** the index slot of entry `e` (which is in the table) */
  private find(e: number): number {
    const { index, mask } = this;
    for (let i = this.h1[e]! & mask; ; i = (i + 1) & mask) if (index[i] === e + 1) return i;
  }

  /** unlinks and frees the entry in slot `i`; tells onEnd of its value when `tell` */
  private drop(i: number, tell: boolean): void {
    const e = this.index[i]! - 1;
    this.unslot(i);
    const q = this.queues[this.queueOf[e]!]!;
    const p = this.prev[e]!;
    const n = this.next[e]!;
    if (p !== NONE) this.next[p] = n;
    else q.head = n;
    if (n !== NONE) this.prev[n] = p;
    else q.tail = p;
    if (p === NONE && q.pending !== undefined) {
      // it was the head: the timer goes with it, the next head's is armed (or none)
      this.base.clearTimeout(q.pending);
      q.pending = undefined;
      if (n !== NONE) this.arm(this.queueOf[e]!);
    }
    const val = this.vals[e];
    this.vals[e] = undefined;
    this.next[e] = this.free;
    this.free = e;
    this.count--;
    const cap = this.h1.length;
    if (cap > MIN_CAPACITY && this.count < cap >> 3) this.resize(cap >> 1);
    if (tell && this.onEnd !== undefined) this.onEnd(val as V);
  }

  /** empties slot `i`, moving later entries of its probe run back (no tombstones) */
  private unslot(i: number): void {
    const { index, mask, h1 } = this;
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const e = index[j]! - 1;
      if (e < 0) break;
      const home = h1[e]! & mask;
      // an entry may fill the hole when its home is not in (hole, j] (cyclically)
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        index[hole] = index[j]!;
        hole = j;
      }
    }
    index[hole] = 0;
  }

  /**
   * New arrays of `cap` entries, the live ones renumbered in queue order (the free list goes):
   * twice as large when full, half as large when under an eighth full, so a load peak's tables
   * are given back as the peak's entries end.
   */
  private resize(cap: number): void {
    const h1 = new Int32Array(cap);
    const h2 = new Int32Array(cap);
    const due = new Int32Array(cap);
    const prev = new Int32Array(cap);
    const next = new Int32Array(cap);
    const queueOf = new Uint16Array(cap);
    const vals = new Array<V | undefined>(cap);
    const index = new Int32Array(cap * 2);
    const mask = cap * 2 - 1;
    let n = 0;
    for (let qi = 0; qi < this.queues.length; qi++) {
      const q = this.queues[qi]!;
      const first = n;
      for (let e = q.head; e !== NONE; e = this.next[e]!) {
        h1[n] = this.h1[e]!;
        h2[n] = this.h2[e]!;
        due[n] = this.due[e]!;
        vals[n] = this.vals[e];
        queueOf[n] = qi;
        prev[n] = n === first ? NONE : n - 1;
        next[n] = NONE;
        if (n !== first) next[n - 1] = n;
        let i = h1[n]! & mask;
        while (index[i] !== 0) i = (i + 1) & mask;
        index[i] = n + 1;
        n++;
      }
      q.head = n === first ? NONE : first;
      q.tail = n === first ? NONE : n - 1;
    }
    this.h1 = h1;
    this.h2 = h2;
    this.due = due;
    this.prev = prev;
    this.next = next;
    this.queueOf = queueOf;
    this.vals = vals;
    this.index = index;
    this.mask = mask;
    this.top = n;
    this.free = NONE;
  }

  /** entries the arrays have room for (they grow and shrink by halves) */
  get capacity(): number {
    return this.h1.length;
  }

  /** the layer is closing: every entry goes, no value is told */
  clear(): void {
    for (const q of this.queues) if (q.pending !== undefined) this.base.clearTimeout(q.pending);
    this.queues.length = 0;
    this.queueByMs.clear();
    this.count = 0;
    // no queue left: the smallest arrays, empty
    this.resize(MIN_CAPACITY);
  }
}

/** MurmurHash3's finaliser (a bijection on 32 bits) */
const fmix = (x: number): number => {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
};

// What the map holds for a transaction at rest, besides the transaction objects themselves.
/** server: an INVITE answered with a 2xx (Accepted): its retransmissions are absorbed, its ACKs passed on */
export const REST_ACCEPTED = 1;
/** server: an INVITE answered with a non-2xx and ACKed (Confirmed): everything is absorbed */
export const REST_CONFIRMED = 2;
/** server: a non-INVITE in Completed whose final is a shared skeleton (replay.ts) to fill and send */
export const REST_REPLAY = 3;
/** client: a non-INVITE in Completed: every response is absorbed */
export const REST_ABSORB = 3;
/** client: an INVITE in Accepted that its TU sent nowhere: each 2xx goes the stray way */
export const REST_STRAY = 4;
