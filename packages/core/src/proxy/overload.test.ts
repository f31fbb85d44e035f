import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { BACKLOG_HIGH, createLoadShedder, loopSampler, type ShedMove } from './overload.js';

/** a shedder fed from `loads` (one per tick); request id `k` draws k/100 */
const harness = (limit: number) => {
  let next = 0;
  const changes: Array<[boolean, number]> = [];
  const s = createLoadShedder({
    limit,
    manual: true,
    sample: () => next,
    draw: (id) => Number(id) / 100,
    onChange: (on, busy) => changes.push([on, Math.round(busy * 100) / 100]),
  });
  const feed = (load: number, ticks = 1): void => {
    next = load;
    for (let i = 0; i < ticks; i++) s.tick();
  };
  /** how many of 100 new requests it refuses now */
  const refusedOf100 = (): number => {
    let n = 0;
    for (let i = 0; i < 100; i++) if (s.shed(String(i))) n++;
    return n;
  };
  return { s, feed, refusedOf100, changes };
};

describe('load shedding', () => {
  it('refuses nothing while the mean load of the last five samples stays under the limit, bursts included', () => {
    const { s, feed, refusedOf100, changes } = harness(0.9);
    feed(0.6, 20);
    expect(s.share).toBe(0);
    expect(refusedOf100()).toBe(0);
    // a fully busy second of one sample in five (a GC pause, a burst) is not overload
    for (let i = 0; i < 10; i++) {
      feed(1);
      feed(0.6, 4);
    }
    expect(s.share).toBe(0);
    expect(changes).toEqual([]);
  });

  it('refuses a share that grows faster the longer the loop stays saturated (5% plus a quarter of itself a sample), up to all', () => {
    const { s, feed, refusedOf100, changes } = harness(0.9);
    feed(1, 4); // the window's mean: 0.2, 0.4, 0.6, 0.8
    expect(s.share).toBe(0);
    feed(1); // mean 1.0
    expect(s.share).toBeCloseTo(0.05);
    expect(changes).toEqual([[true, 1]]);
    feed(1, 3); // 0.1125, 0.190625, 0.28828…
    expect(s.share).toBeCloseTo(0.2883, 3);
    expect(refusedOf100()).toBe(29);
    feed(1, 4); // 0.410, 0.563, 0.754, 0.992
    expect(s.share).toBeCloseTo(0.9921, 3);
    feed(1);
    expect(s.share).toBe(1);
    expect(refusedOf100()).toBe(100);
  });

  it('holds the share when the last sample had idle time in it, though the window is still over the limit', () => {
    const { s, feed } = harness(0.9);
    feed(1, 7); // 0.05, 0.1125, 0.190625
    const held = s.share;
    feed(0.8); // mean (1·4 + 0.8) / 5 = 0.96: over the limit, the last sample not
    expect(s.share).toBe(held);
    feed(1); // saturated again: it grows again
    expect(s.share).toBeGreaterThan(held);
  });

  it('lowers the share by 2.5% a sample just under the limit, and drops it at once well under it', () => {
    const { s, feed, changes } = harness(0.9);
    feed(1, 9); // share 0.41
    expect(s.share).toBeCloseTo(0.41, 2);
    feed(0.85, 5); // the window fills with 0.85: under the limit, within 0.15 of it
    const before = s.share;
    feed(0.85, 2);
    expect(s.share).toBeCloseTo(before - 0.05);
    feed(0.5, 2); // mean (0.85·3 + 0.5·2) / 5 = 0.71 < 0.75: stops
    expect(s.share).toBe(0);
    expect(changes.map((c) => c[0])).toEqual([true, false]);
  });

  it('settles where the load it leaves is at the limit (feedback)', () => {
    // a toy proxy: offered 1.2× what it can carry; the load is what passes, capped at 1
    const { s, feed } = harness(0.9);
    let load = 1;
    for (let i = 0; i < 400; i++) {
      feed(load);
      load = Math.min(1, 1.2 * (1 - s.share));
    }
    // around the share that brings 1.2× down to 0.9 (0.25), within the steps
    expect(s.share).toBeGreaterThan(0.1);
    expect(s.share).toBeLessThan(0.4);
  });

  it('gives one id (a Call-ID: a retransmission) the same answer while the share stays, and refuses about the share of ids', () => {
    let load = 0;
    const s = createLoadShedder({ limit: 0.9, manual: true, sample: () => load });
    load = 1;
    for (let i = 0; i < 8; i++) s.tick(); // share 0.288
    expect(s.share).toBeCloseTo(0.288, 3);
    const ids = Array.from({ length: 2000 }, (_, i) => `call-${i}@192.0.2.1`);
    const first = ids.map((id) => s.shed(id));
    expect(ids.map((id) => s.shed(id))).toEqual(first);
    const share = first.filter(Boolean).length / ids.length;
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
    // a NaN sample counts as idle instead of stopping the controller
    load = Number.NaN;
    s.tick();
    expect(Number.isNaN(s.load)).toBe(false);
  });

  it('spreads its refusals over Call-IDs that differ only in a trailing counter (no runs of passes or refusals)', () => {
    let load = 0;
    // a fixed seed: the windows' counts are then the same every run (binomial: ~1 in 1,400 seeds
    // would leave one window empty)
    const s = createLoadShedder({ limit: 0.9, manual: true, sample: () => load, seed: 0x5eed });
    load = 1;
    for (let i = 0; i < 5; i++) s.tick();
    expect(s.share).toBeCloseTo(0.05);
    const refused = Array.from({ length: 4000 }, (_, i) => s.shed(`flood-4242-${i}`));
    // every 200 consecutive ids: about 10 refused (binomial, 200 × 5 %): never none, never a run
    for (let w = 0; w + 200 <= refused.length; w += 200) {
      const n = refused.slice(w, w + 200).filter(Boolean).length;
      expect(n, `refused among ids ${w}…${w + 199}`).toBeGreaterThanOrEqual(1);
      expect(n, `refused among ids ${w}…${w + 199}`).toBeLessThanOrEqual(25);
    }
  });

  it('refuses a limit outside (0, 1)', () => {
    for (const limit of [0, 1, -0.5, 1.5, Number.NaN]) expect(() => createLoadShedder({ limit, manual: true })).toThrow(RangeError);
  });

  it('samples the real event loop: a loop kept busy for over a second makes it refuse, an idle one stops it', async () => {
    const s = createLoadShedder({ limit: 0.5, interval: 20 });
    try {
      // busy: spin in 15 ms slices, letting the sampling timer run in between (bounded: 3 s)
      const t0 = Date.now();
      while (s.share === 0 && Date.now() - t0 < 3000) {
        const until = Date.now() + 15;
        while (Date.now() < until) {
          // spin
        }
        await new Promise((r) => setImmediate(r));
      }
      expect(s.share).toBeGreaterThan(0);
      expect(s.load).toBeGreaterThanOrEqual(0.5);
      // idle: wait for the samples to say so (bounded: 3 s)
      const t1 = Date.now();
      while (s.share > 0 && Date.now() - t1 < 3000) await new Promise((r) => setTimeout(r, 20));
      expect(s.share).toBe(0);
    } finally {
      s.close();
    }
  });

  it('counts the time the loop waited for a CPU as not busy (a machine crowded by other processes is not a saturated loop)', async () => {
    // this thread and a busy child share one CPU: the loop spins all the time but runs half of it
    // this thread's task id (/proc/thread-self is a link to <pid>/task/<tid>)
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    const mask = execFileSync('taskset', ['-p', String(tid)], { encoding: 'latin1' }).trim().split(' ').pop()!;
    const hog = spawn(process.execPath, ['-e', 'const t = Date.now() + 5000; while (Date.now() < t);'], { stdio: 'ignore' });
    try {
      execFileSync('taskset', ['-p', '-c', '0', String(tid)]);
      execFileSync('taskset', ['-p', '-c', '0', String(hog.pid)]);
      const sample = loopSampler();
      const elu0 = performance.eventLoopUtilization();
      const until = performance.now() + 600;
      while (performance.now() < until) {
        // spin: the loop never idles
      }
      const busy = sample();
      const elu = performance.eventLoopUtilization(performance.eventLoopUtilization(), elu0).utilization;
      expect(elu).toBeGreaterThan(0.95);
      // about half; well under the limit either way
      expect(busy).toBeLessThan(0.8);
      expect(busy).toBeGreaterThan(0.1);
    } finally {
      execFileSync('taskset', ['-p', mask, String(tid)]);
      hog.kill();
    }
  });

  describe('with the socket queue known (backlog)', () => {
    /** a shedder fed a load and a queue length per tick */
    const queued = (limit: number) => {
      let load = 0;
      let q = 0;
      const s = createLoadShedder({ limit, manual: true, sample: () => load, backlog: () => q, draw: (id) => Number(id) / 100 });
      const feed = (l: number, queue: number, ticks = 1): void => {
        load = l;
        q = queue;
        for (let i = 0; i < ticks; i++) s.tick();
      };
      return { s, feed };
    };

    it('starts refusing at the second sample that finds the queue long and not shrinking (no second of waiting)', () => {
      const { s, feed } = queued(0.9);
      feed(0.5, 0, 10);
      feed(1, BACKLOG_HIGH + 1000);
      expect(s.share).toBe(0);
      feed(1, BACKLOG_HIGH * 2);
      expect(s.share).toBeCloseTo(0.05);
      feed(1, BACKLOG_HIGH * 2);
      expect(s.share).toBeCloseTo(0.1125);
    });

    it('counts a nearly saturated loop as behind when its queue stays long (polling a queue it cannot empty reads under 1)', () => {
      const { s, feed } = queued(0.99);
      feed(0.9, BACKLOG_HIGH * 2, 2);
      expect(s.share).toBeCloseTo(0.05);
      // but not a loop with room in it
      const other = queued(0.99);
      other.feed(0.8, BACKLOG_HIGH * 2, 2);
      expect(other.s.share).toBe(0);
    });

    it('a queue is long only if it would take a quarter of T1 to read at the rate datagrams are read', () => {
      // 2 MB waiting, the loop saturated; the clock and the reads are the test's
      let t = 0;
      const load = 1;
      const q = BACKLOG_HIGH * 4;
      const mk = () => createLoadShedder({ limit: 0.99, manual: true, sample: () => load, backlog: () => q, now: () => t, maxDelayMs: 125 });
      // read fast: 20 MB/s (200 ms samples of 4 MB): 2 MB is ~100 ms of reading: not behind
      const fast = mk();
      for (let i = 0; i < 4; i++) {
        t += 200;
        for (let k = 0; k < 4000; k++) fast.noteRead?.(232); // 232 + 768 bytes of queue each
        fast.tick();
      }
      expect(fast.share).toBe(0);
      // read slowly: 5 MB/s: 2 MB is ~400 ms: behind from the second sample
      const slow = mk();
      for (let i = 0; i < 2; i++) {
        t += 200;
        for (let k = 0; k < 1000; k++) slow.noteRead?.(232);
        slow.tick();
      }
      expect(slow.share).toBeCloseTo(0.05);
    });

    it('a GC pause or a burst (a long queue at one sample, read by the next) refuses nothing', () => {
      const { s, feed } = queued(0.99);
      for (let i = 0; i < 20; i++) {
        feed(0.92, BACKLOG_HIGH * 3);
        feed(0.92, 20_000, 3);
      }
      expect(s.share).toBe(0);
    });

    it('holds the share while saturated but draining its queue, however long (the overshoot it avoids)', () => {
      const { s, feed } = queued(0.9);
      feed(1, BACKLOG_HIGH * 4, 4); // long from the second on: 0.05, 0.1125, 0.1906 (not draining)
      const held = s.share;
      expect(held).toBeCloseTo(0.1906, 3);
      for (let i = 0; i < 6; i++) feed(1, BACKLOG_HIGH * 4 - (i + 1) * 300_000); // saturated, shrinking by more than an eighth
      expect(s.share).toBe(held);
    });

    it('a short queue: a saturated sample alone is not overload; a whole saturated window that does not drain is', () => {
      const { s, feed } = queued(0.9);
      feed(1, 10_000, 4);
      expect(s.share).toBe(0);
      feed(1, 10_000);
      expect(s.share).toBeCloseTo(0.05);
    });

    it('holds while a long queue is still being read, even with idle moments in the samples', () => {
      const { s, feed } = queued(0.99);
      feed(1, BACKLOG_HIGH * 8, 6); // growing the whole time: 0.05 … 0.41
      const held = s.share;
      for (let i = 0; i < 10; i++) feed(0.6, BACKLOG_HIGH * 8 - (i + 1) * 300_000); // draining, the loop under the limit
      expect(s.share).toBe(held);
      feed(0.6, 0); // the queue is short again: now the idle time counts, a quarter a sample
      expect(s.share).toBeCloseTo(held * 0.75);
      feed(0.6, 0, 12);
      expect(s.share).toBe(0);
    });

    it('comes down as soon as the last sample had idle time, and stops well under the limit', () => {
      const { s, feed } = queued(0.9);
      feed(1, BACKLOG_HIGH * 2, 9);
      const high = s.share;
      feed(0.85, 0); // the window's mean is still over 0.9
      expect(s.share).toBeCloseTo(high - 0.025);
      // well under: a quarter a sample (not at once to 0 from a large share), then 0
      feed(0.2, 0, 3);
      expect(s.share).toBeGreaterThan(0);
      expect(s.share).toBeLessThan(high * 0.8);
      feed(0.2, 0, 10);
      expect(s.share).toBe(0);
    });

    it('settles nearer the share the overload needs than the loop alone does (a queue model, 7 % over)', () => {
      // a toy proxy that can do 1 unit of work a sample, offered 1.07; a refusal costs a tenth of a
      // call; what it cannot do waits in the queue (4 MB a unit of work: a 200 ms sample at
      // 3,000 calls/s, seven datagrams a call, ~1 KB of buffer each)
      const run = (withQueue: boolean): { share: number; maxQueue: number } => {
        let load = 0;
        let queue = 0;
        const s = createLoadShedder({ limit: 0.99, manual: true, sample: () => load, ...(withQueue ? { backlog: () => queue * 4_000_000 } : {}) });
        let sum = 0;
        let maxQueue = 0;
        for (let i = 0; i < 600; i++) {
          const work = 1.07 * (1 - s.share) + 1.07 * s.share * 0.1;
          const done = Math.min(1, queue + work);
          queue = queue + work - done;
          load = done;
          s.tick();
          if (i >= 100) {
            sum += s.share;
            maxQueue = Math.max(maxQueue, queue);
          }
        }
        return { share: sum / 500, maxQueue };
      };
      const loopOnly = run(false);
      const withQueue = run(true);
      // 7 % over needs ~6.9 % refused: the loop alone refuses far more on average
      expect(withQueue.share).toBeLessThan(loopOnly.share);
      expect(withQueue.share).toBeGreaterThan(0.05);
      expect(withQueue.share).toBeLessThan(0.12);
      // and the queue stays bounded (under a few samples' work)
      expect(withQueue.maxQueue).toBeLessThan(3);
    });
  });
  describe('with the queue delay known (the kernel receive times of the datagrams read)', () => {
    /** a shedder fed a loop load and a queue delay (ms; undefined: nothing read) per 200 ms tick; target T1/4 */
    const delayed = (limit = 0.99) => {
      let load = 0;
      let delay: number | undefined;
      let backlogReads = 0;
      let queued = BACKLOG_HIGH * 8;
      let t = 0;
      const spans: number[] = [];
      const s = createLoadShedder({
        limit,
        manual: true,
        maxDelayMs: 62.5,
        maxQueueDelayMs: 125,
        now: () => t,
        sample: () => load,
        queueDelay: (minSpanMs) => {
          spans.push(minSpanMs);
          return delay;
        },
        backlog: () => {
          backlogReads++;
          return queued;
        },
        draw: (id) => Number(id) / 100,
      });
      const feed = (l: number, d: number | undefined, ticks = 1): void => {
        load = l;
        delay = d;
        for (let i = 0; i < ticks; i++) {
          t += 200;
          s.tick();
        }
      };
      return { s, feed, spans, backlogReads: () => backlogReads, setQueued: (q: number) => (queued = q) };
    };

    it('asks for a delay from reads spread over half a sample at least (one read after a pause tells nothing)', () => {
      const { feed, spans } = delayed();
      feed(0.5, 1, 3);
      expect(spans).toEqual([100, 100, 100]);
    });

    it('refuses from the first sample whose queue never got shorter than T1/4, whatever the loop, and grows while it stays', () => {
      const { s, feed } = delayed();
      feed(0.7, 1, 5);
      expect(s.share).toBe(0);
      feed(0.7, 124);
      expect(s.share).toBe(0);
      feed(0.7, 60); // falling: holds at 0
      expect(s.share).toBe(0);
      feed(0.7, 126); // the loop had room, but the queue stood: behind all the same
      expect(s.share).toBeCloseTo(0.05);
      feed(1, 126); // flat: 5 % more a sample
      expect(s.share).toBeCloseTo(0.1);
    });

    it('grows by what the standing queue gained per ms of the sample on top: g / (1 + g) of the requests still let in (a queue that keeps growing is that far over)', () => {
      const { s, feed } = delayed();
      feed(1, 130); // 0.05: a first sample over the target
      feed(1, 170); // +40 ms in 200: the loop got through 1 / 1.2 of its work: 0.05 + 0.95 · 0.2 / 1.2
      expect(s.share).toBeCloseTo(0.1 + (0.95 * 0.2) / 1.2, 6);
      const before = s.share;
      feed(1, 250); // +80 ms: 0.05 + (1 - share) · 0.4 / 1.4
      expect(s.share).toBeCloseTo(before + 0.05 + ((1 - before) * 0.4) / 1.4, 6);
      // a jump from a short queue (a stall: the thread without a CPU) counts as a first sample only
      const other = delayed();
      other.feed(1, 0);
      other.feed(1, 300);
      expect(other.s.share).toBeCloseTo(0.05);
    });

    it('refuses at once the share a growing queue asks for, under T1/4, once it stood at T1/8 (before it gets near T1/2)', () => {
      const { s, feed } = delayed();
      feed(0.9, 20);
      feed(0.9, 60); // grew, but from a queue that was short: a pause, a burst
      expect(s.share).toBe(0);
      feed(0.9, 70); // stood at 60 (under T1/8): nothing yet
      expect(s.share).toBe(0);
      feed(0.9, 110); // stood at 70 and gained 40 ms in 200: a fifth more work than the loop did
      expect(s.share).toBeCloseTo(0.2 / 1.2, 6);
      feed(0.9, 110); // stands under T1/4, no longer growing, the loop with room: 2.5 % less
      expect(s.share).toBeCloseTo(0.2 / 1.2 - 0.025, 6);
    });

    it('a queue that stands under T1/4 and rises and falls from sample to sample is not growing: only a rise on a rise counts', () => {
      const { s, feed } = delayed();
      feed(0.75, 50, 5);
      // a shedder trace at 1,750 calls/s on a loaded machine (ms, one a sample): the queue came
      // back each time; counting every rise took the share to 0.30 here (no retransmission followed)
      const seen = [52.2, 57.5, 97, 72, 102.6, 99.7, 87.2, 88, 91, 78.4, 70.8, 72.3, 56.9, 89.6, 87.4, 113.8, 114.5, 78, 116.1, 103.7];
      let most = 0;
      for (const d of seen) {
        feed(0.72, d);
        most = Math.max(most, s.share);
      }
      expect(most).toBeGreaterThan(0); // the two rises in a row (87 → 88 → 91) do count
      expect(most).toBeLessThan(0.03);
      // a queue that rises at every sample under the target is met as before
      feed(0.72, 70);
      feed(0.72, 90);
      feed(0.72, 120); // stood at 90 (over T1/8), rose before and again by 30 ms in 200
      expect(s.share).toBeGreaterThan(0.1);
    });

    it('a nearly saturated loop whose reads found the queue short at some moment refuses nothing (a pause, a burst), whatever the backlog reads', () => {
      const { s, feed, backlogReads } = delayed();
      for (let i = 0; i < 30; i++) feed(0.97, i % 2 === 0 ? 124 : 3);
      expect(s.share).toBe(0);
      // the queue's length in /proc is not read while the delay is known
      expect(backlogReads()).toBe(0);
    });

    it('a loop saturated for the whole window whose queue falls by a tenth is draining it: the share holds', () => {
      const { s, feed } = delayed();
      feed(1, 100, 5); // saturated, 100 ms standing (under T1/4): 5 % a sample from the fifth
      expect(s.share).toBeCloseTo(0.05);
      feed(1, 60);
      expect(s.share).toBeCloseTo(0.05);
      feed(1, 59); // no longer falling: saturated, behind again
      expect(s.share).toBeCloseTo(0.1);
    });

    it('tells onChange the queue delay that started the refusing', () => {
      const seen: Array<[boolean, number | undefined]> = [];
      let d = 0;
      const s = createLoadShedder({ limit: 0.99, manual: true, maxQueueDelayMs: 125, sample: () => 0.5, queueDelay: () => d, onChange: (on, _busy, delay) => seen.push([on, delay]) });
      d = 130;
      s.tick();
      d = 0;
      for (let i = 0; i < 3; i++) s.tick();
      expect(seen).toEqual([
        [true, 130],
        [false, 0],
      ]);
    });

    it('tells onMove which rule moved the share, at each sample that moved it and no other', () => {
      const moves: ShedMove[] = [];
      let d = 0;
      let load = 0.5;
      let t = 0;
      const s = createLoadShedder({
        limit: 0.99,
        manual: true,
        maxQueueDelayMs: 125,
        now: () => t,
        sample: () => load,
        queueDelay: () => d,
        onMove: (m) => moves.push(m),
      });
      const at = (delay: number, l = 0.5): void => {
        d = delay;
        load = l;
        t += 200;
        s.tick();
      };
      at(20);
      at(20); // nothing moves: nothing told
      expect(moves).toEqual([]);
      at(130); // over the target
      at(70); // draining (shorter by more than a tenth): holds, untold
      at(70); // under the target, not near empty, idle time: down a step
      for (let i = 0; i < 5; i++) at(70, 1); // the whole window saturated (at its fifth sample)
      at(80, 1); // grew, but not over two samples: saturated still
      at(100, 0.9); // stood at T1/8 or more, rose twice: rising
      at(5); // near empty, idle: clear
      expect(moves.map((m) => m.rule)).toEqual(['over-target', 'falling', 'saturated', 'saturated', 'rising', 'clear']);
      expect(moves[0]).toMatchObject({ from: 0, sample: 0.5, queueDelayMs: 130, targetMs: 125 });
      expect(moves[0]!.share).toBeCloseTo(0.05);
      expect(moves[1]!.from).toBeCloseTo(0.05);
      expect(moves[1]!.share).toBeCloseTo(0.025);
      for (let i = 1; i < moves.length; i++) expect(moves[i]!.from).toBeCloseTo(moves[i - 1]!.share);
      expect(moves.at(-1)!.share).toBe(0);
      // without a measured delay the rules are the loop's (and the backlog's)
      const plain: ShedMove[] = [];
      let l2 = 1;
      const p = createLoadShedder({ limit: 0.9, manual: true, sample: () => l2, onMove: (m) => plain.push(m) });
      for (let i = 0; i < 5; i++) p.tick();
      l2 = 0.5;
      for (let i = 0; i < 5; i++) p.tick();
      expect(plain.map((m) => m.rule)).toEqual(['saturated', 'falling', 'clear']);
      expect(plain[0]!.queueDelayMs).toBeUndefined();
    });

    it('a loop saturated for the whole window is behind however short its queue (work other than reading UDP): 5 % a sample', () => {
      const { s, feed } = delayed();
      feed(1, 1, 4);
      expect(s.share).toBe(0);
      feed(1, 1);
      expect(s.share).toBeCloseTo(0.05);
      feed(1, 1);
      expect(s.share).toBeCloseTo(0.1);
      feed(0.9, 1); // idle time, the queue near empty, the loop near the limit: a quarter (2.5 % at least)
      expect(s.share).toBeCloseTo(0.075);
      feed(0.5, 1); // the loop at half with every call let in: no share needed
      expect(s.share).toBe(0);
    });

    it('holds while the standing queue shrinks by a tenth or more a sample, and grows again when it stops shrinking', () => {
      const { s, feed } = delayed();
      feed(1, 200, 3); // 0.05, 0.1, 0.15
      const held = s.share;
      expect(held).toBeCloseTo(0.15);
      feed(1, 179); // a fifth less: what came before is being read (growing now would overshoot)
      expect(s.share).toBe(held);
      feed(1, 140);
      expect(s.share).toBe(held);
      feed(1, 139); // under a tenth less, still over the target: behind
      expect(s.share).toBeCloseTo(held + 0.05);
    });

    it('comes down 2.5 % a sample while the queue is under T1/4 and the loop had idle time, by a quarter once the queue is under T1/16', () => {
      const { s, feed } = delayed();
      feed(1, 150, 8);
      const high = s.share;
      expect(high).toBeCloseTo(0.4);
      feed(1, 60); // the loop saturated the whole window, but the queue fell from 150 to 60: draining, holds
      expect(s.share).toBe(high);
      feed(0.95, 60); // idle time in the sample
      expect(s.share).toBeCloseTo(high - 0.025);
      const mid = s.share;
      feed(0.8, 5); // near empty, idle time
      expect(s.share).toBeCloseTo(mid * 0.75);
      feed(0.8, 1, 8);
      expect(s.share).toBe(0);
    });

    it('counts half of what the socket queue holds at the rate it is read as behind, when that is under T1/4', () => {
      let t = 0;
      let delay = 0;
      const s = createLoadShedder({ limit: 0.99, manual: true, maxQueueDelayMs: 125, now: () => t, sample: () => 0.8, queueDelay: () => delay, queueCapacity: () => 8_000_000 });
      /** a 200 ms sample reading `perMs` bytes of queue a ms (datagrams of 232 bytes, 1000 with their overhead) */
      const sampleAt = (perMs: number, d: number): void => {
        for (let k = 0; k < (perMs * 200) / 1000; k++) s.noteRead?.(232);
        delay = d;
        t += 200;
        s.tick();
      };
      // 20 KB a ms: 8 MB holds 400 ms; 100 ms standing is inside T1/4
      sampleAt(20_000, 100);
      expect(s.share).toBe(0);
      // 42 KB a ms (3,800 calls/s): 8 MB holds ~190 ms; 100 ms standing is over half of it
      sampleAt(42_000, 100);
      expect(s.share).toBeCloseTo(0.05);
      // without the capacity, T1/4 alone
      const plain = createLoadShedder({ limit: 0.99, manual: true, maxQueueDelayMs: 125, now: () => t, sample: () => 0.8, queueDelay: () => 100 });
      for (let k = 0; k < 8400; k++) plain.noteRead?.(232);
      t += 200;
      plain.tick();
      expect(plain.share).toBe(0);
    });

    it('a sample without a delay (nothing read, or one read) goes by the loop and the backlog, as without it', () => {
      const { s, feed, backlogReads, setQueued } = delayed(0.9);
      feed(1, undefined, 2); // saturated, the backlog long at two samples: behind
      expect(backlogReads()).toBe(2);
      expect(s.share).toBeCloseTo(0.05);
      setQueued(0);
      feed(0.2, undefined, 20); // and back down as before
      expect(s.share).toBe(0);
    });

    it('lets the share go at once when the queue is empty and the loop would stay well under the limit with every call let in', () => {
      const { s, feed } = delayed();
      feed(1, 150, 8);
      const high = s.share;
      expect(high).toBeCloseTo(0.4);
      // empty queue, the loop at 0.75: with the refused 40 % back (a refusal saves 3/4 of a call)
      // it would be at 0.75 / 0.7 = 1.07, over the limit: a quarter down
      feed(0.75, 0);
      expect(s.share).toBeCloseTo(high * 0.75);
      // at 0.55 with 30 % refused: 0.55 / 0.775 = 0.71, under 0.99 - 0.15: the stall is over
      feed(0.55, 0);
      expect(s.share).toBe(0);
    });

    it('settles near the share the overload needs, the queue bounded (a queue model, 7 % and 30 % over)', () => {
      // a toy proxy that can do 1 unit of work a 200 ms sample; a refusal costs a tenth of a call;
      // the shortest wait in a sample is what waited at its end (the queue only grows within one)
      const run = (offered: number): { share: number; maxDelay: number } => {
        let load = 0;
        let queue = 0;
        let delay = 0;
        let t = 0;
        const s = createLoadShedder({ limit: 0.99, manual: true, maxQueueDelayMs: 125, now: () => t, sample: () => load, queueDelay: () => delay });
        let sum = 0;
        let maxDelay = 0;
        for (let i = 0; i < 600; i++) {
          const work = offered * (1 - s.share) + offered * s.share * 0.1;
          const done = Math.min(1, queue + work);
          queue = queue + work - done;
          delay = Math.min(queue, done < 1 ? 0 : queue) * 200;
          load = done;
          t += 200;
          s.tick();
          if (i >= 100) {
            sum += s.share;
            maxDelay = Math.max(maxDelay, delay);
          }
        }
        return { share: sum / 500, maxDelay };
      };
      const light = run(1.07);
      // 7 % over needs ~6.9 % refused
      expect(light.share).toBeGreaterThan(0.05);
      expect(light.share).toBeLessThan(0.12);
      const heavy = run(1.3);
      // 30 % over needs ~25 %
      expect(heavy.share).toBeGreaterThan(0.2);
      expect(heavy.share).toBeLessThan(0.35);
      // the queue's delay stays under T1/2 (where retransmissions would start)
      expect(Math.max(light.maxDelay, heavy.maxDelay)).toBeLessThan(250);
    });
  });
});
