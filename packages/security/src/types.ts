// The small dependencies every part of the security package takes: a clock and a logger.
// Both are injected so tests run on fake time and the server hands in its pino child logger.

/** The time source. Timers use the global setTimeout/setInterval (so vitest fake timers apply). */
export interface Clock {
  /** ms since the epoch */
  now(): number;
}

/** pino-shaped: object first, message second. */
export interface SecurityLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

// looked up at call time, so fake timers installed after import still apply
export const systemClock: Clock = { now: () => Date.now() };

const noop = (): void => {};
export const silentLogger: SecurityLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** Timers never keep the process alive. */
export const unrefTimer = <T>(handle: T): T => {
  const h = handle as { unref?: () => void };
  if (typeof h.unref === 'function') h.unref();
  return handle;
};

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
