// What the UDP and stream halves of the layer share: resolved limits and the caller's callbacks,
// wrapped so that nothing a caller throws can escape into a socket event handler.

import { TransportError } from './errors.js';
import type { UdpAffinity } from './affinity.js';
import type { UdpBatchLimits } from './udp-batch.js';
import type { DropReason, Endpoint, Inbound, ListenerInfo, TransportOptions } from './types.js';

export interface ResolvedLimits {
  readonly maxMessageSize: number;
  readonly maxBufferedPerConnection: number;
  readonly maxConnectionsPerIp: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxWriteQueuePerConnection: number;
}

export interface LayerContext {
  readonly limits: ResolvedLimits;
  readonly tlsRejectUnauthorized: boolean;
  readonly tlsCa: string | Buffer | undefined;
  deliver(msg: Inbound): void;
  drop(reason: DropReason, source: Endpoint): void;
  report(err: Error): void;
  connectionClosed(connectionId: string, remote: Endpoint): void;
  /** Tells a sender its message failed, on a later tick (never inside send()). */
  failSend(onError: ((err: Error) => void) | undefined, err: Error): void;
  /** Which listener a message to target leaves from; see TransportLayer.listenerFor. */
  listenerFor(target: Endpoint, preferred?: ListenerInfo): ListenerInfo | undefined;
  /** `workers: N` (see TransportOptions.affinity) */
  readonly affinity: UdpAffinity | undefined;
  /** TransportOptions.udpBatch: undefined = off */
  readonly udpBatch: UdpBatchLimits | undefined;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`transport option ${name} must be a positive number, got ${value}`);
  return value;
}

export function resolveLimits(opts: TransportOptions): ResolvedLimits {
  const maxMessageSize = positive('maxMessageSize', opts.maxMessageSize, 65535);
  return Object.freeze({
    maxMessageSize,
    maxBufferedPerConnection: positive('maxBufferedPerConnection', opts.maxBufferedPerConnection, 2 * maxMessageSize),
    maxConnectionsPerIp: positive('maxConnectionsPerIp', opts.maxConnectionsPerIp, 64),
    idleTimeoutMs: positive('idleTimeoutMs', opts.idleTimeoutMs, 120_000),
    connectTimeoutMs: positive('connectTimeoutMs', opts.connectTimeoutMs, 10_000),
    maxWriteQueuePerConnection: positive('maxWriteQueuePerConnection', opts.maxWriteQueuePerConnection, 1024 * 1024),
  });
}

export function createLayerContext(
  opts: TransportOptions,
  listenerFor: (target: Endpoint, preferred?: ListenerInfo) => ListenerInfo | undefined,
): LayerContext {
  const { onMessage, onDrop, onError, onConnectionClosed } = opts;
  const report = (err: Error): void => {
    if (onError === undefined) return;
    try {
      onError(err);
    } catch {
      // A logger that throws has nowhere left to report to.
    }
  };
  const threw = (what: string, cause: unknown): void =>
    report(new TransportError('TRANSPORT_CALLBACK_THREW', `${what} threw`, { cause }));
  const callOnError = (cb: (err: Error) => void, err: Error): void => {
    try {
      cb(err);
    } catch (cause) {
      threw('send onError', cause);
    }
  };
  return {
    limits: resolveLimits(opts),
    tlsRejectUnauthorized: opts.tlsClient?.rejectUnauthorized ?? true,
    tlsCa: opts.tlsClient?.ca,
    listenerFor,
    affinity: opts.affinity,
    udpBatch: opts.udpBatch === false ? undefined : opts.udpBatch === true || opts.udpBatch === undefined ? {} : opts.udpBatch,
    deliver(msg) {
      try {
        onMessage(msg);
      } catch (cause) {
        threw('onMessage', cause);
      }
    },
    drop(reason, source) {
      if (onDrop === undefined) return;
      try {
        onDrop(reason, source);
      } catch (cause) {
        threw('onDrop', cause);
      }
    },
    report,
    connectionClosed(connectionId, remote) {
      if (onConnectionClosed === undefined) return;
      try {
        onConnectionClosed(connectionId, remote);
      } catch (cause) {
        threw('onConnectionClosed', cause);
      }
    },
    failSend(cb, err) {
      if (cb !== undefined) process.nextTick(callOnError, cb, err);
    },
  };
}
