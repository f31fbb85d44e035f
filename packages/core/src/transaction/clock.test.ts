// The queued clock: timers of one duration share a delay queue. Pure logic over a fake base
// clock, so every due time is exact.
import { describe, expect, it } from 'vitest';
import { queuedClock } from './clock.js';
import { fakeBase } from '../../test/helpers/fake-clock.js';
import type { TimerHandle, TransactionClock } from './types.js';

describe('queuedClock', () => {
  it('runs timers of one duration at their due times, in order, with one base timer', () => {
    const f = fakeBase();
    const { base, advance, pending } = f;
    const clock = queuedClock(base, f.mono);
    const fired: Array<[string, number]> = [];
    const t0 = base.now();
    clock.setTimeout((s: string) => fired.push([s, base.now() - t0]), 1000, 'a');
    advance(300);
    clock.setTimeout((s: string) => fired.push([s, base.now() - t0]), 1000, 'b');
    advance(200);
    clock.setTimeout((s: string) => fired.push([s, base.now() - t0]), 1000, 'c');
    expect(pending.size).toBe(1); // the queue's head only
    advance(999 - 500);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual([['a', 1000]]);
    advance(2000);
    expect(fired).toEqual([['a', 1000], ['b', 1300], ['c', 1500]]);
    expect(pending.size).toBe(0);
  });

  it('keeps durations apart: a short timer armed after a long one still fires first', () => {
    const f = fakeBase();
    const { base, advance } = f;
    const clock = queuedClock(base, f.mono);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('long'), 32_000, undefined);
    clock.setTimeout(() => fired.push('short'), 500, undefined);
    advance(500);
    expect(fired).toEqual(['short']);
    advance(31_500);
    expect(fired).toEqual(['short', 'long']);
  });

  it('a cleared timer never runs and lets go of its argument; with none left nothing stays armed', () => {
    const f = fakeBase();
    const { base, advance, pending } = f;
    const clock = queuedClock(base, f.mono);
    const fired: string[] = [];
    const arg = { name: 'x' };
    const h = clock.setTimeout((a: { name: string }) => fired.push(a.name), 1000, arg);
    clock.setTimeout(() => fired.push('y'), 1000, undefined);
    clock.clearTimeout(h);
    expect((h as { arg: unknown }).arg).toBeUndefined();
    advance(1000);
    expect(fired).toEqual(['y']);
    const h2 = clock.setTimeout(() => fired.push('z'), 1000, undefined);
    expect(pending.size).toBe(1);
    clock.clearTimeout(h2);
    expect(pending.size).toBe(0);
    clock.clearTimeout(h2); // twice is harmless
    advance(5000);
    expect(fired).toEqual(['y']);
  });

  it('drops cleared timers in bulk (Timer B and F end at the response) and still runs the live ones on time', () => {
    const f = fakeBase();
    const { base, advance } = f;
    const clock = queuedClock(base, f.mono);
    const fired: number[] = [];
    const t0 = base.now();
    for (let i = 0; i < 5000; i++) {
      clock.clearTimeout(clock.setTimeout(() => fired.push(-1), 32_000, undefined));
      if (i % 10 === 0) clock.setTimeout((n: number) => fired.push(n), 32_000, base.now() - t0);
      advance(1);
    }
    advance(32_000);
    expect(fired).not.toContain(-1);
    expect(fired).toHaveLength(500);
    expect(fired).toEqual([...fired].sort((a, b) => a - b));
  });

  it('a callback may arm and clear timers of its own queue while it runs', () => {
    const f = fakeBase();
    const { base, advance } = f;
    const clock = queuedClock(base, f.mono);
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push('first');
      clock.clearTimeout(second);
      clock.setTimeout(() => fired.push('again'), 1000, undefined);
    }, 1000, undefined);
    const second = clock.setTimeout(() => fired.push('second'), 1000, undefined);
    advance(1000);
    expect(fired).toEqual(['first']);
    advance(1000);
    expect(fired).toEqual(['first', 'again']);
  });

  it('due times follow the monotonic clock: a wall clock set forward or back moves none', () => {
    const f = fakeBase();
    const { advance, stepWall } = f;
    const clock = queuedClock(f.base, f.mono);
    const fired: Array<[string, number]> = [];
    const t0 = f.mono();
    clock.setTimeout(() => fired.push(['a', f.mono() - t0]), 32_000, undefined);
    advance(10_000);
    stepWall(30_000); // NTP steps forward
    clock.setTimeout(() => fired.push(['b', f.mono() - t0]), 32_000, undefined);
    advance(10_000);
    stepWall(-3_600_000); // and back an hour
    advance(31_999 - 20_000);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual([['a', 32_000]]);
    advance(10_000);
    expect(fired).toEqual([['a', 32_000], ['b', 42_000]]);
  });

  it('a timer that re-arms its own duration runs once per period even when time moves while it runs', () => {
    // the base clock moves 1 ms at every reading, as a busy process's clock does
    let t = 0;
    let seq = 0;
    const pending = new Map<number, { at: number; fn: (a: unknown) => void; arg: unknown }>();
    const base: TransactionClock = {
      now: () => ++t,
      setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
        pending.set(++seq, { at: t + ms, fn: fn as (a: unknown) => void, arg });
        return seq;
      },
      clearTimeout: (h: TimerHandle) => void pending.delete(h as number),
    };
    const clock = queuedClock(base);
    let runs = 0;
    const rearm = (): void => {
      runs++;
      if (runs < 10_000) clock.setTimeout(rearm, 4000, undefined);
    };
    clock.setTimeout(rearm, 4000, undefined);
    // fire the base timers due within 40 s, one at a time (each run is bounded: no runaway loop)
    for (let i = 0; i < 1000 && pending.size > 0; i++) {
      const [id, e] = [...pending].sort((a, b) => a[1].at - b[1].at)[0]!;
      if (e.at > 40_000) break;
      pending.delete(id);
      t = Math.max(t, e.at);
      e.fn(e.arg);
    }
    // 40 s of a 4 s timer: about ten runs (the ticking clock adds a few ms a period), never thousands
    expect(runs).toBeGreaterThanOrEqual(9);
    expect(runs).toBeLessThanOrEqual(10);
  });

  it('an exception in one callback does not stop the others, and is thrown as a plain timer would', async () => {
    const f = fakeBase();
    const { base, advance } = f;
    const clock = queuedClock(base, f.mono);
    const fired: string[] = [];
    clock.setTimeout(() => {
      throw new Error('boom');
    }, 1000, undefined);
    clock.setTimeout(() => fired.push('b'), 1000, undefined);
    const seen = new Promise<unknown>((resolve) => {
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (e) => {
        for (const l of listeners) process.on('uncaughtException', l);
        resolve(e);
      });
    });
    advance(1000);
    expect(fired).toEqual(['b']);
    expect(((await seen) as Error).message).toBe('boom');
  });

  it('close() clears everything', () => {
    const f = fakeBase();
    const { base, advance, pending } = f;
    const clock = queuedClock(base, f.mono);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('a'), 1000, undefined);
    clock.setTimeout(() => fired.push('b'), 5000, undefined);
    clock.close();
    expect(pending.size).toBe(0);
    advance(10_000);
    expect(fired).toEqual([]);
  });
});
