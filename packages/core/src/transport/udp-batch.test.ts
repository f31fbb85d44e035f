// Batched UDP (udp-batch.ts and native/udp_batch.c) over real loopback sockets, against the
// same behaviour through node:dgram: what goes in comes out whole, in order, with its source.
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { batchUnavailableReason, createTransportLayer, startUdpBatch, type DropReason, type Endpoint, type Inbound, type ListenerInfo, type TransportLayer } from './index.js';
import type { UdpBatchLimits } from './udp-batch.js';

const WAIT_MS = 5000;
const layers: TransportLayer[] = [];
const sockets: dgram.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
  await Promise.all(layers.splice(0).map((l) => l.close()));
});

/** Waits, bounded, until `pred` holds after one of the events `wake` is given. */
function waitable() {
  let wake: (() => void) | undefined;
  return {
    poke(): void {
      wake?.();
    },
    async until(pred: () => boolean, what: string): Promise<void> {
      const deadline = Date.now() + WAIT_MS;
      while (!pred()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    },
  };
}

function makeLayer(udpBatch: boolean | UdpBatchLimits, maxMessageSize?: number, onMessage?: (m: Inbound) => void) {
  const inbox: Inbound[] = [];
  const drops: Array<{ reason: DropReason; source: Endpoint }> = [];
  const w = waitable();
  const layer = createTransportLayer({
    onMessage: (m) => {
      onMessage?.(m);
      inbox.push(m);
      w.poke();
    },
    onDrop: (reason, source) => {
      drops.push({ reason, source });
      w.poke();
    },
    udpBatch,
    ...(maxMessageSize !== undefined ? { maxMessageSize } : {}),
  });
  layers.push(layer);
  return { layer, inbox, drops, w };
}

/** A UDP client; `got` is what it received, `received(n)` waits (bounded) until it has n. */
async function client(host: string) {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sockets.push(s);
  s.bind(0, host);
  await once(s, 'listening', { signal: AbortSignal.timeout(WAIT_MS) });
  // a burst is read only after it was all sent: room for it (the kernel caps this at rmem_max)
  s.setRecvBufferSize(4 * 1024 * 1024);
  const got: Array<{ data: Buffer; port: number }> = [];
  const w = waitable();
  s.on('message', (data, rinfo) => {
    got.push({ data, port: rinfo.port });
    w.poke();
  });
  return {
    socket: s,
    port: s.address().port,
    send: (data: Buffer | string, port: number): void => s.send(data, port, host),
    got,
    texts: (): string[] => got.map((g) => g.data.toString()),
    received: (n: number, what = `${n} datagrams`): Promise<void> => w.until(() => got.length >= n, what),
  };
}

/** One UDP listener of `layer`, checked to read and send the way the test asks. */
async function listenOne(layer: TransportLayer, udpBatch: boolean | UdpBatchLimits, host = '127.0.0.1'): Promise<ListenerInfo> {
  const [l] = await layer.listen([{ transport: 'udp', host, port: 0 }]);
  expect(layer.udpBatched(l!.id)).toBe(udpBatch !== false);
  expect(layer.udpSendThread(l!.id)).toBe(udpBatch !== false && (udpBatch === true || udpBatch.sendThread !== false));
  return l!;
}

/** This process's threads named `name` (the native sender thread names itself sipfront-send). */
function threadsNamed(name: string): number {
  return readdirSync('/proc/self/task').filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === name;
    } catch {
      return false; // the thread ended meanwhile
    }
  }).length;
}

function datagram(i: number, size = 0): Buffer {
  const head = `MESSAGE sip:${i}@example.com SIP/2.0\r\nCall-ID: n${i}\r\nContent-Length: 0\r\n\r\n`;
  return size <= head.length ? Buffer.from(head) : Buffer.concat([Buffer.from(head), Buffer.alloc(size - head.length, 0x61 + (i % 26))]);
}

describe('UDP batching', () => {
  it('is built and used on Linux (pnpm build compiles native/udp_batch.c)', async () => {
    expect(process.platform).toBe('linux');
    expect(batchUnavailableReason()).toBe('');
    const { layer } = makeLayer(true);
    const [l] = await layer.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
    expect(layer.udpBatched(l!.id)).toBe(true);
    const { layer: plain } = makeLayer(false);
    const [p] = await plain.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
    expect(plain.udpBatched(p!.id)).toBe(false);
  });

  it('tells how long the oldest datagram of a read waited in the socket (the kernel receive time): long while the loop was held, short after; nothing from one read when asked for a span', async () => {
    const { layer, inbox, w } = makeLayer(true);
    const [l] = await layer.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
    expect(layer.takeUdpQueueDelay()).toBeUndefined(); // nothing read yet
    // the receive queue's size as the kernel granted it (4 MB asked: Linux doubles it, up to rmem_max)
    const granted = Number(readFileSync('/proc/sys/net/core/rmem_max', 'latin1')) * 2;
    expect(layer.udpRecvBuffer()).toBe(Math.min(granted, 8 * 1024 * 1024));
    // a thread of its own sends 20 datagrams while this one's loop is held for HOLD_MS
    const HOLD_MS = 150;
    const sender = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const s = require('node:dgram').createSocket('udp4');
       s.bind(0, '127.0.0.1', () => parentPort.postMessage('ready'));
       parentPort.on('message', () => {
         let left = 20;
         for (let i = 0; i < 20; i++) s.send('OPTIONS x', workerData.port, '127.0.0.1', () => {
           if (--left === 0) parentPort.postMessage(process.hrtime.bigint());
         });
       });`,
      { eval: true, workerData: { port: l!.port } },
    );
    try {
      await once(sender, 'message', { signal: AbortSignal.timeout(WAIT_MS) });
      const sent = once(sender, 'message', { signal: AbortSignal.timeout(WAIT_MS) });
      sender.postMessage('go');
      const heldFrom = performance.now();
      while (performance.now() - heldFrom < HOLD_MS);
      const heldUntil = Number(process.hrtime.bigint()) / 1e6;
      // when the sender's last datagram had left (the process's one monotonic clock), in ms
      const sentAt = Number(((await sent) as [bigint])[0]) / 1e6;
      // it sent them while this loop was held (its thread was ready: a few ms at most)
      expect(heldUntil - sentAt).toBeGreaterThan(HOLD_MS / 3);
      await w.until(() => inbox.length === 20, '20 datagrams');
      const held = layer.takeUdpQueueDelay();
      // each waited from its send to the end of the hold at least; and not for seconds
      expect(held).toBeDefined();
      expect(held!).toBeGreaterThanOrEqual(heldUntil - sentAt - 2);
      expect(held!).toBeLessThan(HOLD_MS + 1000);
      expect(layer.takeUdpQueueDelay()).toBeUndefined(); // taken: it starts over
      // a datagram read at once waited next to nothing
      const c = await client('127.0.0.1');
      c.socket.send('OPTIONS y', l!.port, '127.0.0.1');
      await w.until(() => inbox.length === 21, 'the 21st datagram');
      expect(layer.takeUdpQueueDelay()!).toBeLessThan(50);
      // asked for reads spread over 50 ms at least, one read tells nothing; two 60 ms apart do
      c.socket.send('OPTIONS z', l!.port, '127.0.0.1');
      await w.until(() => inbox.length === 22, 'the 22nd datagram');
      expect(layer.takeUdpQueueDelay(50)).toBeUndefined();
      c.socket.send('OPTIONS z', l!.port, '127.0.0.1');
      await w.until(() => inbox.length === 23, 'the 23rd datagram');
      await new Promise((r) => setTimeout(r, 60));
      c.socket.send('OPTIONS z', l!.port, '127.0.0.1');
      await w.until(() => inbox.length === 24, 'the 24th datagram');
      expect(layer.takeUdpQueueDelay(50)!).toBeLessThan(50);
    } finally {
      await sender.terminate();
    }
  });

  it('a send on another socket while a read is handled leaves when that read is done', async () => {
    // a worker reads on the listen socket and forwards from its own: both queues leave together
    const made = makeLayer(true, undefined, (m) => {
      made.layer.send({ transport: 'udp', address: '127.0.0.1', port: m.source.port }, Buffer.concat([Buffer.from('via-b:'), m.data]), { listener: b });
    });
    const [a, b] = await made.layer.listen([
      { transport: 'udp', host: '127.0.0.1', port: 0 },
      { transport: 'udp', host: '127.0.0.2', port: 0 },
    ]);
    expect(made.layer.udpBatched(a!.id) && made.layer.udpBatched(b!.id)).toBe(true);
    const c = await client('127.0.0.1');
    c.send('x', a!.port);
    await c.received(1, 'the answer from the other socket');
    expect(c.texts()).toEqual(['via-b:x']);
    expect(c.got[0]!.port).toBe(b!.port);
  });

  it('a socket closed inside its own read does not hold back the sends of the sockets left', async () => {
    const made = makeLayer(true, undefined, () => {
      // queued on b while a's read is handled, then the layer (a with it) closes inside that read
      made.layer.send({ transport: 'udp', address: '127.0.0.1', port: c.port }, Buffer.from('late'), { listener: b });
      void made.layer.close();
    });
    const [a, b] = await made.layer.listen([
      { transport: 'udp', host: '127.0.0.1', port: 0 },
      { transport: 'udp', host: '127.0.0.2', port: 0 },
    ]);
    const c = await client('127.0.0.1');
    // two datagrams in one read: the second is never handled (the reader closed after the first)
    c.send('x', a!.port);
    c.send('y', a!.port);
    await made.w.until(() => made.inbox.length === 1, 'the first datagram');
    await c.received(1, 'the send queued before the close');
    // a socket of another layer, sending from a timer: not held back by the read that never ended
    const second = makeLayer(true);
    const l = await listenOne(second.layer, true);
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
    second.layer.send({ transport: 'udp', address: '127.0.0.1', port: c.port }, Buffer.from('next'), { listener: l });
    await c.received(2, 'a send after the close');
    expect(c.texts()).toEqual(['late', 'next']);
    expect(made.inbox.length).toBe(1);
  });

  /**
   * a batched layer with its sender thread taking flushes however idle the loop (threadAlways) and
   * a client, inside a timer: outside any read, a flush goes on the next tick
   */
  async function fromTimer(limits: UdpBatchLimits = { threadAlways: true }) {
    const { layer } = makeLayer(limits);
    const l = await listenOne(layer, limits);
    const c = await client('127.0.0.1');
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
    const send = (i: number, size: number): void => layer.send({ transport: 'udp', address: '127.0.0.1', port: c.port }, datagram(i, size), { listener: l });
    return { layer, c, send };
  }

  it('the sends of a batched socket leave from one sender thread of the process; close waits for what it queued', async () => {
    const { layer, c, send } = await fromTimer();
    const n = 300;
    for (let i = 0; i < n; i++) send(i, 1200);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(threadsNamed('sipfront-send')).toBe(1);
    // closed at once: the close waits until the thread has sent them all
    await layer.close();
    await c.received(n, 'every datagram queued before the close');
    for (let i = 0; i < n; i++) expect(c.got[i]!.data.equals(datagram(i, 1200))).toBe(true);
    // a second layer shares the thread
    const again = makeLayer(true);
    await listenOne(again.layer, true);
    expect(threadsNamed('sipfront-send')).toBe(1);
  });

  it('by default the thread takes flushes only while the loop is busy: idle they are sent here, after a busy stretch on the thread, idle again here', async () => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.bind(0, '127.0.0.1');
    await once(s, 'listening', { signal: AbortSignal.timeout(WAIT_MS) });
    const batch = startUdpBatch(s, 1500, { onDatagram: () => undefined, onSendError: () => undefined, onReadError: () => undefined });
    expect(batch?.threaded).toBe(true);
    try {
      const c = await client('127.0.0.1');
      let i = 0;
      /** n datagrams queued inside a timer (one flush, on the next tick), then all of them received */
      const flushOf = async (n: number): Promise<void> => {
        await new Promise<void>((resolve) => setTimeout(resolve, 1));
        for (let k = 0; k < n; k++) batch!.send('127.0.0.1', c.port, datagram(i++, 300), undefined);
        await c.received(i, `${i} datagrams`);
      };
      await flushOf(20);
      await flushOf(1);
      expect(batch!.threadFlushes).toBe(0);
      // the loop kept at work for 700 ms in slices of 20 ms: the samples of its utilization (every
      // 250 ms, on a timer that runs between the slices) see it busy
      const end = performance.now() + 700;
      await new Promise<void>((resolve) => {
        const slice = (): void => {
          const t = performance.now() + 20;
          while (performance.now() < t) {
            // busy
          }
          if (performance.now() < end) setImmediate(slice);
          else resolve();
        };
        slice();
      });
      await flushOf(20);
      expect(batch!.threadFlushes).toBe(1);
      expect(c.got.slice(-20).every((g, k) => g.data.equals(datagram(i - 20 + k, 300)))).toBe(true);
      // idle again: within a few samples the flushes are sent here again (bounded: 40 tries)
      let tries = 0;
      for (let before = -1; batch!.threadFlushes !== before && tries < 40; tries++) {
        before = batch!.threadFlushes;
        await new Promise<void>((resolve) => setTimeout(resolve, 100));
        await flushOf(1);
      }
      expect(tries).toBeLessThan(40);
      const settled = batch!.threadFlushes;
      await flushOf(5);
      expect(batch!.threadFlushes).toBe(settled);
    } finally {
      batch?.close();
    }
  });

  it('a read window: after a read that emptied the queue, what comes next is read once the window is over, all of it at once; after a quiet window the next datagram is read as it comes', async () => {
    const WINDOW = 20;
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.bind(0, '127.0.0.1');
    await once(s, 'listening', { signal: AbortSignal.timeout(WAIT_MS) });
    const reads: Array<{ text: string; at: number }> = [];
    const w = waitable();
    const batch = startUdpBatch(s, 1500, {
      onDatagram: (data) => {
        reads.push({ text: data!.toString(), at: performance.now() });
        w.poke();
      },
      onSendError: () => undefined,
      onReadError: () => undefined,
    }, { readWindowMs: WINDOW });
    expect(batch).toBeDefined();
    try {
      const c = await client('127.0.0.1');
      const port = s.address().port;
      // A wakes the reader at once (nothing came before it)
      c.send('A', port);
      await w.until(() => reads.length === 1, 'A');
      batch!.takeQueueDelay(); // A's: the reads after it are measured from here
      // B1..B3 come while the window after A's read is open: read when it closes, in one go
      for (const t of ['B1', 'B2', 'B3']) c.send(t, port);
      await w.until(() => reads.length === 4, 'B1..B3');
      expect(reads.map((r) => r.text)).toEqual(['A', 'B1', 'B2', 'B3']);
      // the window is counted from the loop's time of A's turn (a little before A was handed over)
      expect(reads[1]!.at - reads[0]!.at).toBeGreaterThanOrEqual(WINDOW - 5);
      expect(reads[1]!.at - reads[0]!.at).toBeLessThan(WINDOW + 1000);
      expect(reads[3]!.at - reads[1]!.at).toBeLessThan(WINDOW / 2);
      // the kernel's receive times agree: the first of them waited about the window in the queue
      expect(batch!.takeQueueDelay()!).toBeGreaterThanOrEqual(WINDOW - 5);
      // nothing for three windows: the reader is back on the poll, and C is read as it comes
      await new Promise<void>((resolve) => setTimeout(resolve, 3 * WINDOW));
      c.send('C', port);
      await w.until(() => reads.length === 5, 'C after a quiet spell');
      expect(reads[4]!.text).toBe('C');
      expect(batch!.takeQueueDelay()!).toBeLessThan(WINDOW);
    } finally {
      batch?.close();
    }
  });

  it('a read window out of range is refused where the reader opens', async () => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.bind(0, '127.0.0.1');
    await once(s, 'listening', { signal: AbortSignal.timeout(WAIT_MS) });
    const hooks = { onDatagram: () => undefined, onSendError: () => undefined, onReadError: () => undefined };
    expect(() => startUdpBatch(s, 1500, hooks, { readWindowMs: 21 })).toThrow(/readWindowMs: whole ms from 0 to 20, got 21/);
    expect(() => startUdpBatch(s, 1500, hooks, { readWindowMs: 1.5 })).toThrow(/readWindowMs/);
  });

  it('flushes too small for the thread stay behind the ones it still holds: a socket sends in order', async () => {
    const { c, send } = await fromTimer({ threadAlways: true, threadMin: 3 });
    // alternate flushes of 16 datagrams (to the thread) and of 1 (small: on this thread unless the
    // thread still has some of this socket's), back to back: each send's flush is queued on
    // process.nextTick before the tick this loop waits for
    let i = 0;
    for (let round = 0; round < 100; round++) {
      const size = round % 2 === 0 ? 16 : 1;
      for (let k = 0; k < size; k++, i++) send(i, 900);
      await new Promise<void>((resolve) => process.nextTick(resolve));
    }
    await c.received(i, `all ${i} datagrams`);
    expect(c.texts().map((t) => /Call-ID: n(\d+)/.exec(t)?.[1])).toEqual(Array.from({ length: i }, (_, k) => String(k)));
  });

  const modes: Array<[string, boolean | UdpBatchLimits]> = [
    // the default: flushes to the sender thread only while the loop is busy (in a test: never)
    ['batched', true],
    // every flush to the sender thread, even of one datagram, however idle the loop
    ['batched, every flush to the thread', { threadMin: 1, threadAlways: true }],
    // flushes of 1–2 datagrams sent on the loop thread while the sender thread has none queued
    ['batched, small flushes on the loop thread', { threadMin: 3, threadAlways: true }],
    ['batched, sent on the loop thread', { sendThread: false }],
    ['dgram', false],
  ];
  for (const [mode, udpBatch] of modes) {
    for (const host of ['127.0.0.1', '::1']) {
      it(`${mode}, ${host}: a burst of 120 arrives whole, in order, with its source; the answers go back`, async () => {
        const { layer, inbox, w } = makeLayer(udpBatch);
        const l = await listenOne(layer, udpBatch, host);
        const c = await client(host);
        // more than the 64 datagrams of one read; the burst fits a default-sized socket buffer
        const n = 120;
        const size = (i: number): number => (i * 37) % 1400;
        for (let i = 0; i < n; i++) c.send(datagram(i, size(i)), l.port);
        await w.until(() => inbox.length === n, `${n} datagrams`);
        for (let i = 0; i < n; i++) {
          expect(inbox[i]!.data.equals(datagram(i, size(i)))).toBe(true);
          expect(inbox[i]!.source).toEqual({ transport: 'udp', address: host, port: c.port });
          expect(inbox[i]!.listener.id).toBe(l.id);
        }
        // answers sent later, from the test (outside any read)
        for (const m of inbox) layer.send(m.source, Buffer.concat([Buffer.from('re:'), m.data]));
        await c.received(n, `${n} answers`);
        for (let i = 0; i < n; i++) {
          expect(c.got[i]!.data.equals(Buffer.concat([Buffer.from('re:'), datagram(i, size(i))]))).toBe(true);
          expect(c.got[i]!.port).toBe(l.port);
        }
      });
    }

    it(`${mode}: microtasks and nextTicks one datagram starts have run when the next one, read at the same wake-up, arrives`, async () => {
      // the proxy relies on it: a probe's answer settles a promise that marks a backend up, and
      // the INVITE read right behind it must see the backend up (as with dgram, one callback each)
      const seen: string[] = [];
      let settled = 0;
      let ticked = 0;
      const { layer, inbox, w } = makeLayer(udpBatch, undefined, (m) => {
        seen.push(`${m.data.toString()} after ${settled} settled, ${ticked} ticked`);
        void Promise.resolve().then(() => settled++);
        process.nextTick(() => ticked++);
      });
      const l = await listenOne(layer, udpBatch);
      const c = await client('127.0.0.1');
      // all sent before the layer's next read: one recvmmsg gets them together
      for (const text of ['a', 'b', 'c']) c.send(text, l.port);
      await w.until(() => inbox.length === 3, 'three datagrams');
      expect(seen).toEqual(['a after 0 settled, 0 ticked', 'b after 1 settled, 1 ticked', 'c after 2 settled, 2 ticked']);
    });

    it(`${mode}: an answer sent while its datagram is handled leaves without anything else sent after it`, async () => {
      const made = makeLayer(udpBatch, undefined, (m) => made.layer.send(m.source, Buffer.concat([Buffer.from('re:'), m.data])));
      const l = await listenOne(made.layer, udpBatch);
      const c = await client('127.0.0.1');
      c.send('one', l.port);
      await c.received(1, 'the answer');
      expect(c.texts()).toEqual(['re:one']);
    });

    it(`${mode}: answers sent while a datagram is handled, and from the microtask and tick it starts, all leave, in order`, async () => {
      // the proxy's way: the answer or the forwarded request is sent inside the read's callback
      const made = makeLayer(udpBatch, undefined, (m) => {
        const send = (what: string): void => made.layer.send(m.source, Buffer.concat([Buffer.from(`${what}:`), m.data]));
        send('now');
        void Promise.resolve().then(() => send('micro'));
        process.nextTick(() => send('tick'));
      });
      const l = await listenOne(made.layer, udpBatch);
      const c = await client('127.0.0.1');
      for (const text of ['a', 'b', 'c']) c.send(text, l.port);
      await c.received(9, 'nine answers');
      // each datagram's own three in the order they were made (ticks run before microtasks)
      for (const text of ['a', 'b', 'c']) {
        expect(c.texts().filter((g) => g.endsWith(`:${text}`))).toEqual([`now:${text}`, `tick:${text}`, `micro:${text}`]);
      }
    });

    it(`${mode}: a datagram of maxMessageSize passes, one byte more is dropped as too large, keep-alives are not delivered`, async () => {
      const { layer, inbox, drops, w } = makeLayer(udpBatch, 3000);
      const l = await listenOne(layer, udpBatch);
      const c = await client('127.0.0.1');
      c.send('\r\n\r\n', l.port);
      c.send(datagram(1, 3001), l.port);
      c.send(datagram(2, 60000), l.port);
      c.send(datagram(3, 3000), l.port);
      await w.until(() => inbox.length === 1 && drops.length === 2, 'one delivery and two drops');
      expect(inbox[0]!.data.equals(datagram(3, 3000))).toBe(true);
      expect(drops).toEqual([
        { reason: 'too-large', source: { transport: 'udp', address: '127.0.0.1', port: c.port } },
        { reason: 'too-large', source: { transport: 'udp', address: '127.0.0.1', port: c.port } },
      ]);
    });

    it(`${mode}: sends outside a read (a timer's) leave on the next tick, more than the send queue holds`, async () => {
      // a queue of 16 datagrams or 8 KB: 60 datagrams of 1 KB fill it several times over
      const { layer } = makeLayer(udpBatch !== false ? { ...(udpBatch === true ? {} : udpBatch), outEntries: 16, outBytes: 8192 } : false);
      const l = await listenOne(layer, udpBatch);
      const c = await client('127.0.0.1');
      const n = 60;
      await new Promise<void>((resolve) => setTimeout(resolve, 1));
      for (let i = 0; i < n; i++) layer.send({ transport: 'udp', address: '127.0.0.1', port: c.port }, datagram(i, 1000), { listener: l });
      await c.received(n);
      for (let i = 0; i < n; i++) expect(c.got[i]!.data.equals(datagram(i, 1000))).toBe(true);
    });

    it(`${mode}: a refused send reaches onError later, never inside send(), and the next ones still go`, async () => {
      const { layer } = makeLayer(udpBatch);
      const l = await listenOne(layer, udpBatch);
      const c = await client('127.0.0.1');
      let insideSend = true;
      let failure: Error | undefined;
      const failed = waitable();
      // port 0 is not a destination: the kernel refuses it (EINVAL)
      layer.send({ transport: 'udp', address: '127.0.0.1', port: 0 }, datagram(1), {
        listener: l,
        onError: (err) => {
          expect(insideSend).toBe(false);
          failure = err;
          failed.poke();
        },
      });
      layer.send({ transport: 'udp', address: '127.0.0.1', port: c.port }, datagram(2), { listener: l });
      insideSend = false;
      await failed.until(() => failure !== undefined, 'the send error');
      expect(failure!.message).toMatch(/127\.0\.0\.1:0/);
      await c.received(1, 'the second datagram');
      expect(c.got[0]!.data.equals(datagram(2))).toBe(true);
    });

    it(`${mode}: closing frees the port and reads nothing more`, async () => {
      const { layer, inbox, w } = makeLayer(udpBatch);
      const l = await listenOne(layer, udpBatch);
      const c = await client('127.0.0.1');
      c.send(datagram(1), l.port);
      await w.until(() => inbox.length === 1, 'a datagram');
      await layer.close();
      const again = makeLayer(udpBatch);
      const [l2] = await again.layer.listen([{ transport: 'udp', host: '127.0.0.1', port: l.port }]);
      expect(l2!.port).toBe(l.port);
      c.send(datagram(2), l.port);
      await again.w.until(() => again.inbox.length === 1, 'a datagram on the new listener');
      expect(inbox.length).toBe(1);
    });
  }
});
