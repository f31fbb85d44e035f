import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlidingWindow } from './sliding-window.js';

describe('SlidingWindow', () => {
  it('counts exactly the events within (now - window, now], as a list of times would', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 500 }), fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 300 }), (capacity, window, gaps) => {
        const w = new SlidingWindow(capacity);
        const times: number[] = [];
        let now = 1000;
        for (const gap of gaps) {
          now += gap;
          const expected = Math.min(capacity, times.filter((t) => t > now - window).length);
          expect(w.count(now, window)).toBe(expected);
          w.add(now);
          times.push(now);
          times.splice(0, Math.max(0, times.length - capacity));
          expect(w.newest).toBe(now);
        }
      }),
    );
  });
});
