// A transaction clock for pure-logic tests: time moves only when the test says so.
import type { TimerHandle, TransactionClock } from '../../src/transaction/types.js';

/**
 * A base clock whose time moves only when the test says so; counts what is pending. Like Node,
 * its timers run on a monotonic time while now() is the wall clock, which can be set back.
 */
export const fakeBase = () => {
  let mono = 0;
  let wall = 1_000_000;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: (a: unknown) => void; arg: unknown }>();
  const base: TransactionClock = {
    now: () => mono + wall,
    setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
      const id = ++seq;
      pending.set(id, { at: mono + ms, fn: fn as (a: unknown) => void, arg });
      return id;
    },
    clearTimeout(h: TimerHandle): void {
      pending.delete(h as number);
    },
  };
  /** moves time forward, running base timers in due order */
  const advance = (ms: number): void => {
    const end = mono + ms;
    for (;;) {
      let next: [number, { at: number; fn: (a: unknown) => void; arg: unknown }] | undefined;
      for (const e of pending) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      pending.delete(next[0]);
      mono = Math.max(mono, next[1].at);
      next[1].fn(next[1].arg);
    }
    mono = end;
  };
  return { base, advance, pending, mono: () => mono, stepWall: (ms: number) => (wall += ms) };
};
