// The default clock and the timer defaults. Timers are unref()'d: a pending retransmission
// never keeps the process alive.
import { TransactionError } from './errors.js';
import type { TimerConfig, TimerHandle, TransactionClock } from './types.js';

export const realClock: TransactionClock = {
  now: () => Date.now(),
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
    // looked up at call time, so fake timers installed after import still apply
    const h = setTimeout(fn, ms, arg) as unknown as { unref?: () => void };
    if (typeof h.unref === 'function') h.unref();
    return h;
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};

export const DEFAULT_TIMERS: Readonly<TimerConfig> = Object.freeze({ t1: 500, t2: 4000, t4: 5000, timerC: 180_000, timerD: 32_000 });

export const resolveTimers = (partial: Partial<TimerConfig> | undefined): Readonly<TimerConfig> => {
  const t: TimerConfig = { ...DEFAULT_TIMERS };
  if (partial !== undefined) {
    for (const k of Object.keys(DEFAULT_TIMERS) as Array<keyof TimerConfig>) {
      const v = partial[k];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TransactionError('bad-timer', `timers.${k}: not a duration in ms: ${String(v)}`);
      t[k] = v;
    }
  }
  if (t.t1 === 0) throw new TransactionError('bad-timer', 'timers.t1: must be greater than 0');
  return Object.freeze(t);
};

/** A timer in a delay queue: dropped (fn and arg let go) when cleared, skipped when reached. */
class QueuedTimer {
  fn: ((arg: never) => void) | undefined;
  arg: unknown;
  readonly at: number;
  readonly queue: DelayQueue;
  constructor(fn: (arg: never) => void, arg: unknown, at: number, queue: DelayQueue) {
    this.fn = fn;
    this.arg = arg;
    this.at = at;
    this.queue = queue;
  }

  cancel(): void {
    if (this.fn === undefined) return;
    this.fn = undefined;
    this.arg = undefined;
    this.queue.cancelled();
  }
}

/**
 * Every timer of one duration, in the order they were armed, which is the order they fall
 * due: one pending timer of the base clock (for the head) serves them all.
 */
class DelayQueue {
  private items: Array<QueuedTimer | undefined> = [];
  private head = 0;
  private pending: TimerHandle | undefined = undefined;
  /** timers armed and neither run nor cleared */
  private live = 0;
  /** cleared timers still in `items` */
  private dead = 0;
  /** inside `run`: what is added or cleared meanwhile waits for `settle` */
  private running = false;
  private readonly base: TransactionClock;
  private readonly ms: number;
  /** a monotonic time in ms: a wall clock that is set forward or back moves no due time */
  private readonly mono: () => number;
  /** due times are kept relative to this, whole ms, so that they stay small integers (no boxed double) */
  private readonly origin: number;

  constructor(base: TransactionClock, ms: number, mono: () => number) {
    this.base = base;
    this.ms = ms;
    this.mono = mono;
    this.origin = mono();
  }

  private now(): number {
    return this.mono() - this.origin;
  }

  /** ms until `t` falls due (0 when due) */
  dueIn(t: QueuedTimer): number {
    return Math.max(0, t.at - this.now());
  }

  add(fn: (arg: never) => void, arg: unknown): QueuedTimer {
    // never early: the due time rounds up to the next whole ms
    const t = new QueuedTimer(fn, arg, Math.ceil(this.now() + this.ms), this);
    this.items.push(t);
    this.live++;
    if (this.pending === undefined && !this.running) this.arm(t.at);
    return t;
  }

  private arm(at: number): void {
    this.pending = this.base.setTimeout(DelayQueue.run, Math.max(1, Math.ceil(at - this.now())), this);
  }

  private static run(q: DelayQueue): void {
    q.pending = undefined;
    q.running = true;
    const now = q.now();
    let errors: unknown[] | undefined;
    // Callbacks may add to this queue or clear its timers (marked). What they add goes behind
    // `end` and waits for the next run even if it were due: a callback that re-arms its own
    // duration can never keep this loop going.
    const end = q.items.length;
    while (q.head < end) {
      const t = q.items[q.head]!;
      if (t.at > now) break;
      q.items[q.head++] = undefined;
      const fn = t.fn;
      if (fn === undefined) {
        q.dead--;
        continue;
      }
      const arg = t.arg;
      t.fn = undefined;
      t.arg = undefined;
      q.live--;
      try {
        (fn as (a: unknown) => void)(arg);
      } catch (e) {
        (errors ??= []).push(e);
      }
    }
    q.running = false;
    q.settle();
    // as a plain timer would: an exception from a callback is uncaught, the other timers still ran
    if (errors !== undefined) for (const e of errors) process.nextTick(() => { throw e; });
  }

  /** after a run or a clear: drop what is done, arm for the head if a live timer is left */
  private settle(): void {
    if (this.live === 0 || this.head === this.items.length) {
      if (this.pending !== undefined) this.base.clearTimeout(this.pending);
      this.pending = undefined;
      this.items = [];
      this.head = 0;
      this.dead = 0;
      return;
    }
    if (this.dead > 1024 && this.dead * 2 > this.live) {
      // most timers here were cleared (Timer B and F end at the response): keep the live ones
      const keep: Array<QueuedTimer | undefined> = [];
      for (let i = this.head; i < this.items.length; i++) {
        const t = this.items[i]!;
        if (t.fn !== undefined) keep.push(t);
      }
      this.items = keep;
      this.head = 0;
      this.dead = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.pending === undefined) this.arm(this.items[this.head]!.at);
  }

  /** one of the queue's timers was cleared: with none left, nothing stays armed */
  cancelled(): void {
    this.live--;
    this.dead++;
    if (!this.running && (this.live === 0 || (this.dead > 1024 && this.dead * 2 > this.live))) this.settle();
  }

  cancelAll(): void {
    if (this.pending !== undefined) this.base.clearTimeout(this.pending);
    this.pending = undefined;
    for (let i = this.head; i < this.items.length; i++) {
      const t = this.items[i]!;
      t.fn = undefined;
      t.arg = undefined;
    }
    this.items = [];
    this.head = 0;
    this.live = 0;
    this.dead = 0;
  }
}

/** durations beyond this many distinct values go to the base clock one by one */
const MAX_QUEUES = 32;

/**
 * A clock over `base` that keeps the timers of each duration in one queue. A transaction layer
 * arms the same few durations (T1 doublings, T4, 64·T1, Timer C) thousands of times a second;
 * a queued timer is one small object instead of a Node Timeout and its arguments array
 * (measured: about a third of the memory per finished transaction), and a cleared timer costs
 * nothing until its slot is reached. Due times and order are those of plain timers.
 */
export interface QueuedClock extends TransactionClock {
  /** ms until a pending timer falls due; undefined for one the base clock runs */
  remaining(handle: TimerHandle): number | undefined;
  /** clears every queued timer (the layer is closing) */
  close(): void;
}

/** Node's monotonic clock (vitest's fake timers move it too) */
const monotonic = (): number => performance.now();

/** the time due times are measured on: `performance.now()` for the real clock, else its own `now()` */
export const monotonicOf = (base: TransactionClock): (() => number) => (base === realClock ? monotonic : () => base.now());

/**
 * `base`'s timers, queued. Due times are measured on `mono`: for the real clock that is
 * `performance.now()`, never the wall clock; a clock of the caller's own must keep its `now()`
 * in step with its timers (its `now()` is used).
 */
export const queuedClock = (base: TransactionClock, mono: () => number = monotonicOf(base)): QueuedClock => {
  const queues = new Map<number, DelayQueue>();
  return {
    now: () => base.now(),
    setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
      let q = queues.get(ms);
      if (q === undefined) {
        if (queues.size >= MAX_QUEUES || !(ms > 0) || !Number.isInteger(ms)) return base.setTimeout(fn, ms, arg);
        q = new DelayQueue(base, ms, mono);
        queues.set(ms, q);
      }
      return q.add(fn as (arg: never) => void, arg);
    },
    clearTimeout(handle: TimerHandle): void {
      if (handle instanceof QueuedTimer) handle.cancel();
      else base.clearTimeout(handle);
    },
    remaining(handle: TimerHandle): number | undefined {
      return handle instanceof QueuedTimer ? handle.queue.dueIn(handle) : undefined;
    },
    close(): void {
      for (const q of queues.values()) q.cancelAll();
      queues.clear();
    },
  };
};
