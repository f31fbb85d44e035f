// Public shapes of the dispatcher: set and destination config, the selection key, the JSON
// views the API returns (CONTRACT.md, REST API), the probe sender the server implements and
// the events it listens to.

export const ALGORITHMS = [
  'round-robin', 'weighted', 'hash-callid', 'hash-from', 'hash-to', 'priority', 'least-calls', 'random',
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/**
 * - `active`: takes new calls;
 * - `probing`: suspect or recovering; takes no new calls, only the prober talks to it;
 * - `inactive`: down by the probes (or drained after a 503 to OPTIONS);
 * - `disabled`: by an operator; probes never change it;
 * - `draining`: no new calls, running calls go on; ends by itself at 0 active calls.
 */
export type DestinationState = 'active' | 'inactive' | 'probing' | 'disabled' | 'draining';
/** The states an operator may set (`PATCH .../destinations/:id`, `ctl dispatcher set-state`). */
export type OperatorState = 'active' | 'disabled' | 'draining';
export const OPERATOR_STATES: readonly OperatorState[] = ['active', 'disabled', 'draining'];

export type Attrs = Readonly<Record<string, unknown>>;

export interface DestinationConfig {
  /** A `sip:` / `sips:` URI; also the destination's id within its set. */
  readonly uri: string;
  /** `weighted` and the hash algorithms; 0 = never first, only a last resort. */
  readonly weight: number;
  /** `priority`: lower first. */
  readonly priority: number;
  readonly attrs?: Attrs;
  /** Initial state of a destination new to the dispatcher (e.g. `disabled` kept in the store); ignored for one that stays across a swap. */
  readonly state?: 'active' | 'disabled';
}

export interface SetConfig {
  readonly id: number;
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly destinations: readonly DestinationConfig[];
}

/** All durations in ms. */
export interface ProbeOptions {
  readonly interval: number;
  readonly timeout: number;
  readonly downAfter: number;
  readonly upAfter: number;
  /** Answers that count as alive (a 503 not listed here means draining). */
  readonly accept: readonly number[];
}

export interface DispatcherOptions {
  readonly probe: ProbeOptions;
  readonly sets: readonly SetConfig[];
  /**
   * A stateless proxy's selection: the order depends on the request alone (its Call-ID), never on
   * earlier requests, so every copy of a request and its CANCEL and ACK go the same way
   * (algorithms.ts, STICKY_ORDERS). Default false.
   */
  readonly sticky?: boolean;
}

/** What an initial request offers to the algorithms; From/To are the addr-spec URIs (parameters are ignored). */
export interface SelectKey {
  readonly callId: string;
  readonly fromUri: string;
  readonly toUri: string;
  readonly ruri: string;
}

/** A destination as `select` hands it out: immutable, shared, cheap to return. */
export interface Destination {
  readonly setId: number;
  readonly uri: string;
  readonly weight: number;
  readonly priority: number;
  readonly attrs: Attrs;
}

/** One OPTIONS probe. `code` is null when no answer came (`timedOut`) or the send failed (`error`). */
export interface ProbeRecord {
  /** ISO 8601 time the probe finished */
  at: string;
  code: number | null;
  rttMs: number;
  timedOut: boolean;
  /** why the send failed locally (transport error), when it did */
  error?: string;
}

/** A destination as the REST API returns it (CONTRACT.md). */
export interface DestinationView {
  id: string;
  uri: string;
  weight: number;
  priority: number;
  attrs: Record<string, unknown>;
  state: DestinationState;
  lastProbe: ProbeRecord | null;
  /** the last 10, newest first */
  probes: ProbeRecord[];
  activeCalls: number;
  selectedTotal: number;
}

export interface SetView {
  id: number;
  name: string;
  algorithm: Algorithm;
  destinations: DestinationView[];
}

/**
 * Sends one OPTIONS to `destinationUri` and resolves with the final status, or `code: null`
 * when nothing came back within `timeoutMs` (the dispatcher also stops waiting at `timeoutMs`).
 * Rejecting means a local send failure (recorded with `error`). The server implements it over
 * the transaction layer.
 */
export type ProbeSender = (destinationUri: string, timeoutMs: number) => Promise<{ code: number | null; rttMs: number }>;

/** Why a state changed: a probe result, an operator, a failure on real traffic, or a drain that reached 0 calls. */
export type StateChangeCause = 'probe' | 'operator' | 'traffic' | 'drained';

export interface StateChange {
  setId: number;
  uri: string;
  from: DestinationState;
  to: DestinationState;
  cause: StateChangeCause;
}

export interface ProbeEvent {
  setId: number;
  uri: string;
  probe: ProbeRecord;
}

/** Uses the global timers (so vitest fake timers apply); the default unref()s every handle. Same shape as core's TransactionClock. */
export interface DispatcherClock {
  now(): number;
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DispatcherLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DispatcherDeps {
  prober: ProbeSender;
  clock?: DispatcherClock;
  log?: DispatcherLogger;
  /** [0, 1), for `random`; default Math.random */
  random?: () => number;
  /** every state change (metrics `destination_up`, SSE); must not throw */
  onStateChange?: (change: StateChange) => void;
  /** every finished probe (metric `probe_rtt_seconds`); must not throw */
  onProbe?: (event: ProbeEvent) => void;
}
