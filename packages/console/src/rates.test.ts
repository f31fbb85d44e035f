import { describe, expect, it } from 'vitest';
import { emptyRates, sumRates, updateRates } from './rates.js';

describe('calls per second from selectedTotal', () => {
  it('needs two samples, then divides the delta by the time between them', () => {
    let s = updateRates(emptyRates(), [{ key: 'a', total: 100 }], 0);
    expect(s.rates.get('a')).toBeNull();
    s = updateRates(s, [{ key: 'a', total: 125 }], 5000);
    expect(s.rates.get('a')).toBe(5);
    s = updateRates(s, [{ key: 'a', total: 125 }], 10_000);
    expect(s.rates.get('a')).toBe(0);
  });

  it('keeps the last rate for samples too close together, and restarts when a counter goes down', () => {
    let s = updateRates(emptyRates(), [{ key: 'a', total: 0 }], 0);
    s = updateRates(s, [{ key: 'a', total: 10 }], 2000);
    expect(s.rates.get('a')).toBe(5);
    s = updateRates(s, [{ key: 'a', total: 11 }], 2200);
    expect(s.rates.get('a')).toBe(5);
    s = updateRates(s, [{ key: 'a', total: 3 }], 5000);
    expect(s.rates.get('a')).toBeNull();
  });

  it('forgets destinations that went away and sums what is known', () => {
    let s = updateRates(emptyRates(), [
      { key: 'a', total: 0 },
      { key: 'b', total: 0 },
    ], 0);
    s = updateRates(s, [{ key: 'a', total: 4 }], 1000);
    expect([...s.samples.keys()]).toEqual(['a']);
    expect(sumRates([s.rates.get('a'), null, undefined])).toBe(4);
    expect(sumRates([null])).toBeNull();
  });
});
