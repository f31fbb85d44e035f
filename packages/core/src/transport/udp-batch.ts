// Batched UDP I/O below node:dgram (Linux): a native module (packages/core/native/udp_batch.c)
// reads up to SLOTS datagrams a wake-up with recvmmsg and sends what a batch produced with one
// sendmmsg. dgram stays the socket's owner (bind, sharing between workers, close); this file
// takes its descriptor, stops dgram's reading, and queues sends until the batch ends.
//
// Why: dgram costs a system call, a request object, an address lookup and a JS↔C++ round trip per
// datagram in each direction, about a third of the proxy's CPU per call (bench/README.md).
// Without the module (not built, not Linux, SIPFRONT_UDP_BATCH=0), udp.ts uses dgram alone.

import type dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { getSystemErrorName } from 'node:util';

interface NativeReader {
  handle: unknown;
  buffer: ArrayBuffer;
  meta: Int32Array;
}

interface NativeSender {
  handle: unknown;
  /** [0]: the sender's batches queued or being sent by the thread (written by the module) */
  state: Int32Array;
}

interface NativeModule {
  /** onDatagram(i, n): datagram i of n read at one wake-up (one call each); (-errno, 0) on a read error */
  open(fd: number, slots: number, slotSize: number, onDatagram: (i: number, n: number) => void, coalesceMs?: number): NativeReader;
  close(handle: unknown): void;
  send(fd: number, out: ArrayBuffer, meta: Int32Array, start: number, end: number): number;
  ntop(family: number, w0: number, w1?: number, w2?: number, w3?: number): string;
  pton(text: string, out: Int32Array): boolean;
  /** the sender thread: onError(seq, index, -errno, port, family, w0..w3) for a datagram it could not send */
  openSender(fd: number, onError: (seq: number, index: number, errno: number, port: number, family: number, w0: number, w1: number, w2: number, w3: number) => void): NativeSender;
  /** waits until the sender's queued datagrams have left, then closes its descriptor */
  closeSender(handle: unknown): void;
  /** 0: copied and queued for the sender thread; -EAGAIN: its queue is full; -EBADF: closed */
  sendAsync(handle: unknown, out: ArrayBuffer, meta: Int32Array, start: number, end: number, seq: number): number;
}

/** Datagrams a wake-up reads at most; the rest wait for the next turn of the loop. */
const SLOTS = 64;
/** Words per datagram in the shared meta arrays (the C file's layout). */
const META = 8;
/** Bytes and datagrams of queued sends before a flush is forced. */
export interface UdpBatchLimits {
  outBytes?: number;
  outEntries?: number;
  /**
   * the module's sender thread (default: on unless SIPFRONT_UDP_SEND_THREAD=0): while the loop is
   * busy (THREAD_BUSY_ON), a flush copies its datagrams for it and returns; the kernel's delivery
   * leaves the JS thread
   */
  sendThread?: boolean;
  /** the fewest datagrams a flush hands to the thread when it has none of the socket's queued (tests: 1) */
  threadMin?: number;
  /** flushes go to the sender thread however idle the loop (the tests of the thread; default false) */
  threadAlways?: boolean;
  /**
   * ms the next read waits after a read that emptied the socket's queue (default 0: none), so
   * that the datagrams of that window are read at one wake-up (the module's read coalescing,
   * udp_batch.c `after_read`); whole ms, at most MAX_READ_WINDOW_MS
   */
  readWindowMs?: number;
}

/** the longest read window: a datagram's reading is delayed by at most this */
export const MAX_READ_WINDOW_MS = 20;
const OUT_BYTES = 256 * 1024;
const OUT_ENTRIES = 512;
const EAGAIN = -11;
const ADDRESS_CACHE_MAX = 4096;
/**
 * Flushes handed to the sender thread whose error callbacks are kept (a ring): the module holds at
 * most 512 jobs of a sender, so a job's entry is still there when its errors come back.
 */
const RING = 1024;
/**
 * A flush of fewer datagrams is sent on the JavaScript thread when the sender thread has nothing
 * of the socket's queued; 1, the default, hands every flush to the thread. Waking the thread costs
 * about what the kernel's delivery of one datagram does (a futex wake and an inter-processor
 * interrupt, dear on a VM), but the JavaScript thread is the one that falls behind when other
 * processes share the CPUs. Measured both ways (`bench/README.md`): on a slower VM at 2,500 calls/s,
 * every flush on the thread was clean in 3 of 3 runs at 0.302 CPU s per 1000 calls against 0 of 3
 * at 0.332 with 3 (twelfth session); on a faster one at 3,000/s, 1 cost 0.269–0.309 against
 * 0.245–0.276 and was clean less often (tenth session). The slower case is where the top step is
 * lost, so 1.
 */
const THREAD_MIN = 1;
/**
 * The thread is worth its wake-ups only when the JavaScript thread is short of time: below that,
 * each flush it takes costs a futex wake and a sleep more than sending here would (A/B, sixteenth
 * session, `bench/README.md`: every flush to the thread cost 0.98 CPU s per 1000 calls at 500
 * calls/s against 0.88 with none, 0.68 against 0.65 at 1,000), and above it the thread takes the
 * kernel's delivery off the thread that sets the ceiling (~9 % of its time a call). So flushes go
 * to the thread from a sample of the loop's utilization (over THREAD_SAMPLE_MS) of THREAD_BUSY_ON
 * or more, and come back once one falls under THREAD_BUSY_ON less the hysteresis (sending here
 * adds to the loop's time what the thread took: the margin keeps the switch from swinging on that
 * alone). At 0.7 the thread was on for most of a run at 1,000 calls/s (the loop then busy ~0.6 of
 * the time with the thread, more without); at 0.8 it stays off there and is on from ~1,500.
 */
const THREAD_BUSY_ON = 0.8;
const THREAD_BUSY_HYSTERESIS = 0.15;
const THREAD_SAMPLE_MS = 250;

/**
 * Whether the loop is busy (THREAD_BUSY_ON, with the hysteresis), one answer for the process's
 * sockets; sampled only while a socket has a sender thread (`busyWatchers`), on an unref'd timer.
 */
let loopBusy = false;
let busyWatchers = 0;
let busyTimer: NodeJS.Timeout | undefined;
const watchBusy = (): void => {
  if (busyWatchers++ > 0) return;
  let last = performance.eventLoopUtilization();
  busyTimer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    loopBusy = u >= (loopBusy ? THREAD_BUSY_ON - THREAD_BUSY_HYSTERESIS : THREAD_BUSY_ON);
  }, THREAD_SAMPLE_MS);
  busyTimer.unref();
};
const unwatchBusy = (): void => {
  if (--busyWatchers > 0) return;
  clearInterval(busyTimer);
  busyTimer = undefined;
  loopBusy = false;
};

let native: NativeModule | null | undefined;

/**
 * The process's sockets share one notion of "a read is being handled": sends queued on any of them
 * meanwhile (a request read on the listen socket, forwarded from a worker's own socket or relayed)
 * leave together when that read's last datagram is done.
 */
let readInProgress: (() => void) | undefined;
const waitingFlushes = new Set<() => void>();
const flushWaiting = (): void => {
  const list = [...waitingFlushes];
  waitingFlushes.clear();
  let failure: unknown;
  for (const f of list) {
    try {
      f();
    } catch (err) {
      // every socket's queue still leaves; the first failure is thrown after
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
};
let unavailableReason = '';
/** why a socket's sender thread did not start, the latest such ('' while every one asked for started) */
let senderFailure = '';
export function sendThreadFailure(): string {
  return senderFailure;
}

/** The native module, or null (then `batchUnavailableReason()` says why). */
function loadNative(): NativeModule | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== 'linux') unavailableReason = 'not Linux';
  else if (process.env.SIPFRONT_UDP_BATCH === '0') unavailableReason = 'SIPFRONT_UDP_BATCH=0';
  else {
    try {
      const require = createRequire(import.meta.url);
      native = require('../../native/build/udp_batch.node') as NativeModule;
    } catch (err) {
      unavailableReason = `native module not loadable (${(err as Error).message.split('\n')[0]}); \`pnpm build\` builds it with a C compiler`;
    }
  }
  return native;
}

/** An error as node reports a system call's failure: message and code its name, errno the negative number. */
function errnoError(errno: number): NodeJS.ErrnoException {
  const err = new Error(getSystemErrorName(errno)) as NodeJS.ErrnoException;
  err.code = getSystemErrorName(errno);
  err.errno = errno;
  return err;
}

export function batchUnavailableReason(): string {
  loadNative();
  return unavailableReason;
}

interface DgramHandle {
  fd: number;
  recvStop(): number;
  recvStart(): number;
}

/** dgram's handle, reached through its state symbol (the public `_handle` warns, DEP0112). */
function handleOf(socket: dgram.Socket): DgramHandle | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (sym === undefined) return undefined;
  const state = (socket as unknown as Record<symbol, { handle?: DgramHandle } | undefined>)[sym];
  const handle = state?.handle;
  if (handle === undefined || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.recvStop !== 'function') return undefined;
  return handle;
}

export interface UdpBatch {
  /**
   * Queues a datagram (`head`, when given, then `data`: one datagram of both, copied once); it
   * leaves when the current batch ends, or on the next tick outside one.
   */
  send(address: string, port: number, data: Buffer, onError: ((err: Error) => void) | undefined, head?: Buffer): void;
  /** Stops reading (the socket itself stays the caller's to close). */
  close(): void;
  /** Whether the socket has the module's sender thread (UdpBatchLimits.sendThread; it sends while the loop is busy). */
  readonly threaded: boolean;
  /** Flushes handed to the sender thread so far (the rest were sent on this thread). */
  readonly threadFlushes: number;
  /**
   * The shortest wait in the socket's queue, in ms, of the first datagram of each read since the
   * last call (the kernel's receive time, SO_TIMESTAMPNS). Each read takes the oldest datagrams
   * waiting, so this is the queue's delay at its shortest over that time: a burst or a pause
   * leaves it near 0, a standing queue does not. Undefined when the reads with a time since then
   * were less than `minSpanMs` apart, first to last (one read after a pause tells nothing of a
   * standing queue), or there were none.
   */
  takeQueueDelay(minSpanMs?: number): number | undefined;
}

export interface UdpBatchHooks {
  /** Each datagram read, in order. `oversize` datagrams were cut by the slot and come as null. */
  onDatagram(data: Buffer | null, address: string, port: number): void;
  /**
   * A send the kernel refused. EAGAIN on this thread is not one (those go through dgram's queue);
   * on the sender thread it is, once the thread has waited for room in vain.
   */
  onSendError(onError: (err: Error) => void, err: NodeJS.ErrnoException, address: string, port: number): void;
  /**
   * A read error of the socket: batched reading has stopped and dgram's reading is back on; the
   * caller listens to the socket's 'message' from now on (sends stay batched).
   */
  onReadError(err: Error): void;
}

/**
 * Takes over reading and sending of a bound dgram socket, or returns undefined (module missing,
 * handle not reachable) and leaves the socket as it was. `slotSize` is the largest datagram read
 * whole; bigger ones are reported as null (udp.ts drops them as too large).
 */
export function startUdpBatch(socket: dgram.Socket, slotSize: number, hooks: UdpBatchHooks, limits: UdpBatchLimits = {}): UdpBatch | undefined {
  const mod = loadNative();
  if (mod === null) return undefined;
  const handle = handleOf(socket);
  if (handle === undefined) {
    unavailableReason = "node:dgram's socket handle not reachable";
    return undefined;
  }
  const fd = handle.fd;
  // narrowed once for the functions below
  const lib: NativeModule = mod;
  const dgramHandle: DgramHandle = handle;
  const size = Math.min(65536, Math.max(512, Math.floor(slotSize) + 1));

  // ---- sending: datagrams are copied into one buffer and leave together
  const outCapacity = limits.outBytes ?? OUT_BYTES;
  const outEntries = limits.outEntries ?? OUT_ENTRIES;
  const out = new ArrayBuffer(outCapacity);
  const outBytes = new Uint8Array(out);
  const outMeta = new Int32Array(outEntries * META);
  let outErrors: (((err: Error) => void) | undefined)[] = [];
  let outCount = 0;
  let outUsed = 0;
  let flushScheduled = false;
  const addr = new Int32Array(5);
  const sendAddresses = new Map<string, Int32Array>();

  /** a send entry's address words as text (family 4: w0 only) */
  const addressText = (family: number, w0: number, w1: number, w2: number, w3: number): string => (family === 6 ? mod.ntop(6, w0, w1, w2, w3) : mod.ntop(4, w0));

  // ---- the sender thread: a flush is copied into a job and sent there
  const useThread = limits.sendThread ?? process.env.SIPFRONT_UDP_SEND_THREAD !== '0';
  const threadMin = Math.max(1, limits.threadMin ?? THREAD_MIN);
  const threadAlways = limits.threadAlways === true;
  const readWindowMs = limits.readWindowMs ?? 0;
  if (!Number.isInteger(readWindowMs) || readWindowMs < 0 || readWindowMs > MAX_READ_WINDOW_MS) {
    throw new RangeError(`readWindowMs: whole ms from 0 to ${MAX_READ_WINDOW_MS}, got ${readWindowMs}`);
  }
  let threadFlushes = 0;
  let sender: NativeSender | undefined;
  const ringSeq = new Int32Array(RING);
  const ringErrors: ((((err: Error) => void) | undefined)[] | undefined)[] = new Array<undefined>(RING).fill(undefined);
  let seq = 0;
  const onThreadError = (at: number, index: number, errno: number, port: number, family: number, w0: number, w1: number, w2: number, w3: number): void => {
    const slot = at & (RING - 1);
    if (ringSeq[slot] !== at) return;
    const onError = ringErrors[slot]?.[index];
    if (onError !== undefined) hooks.onSendError(onError, errnoError(errno), addressText(family, w0, w1, w2, w3), port);
  };
  /** ring slots holding callbacks, let go once the thread has nothing of this socket's left */
  const ringLive: number[] = [];
  const releaseRing = (): void => {
    if (ringLive.length >= RING) ringErrors.fill(undefined);
    else for (const slot of ringLive) ringErrors[slot] = undefined;
    ringLive.length = 0;
  };

  const flush = (): void => {
    flushScheduled = false;
    let start = 0;
    try {
      if (sender !== undefined && outCount > 0) {
        const state = sender.state;
        // the thread has sent all of this socket's and reported their errors: their callbacks go
        if (ringLive.length > 0 && state[0] === 0 && state[1] === 0) releaseRing();
        if ((((threadAlways || loopBusy) && outCount >= threadMin) || state[0]! > 0) && socket.getSendQueueCount() === 0) {
          seq = (seq + 1) | 0;
          const r = mod.sendAsync(sender.handle, out, outMeta, 0, outCount, seq);
          if (r === 0) {
            threadFlushes++;
            const slot = seq & (RING - 1);
            ringSeq[slot] = seq;
            ringErrors[slot] = outErrors;
            outErrors = [];
            if (ringLive.length < RING) ringLive.push(slot);
            return;
          }
        }
        // a small flush, or the thread's queue is full: sent here, as without the thread
      }
      while (start < outCount) {
        // dgram still holds datagrams (an earlier EAGAIN): these queue behind them, in order
        if (socket.getSendQueueCount() > 0) {
          for (; start < outCount; start++) sendThroughDgram(start);
          break;
        }
        const r = mod.send(fd, out, outMeta, start, outCount);
        if (r > 0) {
          start += r;
          continue;
        }
        if (r === 0) break;
        if (r === EAGAIN) {
          // the send buffer is full: dgram queues the rest and sends them when it drains
          for (; start < outCount; start++) sendThroughDgram(start);
          break;
        }
        const onError = outErrors[start];
        if (onError !== undefined) hooks.onSendError(onError, errnoError(r), addressAt(start), outMeta[start * META + 2]);
        start += 1;
      }
    } finally {
      // whatever happened, what was queued is sent or reported once, never again
      outCount = 0;
      outUsed = 0;
      outErrors.length = 0;
    }
  };

  const addressAt = (i: number): string => {
    const m = i * META;
    return addressText(outMeta[m + 3]!, outMeta[m + 4]!, outMeta[m + 5]!, outMeta[m + 6]!, outMeta[m + 7]!);
  };

  /** dgram's own send, its synchronous throws (a closed socket, a bad port) reported like the rest */
  const dgramSend = (data: Buffer, port: number, address: string, onError: ((err: Error) => void) | undefined): void => {
    try {
      socket.send(data, port, address, (err) => {
        if (err && onError !== undefined) hooks.onSendError(onError, err, address, port);
      });
    } catch (err) {
      if (onError !== undefined) hooks.onSendError(onError, err as NodeJS.ErrnoException, address, port);
    }
  };

  const sendThroughDgram = (i: number): void => {
    const m = i * META;
    dgramSend(Buffer.from(outBytes.subarray(outMeta[m], outMeta[m] + outMeta[m + 1])), outMeta[m + 2], addressAt(i), outErrors[i]);
  };

  const addressWords = (address: string): Int32Array | undefined => {
    let w = sendAddresses.get(address);
    if (w === undefined) {
      if (!mod.pton(address, addr)) return undefined;
      w = addr.slice();
      if (sendAddresses.size >= ADDRESS_CACHE_MAX) sendAddresses.clear();
      sendAddresses.set(address, w);
    }
    return w;
  };

  // ---- reading
  let reader: NativeReader;
  try {
    reader = mod.open(fd, SLOTS, size, onBatch, readWindowMs);
  } catch (err) {
    // dup() refused (no descriptor left), the loop refused the poll: dgram as before
    unavailableReason = `batched reading could not start: ${(err as Error).message}`;
    return undefined;
  }
  handle.recvStop();
  let reading = true;
  // the sender after the reader: nothing to undo when the reader cannot open
  if (useThread) {
    try {
      sender = mod.openSender(fd, onThreadError);
      if (!threadAlways) watchBusy();
    } catch (err) {
      // no thread (or no descriptor left): the flushes send on this thread, as with it off
      sender = undefined;
      senderFailure = (err as Error).message;
    }
  }
  const inBytes = new Uint8Array(reader.buffer);
  const inMeta = reader.meta;
  /** µs: the shortest queue wait of a read's first datagram since takeQueueDelay last ran */
  let headWaitMin = Infinity;
  /** performance.now() of the first and the last read that brought a receive time since then (-1: none) */
  let firstStampedRead = -1;
  let lastStampedRead = -1;
  const v4Names = new Map<number, string>();
  const v6Names = new Map<string, string>();

  const nameOf = (m: number): string => {
    if (inMeta[m + 2] === 4) {
      const key = inMeta[m + 4];
      let name = v4Names.get(key);
      if (name === undefined) {
        name = `${key >>> 24}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
        if (v4Names.size >= ADDRESS_CACHE_MAX) v4Names.clear();
        v4Names.set(key, name);
      }
      return name;
    }
    const key = `${inMeta[m + 4]},${inMeta[m + 5]},${inMeta[m + 6]},${inMeta[m + 7]}`;
    let name = v6Names.get(key);
    if (name === undefined) {
      name = mod.ntop(6, inMeta[m + 4], inMeta[m + 5], inMeta[m + 6], inMeta[m + 7]);
      if (v6Names.size >= ADDRESS_CACHE_MAX) v6Names.clear();
      v6Names.set(key, name);
    }
    return name;
  };

  // Called once a datagram (native side): microtasks and process.nextTick run between two, as with
  // dgram. Sends made meanwhile wait in the queue and leave together after the batch's last one.
  function onBatch(i: number, n: number): void {
    if (i < 0) {
      // the poll has stopped (libuv stops it on an error): back to dgram's reading, which reports
      // what it meets as the socket's 'error'
      if (reading) {
        reading = false;
        lib.close(reader.handle);
        dgramHandle.recvStart();
        hooks.onReadError(new Error(`recvmmsg: ${getSystemErrorName(i)}; reading through node:dgram from now on`));
      }
      return;
    }
    readInProgress = endRead;
    try {
      const m = i * META;
      if (i === 0) {
        const waited = inMeta[3]!;
        if (waited >= 0) {
          if (waited < headWaitMin) headWaitMin = waited;
          lastStampedRead = performance.now();
          if (firstStampedRead < 0) firstStampedRead = lastStampedRead;
        }
      }
      const len = inMeta[m];
      const address = nameOf(m);
      const port = inMeta[m + 1];
      if (len < 0) hooks.onDatagram(null, address, port);
      else {
        // a copy: the slot is read into again at the next wake-up
        const data = Buffer.allocUnsafe(len);
        data.set(inBytes.subarray(i * size, i * size + len));
        hooks.onDatagram(data, address, port);
      }
    } finally {
      if (i === n - 1) endRead();
    }
  }

  /** this socket's read is over (its last datagram handled, or the socket closed before it) */
  function endRead(): void {
    if (readInProgress !== endRead) return;
    readInProgress = undefined;
    flushWaiting();
  }

  let closed = false;
  return {
    get threaded() {
      return sender !== undefined;
    },
    get threadFlushes() {
      return threadFlushes;
    },
    takeQueueDelay(minSpanMs = 0) {
      const us = headWaitMin;
      const span = lastStampedRead - firstStampedRead;
      headWaitMin = Infinity;
      firstStampedRead = lastStampedRead = -1;
      return us === Infinity || span < minSpanMs ? undefined : us / 1000;
    },
    send(address, port, data, onError, head) {
      const w = addressWords(address);
      const length = data.length + (head?.length ?? 0);
      if (w === undefined || length > outCapacity) {
        // not an IP literal, or too big to queue: dgram's own path, after what is queued
        if (outCount > 0) flush();
        dgramSend(head === undefined ? data : Buffer.concat([head, data]), port, address, onError);
        return;
      }
      if (outCount === outEntries || outUsed + length > outCapacity) flush();
      const m = outCount * META;
      outMeta[m] = outUsed;
      outMeta[m + 1] = length;
      outMeta[m + 2] = port;
      outMeta[m + 3] = w[0];
      outMeta[m + 4] = w[1];
      outMeta[m + 5] = w[2];
      outMeta[m + 6] = w[3];
      outMeta[m + 7] = w[4];
      if (head !== undefined) {
        outBytes.set(head, outUsed);
        outUsed += head.length;
      }
      outBytes.set(data, outUsed);
      outErrors[outCount] = onError;
      outUsed += data.length;
      outCount += 1;
      if (flushScheduled) return;
      flushScheduled = true;
      if (readInProgress !== undefined) waitingFlushes.add(flush);
      else process.nextTick(flush);
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        if (outCount > 0) flush();
      } finally {
        if (sender !== undefined) {
          // waits for the thread to send what this socket queued
          if (!threadAlways) unwatchBusy();
          mod.closeSender(sender.handle);
          sender = undefined;
          releaseRing();
        }
        if (reading) {
          reading = false;
          mod.close(reader.handle);
        }
        // closed inside its own read: the datagrams after this one will not come to end it
        endRead();
        waitingFlushes.delete(flush);
      }
    },
  };
}
