// The SIP transport layer (RFC 3261 §18; RFC 5626 §3.5.1 CRLF keep-alives) over node:dgram,
// node:net and node:tls, IPv4 and IPv6. It parses no SIP: it cuts streams into messages by
// Content-Length and hands raw bytes up through `onMessage`, as sipgo's transport calls its
// transaction layer.
//
// Shape:
//   const transport = createTransportLayer({ onMessage, onDrop, maxMessageSize, ... });
//   const listeners = await transport.listen([{ transport: 'udp', host: '0.0.0.0', port: 5060 }, ...]);
//   transport.send(endpoint, bytes, { connectionId, listener, tlsServerName, onError });
//   await transport.close();
//
// - listen(): 0.0.0.0 / :: become one socket per local address of that family (IPv6
//   link-local left out); a port 0 becomes one assigned port shared by the expanded sockets.
//   Each listener may carry allow/deny CIDR lists (deny wins; empty allow = everyone);
//   refused sources are dropped per datagram / at accept with onDrop('acl').
// - UDP: read with recvmmsg and sent with sendmmsg in batches where the native module is built
//   (udp-batch.ts; udpBatch: false or SIPFRONT_UDP_BATCH=0 keep dgram's path); one datagram = one message; bigger than maxMessageSize → onDrop('too-large');
//   CR/LF-only datagrams are keep-alives and are not delivered.
// - TCP/TLS: leading CRLFs between messages are skipped; CRLFCRLF there is a ping answered with
//   a CRLF pong. A message is its header section plus Content-Length (`Content-Length` or `l`,
//   any case; missing = 0; malformed or conflicting → onDrop('framing') and close). Oversized
//   header sections or bodies → onDrop('too-large') and close. Inbound connections beyond
//   maxConnectionsPerIp are refused at accept (onDrop('connection-limit')), before any TLS
//   handshake. Connections with no traffic for idleTimeoutMs close (onDrop('idle')).
// - Connection reuse: every connection, inbound or outbound, is indexed by id and by remote
//   (transport, address, port). send() uses opts.connectionId while that connection is open,
//   else the newest connection to the target, else opens one (writes wait until it is up; a
//   failed or timed-out connect reaches opts.onError).
// - Outbound messages leave from listenerFor(target, opts.listener): same transport and family,
//   the preferred listener if it fits, else one whose loopback-ness matches the target's, else
//   the first. A target with no such listener fails with TRANSPORT_NO_LISTENER.
// - send() never throws and never calls onError synchronously. Errors are TransportError with a
//   stable `code` (sipStatus 503 for send failures). Nothing a caller's callback throws escapes
//   into a socket handler; it is reported through options.onError.
// - TLS: listeners take PEM strings (cert, key); the client verifies certificates unless
//   tlsClient.rejectUnauthorized is false, against tlsClient.ca or Node's CA list, and against
//   opts.tlsServerName when given (else the target IP).

export { cidrContains, createAcl, createCidrMatcher, parseCidr, parseIp, type Cidr } from './cidr.js';
export { normaliseAddress } from './endpoint.js';
export { MAX_READ_WINDOW_MS, batchUnavailableReason, sendThreadFailure, startUdpBatch, type UdpBatch } from './udp-batch.js';
export { TransportError, type TransportErrorCode } from './errors.js';
export { findContentLength, StreamFramer, type FramerFailure, type FramerLimits, type FramerSink } from './stream-framer.js';
export { createTransportLayer } from './transport-layer.js';
export { callIdOwner, datagramOwner, viaBranchOwner, type UdpAffinity } from './affinity.js';
export { createUdpBacklog, procSocketKey, sumRxQueue } from './backlog.js';
export type {
  DropReason,
  Endpoint,
  Inbound,
  ListenerInfo,
  ListenSpec,
  SendOptions,
  TransportLayer,
  TransportName,
  TransportOptions,
  TransportTlsClientOptions,
} from './types.js';
