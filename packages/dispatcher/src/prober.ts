// The OPTIONS prober: one loop per destination. A probe is awaited (or given up at the
// timeout) before the next is armed with an unref()ed setTimeout, so probes of one destination
// never overlap and a slow backend is never flooded (the @fastify/under-pressure pattern).
import type { DispatcherClock, DispatcherLogger, ProbeSender } from './types.js';

/** The loop's bookkeeping, kept on the destination itself. */
export interface ProbeTarget {
  readonly uri: string;
  probeTimer: unknown;
  timeoutTimer: unknown;
  probeInFlight: boolean;
  probeStopped: boolean;
}

export interface ProbeResult {
  code: number | null;
  rttMs: number;
  timedOut: boolean;
  error?: string;
}

export interface Prober {
  /** Starts the loop; the first probe goes out after `delayMs` (default at once). */
  start(target: ProbeTarget, delayMs?: number): void;
  /** Probes at once unless a probe is in flight (then its result comes soon anyway). */
  probeNow(target: ProbeTarget): void;
  /** Stops the loop for good (a destination that comes back is a new target). */
  stop(target: ProbeTarget): void;
  /** Stops every loop; results still in flight are dropped. */
  close(): void;
}

export interface ProberDeps {
  sender: ProbeSender;
  clock: DispatcherClock;
  log: DispatcherLogger;
  onResult(target: ProbeTarget, result: ProbeResult): void;
}

export function createProber(deps: ProberDeps, options: { interval: number; timeout: number }): Prober {
  const { sender, clock, log, onResult } = deps;
  const { interval, timeout } = options;
  const running = new Set<ProbeTarget>();
  let closed = false;

  const clearTimers = (t: ProbeTarget): void => {
    if (t.probeTimer !== undefined) clock.clearTimeout(t.probeTimer);
    if (t.timeoutTimer !== undefined) clock.clearTimeout(t.timeoutTimer);
    t.probeTimer = undefined;
    t.timeoutTimer = undefined;
  };

  /** One probe, never longer than `timeout`: a late answer is ignored. */
  const probeOnce = (t: ProbeTarget): Promise<ProbeResult> =>
    new Promise<ProbeResult>((resolve) => {
      const started = clock.now();
      let done = false;
      const finish = (r: ProbeResult): void => {
        if (done) return;
        done = true;
        if (t.timeoutTimer !== undefined) clock.clearTimeout(t.timeoutTimer);
        t.timeoutTimer = undefined;
        resolve(r);
      };
      t.timeoutTimer = clock.setTimeout(finish, timeout, { code: null, rttMs: timeout, timedOut: true });
      let answer: Promise<{ code: number | null; rttMs: number }>;
      try {
        answer = sender(t.uri, timeout);
      } catch (err) {
        answer = Promise.reject(err);
      }
      answer.then(
        (a) => finish({ code: a.code, rttMs: a.rttMs, timedOut: a.code === null }),
        (err: unknown) =>
          finish({
            code: null,
            rttMs: clock.now() - started,
            timedOut: false,
            error: err instanceof Error ? err.message : String(err),
          }),
      );
    });

  const run = async (t: ProbeTarget): Promise<void> => {
    t.probeTimer = undefined;
    if (t.probeStopped || t.probeInFlight) return;
    t.probeInFlight = true;
    const result = await probeOnce(t);
    t.probeInFlight = false;
    if (t.probeStopped) return;
    try {
      onResult(t, result);
    } catch (err) {
      log.error({ err, destination: t.uri }, 'dispatcher: probe result handler failed');
    }
    if (!t.probeStopped && !t.probeInFlight && t.probeTimer === undefined) t.probeTimer = clock.setTimeout(arm, interval, t);
  };
  const arm = (t: ProbeTarget): void => void run(t);

  return {
    start(t, delayMs = 0) {
      if (closed || t.probeStopped) return;
      running.add(t);
      if (t.probeTimer === undefined && !t.probeInFlight) t.probeTimer = clock.setTimeout(arm, delayMs, t);
    },
    probeNow(t) {
      if (closed || t.probeStopped || t.probeInFlight || !running.has(t)) return;
      if (t.probeTimer !== undefined) clock.clearTimeout(t.probeTimer);
      t.probeTimer = undefined;
      void run(t);
    },
    stop(t) {
      t.probeStopped = true;
      clearTimers(t);
      running.delete(t);
    },
    close() {
      closed = true;
      for (const t of running) {
        t.probeStopped = true;
        clearTimers(t);
      }
      running.clear();
    },
  };
}
