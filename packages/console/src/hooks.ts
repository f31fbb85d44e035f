// What every view shares: the API client, the event bus, notices and confirmations (one
// context), a loader that refreshes on a timer and on events, a clock, and the hash route.
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { describeFailure, type ApiClient } from './api.js';
import type { EventBus } from './bus.js';

export interface Notice {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

export interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  danger?: boolean;
}

export interface ConsoleContext {
  api: ApiClient;
  bus: EventBus;
  notify(kind: Notice['kind'], text: string): void;
  confirm(request: ConfirmRequest): Promise<boolean>;
}

export const Ctx = createContext<ConsoleContext | null>(null);

export const useConsole = (): ConsoleContext => {
  const c = useContext(Ctx);
  if (c === null) throw new Error('useConsole outside the console context');
  return c;
};

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** ms when `data` was fetched: countdowns start from here */
  fetchedAt: number;
  reload(): void;
  /** Changes the data in place (an event said what changed) until the next load. */
  mutate(fn: (data: T) => T): void;
}

export interface ResourceOptions {
  /** refresh period while the tab is visible; 0 = none */
  intervalMs?: number;
  /** bus event types that trigger a refresh (debounced) */
  events?: readonly string[];
}

/**
 * Loads `load()` now, again every `intervalMs` (re-armed only after a load ends, so loads never
 * overlap, and skipped while the tab is hidden), and soon after any of `events`. Data from the
 * last good load stays on screen when a refresh fails.
 */
export const useResource = <T>(key: string, load: (api: ApiClient, signal: AbortSignal) => Promise<T>, options: ResourceOptions = {}): Resource<T> => {
  const { api, bus } = useConsole();
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean; fetchedAt: number }>({
    data: undefined,
    error: undefined,
    loading: true,
    fetchedAt: 0,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const run = useRef<() => void>(() => undefined);
  const intervalMs = options.intervalMs ?? 0;
  const events = (options.events ?? []).join(',');

  useEffect(() => {
    let alive = true;
    let inFlight: AbortController | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let debounce: ReturnType<typeof setTimeout> | undefined;
    let again = false;

    const arm = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = intervalMs > 0 ? setTimeout(tick, intervalMs) : undefined;
    };
    const tick = (): void => {
      if (document.visibilityState === 'hidden') arm();
      else go();
    };
    const go = (): void => {
      if (!alive) return;
      if (inFlight !== undefined) {
        again = true;
        return;
      }
      const ctl = new AbortController();
      inFlight = ctl;
      setState((s) => ({ ...s, loading: true }));
      loadRef
        .current(api, ctl.signal)
        .then(
          (data) => {
            if (alive) setState({ data, error: undefined, loading: false, fetchedAt: Date.now() });
          },
          (error: unknown) => {
            if (alive && !ctl.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
          },
        )
        .finally(() => {
          inFlight = undefined;
          if (!alive) return;
          if (again) {
            again = false;
            go();
          } else arm();
        });
    };
    run.current = go;
    go();
    const off =
      events === ''
        ? () => undefined
        : bus.on([...events.split(','), 'stream-open'], () => {
            if (debounce !== undefined) clearTimeout(debounce);
            debounce = setTimeout(go, 300);
          });
    const onVisible = (): void => {
      if (document.visibilityState === 'visible' && intervalMs > 0) go();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      alive = false;
      off();
      inFlight?.abort();
      if (timer !== undefined) clearTimeout(timer);
      if (debounce !== undefined) clearTimeout(debounce);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [api, bus, key, intervalMs, events]);

  const reload = useCallback(() => run.current(), []);
  const mutate = useCallback((fn: (data: T) => T) => {
    setState((s) => (s.data === undefined ? s : { ...s, data: fn(s.data) }));
  }, []);
  return { ...state, reload, mutate };
};

/** The current time, re-rendering every `periodMs` (countdowns). */
export const useNow = (periodMs = 1000): number => {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(t);
  }, [periodMs]);
  return now;
};

/** `#/calls/abc%40host` → `['calls', 'abc@host']`. */
export const parseHash = (hash: string): string[] =>
  hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });

export const useRoute = (): string[] => {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = (): void => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
};

/**
 * Runs an action that changes something on the server, telling the operator how it went.
 * Returns true on success.
 */
export const useAction = (): ((what: string, action: () => Promise<unknown>, done?: string) => Promise<boolean>) => {
  const { notify } = useConsole();
  return useCallback(
    async (what, action, done) => {
      try {
        await action();
        if (done !== undefined) notify('ok', done);
        return true;
      } catch (err) {
        notify('error', `${what} failed: ${describeFailure(err)}`);
        return false;
      }
    },
    [notify],
  );
};
