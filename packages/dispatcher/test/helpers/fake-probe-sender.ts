// A scripted ProbeSender for unit tests: each URI answers as told (a code after a delay, a
// null at the timeout as the server's sender does, nothing at all, or a send error), and
// every probe is recorded with its start and end, so tests can check spacing and overlap.
import type { ProbeSender } from '../../src/types.js';

export type Behaviour =
  | { kind: 'answer'; code: number; delayMs?: number }
  | { kind: 'timeout' }
  | { kind: 'silent' }
  | { kind: 'error'; message: string };

export interface ProbeCall {
  uri: string;
  start: number;
  end: number | undefined;
}

export interface FakeBackends {
  sender: ProbeSender;
  set(uri: string, behaviour: Behaviour): void;
  readonly calls: ProbeCall[];
  callsTo(uri: string): ProbeCall[];
  /** the most probes to one URI that were unanswered at the same time */
  maxInFlight(uri: string): number;
}

export const OK: Behaviour = { kind: 'answer', code: 200, delayMs: 10 };

export function fakeBackends(initial: Behaviour = OK): FakeBackends {
  const behaviours = new Map<string, Behaviour>();
  const calls: ProbeCall[] = [];
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();

  const sender: ProbeSender = (uri, timeoutMs) => {
    const b = behaviours.get(uri) ?? initial;
    const call: ProbeCall = { uri, start: Date.now(), end: undefined };
    calls.push(call);
    const n = (inFlight.get(uri) ?? 0) + 1;
    inFlight.set(uri, n);
    maxInFlight.set(uri, Math.max(maxInFlight.get(uri) ?? 0, n));
    const done = (): void => {
      call.end = Date.now();
      inFlight.set(uri, (inFlight.get(uri) ?? 1) - 1);
    };
    switch (b.kind) {
      case 'silent':
        return new Promise(() => {});
      case 'error':
        done();
        return Promise.reject(new Error(b.message));
      case 'timeout':
        return new Promise((resolve) =>
          setTimeout(() => {
            done();
            resolve({ code: null, rttMs: timeoutMs });
          }, timeoutMs),
        );
      case 'answer': {
        const delay = b.delayMs ?? 0;
        return new Promise((resolve) =>
          setTimeout(() => {
            done();
            resolve({ code: b.code, rttMs: delay });
          }, delay),
        );
      }
    }
  };

  return {
    sender,
    set: (uri, behaviour) => void behaviours.set(uri, behaviour),
    calls,
    callsTo: (uri) => calls.filter((c) => c.uri === uri),
    maxInFlight: (uri) => maxInFlight.get(uri) ?? 0,
  };
}
