// UDP listeners (RFC 3261 §18): one dgram socket per bound address, one message per datagram.
// A datagram of nothing but CR/LF is a keep-alive and goes no further.

import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { hostPort, normaliseAddress } from './endpoint.js';
import { TransportError } from './errors.js';
import type { LayerContext } from './layer-context.js';
import type { ListenerInfo } from './types.js';
import { startUdpBatch } from './udp-batch.js';

const SOCKET_BUFFER_SIZE = 4 * 1024 * 1024;

export interface UdpListener {
  readonly info: ListenerInfo;
  /** Reads and sends go through udp-batch.ts (recvmmsg/sendmmsg), not dgram's per-datagram calls. */
  readonly batched: boolean;
  /** batched, with sendmmsg on the native sender thread */
  readonly sendThread: boolean;
  /** batched: UdpBatch.takeQueueDelay (undefined through dgram) */
  takeQueueDelay(minSpanMs?: number): number | undefined;
  /** bytes the socket's receive queue holds (SO_RCVBUF as granted; undefined: not known) */
  readonly recvBufferBytes: number | undefined;
  send(address: string, port: number, data: Buffer, onError: ((err: Error) => void) | undefined): void;
  close(): Promise<void>;
}

function isKeepAlive(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b !== 0x0d && b !== 0x0a) return false;
  }
  return true;
}

/**
 * dgram resolves every destination before it sends, even an IP address: dns.lookup answers one on
 * the next tick. The transport sends only to IP addresses (transport-layer.ts refuses others), so
 * they are answered at once; anything else still goes to dns.lookup.
 */
const lookupIp = (address: string, family: number, cb: (err: Error | null, address: string, family: number) => void): void => {
  const f = isIP(address);
  if (f !== 0) cb(null, address, f);
  else dnsLookup(address, family, cb);
};

export function openUdpListener(
  ctx: LayerContext,
  host: string,
  port: number,
  family: 4 | 6,
  acl: ((address: string) => boolean) | null,
  exclusive = false,
): Promise<UdpListener> {
  // workers: a listen socket is shared (node:cluster) and routed by affinity; a worker's own is not
  const shared = ctx.affinity !== undefined && !exclusive;
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: host === '::', lookup: lookupIp as unknown as dgram.SocketOptions['lookup'] });
    const onBindError = (err: Error): void => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      reject(new TransportError('TRANSPORT_LISTEN_FAILED', `udp ${hostPort(host, port)}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onBindError);
    // workers: N shares the primary's socket (node:cluster); alone, the port is ours
    socket.bind({ address: host, port, exclusive: !shared }, () => {
      socket.off('error', onBindError);
      const bound = socket.address();
      const info: ListenerInfo = Object.freeze({
        id: `udp:${hostPort(normaliseAddress(bound.address), bound.port)}`,
        transport: 'udp',
        host: normaliseAddress(bound.address),
        port: bound.port,
        family,
      });
      socket.on('error', (err) =>
        ctx.report(new TransportError('TRANSPORT_SOCKET_ERROR', `${info.id}: ${err.message}`, { cause: err })),
      );
      try {
        socket.setRecvBufferSize(SOCKET_BUFFER_SIZE);
        socket.setSendBufferSize(SOCKET_BUFFER_SIZE);
      } catch {
        // The kernel caps or refuses big buffers on some hosts; defaults still work.
      }
      // what the receive queue holds as the kernel granted it (Linux doubles the request, and
      // caps it at net.core.rmem_max): the load shedder keeps the queue's delay well inside it
      let recvBufferBytes: number | undefined;
      try {
        recvBufferBytes = socket.getRecvBufferSize();
      } catch {
        recvBufferBytes = undefined;
      }
      const maxMessageSize = ctx.limits.maxMessageSize;
      const affinity = shared ? ctx.affinity : undefined;
      const onDatagram = (data: Buffer, address: string, port: number): void => {
        if (acl !== null && !acl(address)) {
          ctx.drop('acl', { transport: 'udp', address, port });
          return;
        }
        if (data.length > maxMessageSize) {
          ctx.drop('too-large', { transport: 'udp', address, port });
          return;
        }
        if (isKeepAlive(data)) return;
        if (affinity !== undefined && affinity.route(data, { address, port }, info.id)) return;
        ctx.deliver({ data, source: { transport: 'udp', address, port }, listener: info, receivedAt: Date.now() });
      };
      const sendFailed = (onError: (err: Error) => void, address: string, port: number, err: Error): void =>
        ctx.failSend(onError, new TransportError('TRANSPORT_SEND_FAILED', `udp to ${hostPort(address, port)}: ${err.message}`, { cause: err }));
      // batched reads and sends where the native module is built (udp-batch.ts), else dgram's own
      const batch = ctx.udpBatch !== undefined
        ? startUdpBatch(socket, maxMessageSize, {
            onDatagram(data, address, port) {
              if (family === 6) address = normaliseAddress(address);
              if (data !== null) onDatagram(data, address, port);
              // cut by its slot: larger than maxMessageSize (the ACL still names the reason first)
              else ctx.drop(acl !== null && !acl(address) ? 'acl' : 'too-large', { transport: 'udp', address, port });
            },
            onSendError: (onError, err, address, port) => sendFailed(onError, address, port, err),
            onReadError: (err) => {
              ctx.report(new TransportError('TRANSPORT_SOCKET_ERROR', `${info.id}: ${err.message}`, { cause: err }));
              listenThroughDgram();
            },
          }, ctx.udpBatch)
        : undefined;
      function listenThroughDgram(): void {
        socket.on('message', (data, rinfo) => {
          onDatagram(data, family === 6 ? normaliseAddress(rinfo.address) : rinfo.address, rinfo.port);
        });
      }
      if (batch === undefined) listenThroughDgram();
      resolve({
        info,
        batched: batch !== undefined,
        sendThread: batch?.threaded === true,
        takeQueueDelay: (minSpanMs) => batch?.takeQueueDelay(minSpanMs),
        recvBufferBytes,
        send(address, port, data, onError) {
          if (batch !== undefined) {
            batch.send(address, port, data, onError);
            return;
          }
          if (onError === undefined) {
            // no callback: dgram then reports nothing (a failed lookup would be an 'error'
            // event, and an IP address needs none), and a sent datagram costs no extra tick
            socket.send(data, port, address);
            return;
          }
          socket.send(data, port, address, (err) => {
            if (err) sendFailed(onError, address, port, err);
          });
        },
        close: () =>
          new Promise<void>((done) => {
            batch?.close();
            try {
              socket.close(() => done());
            } catch {
              done();
            }
          }),
      });
    });
  });
}
