import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createUdpBacklog, procSocketKey, sumRxQueue } from './backlog.js';
import type { ListenerInfo } from './types.js';

const udp = (host: string, port: number, family: 4 | 6 = 4): ListenerInfo => ({ id: `udp:${host}:${port}`, transport: 'udp', host, port, family });

// two lines as Linux writes them (the heading, then one line per socket)
const PROC_UDP = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
  ' 1201: 0100007F:13C4 00000000:0000 07 00000000:00012300 00:00000000 00000000     0        0 81234 2 0000000000000000 0',
  ' 1202: 0100007F:13C5 00000000:0000 07 00000000:00000400 00:00000000 00000000     0        0 81235 2 0000000000000000 0',
  ' 1203: 0200007F:13C4 00000000:0000 07 00000000:00000800 00:00000000 00000000     0        0 81236 2 0000000000000000 0',
  '',
].join('\n');

describe('UDP backlog from /proc/net/udp', () => {
  it("spells addresses as the kernel does: each 32-bit word little-endian, port in hex", () => {
    expect(procSocketKey('127.0.0.1', 5060)).toBe('0100007F:13C4');
    expect(procSocketKey('192.0.2.10', 80)).toBe('0A0200C0:0050');
    expect(procSocketKey('::1', 5060)).toBe('00000000000000000000000001000000:13C4');
    expect(procSocketKey('2001:db8::5', 5062)).toBe('B80D0120000000000000000005000000:13C6');
    expect(procSocketKey('::ffff:192.0.2.10', 5060)).toBe('0000000000000000FFFF00000A0200C0:13C4');
    expect(procSocketKey('[fe80::1%eth0]', 5060)).toBe('000080FE000000000000000001000000:13C4');
    expect(procSocketKey('example.com', 5060)).toBeUndefined();
  });

  it('sums rx_queue of our sockets only (same port on another address is not ours)', () => {
    expect(sumRxQueue(PROC_UDP, new Set(['0100007F:13C4']))).toBe(0x12300);
    expect(sumRxQueue(PROC_UDP, new Set(['0100007F:13C4', '0100007F:13C5']))).toBe(0x12300 + 0x400);
    // a socket of ours that is not in the file (a key spelt otherwise) is unknown, not empty
    expect(sumRxQueue(PROC_UDP, new Set(['0100007F:1F90']))).toBeUndefined();
    expect(sumRxQueue('garbage\nnot a line\n', new Set(['0100007F:13C4']))).toBeUndefined();
  });

  it('reads the files it is given, asks the listeners at each read, gives up where they cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-backlog-'));
    try {
      const v4 = join(dir, 'udp');
      writeFileSync(v4, PROC_UDP);
      let listeners: ListenerInfo[] = [udp('127.0.0.1', 5060)];
      const read = createUdpBacklog(() => listeners, { files: { v4, v6: join(dir, 'udp6') } });
      expect(read()).toBe(0x12300);
      listeners = [udp('127.0.0.1', 5060), udp('127.0.0.1', 5061), { ...udp('127.0.0.1', 5060), transport: 'tcp' }];
      expect(read()).toBe(0x12300 + 0x400);
      // no UDP listener: nothing to say
      listeners = [];
      expect(read()).toBeUndefined();
      // an IPv6 listener and no udp6 file (not Linux, or no IPv6): unknown from then on
      listeners = [udp('::1', 5060, 6)];
      expect(read()).toBeUndefined();
      listeners = [udp('127.0.0.1', 5060)];
      expect(read()).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rests, and says why, when reading the file costs too much three times in a row; gives up for good where there is no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-backlog-'));
    try {
      const v4 = join(dir, 'udp');
      writeFileSync(v4, PROC_UDP);
      const why: string[] = [];
      // the test's clock: every read takes 2.5 ms, over a 2 ms limit
      let t = 0;
      const now = (): number => (t += 2.5);
      const read = createUdpBacklog(() => [udp('127.0.0.1', 5060)], { files: { v4, v6: v4 }, onGiveUp: (w) => why.push(w), maxReadMs: 2, retryAfterMs: 60_000, now });
      expect(read()).toBe(0x12300);
      expect(read()).toBe(0x12300);
      expect(read()).toBeUndefined();
      expect(why).toHaveLength(1);
      expect(why[0]).toMatch(/took 2\.5 ms .* trying again in 60 s/);
      // resting: not read (no new message)
      t += 30_000;
      expect(read()).toBeUndefined();
      expect(why).toHaveLength(1);
      // a minute on: read again
      t += 30_000;
      expect(read()).toBe(0x12300);
      // a missing file: at once, for good
      const gone: string[] = [];
      const missing = createUdpBacklog(() => [udp('127.0.0.1', 5060)], { files: { v4: join(dir, 'none'), v6: join(dir, 'none6') }, onGiveUp: (w) => gone.push(w) });
      expect(missing()).toBeUndefined();
      expect(gone[0]).toMatch(/cannot read/);
      expect(missing()).toBeUndefined();
      expect(gone).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sees a real socket's queue grow while nobody reads it, and empty once read (Linux)", async () => {
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
      const port = rx.address().port;
      // what a read costs is not the point here (the host may hold many sockets)
      const read = createUdpBacklog(() => [udp('127.0.0.1', port)], { maxReadMs: 60_000 });
      // take the socket out of the loop: datagrams wait in the kernel
      const sym = Object.getOwnPropertySymbols(rx).find((s) => s.description === 'state symbol')!;
      const handle = (rx as unknown as Record<symbol, { handle: { recvStop(): number; recvStart(): number } }>)[sym].handle;
      handle.recvStop();
      expect(read()).toBe(0);
      const payload = Buffer.alloc(500, 0x41);
      for (let i = 0; i < 20; i++) await new Promise<void>((r) => tx.send(payload, port, '127.0.0.1', () => r()));
      // each datagram takes at least its own size of buffer memory
      expect(read()!).toBeGreaterThanOrEqual(20 * 500);
      let got = 0;
      const all = new Promise<void>((r) =>
        rx.on('message', () => {
          if (++got === 20) r();
        }),
      );
      handle.recvStart();
      await all;
      expect(read()).toBe(0);
    } finally {
      rx.close();
      tx.close();
    }
  });
});
