// A worker's metrics in the aggregate: its registry answers the primary's AggregatorRegistry, and
// its relay counters are kept apart per worker.
import { AggregatorRegistry, Counter, type Registry } from 'prom-client';
import type { WorkerRelay } from './relay.js';

/**
 * `sipfront_worker_relayed_total{worker, direction}`: datagrams this worker passed on to their
 * owner (`out`) and took from the others (`in`); kept apart per worker in the aggregate.
 */
export const countRelays = (registry: Registry, index: number, relay: WorkerRelay): void => {
  let out = 0;
  let inn = 0;
  const c: Counter<'worker' | 'direction'> = new Counter({
    name: 'sipfront_worker_relayed_total',
    help: 'Datagrams a worker passed on to the worker that owns them (out) or took from another (in)',
    labelNames: ['worker', 'direction'],
    registers: [registry],
    collect() {
      const w = String(index);
      c.labels(w, 'out').inc(relay.stats.relayedOut - out);
      c.labels(w, 'in').inc(relay.stats.relayedIn - inn);
      out = relay.stats.relayedOut;
      inn = relay.stats.relayedIn;
    },
  });
};

/** Lets the primary's AggregatorRegistry read this worker's registry. */
export const shareWorkerRegistry = (registry: Registry): void => {
  AggregatorRegistry.setRegistries([registry]);
  // constructing one adds the worker's answering listener (prom-client's cluster module)
  void new AggregatorRegistry();
};
