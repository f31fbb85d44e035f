import dgram from 'node:dgram';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createUdpBacklog } from '@sipfront/core';
import { openWorkerRelay } from './relay.js';

describe("a worker's relay socket", () => {
  it("names its real socket, whose queue the load shedder reads as part of the worker's backlog", async () => {
    const relay = await openWorkerRelay(0, 2, pino({ level: 'silent' }));
    // an address needs no lookup: with this one the datagram leaves inside send(), not a tick later
    const tx = dgram.createSocket({ type: 'udp4', lookup: ((address: string, _o: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, address, 4)) as unknown as dgram.SocketOptions['lookup'] });
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
    try {
      expect(relay.socket).toMatchObject({ transport: 'udp', host: '127.0.0.1', family: 4 });
      // what the shedder reads (how long a read takes is not the point here)
      const read = createUdpBacklog(() => [relay.socket], { maxReadMs: 60_000 });
      expect(read()).toBe(0);
      // sent within this turn of the loop, so nothing has read them yet: they wait in the relay
      // socket's queue
      const payload = Buffer.alloc(600, 0x41);
      for (let i = 0; i < 30; i++) tx.send(payload, relay.socket.port, '127.0.0.1');
      expect(read()!).toBeGreaterThanOrEqual(30 * 600);
    } finally {
      tx.close();
      await relay.close();
    }
  });
});
