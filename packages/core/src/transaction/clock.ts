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
