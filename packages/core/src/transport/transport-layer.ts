// createTransportLayer: binds the configured listeners (expanding 0.0.0.0 / :: into one socket per
// local address), picks the listener a message leaves from, and routes send() to the UDP socket or
// to the stream connection table. It knows nothing of SIP beyond framing.

import dns from 'node:dns/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { createAcl } from './cidr.js';
import { familyOf, hostPort, isLoopback, normaliseAddress } from './endpoint.js';
import { TransportError } from './errors.js';
import { createLayerContext } from './layer-context.js';
import { createConnectionTable, type StreamListener } from './stream.js';
import type { Endpoint, ListenerInfo, ListenSpec, SendOptions, TransportLayer, TransportName, TransportOptions } from './types.js';
import { openUdpListener, type UdpListener } from './udp.js';

const TRANSPORTS: readonly TransportName[] = ['udp', 'tcp', 'tls'];

/** Index of the per-transport, per-family listener list. */
function slot(transport: TransportName, family: 4 | 6): number {
  return (transport === 'udp' ? 0 : transport === 'tcp' ? 2 : 4) + (family === 6 ? 1 : 0);
}

interface BoundAddress {
  address: string;
  family: 4 | 6;
}

/**
 * 0.0.0.0 and :: become every local address of that family (a reply then leaves from the
 * address it was sent to, and Via can name it). IPv6 link-local addresses are left out: they
 * need a zone and are no use to SIP peers. With no address of the family, the wildcard is bound.
 */
async function expandHost(host: string): Promise<BoundAddress[]> {
  const h = normaliseAddress(host.trim());
  if (h === '0.0.0.0' || h === '::') {
    const family = h === '::' ? 6 : 4;
    const out: BoundAddress[] = [];
    for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? []) {
        const fam = a.family === 'IPv6' || (a.family as unknown) === 6 ? 6 : 4;
        if (fam !== family) continue;
        if (fam === 6 && (a.scopeid !== undefined && a.scopeid !== 0 || a.address.toLowerCase().startsWith('fe80:'))) continue;
        if (!out.some((o) => o.address === a.address)) out.push({ address: a.address, family });
      }
    }
    return out.length > 0 ? out : [{ address: h, family }];
  }
  const fam = isIP(h);
  if (fam !== 0) return [{ address: h, family: fam as 4 | 6 }];
  const resolved = await dns.lookup(h, { all: true });
  const out: BoundAddress[] = [];
  for (const r of resolved) {
    const address = normaliseAddress(r.address);
    if (!out.some((o) => o.address === address)) out.push({ address, family: r.family === 6 ? 6 : 4 });
  }
  return out;
}

function validateSpec(spec: ListenSpec, path: string): void {
  if (!TRANSPORTS.includes(spec.transport)) {
    throw new TransportError('TRANSPORT_LISTEN_FAILED', `${path}.transport: expected udp, tcp or tls, got ${String(spec.transport)}`);
  }
  if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535) {
    throw new TransportError('TRANSPORT_LISTEN_FAILED', `${path}.port: not a port number: ${String(spec.port)}`);
  }
  if (typeof spec.host !== 'string' || spec.host.trim() === '') {
    throw new TransportError('TRANSPORT_LISTEN_FAILED', `${path}.host: missing`);
  }
  if (spec.transport === 'tls') {
    for (const k of ['cert', 'key'] as const) {
      const v = spec[k];
      if (typeof v !== 'string' || !v.includes('-----BEGIN')) {
        throw new TransportError('TRANSPORT_LISTEN_FAILED', `${path}.${k}: expected PEM contents (the server reads the file the config names)`);
      }
    }
  }
}

export function createTransportLayer(options: TransportOptions): TransportLayer {
  const udpById = new Map<string, UdpListener>();
  const streamById = new Map<string, StreamListener>();
  const all: ListenerInfo[] = [];
  const bySlot: ListenerInfo[][] = [[], [], [], [], [], []];
  let closed = false;
  let closing: Promise<void> | null = null;

  function listenerFor(target: Endpoint, preferred?: ListenerInfo): ListenerInfo | undefined {
    const address = normaliseAddress(target.address);
    const family = familyOf(address);
    if (family === 0) return undefined;
    const list = bySlot[slot(target.transport, family)];
    if (list === undefined || list.length === 0) return undefined;
    if (
      preferred !== undefined &&
      preferred.transport === target.transport &&
      preferred.family === family &&
      (udpById.has(preferred.id) || streamById.has(preferred.id))
    ) {
      return preferred;
    }
    if (list.length === 1) return list[0];
    // A loopback socket cannot reach another host and vice versa: match loopback with loopback.
    const loop = isLoopback(address);
    for (const l of list) if (isLoopback(l.host) === loop) return l;
    return list[0];
  }

  const ctx = createLayerContext(options, listenerFor);
  const streams = createConnectionTable(ctx);

  async function openOne(
    spec: ListenSpec,
    path: string,
    acl: ((address: string) => boolean) | null,
    bind: BoundAddress,
    port: number,
  ): Promise<UdpListener | StreamListener> {
    if (spec.transport === 'udp') return openUdpListener(ctx, bind.address, port, bind.family, acl, spec.exclusive === true);
    let secureContext: tls.SecureContext | undefined;
    if (spec.transport === 'tls') {
      try {
        secureContext = tls.createSecureContext({ cert: spec.cert, key: spec.key });
      } catch (cause) {
        throw new TransportError('TRANSPORT_LISTEN_FAILED', `${path}: bad TLS certificate or key: ${(cause as Error).message}`, { cause });
      }
    }
    return streams.openListener(spec.transport, bind.address, port, bind.family, acl, secureContext);
  }

  return {
    async listen(specs) {
      if (closed) throw new TransportError('TRANSPORT_CLOSED', 'transport layer closed');
      const opened: (UdpListener | StreamListener)[] = [];
      try {
        for (const [i, spec] of specs.entries()) {
          const path = `listen[${i}]`;
          validateSpec(spec, path);
          const acl = createAcl(spec.allow, spec.deny, path);
          let port = spec.port;
          for (const bind of await expandHost(spec.host)) {
            const l = await openOne(spec, path, acl, bind, port);
            opened.push(l);
            // An expanded port 0 gets one port for all addresses, as a single wildcard socket would.
            if (port === 0) port = l.info.port;
          }
        }
      } catch (err) {
        await Promise.all(opened.map((l) => l.close()));
        throw err;
      }
      if (closed) {
        await Promise.all(opened.map((l) => l.close()));
        throw new TransportError('TRANSPORT_CLOSED', 'transport layer closed');
      }
      for (const l of opened) {
        if (l.info.transport === 'udp') udpById.set(l.info.id, l as UdpListener);
        else streamById.set(l.info.id, l);
        all.push(l.info);
        bySlot[slot(l.info.transport, l.info.family)]!.push(l.info);
      }
      return opened.map((l) => l.info);
    },

    listeners() {
      return all.slice();
    },

    udpBatched(listenerId) {
      return udpById.get(listenerId)?.batched === true;
    },

    udpSendThread(listenerId) {
      return udpById.get(listenerId)?.sendThread === true;
    },

    udpRecvBuffer() {
      let least: number | undefined;
      for (const l of udpById.values()) {
        const b = l.recvBufferBytes;
        if (b !== undefined && b > 0 && (least === undefined || b < least)) least = b;
      }
      return least;
    },

    takeUdpQueueDelay(minSpanMs) {
      let worst: number | undefined;
      // every listener's is taken (each starts over), the longest is the answer
      for (const l of udpById.values()) {
        const d = l.takeQueueDelay(minSpanMs);
        if (d !== undefined && (worst === undefined || d > worst)) worst = d;
      }
      return worst;
    },

    listenerFor,

    send(target: Endpoint, data: Buffer, opts?: SendOptions): void {
      const onError = opts?.onError;
      try {
        if (closed) {
          ctx.failSend(onError, new TransportError('TRANSPORT_CLOSED', 'transport layer closed'));
          return;
        }
        const address = normaliseAddress(target.address);
        if (target.transport === 'udp') {
          const info = listenerFor(target, opts?.listener);
          if (info === undefined) {
            const bad = familyOf(address) === 0;
            ctx.failSend(
              onError,
              new TransportError(
                bad ? 'TRANSPORT_BAD_ADDRESS' : 'TRANSPORT_NO_LISTENER',
                bad ? `not an IP address: ${target.address}` : `no udp listener for ${hostPort(address, target.port)}`,
              ),
            );
            return;
          }
          udpById.get(info.id)!.send(address, target.port, data, onError);
          return;
        }
        if (address !== target.address) target = { transport: target.transport, address, port: target.port };
        if (opts?.connectionId === undefined && familyOf(address) === 0) {
          ctx.failSend(onError, new TransportError('TRANSPORT_BAD_ADDRESS', `not an IP address: ${target.address}`));
          return;
        }
        streams.send(target, data, opts);
      } catch (cause) {
        ctx.failSend(onError, new TransportError('TRANSPORT_SEND_FAILED', `send to ${hostPort(target.address, target.port)}: ${(cause as Error).message}`, { cause }));
      }
    },

    receive(listenerId, source, data) {
      const l = udpById.get(listenerId);
      if (l === undefined || closed) return;
      ctx.deliver({ data, source, listener: l.info, receivedAt: Date.now() });
    },

    close() {
      if (closing !== null) return closing;
      closed = true;
      const listeners = [...udpById.values(), ...streamById.values()];
      udpById.clear();
      streamById.clear();
      all.length = 0;
      for (const list of bySlot) list.length = 0;
      closing = Promise.all([streams.closeAll(), ...listeners.map((l) => l.close())]).then(() => undefined);
      return closing;
    },
  };
}
