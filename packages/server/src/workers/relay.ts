// A worker's relay: the datagrams the shared socket handed it that belong to another worker go
// there over a loopback socket; those relayed to it are delivered as if read from the shared socket.
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { Endpoint, ListenerInfo, TransportLayer, UdpAffinity } from '@sipfront/core';
import { datagramOwner, startUdpBatch } from '@sipfront/core';
import { isSf, sendToPrimary } from './messages.js';

export interface WorkerRelay extends UdpAffinity {
  /** the transport relayed datagrams are delivered into */
  attach(transport: Pick<TransportLayer, 'receive'>): void;
  /**
   * A datagram for another worker from a source this one drops anyway (a ban) is dropped here,
   * not relayed: `screen` says so (and counts it).
   */
  setScreen(screen: (source: { address: string; port: number }) => boolean): void;
  /** datagrams sent on to other workers, and received from them */
  readonly stats: { relayedOut: number; relayedIn: number };
  /** the relay socket (127.0.0.1, its own port): its queue is part of this worker's backlog */
  readonly socket: ListenerInfo;
  /** the relay socket's queue delay since the last call (UdpBatch.takeQueueDelay; undefined through dgram) */
  takeQueueDelay(minSpanMs?: number): number | undefined;
  close(): Promise<void>;
}

/** The relay header: listener id, source address, source port, each ended by a LF. */
const header = (listenerId: string, source: { address: string; port: number }): Buffer => Buffer.from(`${listenerId}\n${source.address}\n${source.port}\n`, 'latin1');

const MAX_DATAGRAM = 65_507;

/** Opens this worker's relay socket (127.0.0.1, a port of its own) and tells the primary its port. */
export const openWorkerRelay = async (index: number, count: number, log: Logger): Promise<WorkerRelay> => {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    // exclusive: a socket of this worker's own, not one shared through the primary
    socket.bind({ address: '127.0.0.1', port: 0, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
    socket.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the kernel's caps: defaults still work
  }
  socket.on('error', (err) => log.warn({ err: err.message }, 'worker relay socket error'));
  let peers: number[] | undefined;
  const known = new Set<number>();
  /** workers that have stopped: what they owned stays where it arrives */
  const gone = new Set<number>();
  let transport: Pick<TransportLayer, 'receive'> | undefined;
  let screen: ((source: { address: string; port: number }) => boolean) | undefined;
  const stats = { relayedOut: 0, relayedIn: 0 };
  process.on('message', (m: unknown) => {
    if (isSf(m) && m.sf === 'peers') {
      const ports = (m as unknown as { ports: number[] }).ports;
      if (Array.isArray(ports) && ports.length === count) {
        peers = ports;
        known.clear();
        for (const p of ports) known.add(p);
      }
    } else if (isSf(m) && m.sf === 'gone') {
      const i = (m as unknown as { index: number }).index;
      if (Number.isInteger(i)) gone.add(i);
    }
  });
  const onRelayed = (data: Buffer, fromAddress: string, fromPort: number): void => {
    // only the other workers' relay sockets may speak here
    if (fromAddress !== '127.0.0.1' || !known.has(fromPort) || transport === undefined) return;
    const a = data.indexOf(0x0a);
    const b = a < 0 ? -1 : data.indexOf(0x0a, a + 1);
    const c = b < 0 ? -1 : data.indexOf(0x0a, b + 1);
    if (c < 0) return;
    const listenerId = data.toString('latin1', 0, a);
    const address = data.toString('latin1', a + 1, b);
    const port = Number(data.toString('latin1', b + 1, c));
    if (!Number.isInteger(port)) return;
    stats.relayedIn++;
    const source: Endpoint = { transport: 'udp', address, port };
    transport.receive(listenerId, source, data.subarray(c + 1));
  };
  const listenThroughDgram = (): void => {
    socket.on('message', (data, rinfo) => onRelayed(data, rinfo.address, rinfo.port));
  };
  // batched reads and sends (recvmmsg/sendmmsg) as on the listen sockets, where the module is built
  const batch = startUdpBatch(socket, MAX_DATAGRAM, {
    onDatagram: (data, address, port) => {
      if (data !== null) onRelayed(data, address, port);
    },
    onSendError: (onError, err) => onError(err),
    onReadError: (err) => {
      log.warn({ err: err.message }, 'worker relay socket error');
      listenThroughDgram();
    },
  });
  if (batch === undefined) listenThroughDgram();
  // a relay the kernel refused: logged, as dgram's 'error' event of the unbatched socket is
  const relayFailed = (err: Error): void => log.warn({ err: err.message }, 'worker relay send failed');
  sendToPrimary({ sf: 'relay', port: socket.address().port });
  const relayPort = socket.address().port;
  return {
    stats,
    socket: Object.freeze({ id: `relay:127.0.0.1:${relayPort}`, transport: 'udp' as const, host: '127.0.0.1', port: relayPort, family: 4 as const }),
    attach(t) {
      transport = t;
    },
    takeQueueDelay: (minSpanMs) => batch?.takeQueueDelay(minSpanMs),
    setScreen(s) {
      screen = s;
    },
    route(data, source, listenerId) {
      // a banned source costs no scan: dropped (and counted) here whoever owns it
      if (screen !== undefined && screen(source)) return true;
      const owner = datagramOwner(data, count);
      if (owner < 0 || owner === index || gone.has(owner)) return false;
      // another worker's, but the relay table has not come yet: dropped (the sender retransmits),
      // never handled by a worker that does not own it
      if (peers === undefined) return true;
      const h = header(listenerId, source);
      if (h.length + data.length > MAX_DATAGRAM) return false;
      stats.relayedOut++;
      if (batch !== undefined) batch.send('127.0.0.1', peers[owner]!, data, relayFailed, h);
      else socket.send([h, data], peers[owner]!, '127.0.0.1');
      return true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        batch?.close();
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
  };
};
