// The default clock and logger. Timers are unref()'d (a pending refresh never keeps the process
// alive) and the globals are looked up at call time, so fake timers installed later still apply.
import type { TrunkClock, TrunkLogger } from './types.js';

export const realTrunkClock: TrunkClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms) as unknown as { unref?: () => void };
    if (typeof h.unref === 'function') h.unref();
    return h;
  },
  clearTimeout(handle) {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};

const noop = (): void => undefined;
export const silentTrunkLog: TrunkLogger = { debug: noop, info: noop, warn: noop, error: noop };
