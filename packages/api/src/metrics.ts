// Every Prometheus metric of the contract, in a registry of its own. Counters on the SIP hot path
// are label children bound once (per method, per status code, per destination) and then only
// `inc()`ed: no label object is built per message. Gauges that mirror state are read at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsSource } from './services.js';

/** What the gauges read when Prometheus scrapes. Must not throw (a rejected promise keeps the last value). */
export interface MetricsSources {
  activeTransactions(): number;
  contacts(): Promise<number>;
  activeBans(): number;
  /** every destination of every set, and whether it takes new calls */
  destinations(): Array<{ setId: number; uri: string; up: boolean }>;
}

export type ProxyAuthResult = 'challenged' | 'ok' | 'failed';
export type RefusedReason = 'banned' | 'flood' | 'scanner' | 'acl' | 'untrusted' | 'limit' | 'parse' | 'overload';
export const REFUSED_REASONS: readonly RefusedReason[] = ['banned', 'flood', 'scanner', 'acl', 'untrusted', 'limit', 'parse', 'overload'];

/** Methods counted under their own name; anything else is `other`. */
export const KNOWN_METHODS = [
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'INFO', 'UPDATE', 'PRACK', 'MESSAGE', 'PUBLISH',
] as const;

/** The names of the contract, for tests and dashboards. */
export const METRIC_NAMES = [
  'sipfront_sip_requests_total',
  'sipfront_sip_responses_total',
  'sipfront_transactions_active',
  'sipfront_dispatcher_destination_up',
  'sipfront_dispatcher_selected_total',
  'sipfront_dispatcher_failover_total',
  'sipfront_dispatcher_probe_rtt_seconds',
  'sipfront_registrar_contacts',
  'sipfront_auth_failures_total',
  'sipfront_security_bans_active',
  'sipfront_parse_errors_total',
  'sipfront_trunk_registered',
  'sipfront_trunk_register_responses_total',
  'sipfront_proxy_auth_total',
  'sipfront_requests_refused_total',
] as const;

export interface SipfrontMetrics extends MetricsSource {
  readonly registry: Registry;
  requestIn(method: string): void;
  /** a response sipfront sent (its own or forwarded), by status */
  responseSent(status: number): void;
  parseError(): void;
  refused(reason: RefusedReason): void;
  authFailure(): void;
  proxyAuth(result: ProxyAuthResult): void;
  /** a request was sent to this destination (first choice or failover) */
  selected(setId: number, uri: string): void;
  /** this destination failed a request (failover code or timeout) */
  failover(setId: number, uri: string): void;
  probeRtt(setId: number, uri: string, seconds: number): void;
  trunkRegistered(trunk: string, registered: boolean): void;
  trunkResponse(trunk: string, code: number): void;
}

/** A counter child and what was counted since the last scrape (hot-path counts are batched). */
interface Batched {
  child: Counter.Internal;
  n: number;
}

const flush = (b: Batched): void => {
  if (b.n === 0) return;
  b.child.inc(b.n);
  b.n = 0;
};

interface DestinationChildren {
  selected: Counter.Internal;
  /** selections since the last scrape */
  selectedN: number;
  failover: Counter.Internal;
  rtt: Histogram.Internal<'set' | 'destination'>;
}

export interface MetricsOptions {
  /** prom-client's process metrics (default true) */
  defaultMetrics?: boolean;
  /** probe RTT buckets, seconds */
  rttBuckets?: number[];
  /** what a scrape returns instead of this registry's text (`workers: N`: every worker's, aggregated) */
  scrape?: () => Promise<string>;
}

/** ms between two samples of the event loop's lag (nodejs_eventloop_lag_*) */
export const LAG_SAMPLE_MS = 100;

const DEFAULT_RTT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const createMetrics = (sources: MetricsSources, options: MetricsOptions = {}): SipfrontMetrics => {
  const registry = new Registry();
  // The event loop's lag is sampled by a timer of this period: prom-client's default, 10 ms, wakes
  // an idle proxy 100 times a second for it alone (measured: 7.4 against 0.8 ms of CPU a second
  // at 100 ms, an idle process), which is what a proxy pays per second at any load. A stall long
  // enough to matter to SIP (T1 is 500 ms) still delays one of ten samples a second.
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: LAG_SAMPLE_MS });
  const registers = [registry];

  // The per-message counters count into plain numbers and hand them to prom-client when a scrape
  // collects them: an inc() per message was ~1.3 % of the proxy's busy time at load.
  const requests = new Counter({
    name: 'sipfront_sip_requests_total',
    help: 'SIP requests received (retransmissions included), by method',
    labelNames: ['method'],
    registers,
    collect() {
      for (const b of methodChildren.values()) flush(b);
      flush(otherMethod);
    },
  });
  const responses = new Counter({
    name: 'sipfront_sip_responses_total',
    help: 'SIP responses sent (own and forwarded), by status code',
    labelNames: ['code'],
    registers,
    collect() {
      for (const b of codeChildren) if (b !== undefined) flush(b);
    },
  });
  new Gauge({
    name: 'sipfront_transactions_active',
    help: 'SIP transactions held now',
    registers,
    collect() {
      this.set(sources.activeTransactions());
    },
  });
  const destinationUp = new Gauge({
    name: 'sipfront_dispatcher_destination_up',
    help: '1 when the destination takes new calls (active), else 0',
    labelNames: ['set', 'destination'],
    registers,
    // workers: N probe each for themselves; up only where all of them find it up
    aggregator: 'min',
    collect() {
      this.reset();
      const live = new Map<number, Set<string>>();
      for (const d of sources.destinations()) {
        this.labels(String(d.setId), d.uri).set(d.up ? 1 : 0);
        let uris = live.get(d.setId);
        if (uris === undefined) live.set(d.setId, (uris = new Set()));
        uris.add(d.uri);
      }
      forgetRemoved(live);
    },
  });
  void destinationUp;
  const selected = new Counter({
    name: 'sipfront_dispatcher_selected_total',
    help: 'Requests sent to a destination (first choice or failover)',
    labelNames: ['set', 'destination'],
    registers,
    collect() {
      for (const bySet of destinations.values()) {
        for (const c of bySet.values()) {
          if (c.selectedN === 0) continue;
          c.selected.inc(c.selectedN);
          c.selectedN = 0;
        }
      }
    },
  });
  const failover = new Counter({ name: 'sipfront_dispatcher_failover_total', help: 'Requests a destination failed (failover code or timeout), so the next one was tried', labelNames: ['set', 'destination'], registers });
  const rtt = new Histogram({
    name: 'sipfront_dispatcher_probe_rtt_seconds',
    help: 'Round-trip time of answered OPTIONS probes',
    labelNames: ['set', 'destination'],
    buckets: options.rttBuckets ?? DEFAULT_RTT_BUCKETS,
    registers,
  });
  let contactsLast = 0;
  new Gauge({
    name: 'sipfront_registrar_contacts',
    help: 'Live registered contacts (bindings) in the store',
    registers,
    // one store for all workers
    aggregator: 'max',
    async collect() {
      try {
        contactsLast = await sources.contacts();
      } catch {
        // the store is down: keep the last value rather than fail the scrape
      }
      this.set(contactsLast);
    },
  });
  const authFailures = new Counter({ name: 'sipfront_auth_failures_total', help: 'Requests whose digest credentials did not verify', registers });
  new Gauge({
    name: 'sipfront_security_bans_active',
    help: 'Addresses banned now',
    registers,
    // bans are shared (Redis) by the workers
    aggregator: 'max',
    collect() {
      this.set(sources.activeBans());
    },
  });
  const parseErrors = new Counter({ name: 'sipfront_parse_errors_total', help: 'Inbound messages that did not parse', registers });
  const trunkRegistered = new Gauge({ name: 'sipfront_trunk_registered', help: '1 while the trunk is registered to its provider', labelNames: ['trunk'], registers, aggregator: 'max' });
  const trunkResponses = new Counter({ name: 'sipfront_trunk_register_responses_total', help: 'Final responses to trunk REGISTERs, by status', labelNames: ['trunk', 'code'], registers });
  const proxyAuth = new Counter({ name: 'sipfront_proxy_auth_total', help: 'Proxy authentication outcomes', labelNames: ['result'], registers });
  const refused = new Counter({ name: 'sipfront_requests_refused_total', help: 'Requests refused before routing, by reason', labelNames: ['reason'], registers });

  // ---- children bound once ------------------------------------------------------------
  const methodChildren = new Map<string, Batched>();
  for (const m of KNOWN_METHODS) methodChildren.set(m, { child: requests.labels(m), n: 0 });
  const otherMethod: Batched = { child: requests.labels('other'), n: 0 };
  const codeChildren: Array<Batched | undefined> = new Array(700);
  const refusedChildren = new Map<string, Counter.Internal>(REFUSED_REASONS.map((r) => [r, refused.labels(r)]));
  const proxyAuthChildren = new Map<string, Counter.Internal>(['challenged', 'ok', 'failed'].map((r) => [r, proxyAuth.labels(r)]));
  const destinations = new Map<number, Map<string, DestinationChildren>>();

  const destinationChildren = (setId: number, uri: string): DestinationChildren => {
    let bySet = destinations.get(setId);
    if (bySet === undefined) destinations.set(setId, (bySet = new Map()));
    let c = bySet.get(uri);
    if (c === undefined) {
      const set = String(setId);
      c = { selected: selected.labels(set, uri), selectedN: 0, failover: failover.labels(set, uri), rtt: rtt.labels(set, uri) };
      bySet.set(uri, c);
    }
    return c;
  };

  /** Series of destinations that no longer exist leave the output at the next scrape. */
  const forgetRemoved = (live: ReadonlyMap<number, ReadonlySet<string>>): void => {
    for (const [setId, bySet] of destinations) {
      const uris = live.get(setId);
      for (const uri of bySet.keys()) {
        if (uris?.has(uri) === true) continue;
        const labels = { set: String(setId), destination: uri };
        selected.remove(labels);
        failover.remove(labels);
        rtt.remove(labels);
        bySet.delete(uri);
      }
      if (bySet.size === 0) destinations.delete(setId);
    }
  };

  return {
    registry,
    get contentType() {
      return registry.contentType;
    },
    metrics: options.scrape ?? (() => registry.metrics()),
    requestIn(method) {
      (methodChildren.get(method) ?? otherMethod).n++;
    },
    responseSent(status) {
      if (status < 100 || status > 699) return;
      let c = codeChildren[status];
      if (c === undefined) c = codeChildren[status] = { child: responses.labels(String(status)), n: 0 };
      c.n++;
    },
    parseError() {
      parseErrors.inc();
    },
    refused(reason) {
      refusedChildren.get(reason)?.inc();
    },
    authFailure() {
      authFailures.inc();
    },
    proxyAuth(result) {
      proxyAuthChildren.get(result)?.inc();
    },
    selected(setId, uri) {
      destinationChildren(setId, uri).selectedN++;
    },
    failover(setId, uri) {
      destinationChildren(setId, uri).failover.inc();
    },
    probeRtt(setId, uri, seconds) {
      destinationChildren(setId, uri).rtt.observe(seconds);
    },
    trunkRegistered(trunk, registered) {
      trunkRegistered.labels(trunk).set(registered ? 1 : 0);
    },
    trunkResponse(trunk, code) {
      trunkResponses.labels(trunk, String(code)).inc();
    },
  };
};
