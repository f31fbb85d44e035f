// The dispatcher core: destination sets, selection, health from OPTIONS probes and call
// feedback, operator states, and run-time changes that build a new set list and swap it in
// one step. No sockets: the server gives it a ProbeSender and reports call starts, ends and
// failures; the API reads the views and calls the same functions (one core, thin adapters).
import type { Candidate, Order, SelectionState } from './algorithms.js';
import { ORDERS, STICKY_ORDERS } from './algorithms.js';
import { DispatcherError } from './errors.js';
import { destinationSeed } from './hash.js';
import type { Health } from './health.js';
import { classifyProbe, stateAfterProbe } from './health.js';
import type { ProbeResult, ProbeTarget } from './prober.js';
import { createProber } from './prober.js';
import { OPERATOR_STATES } from './types.js';
import type {
  Attrs,
  Destination,
  DestinationConfig,
  DestinationState,
  DestinationView,
  DispatcherClock,
  DispatcherDeps,
  DispatcherLogger,
  DispatcherOptions,
  OperatorState,
  ProbeRecord,
  SelectKey,
  SetConfig,
  SetView,
  StateChangeCause,
} from './types.js';
import { validateDestination, validateProbeOptions, validateSet, validateSets } from './validate.js';

/** Probe results kept per destination (CONTRACT.md: the last 10, newest first). */
export const PROBES_KEPT = 10;

export interface Dispatcher {
  /**
   * The set's destinations that take new calls, in the order its algorithm says to try them:
   * the first is chosen, the rest is the failover order. Empty when none is up or the set is
   * unknown (the caller answers 503). Advances round-robin state; counts nothing (see markSelected).
   */
  select(setId: number, key: SelectKey): Destination[];
  hasSet(setId: number): boolean;
  /** A request was sent to this destination (first choice or failover): `selectedTotal`. */
  markSelected(setId: number, uri: string): void;
  /** An INVITE through this destination got its 2xx (for least-calls and drains). */
  callStarted(setId: number, uri: string): void;
  /** That call ended (BYE, or the dialog timed out). A drain completes at 0 calls. */
  callEnded(setId: number, uri: string): void;
  /**
   * Real traffic to this destination timed out or failed (5xx, transport error): an `active`
   * destination becomes `probing` at once (no new calls) and is probed now; the probes then
   * decide (`upAfter` accepted → active, `downAfter` failures → inactive). Other states: no change.
   */
  reportFailure(setId: number, uri: string): void;
  /** An operator's state; returns the destination as it is afterwards (a drain at 0 calls is already `disabled`). */
  setState(setId: number, uri: string, state: OperatorState): DestinationView;
  addDestination(setId: number, destination: DestinationConfig): DestinationView;
  removeDestination(setId: number, uri: string): void;
  /** Adds the set, or replaces the one with its id (health of the destinations it keeps is kept). */
  putSet(set: SetConfig): SetView;
  removeSet(setId: number): void;
  /** A reload: the new list replaces the old in one step; destinations kept (same set id and URI) keep state, probes and counters. */
  replaceSets(sets: readonly SetConfig[]): void;
  getSets(): SetView[];
  getSet(setId: number): SetView | undefined;
  getDestination(setId: number, uri: string): DestinationView | undefined;
  /** Stops every probe timer. Selection and views still answer; changes throw CLOSED. */
  close(): void;
}

interface Entry extends Candidate, ProbeTarget, Health {
  readonly setId: number;
  readonly uri: string;
  weight: number;
  priority: number;
  attrs: Attrs;
  /** what select hands out; rebuilt when weight, priority or attrs change */
  destination: Destination;
  activeCalls: number;
  selectedTotal: number;
  probes: ProbeRecord[];
}

interface SetRuntime {
  /** the set as configured (without initial states), to rebuild it on add / remove */
  readonly config: SetConfig;
  readonly id: number;
  readonly order: Order;
  readonly entries: readonly Entry[];
  readonly byUri: ReadonlyMap<string, Entry>;
  /** the `active` entries, rebuilt lazily after a state change in the set */
  usable: Entry[] | undefined;
  readonly selection: SelectionState;
}

const noop = (): void => {};
const silentLog: DispatcherLogger = { debug: noop, info: noop, warn: noop, error: noop };

export const systemClock: DispatcherClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms, arg) => {
    const t = setTimeout(fn, ms, arg);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const copyAttrs = (a: Attrs | undefined): Attrs => Object.freeze({ ...(a ?? {}) });

const copySet = (s: SetConfig): SetConfig =>
  Object.freeze({
    id: s.id,
    name: s.name,
    algorithm: s.algorithm,
    destinations: Object.freeze(
      s.destinations.map((d) => Object.freeze({ uri: d.uri, weight: d.weight, priority: d.priority, attrs: copyAttrs(d.attrs) })),
    ),
  });

const makeDestination = (setId: number, d: DestinationConfig): Destination =>
  Object.freeze({ setId, uri: d.uri, weight: d.weight, priority: d.priority, attrs: copyAttrs(d.attrs) });

const copyProbe = (p: ProbeRecord): ProbeRecord => ({ ...p });

function viewOf(e: Entry): DestinationView {
  const last = e.probes[0];
  return {
    id: e.uri,
    uri: e.uri,
    weight: e.weight,
    priority: e.priority,
    attrs: { ...e.attrs },
    state: e.state,
    lastProbe: last === undefined ? null : copyProbe(last),
    probes: e.probes.map(copyProbe),
    activeCalls: e.activeCalls,
    selectedTotal: e.selectedTotal,
  };
}

export function createDispatcher(deps: DispatcherDeps, options: DispatcherOptions): Dispatcher {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLog;
  const random = deps.random ?? Math.random;
  validateProbeOptions(options.probe);
  validateSets(options.sets, 'sets');
  const accept = Object.freeze([...options.probe.accept]);
  const thresholds = { downAfter: options.probe.downAfter, upAfter: options.probe.upAfter };

  let sets: ReadonlyMap<number, SetRuntime> = new Map();
  let closed = false;

  const emit = <E>(fn: ((event: E) => void) | undefined, event: E, what: string): void => {
    if (fn === undefined) return;
    try {
      fn(event);
    } catch (err) {
      log.error({ err }, `dispatcher: ${what} listener threw`);
    }
  };

  const transition = (e: Entry, to: DestinationState, cause: StateChangeCause, drainedBy?: 'remote' | 'operator'): void => {
    const from = e.state;
    if (to !== 'draining') e.drainedBy = undefined;
    else if (from !== 'draining') e.drainedBy = drainedBy ?? 'remote';
    else if (drainedBy === 'operator') e.drainedBy = 'operator'; // an operator takes over a backend's drain, never the reverse
    if (from === to) return;
    e.state = to;
    const set = sets.get(e.setId);
    if (set !== undefined && set.byUri.get(e.uri) === e) set.usable = undefined;
    log.info({ set: e.setId, destination: e.uri, from, to, cause }, 'dispatcher: destination state changed');
    emit(deps.onStateChange, { setId: e.setId, uri: e.uri, from, to, cause }, 'onStateChange');
  };

  /** A drain ends when the last call does: the backend's (503) in `inactive`, an operator's in `disabled`. */
  const checkDrained = (e: Entry): void => {
    if (e.state === 'draining' && e.activeCalls === 0) {
      transition(e, e.drainedBy === 'operator' ? 'disabled' : 'inactive', 'drained');
    }
  };

  const onProbeResult = (target: ProbeTarget, r: ProbeResult): void => {
    const e = target as Entry;
    const record: ProbeRecord = { at: new Date(clock.now()).toISOString(), code: r.code, rttMs: r.rttMs, timedOut: r.timedOut };
    if (r.error !== undefined) record.error = r.error;
    e.probes.unshift(record);
    if (e.probes.length > PROBES_KEPT) e.probes.length = PROBES_KEPT;
    emit(deps.onProbe, { setId: e.setId, uri: e.uri, probe: copyProbe(record) }, 'onProbe');
    const outcome = classifyProbe(r.code, accept);
    if (outcome !== 'accepted') log.debug({ set: e.setId, destination: e.uri, ...record }, 'dispatcher: probe not accepted');
    const to = stateAfterProbe(e, outcome, thresholds);
    transition(e, to, 'probe', 'remote');
    checkDrained(e);
  };

  const prober = createProber(
    { sender: deps.prober, clock, log, onResult: onProbeResult },
    { interval: options.probe.interval, timeout: options.probe.timeout },
  );

  const newEntry = (setId: number, d: DestinationConfig): Entry => ({
    setId,
    uri: d.uri,
    weight: d.weight,
    priority: d.priority,
    attrs: copyAttrs(d.attrs),
    destination: makeDestination(setId, d),
    hashSeed: destinationSeed(d.uri),
    currentWeight: 0,
    activeCalls: 0,
    selectedTotal: 0,
    probes: [],
    state: d.state === 'disabled' ? 'disabled' : 'active',
    drainedBy: undefined,
    okStreak: 0,
    failStreak: 0,
    probeTimer: undefined,
    timeoutTimer: undefined,
    probeInFlight: false,
    probeStopped: false,
  });

  const reconfigure = (e: Entry, d: DestinationConfig): void => {
    const attrs = d.attrs ?? {};
    const same =
      e.weight === d.weight &&
      e.priority === d.priority &&
      Object.keys(attrs).length === Object.keys(e.attrs).length &&
      Object.entries(attrs).every(([k, v]) => e.attrs[k] === v);
    if (same) return;
    e.weight = d.weight;
    e.priority = d.priority;
    e.attrs = copyAttrs(d.attrs);
    e.destination = makeDestination(e.setId, d);
  };

  /**
   * Builds the whole new list, then swaps it in with one assignment; destinations with the
   * same set id and URI are carried over (state, probes, counters, probe loop). Inputs are
   * validated before: nothing here throws halfway.
   */
  const install = (configs: readonly SetConfig[]): void => {
    const next = new Map<number, SetRuntime>();
    const carried = new Set<Entry>();
    const added: Entry[] = [];
    for (const cfg of configs) {
      const prev = sets.get(cfg.id);
      const entries = cfg.destinations.map((d) => {
        const old = prev?.byUri.get(d.uri);
        if (old !== undefined) {
          reconfigure(old, d);
          carried.add(old);
          return old;
        }
        const e = newEntry(cfg.id, d);
        added.push(e);
        return e;
      });
      next.set(cfg.id, {
        config: copySet(cfg),
        id: cfg.id,
        order: (options.sticky === true ? STICKY_ORDERS : ORDERS)[cfg.algorithm],
        entries,
        byUri: new Map(entries.map((e) => [e.uri, e])),
        usable: undefined,
        selection: prev?.selection ?? { cursor: 0, random },
      });
    }
    const previous = sets;
    sets = next;
    for (const s of previous.values()) for (const e of s.entries) if (!carried.has(e)) prober.stop(e);
    for (const e of added) prober.start(e);
  };

  const assertOpen = (): void => {
    if (closed) throw new DispatcherError('CLOSED', 'the dispatcher is closed');
  };

  const mustSet = (setId: number): SetRuntime => {
    const set = sets.get(setId);
    if (set === undefined) throw new DispatcherError('UNKNOWN_SET', `no dispatcher set ${setId}`);
    return set;
  };

  const mustEntry = (setId: number, uri: string): Entry => {
    const e = mustSet(setId).byUri.get(uri);
    if (e === undefined) throw new DispatcherError('UNKNOWN_DESTINATION', `no destination ${uri} in set ${setId}`);
    return e;
  };

  const findEntry = (setId: number, uri: string): Entry | undefined => sets.get(setId)?.byUri.get(uri);

  const configs = (): SetConfig[] => [...sets.values()].map((s) => s.config);

  const setView = (s: SetRuntime): SetView => ({
    id: s.id,
    name: s.config.name,
    algorithm: s.config.algorithm,
    destinations: s.entries.map(viewOf),
  });

  install(options.sets);

  return {
    select(setId, key) {
      const set = sets.get(setId);
      if (set === undefined) return [];
      let usable = set.usable;
      if (usable === undefined) usable = set.usable = set.entries.filter((e) => e.state === 'active');
      if (usable.length === 0) return [];
      if (usable.length === 1) return [(usable[0] as Entry).destination];
      return set.order(usable, key, set.selection).map((e) => e.destination);
    },

    hasSet: (setId) => sets.has(setId),

    markSelected(setId, uri) {
      const e = findEntry(setId, uri);
      if (e !== undefined) e.selectedTotal++;
    },

    callStarted(setId, uri) {
      const e = findEntry(setId, uri);
      if (e !== undefined) e.activeCalls++;
    },

    callEnded(setId, uri) {
      const e = findEntry(setId, uri);
      if (e === undefined || e.activeCalls === 0) return;
      e.activeCalls--;
      checkDrained(e);
    },

    reportFailure(setId, uri) {
      const e = findEntry(setId, uri);
      if (e === undefined || e.state !== 'active' || closed) return;
      e.okStreak = 0;
      transition(e, 'probing', 'traffic');
      prober.probeNow(e);
    },

    setState(setId, uri, state) {
      assertOpen();
      if (!OPERATOR_STATES.includes(state)) {
        throw new DispatcherError('INVALID_STATE', `state: must be one of ${OPERATOR_STATES.join(', ')}`, { field: 'state' });
      }
      const e = mustEntry(setId, uri);
      if (state === 'disabled') {
        transition(e, 'disabled', 'operator');
      } else if (state === 'draining') {
        // an operator's drain (even over a backend's own) ends in `disabled`
        transition(e, 'draining', 'operator', 'operator');
        checkDrained(e);
      } else if (e.state !== 'active') {
        // back to the probes' judgement: counters are kept, so a backend the probes saw
        // die goes inactive at the next failure, and the next probe goes out now
        transition(e, 'active', 'operator');
        prober.probeNow(e);
      }
      return viewOf(e);
    },

    addDestination(setId, destination) {
      assertOpen();
      const set = mustSet(setId);
      validateDestination(destination, '');
      if (set.byUri.has(destination.uri)) {
        throw new DispatcherError('DUPLICATE_DESTINATION', `uri: ${destination.uri} is already in set ${setId}`, { field: 'uri' });
      }
      install(configs().map((s) => (s.id === setId ? { ...s, destinations: [...s.destinations, destination] } : s)));
      return viewOf(mustEntry(setId, destination.uri));
    },

    removeDestination(setId, uri) {
      assertOpen();
      mustEntry(setId, uri);
      install(configs().map((s) => (s.id === setId ? { ...s, destinations: s.destinations.filter((d) => d.uri !== uri) } : s)));
    },

    putSet(set) {
      assertOpen();
      validateSet(set, '');
      const list = configs();
      const i = list.findIndex((s) => s.id === set.id);
      if (i === -1) list.push(set);
      else list[i] = set;
      install(list);
      return setView(mustSet(set.id));
    },

    removeSet(setId) {
      assertOpen();
      mustSet(setId);
      install(configs().filter((s) => s.id !== setId));
    },

    replaceSets(list) {
      assertOpen();
      validateSets(list, 'sets');
      install(list);
    },

    getSets: () => [...sets.values()].map(setView),

    getSet(setId) {
      const s = sets.get(setId);
      return s === undefined ? undefined : setView(s);
    },

    getDestination(setId, uri) {
      const e = findEntry(setId, uri);
      return e === undefined ? undefined : viewOf(e);
    },

    close() {
      closed = true;
      prober.close();
    },
  };
}
