// Load shedding. A proxy past what its CPU can carry must not collapse: over UDP the socket's
// queue grows, every message waits longer, callers and backends retransmit, and the
// retransmissions take the time that answering would have needed (measured: 3,500 calls/s offered
// to a process clean at 3,000 carried 2,054, 46 % retransmitted). Refusing a share of the *new* requests instead
// keeps the calls under way whole: the share follows how busy the event loop was over the last
// second (sampled every 200 ms; a GC pause or a burst is not overload), rising while that stays
// above the limit (faster the longer the loop stays saturated: a heavy overload needs a large share
// before the socket's queue overflows) and falling back once it is under it (a feedback loop like
// the drop probability of Kamailio's ratelimit FEEDBACK pipe).
//
// Where the kernel tells how much waits in the UDP sockets (`backlog`, transport/backlog.ts), that
// queue decides, not the loop alone: a (nearly) saturated loop whose queue stays long at two
// samples (BACKLOG_HIGH, and maxDelayMs of reading) without shrinking is falling behind now, and
// the share grows from that sample on, without waiting a second for the window; a saturated loop
// whose queue shrinks is draining what came before and the share holds (growing it then
// overshoots: measured, 15 % refused at 3,000 calls/s offered where 7 % was enough); once the
// queue is short, a loop with idle time in its last sample lets the share come down.
//
// Best of all, where the batched UDP reader gets the kernel's receive time of each datagram
// (`queueDelay`, transport/udp-batch.ts), the shedder reads the queue's delay itself: the shortest
// wait, over a sample, of the oldest datagram each read found. A GC pause, a burst or a moment
// without the CPU leaves that near 0 (some read in the sample found the queue short); a proxy
// that falls behind leaves a queue that never empties, and that decides (at T1/3 in the proxy, maxQueueDelayMs).
// The share then grows by what the queue's delay grew (a queue that gained g ms per ms is work
// the loop did not get through: g / (1 + g) of what is let in must go as well), from half that
// threshold on (under the threshold, where it grew at two samples in a row), not by a quarter of
// itself: a second-long slump of a loaded machine needs a few per cent, not three quarters; and
// it holds while the delay falls. This replaced the queue's length at two instants, which
// refused calls a 20 ms pause had queued (measured: 492 of 40,000 refused at 2,000 calls/s and
// 3,795 of 60,000 at 3,000 by a process that carried 3,000 clean with the shedder off).
//
// Refused requests get 503 without Retry-After: with it, RFC 3261 §21.5.4 tells an upstream proxy
// to send nothing at all to this server for that long, which turns refusing a few calls into
// losing all of them.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fmix32, fnv1a } from './branch.js';

export interface LoadShedder {
  /**
   * Whether to refuse a new request now. `id` (its Call-ID) decides which ones: the same id gets
   * the same answer while the share stays, so a retransmission (forwarded again in stateless
   * mode) is not refused after its first copy went on.
   */
  shed(id: string): boolean;
  /** the share of new requests refused now, 0 … 1 */
  readonly share: number;
  /** the event loop's busy share over the last window, 0 … 1 */
  readonly load: number;
  /** bytes waiting in the UDP sockets now, as the shedder reads them (undefined: not known) */
  backlog(): number | undefined;
  /** a datagram of this many bytes was read (how fast the queue is read tells its delay) */
  noteRead?(bytes: number): void;
  close(): void;
}

export interface LoadShedderOptions {
  /** the event loop's busy share to stay under, 0 < limit < 1 */
  limit: number;
  /** ms between samples (default 200); the load is the mean of the last WINDOW samples */
  interval?: number;
  /** the loop's busy share since the previous call (default: performance.eventLoopUtilization) */
  sample?: () => number;
  /** where an id falls in [0, 1): refused when below the share (default: a hash with a seed of this process's) */
  draw?: (id: string) => number;
  /** the default draw's seed (default: random per process) */
  seed?: number;
  /**
   * a queue that would take this long to read at the rate datagrams were read over the last
   * sample is behind (default 62.5 ms: an eighth of T1; the proxy passes T1/8)
   */
  maxDelayMs?: number;
  /** ms clock (default performance.now) */
  now?: () => number;
  /** tests drive the samples themselves (tick) instead of a timer */
  manual?: boolean;
  /**
   * bytes waiting in the UDP sockets' receive queues now (transport/backlog.ts); undefined where
   * that is not known (then the loop's load alone decides)
   */
  backlog?: () => number | undefined;
  /**
   * ms: the shortest wait in the UDP sockets' queues, since the last call, of the oldest datagram
   * each read found (TransportLayer.takeUdpQueueDelay); undefined where nothing was read with the
   * kernel's receive time, over at least minSpanMs, since then. Where it is known it decides,
   * instead of the backlog: maxQueueDelayMs or more (or half of what queueCapacity holds, where
   * less), not falling by a tenth since the last sample, is behind, so is a queue that stood at
   * half of that and still grows, and so is a loop saturated for the whole window whose queue is
   * not falling.
   */
  queueDelay?: (minSpanMs: number) => number | undefined;
  /**
   * a queue whose delay (queueDelay) stays at or over this for a whole sample is behind (default
   * 125 ms: a quarter of T1; the proxy passes T1/3). The queue's delay is measured, not inferred
   * from its length, and its shortest over the sample, so the margin to T1/2 (where the answers
   * and ACKs that pass through it twice start to be retransmitted) can be smaller than the
   * backlog rule's maxDelayMs needs.
   */
  maxQueueDelayMs?: number;
  /**
   * bytes a UDP socket's receive queue holds (TransportLayer.udpRecvBuffer). With it, the delay
   * that counts as behind is also at most half of what the queue holds at the rate datagrams were
   * read over the sample: at 3,800 calls/s an 8 MB queue holds ~190 ms, and a standing 125 ms is
   * then a queue about to overflow.
   */
  queueCapacity?: () => number | undefined;
  /** refusing starts (true) or stops (false); busy is the load that made it, queueDelayMs the queue's delay (where known) */
  onChange?(refusing: boolean, busy: number, queueDelayMs?: number): void;
  /** each sample that moved the share, with the rule that moved it (the proxy logs these at debug level) */
  onMove?(move: ShedMove): void;
}

/**
 * Which rule of a sample moved the share: with the queue's delay measured, `over-target` (the
 * delay stood at the target or more), `rising` (under it, but grown over two samples from half of
 * it), `saturated` (the loop busy the whole window), `falling` (idle time, the queue not yet near
 * empty: down a step), `clear` (idle time and the queue near empty: down fast or to 0); without
 * it, `backlog` (a long queue that does not shrink), `saturated`, `falling`, `clear`.
 */
export type ShedRule = 'over-target' | 'rising' | 'saturated' | 'falling' | 'clear' | 'backlog';

export interface ShedMove {
  rule: ShedRule;
  /** the share before and after the sample */
  from: number;
  share: number;
  /** the loop's busy share over the sample and over the window */
  sample: number;
  busy: number;
  /** ms: the queue's delay and the target it is held to (where the delay is measured) */
  queueDelayMs?: number;
  targetMs?: number;
}

/** samples the load is the mean of */
const WINDOW = 5;
/**
 * per saturated sample with the load over the limit, the refused share grows by this much plus a
 * quarter of itself (all after nine samples); under the limit it falls by STEP_DOWN a sample
 */
const STEP_UP = 0.05;
const STEP_DOWN = 0.025;
/** under the limit by this much, the refusing stops at once */
const CLEAR_MARGIN = 0.15;
/**
 * A receive queue is long when it holds at least this much (bytes of buffer memory, ~400 datagrams
 * of a call's size) *and* would take maxDelayMs or more to read at the rate the last sample read
 * datagrams. Long at two samples in a row, not draining, with the loop saturated, it is falling
 * behind; anything shorter is what a GC pause, a burst or a few ms without the CPU leaves, and a
 * backlog of less than an eighth of T1 costs no retransmission. (Measured: with a fixed 256 KB,
 * such moments refused 67 of 60,000 calls with the stateless proxy at 0.69 of a core; with a fixed
 * 512 KB, 3.8 % of the calls at 2,500/s for a 2.3 MB queue, ~110 ms of reading; with T1/4,
 * 3,000/s offered let the queue reach 5.9 MB of the socket's 8 MB, with 1.7 % retransmissions.)
 */
export const BACKLOG_HIGH = 512 * 1024;
const DEFAULT_MAX_DELAY_MS = 62.5;
const DEFAULT_MAX_QUEUE_DELAY_MS = 125;
/** what a datagram takes in a socket's queue beyond its bytes (an sk_buff's truesize on loopback) */
const DATAGRAM_OVERHEAD = 768;
/**
 * Draining is a queue shorter than at the last sample by more than this (or an eighth of it):
 * each reading is one instant, and a flat queue reads a little shorter or longer by chance.
 */
const DRAIN_MARGIN = BACKLOG_HIGH / 4;
/** a queue delay under this share of the sample's threshold (maxQueueDelayMs, or the capacity bound), with idle time in the sample: the share falls by a quarter */
const DELAY_CLEAR = 0.25;
/**
 * a queue delay this much shorter than at the last sample, and not yet near empty, is draining:
 * the share holds (a share that went on growing while the queue fell by a fifth a sample
 * reached 0.88 at 3,000 calls/s where ~0.15 was needed)
 */
const DELAY_DRAINING = 0.9;
/** a queue delay that stood at this share of the threshold at the last sample and grew since is falling behind */
const DELAY_GROWING = 0.5;
/**
 * What refusing a call saves of its cost: a refused INVITE is three messages (INVITE, 503, ACK)
 * against a call's fourteen through the proxy.
 */
const REFUSAL_SAVES = 0.75;

/**
 * ns this thread has run on a CPU, from /proc/thread-self/schedstat (Linux; its first field);
 * undefined where that cannot be read.
 */
const threadRunNs = (): number | undefined => {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    const ns = Number(text.slice(0, text.indexOf(' ')));
    return Number.isFinite(ns) && ns >= 0 ? ns : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The loop's busy share since the last call: the time it was active *and on a CPU*. The
 * utilization alone counts as busy the time the thread waited for a CPU, which on a machine
 * crowded by other processes is theirs, not the loop's work: a loop that waited 20 % of a second
 * and worked 80 % has room, and is not saturated. (The queue's delay, where it is measured, tells
 * whether the machine as a whole leaves the proxy behind.) The thread's run time, not its wait:
 * libuv counts the wait for a CPU after a wake-up as idle already.
 */
export const loopSampler = (): (() => number) => {
  let last = performance.eventLoopUtilization();
  let lastRun = threadRunNs();
  return () => {
    const now = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(now, last);
    last = now;
    const run = threadRunNs();
    const ranMs = run !== undefined && lastRun !== undefined ? (run - lastRun) / 1e6 : undefined;
    lastRun = run;
    const span = d.active + d.idle;
    return span > 0 && ranMs !== undefined ? Math.min(d.active, ranMs) / span : d.utilization;
  };
};

/** a quarter of the share a sample (STEP_DOWN at least), and 0 from STEP_UP or less */
const fallFast = (share: number): number => (share <= STEP_UP ? 0 : share - Math.max(STEP_DOWN, share / 4));

export type ManualLoadShedder = LoadShedder & {
  /** one sample (what the timer does every interval) */
  tick(): void;
};

export function createLoadShedder(opts: LoadShedderOptions & { manual: true }): ManualLoadShedder;
export function createLoadShedder(opts: LoadShedderOptions): LoadShedder;
export function createLoadShedder(opts: LoadShedderOptions): ManualLoadShedder {
  const limit = opts.limit;
  if (!(limit > 0 && limit < 1)) throw new RangeError(`load limit must be in (0, 1), got ${String(limit)}`);
  const sample = opts.sample ?? loopSampler();
  const seed = opts.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
  // mixed: Call-IDs that differ only at the end (a counter) would otherwise draw nearly the same
  // number and be refused in runs rather than at the share
  const draw = opts.draw ?? ((id: string) => fmix32(fnv1a(id, seed)) / 0x1_0000_0000);
  let share = 0;
  /** the backlog at the previous sample, and whether it was long */
  let lastQ = 0;
  let lastLong = false;
  /** the queue delay at the previous sample (ms; 0 when it was not known), when that was, and the delay before it */
  let lastDelay = 0;
  let lastDelayAt = 0;
  let prevDelay = 0;
  const interval = opts.interval ?? 200;
  const maxQueueDelayMs = opts.maxQueueDelayMs ?? DEFAULT_MAX_QUEUE_DELAY_MS;
  const maxDelayMs = opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const clock = opts.now ?? (() => performance.now());
  /** bytes of queue read since the last sample (datagrams with their overhead), and when that was */
  let readBytes = 0;
  let lastTickAt = clock();
  // the last WINDOW samples (a ring); the window starts idle
  const recent = new Array<number>(WINDOW).fill(0);
  let at = 0;
  const mean = (): number => {
    let sum = 0;
    for (const x of recent) sum += x;
    return sum / WINDOW;
  };
  const tick = (): void => {
    const raw = sample();
    // NaN (never expected) counts as idle rather than poisoning the window
    const s = raw >= 1 ? 1 : raw > 0 ? raw : 0;
    recent[at] = s;
    at = (at + 1) % WINDOW;
    const busy = mean();
    const was = share > 0;
    const t = clock();
    // bytes of queue read per ms over the sample
    const readRate = readBytes / Math.max(1, t - lastTickAt);
    readBytes = 0;
    lastTickAt = t;
    const d = opts.queueDelay?.(interval / 2);
    // A sample has the delay or goes by the rules below it (each keeps its own memory; a delay
    // that comes and goes, traffic that starts and stops, starts them over)
    if (d !== undefined) {
      lastQ = 0;
      lastLong = false;
      // how long the socket's queue holds at the rate it was read
      const capacity = opts.queueCapacity?.();
      const holdsMs = capacity !== undefined && readRate > 0 ? capacity / readRate : Infinity;
      const target = Math.min(maxQueueDelayMs, holdsMs / 2);
      // a queue not yet near empty, and shorter than at the last sample: what came before is
      // being read
      const draining = d >= target * DELAY_CLEAR && d < lastDelay * DELAY_DRAINING;
      // ms of delay a queue that stood at the last sample gained per ms of this one: the share of
      // the work offered that the loop did not get through, so the share of the requests still
      // let in that must go as well (g / (1 + g) of them)
      const grew = lastDelay >= target * DELAY_GROWING && d > lastDelay ? (d - lastDelay) / Math.max(1, t - lastDelayAt) : 0;
      const more = ((1 - share) * grew) / (1 + grew);
      // under the target, growth counts only where the queue grew at the sample before as well:
      // a queue that stands near the target rises and falls a little from sample to sample, and
      // counting each rise (a fall only holds the share) ratcheted the share up by noise
      // (measured at 1,750/s on a loaded machine: a queue between 57 and 131 ms that came back each
      // time took the share to 0.43, 1,488 calls refused and no retransmission)
      const rising = lastDelay > prevDelay;
      prevDelay = lastDelay;
      lastDelay = d;
      lastDelayAt = t;
      const from = share;
      let rule: ShedRule = 'clear';
      if (draining) {
        // holds, however busy the loop (growing now overshoots)
      } else if (d >= target) {
        rule = 'over-target';
        // a standing queue: behind by at least what it grew by. One sample over the target
        // after a stall (the thread without a CPU, a GC) refuses little; a queue that keeps
        // growing gets the share its growth asks for at once
        share = Math.min(1, share + STEP_UP + more);
      } else if (more > 0 && rising) {
        // under the target, but a queue that stood at half of it and grew over two samples is
        // falling behind now: the share its growth asks for, before the queue gets near T1/2
        rule = 'rising';
        share = Math.min(1, share + more);
      } else if (s >= limit && busy >= limit) {
        // the loop saturated the whole window (by work other than reading UDP, say): behind
        rule = 'saturated';
        share = Math.min(1, share + STEP_UP);
      } else if (share > 0 && s < limit) {
        // the queue empties at times and the loop had idle time: the share comes down, by a
        // quarter a sample once the queue stays near empty (by half, a sustained overload that
        // needed it filled the queue again within a second: measured at 4,000/s). But a loop
        // that would stay well under the limit with every call let in (its load now, the
        // refused calls' part added back) was behind for a moment only (a stall of the machine,
        // a burst): the share goes at once. Measured at 2,500/s: a quarter of the calls refused
        // in such moments were refused with the queue already empty, over ~2 s of decay.
        if (d >= target * DELAY_CLEAR) {
          rule = 'falling';
          share = Math.max(0, share - STEP_DOWN);
        } else share = s / (1 - REFUSAL_SAVES * share) < limit - CLEAR_MARGIN ? 0 : fallFast(share);
      }
      if (share !== from) opts.onMove?.({ rule, from, share, sample: s, busy, queueDelayMs: d, targetMs: target });
      if (was !== share > 0) opts.onChange?.(share > 0, busy, d);
      return;
    }
    lastDelay = 0;
    prevDelay = 0;
    // the queue is read where it can matter: near the limit, or while refusing or backlogged
    // (a read of /proc/net/udp is not free: transport/backlog.ts)
    const q = opts.backlog !== undefined && (s >= limit - CLEAR_MARGIN || share > 0 || lastLong) ? opts.backlog() : undefined;
    if (q === undefined) {
      lastQ = 0;
      lastLong = false;
    }
    const from = share;
    let rule: ShedRule = 'clear';
    if (q !== undefined) {
      const draining = q < lastQ - Math.max(DRAIN_MARGIN, lastQ / 8);
      const long = q >= BACKLOG_HIGH && q >= readRate * maxDelayMs;
      // long at this sample and the one before: not what one GC pause or burst leaves (the next
      // sample finds that read)
      const backlogged = long && lastLong;
      lastQ = q;
      lastLong = long;
      if (backlogged && !draining && s >= limit - CLEAR_MARGIN) {
        // behind now: the queue stays long and does not shrink while the loop is (nearly)
        // saturated (its own reading stays a little under 1 while it polls a queue it cannot
        // empty: each poll is time in epoll_wait)
        rule = 'backlog';
        share = Math.min(1, share + STEP_UP + share / 4);
      } else if (s >= limit) {
        // saturated the whole window and not draining: grows; draining: holds
        rule = 'saturated';
        if (!draining && busy >= limit) share = Math.min(1, share + STEP_UP + share / 4);
      } else if (backlogged) {
        // still reading what waits: holds, whatever the window says, until the queue is short
      } else if (busy < limit - CLEAR_MARGIN) {
        // well under the limit: falls fast, but not at once to 0 from a large share (a heavy
        // overload that needed it would fill the queue again before the share came back)
        share = fallFast(share);
      } else {
        rule = 'falling';
        share = Math.max(0, share - STEP_DOWN);
      }
    } else if (busy >= limit) {
      // still saturated in the last sample: the share grows faster the longer that lasts (a
      // heavy overload needs a large share soon); a sample with idle time in it holds the share
      rule = 'saturated';
      if (s >= limit) share = Math.min(1, share + STEP_UP + share / 4);
    } else if (busy < limit - CLEAR_MARGIN) share = 0;
    else {
      rule = 'falling';
      share = Math.max(0, share - STEP_DOWN);
    }
    if (share !== from) opts.onMove?.({ rule, from, share, sample: s, busy });
    if (was !== share > 0) opts.onChange?.(share > 0, busy);
  };
  const timer = opts.manual === true ? undefined : setInterval(tick, interval);
  timer?.unref();
  return {
    shed: (id) => share > 0 && draw(id) < share,
    get share() {
      return share;
    },
    get load() {
      return mean();
    },
    backlog: () => opts.backlog?.(),
    noteRead(bytes) {
      readBytes += bytes + DATAGRAM_OVERHEAD;
    },
    tick,
    close() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
