// @sipfront/dispatcher: destination sets, selection algorithms, the OPTIONS prober and health
// state. Socket-free; the server wires it to the transaction layer and the API.
export * from './types.js';
export * from './errors.js';
export { createDispatcher, systemClock, PROBES_KEPT } from './dispatcher.js';
export type { Dispatcher } from './dispatcher.js';
export { ORDERS } from './algorithms.js';
export type { Candidate, Order, SelectionState } from './algorithms.js';
export { fnv1a, fmix32, destinationSeed, rendezvousScore, uriKey } from './hash.js';
export { classifyProbe, stateAfterProbe, heldByOperator } from './health.js';
export type { Health, ProbeOutcome, Thresholds } from './health.js';
export { createProber } from './prober.js';
export type { Prober, ProberDeps, ProbeResult, ProbeTarget } from './prober.js';
export { validateDestination, validateSet, validateSets, validateProbeOptions } from './validate.js';
