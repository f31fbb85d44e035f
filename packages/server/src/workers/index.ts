// `workers: N` — see docs/design-workers.md.
export { runPrimary, workerCount } from './primary.js';
export { workerFromEnv, onPrimaryCommand, tellPrimaryStarted, type WorkerRole } from './worker.js';
export { openWorkerRelay, type WorkerRelay } from './relay.js';
export { createWorkerRpc, askClusterMetrics, type WorkerRpc } from './rpc.js';
export { countRelays, shareWorkerRegistry } from './metrics.js';
export { ENV_SECRET } from './messages.js';
export { feedEvents, forwardEvents } from './events.js';
export { openOwnSockets, syncWorkerTrunks, wireWorkerSecurity, wireWorkerServices, workerSecurityConfig } from './wiring.js';
