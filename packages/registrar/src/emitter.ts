// A listener list whose listeners cannot break the caller (a throwing one is logged).
import type { RegistrarLogger } from './types.js';

export interface Emitter<E> {
  on(fn: (e: E) => void): () => void;
  emit(e: E): void;
  clear(): void;
}

export const createEmitter = <E>(log: RegistrarLogger, what: string): Emitter<E> => {
  const listeners = new Set<(e: E) => void>();
  return {
    on(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    emit(e) {
      for (const fn of listeners) {
        try {
          fn(e);
        } catch (err) {
          log.error({ err }, `registrar: ${what} listener threw`);
        }
      }
    },
    clear() {
      listeners.clear();
    },
  };
};

const noop = (): void => undefined;
export const silentLog: RegistrarLogger = { debug: noop, info: noop, warn: noop, error: noop };
export const systemClock = { now: (): number => Date.now() };
