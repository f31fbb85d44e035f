// A tiny in-page event bus: the one SSE connection publishes into it, and each view listens
// for the event types that concern it.
export type BusListener = (type: string, data: unknown) => void;

export interface EventBus {
  /** `*` listens to everything; returns the unsubscribe function */
  on(types: string | readonly string[], fn: BusListener): () => void;
  emit(type: string, data: unknown): void;
}

export const createEventBus = (): EventBus => {
  const listeners = new Map<string, Set<BusListener>>();
  const call = (set: Set<BusListener> | undefined, type: string, data: unknown): void => {
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn(type, data);
      } catch (err) {
        console.error('console: event listener failed', err);
      }
    }
  };
  return {
    on(types, fn) {
      const list = typeof types === 'string' ? [types] : types;
      for (const t of list) {
        let set = listeners.get(t);
        if (set === undefined) listeners.set(t, (set = new Set()));
        set.add(fn);
      }
      return () => {
        for (const t of list) listeners.get(t)?.delete(fn);
      };
    },
    emit(type, data) {
      call(listeners.get(type), type, data);
      call(listeners.get('*'), type, data);
    },
  };
};
