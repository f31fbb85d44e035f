// TCP and TLS (RFC 3261 §18): listeners, accepted and opened connections, and the connection
// index that lets a response or a later request reuse a connection (§18.2.2, RFC 5923 style
// reuse by remote endpoint). TLS listeners accept plain TCP and start TLS only after the
// per-IP limit and ACL checks, so a refused peer never costs a handshake.

import net from 'node:net';
import tls from 'node:tls';
import { endpointKey, hostPort, isWildcard, normaliseAddress } from './endpoint.js';
import { TransportError } from './errors.js';
import type { LayerContext } from './layer-context.js';
import { StreamFramer } from './stream-framer.js';
import type { Endpoint, ListenerInfo, SendOptions } from './types.js';

type StreamTransportName = 'tcp' | 'tls';

const PONG = Buffer.from('\r\n', 'latin1');

interface PendingWrite {
  data: Buffer;
  onError: ((err: Error) => void) | undefined;
}

interface Connection {
  readonly id: string;
  readonly key: string;
  readonly remote: Endpoint;
  readonly listener: ListenerInfo;
  readonly inbound: boolean;
  readonly socket: net.Socket;
  /** Connected (and TLS handshake done); until then writes wait in `pending`. */
  ready: boolean;
  closed: boolean;
  pending: PendingWrite[] | null;
  pendingBytes: number;
  /** Why the socket went down, when it was an error or a timeout. */
  error: Error | null;
  /** Corked by a write of this turn; uncorked (one writev) once the turn's callbacks are done. */
  corked: boolean;
}

export interface StreamListener {
  readonly info: ListenerInfo;
  close(): Promise<void>;
}

export interface ConnectionTable {
  openListener(
    transport: StreamTransportName,
    host: string,
    port: number,
    family: 4 | 6,
    acl: ((address: string) => boolean) | null,
    secureContext: tls.SecureContext | undefined,
  ): Promise<StreamListener>;
  /** target.address is already normalised by the caller. */
  send(target: Endpoint, data: Buffer, opts: SendOptions | undefined): void;
  /** Open connections, for tests and stats. */
  readonly size: number;
  closeAll(): Promise<void>;
}

export function createConnectionTable(ctx: LayerContext): ConnectionTable {
  const { limits } = ctx;
  const byId = new Map<string, Connection>();
  /** Several connections may share a remote endpoint; the newest is used. */
  const byKey = new Map<string, Connection[]>();
  const perIp = new Map<string, number>();
  const framerLimits = { maxMessageSize: limits.maxMessageSize, maxBuffered: limits.maxBufferedPerConnection };
  let tlsClientContext: tls.SecureContext | undefined;
  let seq = 0;
  let closed = false;
  /**
   * Connections written to in this turn. Each write of its own is a system call and, with
   * Nagle off, a TCP segment: a busy proxy writes several messages to a backend while it handles
   * one chunk read from the caller, and a corked socket sends them in one writev once the
   * chunk's messages are all handled (process.nextTick: before the loop reads again, so a message
   * waits for no other I/O).
   */
  let corked: Connection[] = [];
  const uncorkAll = (): void => {
    const list = corked;
    corked = [];
    for (let i = 0; i < list.length; i++) {
      const conn = list[i]!;
      conn.corked = false;
      if (!conn.socket.destroyed) conn.socket.uncork();
    }
  };

  function register(socket: net.Socket, remote: Endpoint, listener: ListenerInfo, inbound: boolean): Connection {
    const id = `${remote.transport}-${(++seq).toString(36)}`;
    const conn: Connection = {
      id,
      key: endpointKey(remote.transport, remote.address, remote.port),
      remote,
      listener,
      inbound,
      socket,
      ready: false,
      closed: false,
      pending: null,
      pendingBytes: 0,
      error: null,
      corked: false,
    };
    const framer = new StreamFramer(framerLimits, {
      message(data) {
        if (!conn.closed) ctx.deliver({ data, source: remote, listener, connectionId: id, receivedAt: Date.now() });
      },
      ping() {
        if (!socket.destroyed) socket.write(PONG);
      },
      fail(reason) {
        ctx.drop(reason, remote);
        socket.destroy();
      },
    });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('error', (err) => {
      conn.error ??= err;
      if (inbound && !conn.ready && remote.transport === 'tls') ctx.drop('tls-handshake', remote);
    });
    socket.on('timeout', () => {
      if (conn.ready) {
        ctx.drop('idle', remote);
      } else {
        if (inbound) ctx.drop('tls-handshake', remote);
        conn.error ??= new TransportError('TRANSPORT_CONNECT_TIMEOUT', `${remote.transport} ${hostPort(remote.address, remote.port)}: no connection within ${limits.connectTimeoutMs} ms`);
      }
      socket.destroy();
    });
    socket.once('close', () => onClose(conn));
    byId.set(id, conn);
    const list = byKey.get(conn.key);
    if (list === undefined) byKey.set(conn.key, [conn]);
    else list.push(conn);
    return conn;
  }

  function markReady(conn: Connection): void {
    conn.ready = true;
    conn.socket.setTimeout(limits.idleTimeoutMs);
    const pending = conn.pending;
    conn.pending = null;
    conn.pendingBytes = 0;
    if (pending !== null) for (const w of pending) write(conn, w.data, w.onError);
  }

  function onClose(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    byId.delete(conn.id);
    const list = byKey.get(conn.key);
    if (list !== undefined) {
      const i = list.indexOf(conn);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) byKey.delete(conn.key);
    }
    if (conn.inbound) {
      const n = (perIp.get(conn.remote.address) ?? 1) - 1;
      if (n <= 0) perIp.delete(conn.remote.address);
      else perIp.set(conn.remote.address, n);
    }
    if (conn.pending !== null) {
      const err = closeError(conn);
      for (const w of conn.pending) ctx.failSend(w.onError, err);
      conn.pending = null;
    }
    ctx.connectionClosed(conn.id, conn.remote);
  }

  function closeError(conn: Connection): TransportError {
    const where = `${conn.remote.transport} ${hostPort(conn.remote.address, conn.remote.port)}`;
    if (conn.error instanceof TransportError) return conn.error;
    if (conn.ready || conn.inbound) {
      return new TransportError('TRANSPORT_CONNECTION_CLOSED', `${where}: connection closed`, { cause: conn.error ?? undefined });
    }
    const reason = conn.error === null ? 'closed while connecting' : conn.error.message;
    return new TransportError('TRANSPORT_CONNECT_FAILED', `${where}: ${reason}`, { cause: conn.error ?? undefined });
  }

  function write(conn: Connection, data: Buffer, onError: ((err: Error) => void) | undefined): void {
    const max = limits.maxWriteQueuePerConnection;
    if (!conn.ready) {
      if (conn.pendingBytes + data.length > max) {
        ctx.failSend(onError, new TransportError('TRANSPORT_WRITE_QUEUE_FULL', `${conn.id}: more than ${max} bytes wait for the connection`));
        return;
      }
      (conn.pending ??= []).push({ data, onError });
      conn.pendingBytes += data.length;
      return;
    }
    const socket = conn.socket;
    if (socket.writableLength + data.length > max) {
      // A peer that reads nothing would otherwise make us hold its messages for ever.
      conn.error ??= new TransportError('TRANSPORT_WRITE_QUEUE_FULL', `${conn.id}: peer is not reading`);
      ctx.failSend(onError, conn.error);
      socket.destroy();
      return;
    }
    if (!conn.corked) {
      conn.corked = true;
      socket.cork();
      if (corked.push(conn) === 1) process.nextTick(uncorkAll);
    }
    if (onError === undefined) {
      socket.write(data);
      return;
    }
    socket.write(data, (err) => {
      if (!err) return;
      const reason = conn.error instanceof TransportError
        ? conn.error
        : new TransportError('TRANSPORT_CONNECTION_CLOSED', `${conn.id}: ${err.message}`, { cause: conn.error ?? err });
      ctx.failSend(onError, reason);
    });
  }

  function accept(
    info: ListenerInfo,
    acl: ((address: string) => boolean) | null,
    secureContext: tls.SecureContext | undefined,
    raw: net.Socket,
  ): void {
    raw.on('error', ignore);
    const address = raw.remoteAddress;
    const port = raw.remotePort;
    if (closed || address === undefined || port === undefined) {
      raw.destroy();
      return;
    }
    const remote: Endpoint = { transport: info.transport, address: normaliseAddress(address), port };
    if (acl !== null && !acl(remote.address)) {
      ctx.drop('acl', remote);
      raw.destroy();
      return;
    }
    const count = perIp.get(remote.address) ?? 0;
    if (count >= limits.maxConnectionsPerIp) {
      ctx.drop('connection-limit', remote);
      raw.destroy();
      return;
    }
    perIp.set(remote.address, count + 1);
    if (secureContext === undefined) {
      const conn = register(raw, remote, info, true);
      markReady(conn);
      return;
    }
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    const conn = register(socket, remote, info, true);
    socket.setTimeout(limits.connectTimeoutMs);
    socket.once('secure', () => markReady(conn));
  }

  function connect(target: Endpoint, listener: ListenerInfo, servername: string | undefined): Connection {
    const transport = target.transport as StreamTransportName;
    // Leave from the listener's own address so the peer sees the address our Via names.
    const localAddress = isWildcard(listener.host) ? undefined : listener.host;
    let socket: net.Socket;
    if (transport === 'tls') {
      tlsClientContext ??= tls.createSecureContext(ctx.tlsCa === undefined ? {} : { ca: ctx.tlsCa });
      // tls.connect hands connect options such as localAddress to net; its typings omit them.
      const options: tls.ConnectionOptions & { localAddress?: string } = {
        host: target.address,
        port: target.port,
        localAddress,
        secureContext: tlsClientContext,
        rejectUnauthorized: ctx.tlsRejectUnauthorized,
      };
      if (servername !== undefined) options.servername = servername;
      socket = tls.connect(options);
      socket.setNoDelay(true);
    } else {
      socket = net.connect({ host: target.address, port: target.port, localAddress, noDelay: true });
    }
    const remote: Endpoint = { transport, address: target.address, port: target.port };
    const conn = register(socket, remote, listener, false);
    socket.setTimeout(limits.connectTimeoutMs);
    socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => markReady(conn));
    return conn;
  }

  function find(target: Endpoint): Connection | undefined {
    const list = byKey.get(endpointKey(target.transport, target.address, target.port));
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (!list[i]!.socket.destroyed) return list[i];
    return undefined;
  }

  return {
    openListener(transport, host, port, family, acl, secureContext) {
      return new Promise((resolve, reject) => {
        const server = net.createServer({ noDelay: true });
        const onListenError = (err: Error): void => {
          server.close();
          reject(new TransportError('TRANSPORT_LISTEN_FAILED', `${transport} ${hostPort(host, port)}: ${err.message}`, { cause: err }));
        };
        server.once('error', onListenError);
        server.listen({ host, port, ipv6Only: host === '::' }, () => {
          server.off('error', onListenError);
          const bound = server.address() as net.AddressInfo;
          const boundHost = normaliseAddress(bound.address);
          const info: ListenerInfo = Object.freeze({
            id: `${transport}:${hostPort(boundHost, bound.port)}`,
            transport,
            host: boundHost,
            port: bound.port,
            family,
          });
          server.on('error', (err) =>
            ctx.report(new TransportError('TRANSPORT_SOCKET_ERROR', `${info.id}: ${err.message}`, { cause: err })),
          );
          server.on('connection', (raw: net.Socket) => accept(info, acl, secureContext, raw));
          resolve({ info, close: () => new Promise<void>((done) => server.close(() => done())) });
        });
      });
    },

    send(target, data, opts) {
      let conn: Connection | undefined;
      if (opts?.connectionId !== undefined) {
        conn = byId.get(opts.connectionId);
        if (conn !== undefined && conn.socket.destroyed) conn = undefined;
      }
      conn ??= find(target);
      if (conn === undefined) {
        if (closed) {
          ctx.failSend(opts?.onError, new TransportError('TRANSPORT_CLOSED', 'transport layer closed'));
          return;
        }
        const listener = ctx.listenerFor(target, opts?.listener);
        if (listener === undefined) {
          ctx.failSend(
            opts?.onError,
            new TransportError('TRANSPORT_NO_LISTENER', `no ${target.transport} listener for ${hostPort(target.address, target.port)}`),
          );
          return;
        }
        conn = connect(target, listener, opts?.tlsServerName);
      }
      write(conn, data, opts?.onError);
    },

    get size() {
      return byId.size;
    },

    closeAll() {
      closed = true;
      const waits: Promise<void>[] = [];
      for (const conn of byId.values()) {
        waits.push(new Promise<void>((done) => conn.socket.once('close', () => done())));
        conn.error ??= new TransportError('TRANSPORT_CLOSED', 'transport layer closed');
        conn.socket.destroy();
      }
      return Promise.all(waits).then(() => undefined);
    },
  };
}

function ignore(): void {}
