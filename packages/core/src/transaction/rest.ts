// What a finished transaction leaves behind for the rest of its time. Most of a transaction's
// life at load is the linger after its final response (RFC 6026 Timers L and M, RFC 3261 Timers
// J, I and K: 64·T1 or T4), in which it only absorbs retransmissions, replays one response or
// passes on a 2xx. For that the layer needs no transaction object and no timer per transaction:
// the map keeps, under the transaction's key, a value that says what to do (the response to
// replay, a mark, where a 2xx goes), and a RestQueue per duration ends the entries in order.
import type { TimerHandle, TransactionClock } from './types.js';

/**
 * Entries of one duration, in due order, as three parallel arrays (a key, a value, a due time in
 * whole ms): about 24 bytes an entry, against a transaction object and a timer object. One timer
 * of the base clock, for the head, serves them all.
 */
export class RestQueue<V> {
  private keys: string[] = [];
  private vals: V[] = [];
  private dues: number[] = [];
  private head = 0;
  private pending: TimerHandle | undefined = undefined;
  private readonly map: Map<string, unknown>;
  private readonly base: TransactionClock;
  private readonly mono: () => number;
  /** due times are relative to this, whole ms: small integers in the array */
  private readonly origin: number;
  /** told of each value whose entry ends while the map still holds it */
  private readonly onEnd: ((val: V) => void) | undefined;

  constructor(map: Map<string, unknown>, base: TransactionClock, mono: () => number, onEnd?: (val: V) => void) {
    this.map = map;
    this.base = base;
    this.mono = mono;
    this.origin = mono();
    this.onEnd = onEnd;
  }

  get length(): number {
    return this.keys.length - this.head;
  }

  private now(): number {
    return this.mono() - this.origin;
  }

  /**
   * Ends `key` in `ms` (never early), if by then the map still holds `val` under it. A later due
   * time than the tail's is the rule (one duration); an earlier one (a transaction that came to
   * rest part-way through its timer) is put in its place.
   */
  add(key: string, val: V, ms: number): void {
    const due = Math.ceil(this.now() + ms);
    let i = this.keys.length;
    while (i > this.head && this.dues[i - 1]! > due) i--;
    if (i === this.keys.length) {
      this.keys.push(key);
      this.vals.push(val);
      this.dues.push(due);
    } else {
      this.keys.splice(i, 0, key);
      this.vals.splice(i, 0, val);
      this.dues.splice(i, 0, due);
    }
    if (i === this.head) {
      // a new head: the pending timer (if any) is for a later one
      if (this.pending !== undefined) this.base.clearTimeout(this.pending);
      this.arm();
    }
  }

  private arm(): void {
    this.pending = this.base.setTimeout(RestQueue.run, Math.max(1, this.dues[this.head]! - Math.floor(this.now())), this);
  }

  private static run<T>(q: RestQueue<T>): void {
    q.pending = undefined;
    const now = q.now();
    const { keys, vals, dues, map, onEnd } = q;
    let h = q.head;
    while (h < keys.length && dues[h]! <= now) {
      const key = keys[h]!;
      // a transaction that took the key over since (new credentials) is not this entry's
      if (map.get(key) === vals[h]) {
        map.delete(key);
        if (onEnd !== undefined) onEnd(vals[h]);
      }
      h++;
    }
    if (h === keys.length) {
      q.keys = [];
      q.vals = [];
      q.dues = [];
      q.head = 0;
      return;
    }
    if (h > 1024 && h * 2 > keys.length) {
      q.keys = keys.slice(h);
      q.vals = vals.slice(h);
      q.dues = dues.slice(h);
      q.head = 0;
    } else {
      // the slots passed let go of their key and value
      for (let i = q.head; i < h; i++) {
        keys[i] = '';
        (vals as unknown[])[i] = undefined;
      }
      q.head = h;
    }
    q.arm();
  }

  /** the layer is closing */
  clear(): void {
    if (this.pending !== undefined) this.base.clearTimeout(this.pending);
    this.pending = undefined;
    this.keys = [];
    this.vals = [];
    this.dues = [];
    this.head = 0;
  }
}

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
