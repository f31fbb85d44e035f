// How much is waiting in our UDP sockets' receive queues, read from the kernel (Linux
// /proc/net/udp and /proc/net/udp6: the rx_queue column, in bytes of buffer memory). The load
// shedder uses it as its direct signal of falling behind: a loop that is fully busy may be keeping
// up (the queue stays short) or draining what a burst left (it shrinks), and only a queue that
// stays long means the offered load is more than the process can take. Elsewhere than Linux the
// reader answers undefined and the shedder goes by the loop alone.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseIp } from './cidr.js';
import type { ListenerInfo } from './types.js';

/**
 * The kernel's spelling of a local address in /proc/net/udp{,6}: each 32-bit word of the address
 * as the host (little-endian) reads it, in upper-case hex, then `:` and the port in hex.
 */
export const procSocketKey = (address: string, port: number): string | undefined => {
  // brackets and a zone (`%eth0`) are not part of the address the kernel writes
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  const parsed = family === 0 ? null : parseIp(bare);
  if (parsed === null) return undefined;
  // parseIp gives an IPv4-mapped IPv6 address as its 4 bytes: a udp6 socket has all 16
  const bytes = family === 6 && parsed.length === 4 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...parsed] : [...parsed];
  let hex = '';
  for (let w = 0; w < bytes.length; w += 4) {
    for (let i = 3; i >= 0; i--) hex += bytes[w + i]!.toString(16).padStart(2, '0');
  }
  return `${hex.toUpperCase()}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
};

/**
 * Sums the rx_queue of the lines of one /proc/net/udp{,6} text whose local address is in `keys`;
 * undefined when none of them is there (a key spelt otherwise than the kernel does is unknown, not
 * an empty queue).
 */
export const sumRxQueue = (text: string, keys: ReadonlySet<string>): number | undefined => {
  let sum = 0;
  let found = 0;
  let p = text.indexOf('\n') + 1; // the heading
  while (p > 0 && p < text.length) {
    const e = text.indexOf('\n', p);
    const line = text.slice(p, e < 0 ? text.length : e);
    p = e < 0 ? text.length : e + 1;
    // "  sl: local rem st tx_queue:rx_queue ...": the local address (upper-case hex, as the keys)
    // is looked at first, and only our lines are split
    let a = line.indexOf(':') + 1;
    while (line.charCodeAt(a) === 0x20) a++;
    const b = line.indexOf(' ', a);
    if (a <= 0 || b < 0 || !keys.has(line.slice(a, b))) continue;
    const f = line.slice(b).trim().split(/\s+/);
    // rem st tx_queue:rx_queue
    const q = f[2]?.split(':')[1];
    const n = q === undefined ? Number.NaN : parseInt(q, 16);
    if (Number.isFinite(n)) {
      sum += n;
      found++;
    }
  }
  return found > 0 ? sum : undefined;
};

/**
 * Reads that take longer than this (three in a row) rest the reader: /proc/net/udp lists every UDP socket of
 * the network namespace, and on a host that shares it with many (an Asterisk's RTP ports, a
 * resolver) one read costs milliseconds (measured: 224 ms with 20,000 sockets), five times a
 * second. In a container of its own, sipfront's are the only ones (~10 µs a read).
 */
export const MAX_READ_MS = 2;

/** After giving up because reading cost too much, the reader tries again this much later. */
export const RETRY_AFTER_MS = 300_000;

export interface UdpBacklogOptions {
  /** the files to read (tests) */
  files?: { v4: string; v6: string };
  /** the reader gives up (why: for the log) */
  onGiveUp?: (why: string) => void;
  /** a read slower than this, three times in a row, gives the reader up for retryAfterMs */
  maxReadMs?: number;
  retryAfterMs?: number;
  /** ms clock (default performance.now) */
  now?: () => number;
}

/**
 * A reader of the bytes waiting in the UDP listeners' receive queues (`listeners()` is asked at
 * every read, so sockets opened later count). Undefined from the reader where /proc/net/udp cannot
 * be read (not Linux: for good), or for RETRY_AFTER_MS where reading it cost over MAX_READ_MS three
 * times in a row (a host crowded with sockets, or a moment without the CPU); `onGiveUp` says why.
 */
export const createUdpBacklog = (listeners: () => readonly ListenerInfo[], o: UdpBacklogOptions = {}): (() => number | undefined) => {
  const files = o.files ?? { v4: '/proc/net/udp', v6: '/proc/net/udp6' };
  const maxReadMs = o.maxReadMs ?? MAX_READ_MS;
  const retryAfterMs = o.retryAfterMs ?? RETRY_AFTER_MS;
  const clock = o.now ?? (() => performance.now());
  let unavailable = false;
  /** while set, the reader rests until then (it cost too much) */
  let restUntil = 0;
  let slow = 0;
  const giveUp = (why: string): undefined => {
    unavailable = true;
    o.onGiveUp?.(why);
    return undefined;
  };
  return () => {
    if (unavailable) return undefined;
    if (restUntil > 0) {
      if (clock() < restUntil) return undefined;
      restUntil = 0;
    }
    const keys4 = new Set<string>();
    const keys6 = new Set<string>();
    for (const l of listeners()) {
      if (l.transport !== 'udp') continue;
      const k = procSocketKey(l.host, l.port);
      if (k !== undefined) (l.family === 6 ? keys6 : keys4).add(k);
    }
    if (keys4.size === 0 && keys6.size === 0) return undefined;
    const t0 = clock();
    let sum: number | undefined;
    try {
      const add = (n: number | undefined): void => {
        if (n !== undefined) sum = (sum ?? 0) + n;
      };
      if (keys4.size > 0) add(sumRxQueue(readFileSync(files.v4, 'latin1'), keys4));
      if (keys6.size > 0) add(sumRxQueue(readFileSync(files.v6, 'latin1'), keys6));
    } catch (err) {
      // no such file (not Linux, no IPv6) or not ours to read: for good; anything else (EMFILE
      // under load) for this read only
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EPERM') return giveUp(`cannot read ${files.v4}: ${(err as Error).message}`);
      return undefined;
    }
    const ms = clock() - t0;
    // three slow reads in a row: not a moment's stall (a GC) but the file's size, or a CPU too
    // busy to spare it: rest, and try again later
    slow = ms > maxReadMs ? slow + 1 : 0;
    if (slow >= 3) {
      slow = 0;
      restUntil = clock() + retryAfterMs;
      o.onGiveUp?.(`reading ${files.v4} took ${ms.toFixed(1)} ms (over ${maxReadMs} ms three times in a row: many UDP sockets on the host, or no CPU to spare); trying again in ${Math.round(retryAfterMs / 1000)} s`);
      return undefined;
    }
    return sum;
  };
};
