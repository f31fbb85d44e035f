// Connects the Prometheus metrics to the running parts: the proxy observer (requests in,
// responses sent, parse errors, refusals), transport drops, the dispatcher's selection,
// failover and probes, proxy authentication and the registrar's auth failures. Every hook here
// runs on the hot path: a map lookup and an `inc()`, nothing built per message.
import type { DropReason, Endpoint, ProxyObserver, SipMessage } from '@sipfront/core';
import type { ProbeEvent } from '@sipfront/dispatcher';
import type { RefusedReason, SipfrontMetrics } from '@sipfront/api';
import { REFUSED_REASONS } from '@sipfront/api';
import type { Logger } from 'pino';
import type { SetSelector } from './router.js';

const REFUSED = new Set<string>(REFUSED_REASONS);

/** Transport drops that refuse traffic, under the contract's reasons (idle closes are not refusals). */
const DROP_REASONS: Readonly<Partial<Record<DropReason, RefusedReason>>> = {
  acl: 'acl',
  'connection-limit': 'limit',
  'too-large': 'limit',
  'buffer-overflow': 'limit',
  framing: 'parse',
};

export interface ObserverDeps {
  metrics: SipfrontMetrics;
  /** the dispatcher's BYE bookkeeping */
  onRequest(req: SipMessage): void;
  /** the `sip` logger: with debug on, every message in and out is logged (Authorization redacted) */
  log: Logger;
  redact(data: Buffer): string;
}

/** The proxy's observer: metrics always, message logging only at debug level. */
export const createSipObserver = ({ metrics, onRequest, log, redact }: ObserverDeps): ProxyObserver => {
  const refused = (reason: string): void => {
    if (REFUSED.has(reason)) metrics.refused(reason as RefusedReason);
  };
  const base: ProxyObserver = {
    requestIn: (m: SipMessage) => {
      metrics.requestIn(m.method);
      onRequest(m);
    },
    sent: (m: SipMessage) => {
      if (m.status !== 0) metrics.responseSent(m.status);
    },
    parseError: () => {
      metrics.parseError();
      metrics.refused('parse');
    },
    refused,
  };
  if (!log.isLevelEnabled('debug')) return base;
  return {
    ...base,
    received: (_m: SipMessage, source: Endpoint, data: Buffer) => log.debug({ source, message: redact(data) }, 'SIP in'),
    sent: (m: SipMessage, target: Endpoint, data: Buffer) => {
      if (m.status !== 0) metrics.responseSent(m.status);
      log.debug({ target, message: redact(data) }, 'SIP out');
    },
    parseError: (source: Endpoint, err: Error) => {
      metrics.parseError();
      metrics.refused('parse');
      log.debug({ source, err: err.message }, 'malformed SIP');
    },
  };
};

/** For the transport layer's onDrop. */
export const countDrop = (metrics: SipfrontMetrics, reason: DropReason): void => {
  const r = DROP_REASONS[reason];
  if (r !== undefined) metrics.refused(r);
};

/** The router's SetSelector, also counting selections and failovers per destination. */
export const countingSelector = (inner: SetSelector, metrics: SipfrontMetrics, failoverCodes: readonly number[]): SetSelector => {
  const failover = new Set(failoverCodes);
  return {
    hasSet: (id) => inner.hasSet(id),
    select: (id, req) => inner.select(id, req),
    isDestination: (source) => inner.isDestination(source),
    attempt(setId, uri) {
      metrics.selected(setId, uri);
      inner.attempt?.(setId, uri);
    },
    result(setId, uri, status, req) {
      if (failover.has(status)) metrics.failover(setId, uri);
      inner.result?.(setId, uri, status, req);
    },
  };
};

/** Answered probes feed the RTT histogram (a timeout has no round trip). */
export const observeProbe = (metrics: SipfrontMetrics, e: ProbeEvent): void => {
  if (e.probe.code !== null && !e.probe.timedOut) metrics.probeRtt(e.setId, e.uri, e.probe.rttMs / 1000);
};
