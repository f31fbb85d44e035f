// The transport layer's public types: what it is given (listen specs, options) and what it hands
// upward (raw message bytes with their source). No SIP parsing happens at this level.

import type { UdpAffinity } from './affinity.js';
import type { UdpBatchLimits } from './udp-batch.js';

export type TransportName = 'udp' | 'tcp' | 'tls';

/** A remote or local transport address. `address` is an IP literal without brackets; an
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is always written as plain IPv4. */
export interface Endpoint {
  transport: TransportName;
  address: string;
  port: number;
}

/** One `listen:` entry of the config. A host of `0.0.0.0` or `::` is expanded into one socket
 * per local address of that family; a host name is resolved once, at listen time. */
export interface ListenSpec {
  transport: TransportName;
  host: string;
  port: number;
  /** TLS only: certificate chain, PEM contents (the server package reads the files the config names). */
  cert?: string;
  /** TLS only: private key, PEM contents. */
  key?: string;
  /** CIDRs that may use this listener; empty or absent = everyone. */
  allow?: readonly string[];
  /** CIDRs refused on this listener; deny wins over allow. */
  deny?: readonly string[];
  /**
   * UDP with `affinity` (workers): a socket of this process alone (a worker's own send socket),
   * neither shared with the other workers nor routed by affinity. Alone, every socket is.
   */
  exclusive?: boolean;
}

/** One bound socket. `host` is the address actually bound, `port` the port actually bound
 * (a requested port 0 shows the assigned one). */
export interface ListenerInfo {
  readonly id: string;
  readonly transport: TransportName;
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** One complete message as received: header and body bytes exactly as they arrived. */
export interface Inbound {
  data: Buffer;
  source: Endpoint;
  listener: ListenerInfo;
  /** Set for stream transports: pass it back to `send()` to answer over the same connection. */
  connectionId?: string;
  /** Date.now() when the bytes were read. */
  receivedAt: number;
}

export type DropReason =
  | 'too-large' // datagram, header section or Content-Length beyond maxMessageSize
  | 'buffer-overflow' // more unframed bytes buffered than maxBufferedPerConnection
  | 'connection-limit' // inbound connection beyond maxConnectionsPerIp
  | 'acl' // source refused by the listener's allow/deny lists
  | 'framing' // unparseable Content-Length on a stream
  | 'idle' // stream connection without traffic for idleTimeoutMs
  | 'tls-handshake'; // inbound TLS handshake failed or timed out

export interface TransportTlsClientOptions {
  /** Verify the server's certificate. Default true; false is for tests and labs only. */
  rejectUnauthorized?: boolean;
  /** Trusted CA certificates (PEM) instead of Node's bundled list. */
  ca?: string | Buffer;
}

export interface TransportOptions {
  onMessage(msg: Inbound): void;
  /** For metrics. Exceptions it throws are caught and reported through onError. */
  onDrop?(reason: DropReason, source: Endpoint): void;
  /** Unexpected trouble worth a log line: listener socket errors, a callback that threw. */
  onError?(err: Error): void;
  /** A stream connection (inbound or outbound) closed, for whatever reason. */
  onConnectionClosed?(connectionId: string, remote: Endpoint): void;
  /** Largest message, headers + body, datagram or framed stream message. Default 65535. */
  maxMessageSize?: number;
  /** Unframed bytes kept per stream connection. Default 2 * maxMessageSize. */
  maxBufferedPerConnection?: number;
  /** Inbound stream connections accepted from one IP address. Default 64. */
  maxConnectionsPerIp?: number;
  /** Stream connections without traffic are closed after this long. Default 120_000 (Kamailio's tcp_connection_lifetime). */
  idleTimeoutMs?: number;
  /** Outbound connect (and TLS handshake, inbound or outbound) deadline. Default 10_000. */
  connectTimeoutMs?: number;
  /** Bytes queued for writing on one connection before it is given up as stuck. Default 1 MiB. */
  maxWriteQueuePerConnection?: number;
  tlsClient?: TransportTlsClientOptions;
  /**
   * `workers: N`: UDP listeners bind without exclusivity (under node:cluster every worker then reads
   * the primary's one socket) and hand each datagram to `affinity` first (transport/affinity.ts).
   */
  affinity?: UdpAffinity;
  /**
   * UDP reads and sends in batches (recvmmsg/sendmmsg, transport/udp-batch.ts) where the native
   * module is built. Default true; false, or SIPFRONT_UDP_BATCH=0, keeps node:dgram's own path.
   * Limits size the send queue (tests make it small).
   */
  udpBatch?: boolean | UdpBatchLimits;
}

export interface SendOptions {
  /** The connection a request came in on: used while it is open. */
  connectionId?: string;
  /** The listener to send from when it fits the target (same transport and family). */
  listener?: ListenerInfo;
  /** TLS: the name to verify the server certificate against (and send as SNI). */
  tlsServerName?: string;
  /** Called at most once, never synchronously from send(), when the message could not be sent. */
  onError?: (err: Error) => void;
}

export interface TransportLayer {
  listen(specs: readonly ListenSpec[]): Promise<ListenerInfo[]>;
  listeners(): ListenerInfo[];
  /** Whether a UDP listener reads and sends in batches (udpBatch), not through node:dgram per datagram. */
  udpBatched(listenerId: string): boolean;
  /** Whether a batched UDP listener has the native sender thread (UdpBatchLimits.sendThread), which sends while the loop is busy. */
  udpSendThread(listenerId: string): boolean;
  /**
   * ms: the longest, over the batched UDP listeners, of the shortest queue wait a read met since
   * the last call, which starts each listener's over (UdpBatch.takeQueueDelay; a standing queue,
   * not a burst). Undefined when none
   * read datagrams with the kernel's receive time over at least `minSpanMs` since then (or none
   * is batched).
   */
  takeUdpQueueDelay(minSpanMs?: number): number | undefined;
  /** bytes the smallest UDP listen socket's receive queue holds (SO_RCVBUF as granted); undefined without one */
  udpRecvBuffer(): number | undefined;
  listenerFor(target: Endpoint, preferred?: ListenerInfo): ListenerInfo | undefined;
  send(target: Endpoint, data: Buffer, opts?: SendOptions): void;
  /** A datagram another worker received on listener `listenerId` and relayed here: delivered as if it arrived here. */
  receive(listenerId: string, source: Endpoint, data: Buffer): void;
  close(): Promise<void>;
}
