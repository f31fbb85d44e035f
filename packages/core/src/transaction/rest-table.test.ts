// RestTable (rest.ts): the entries of transactions at rest, found by a hash of their key, ended in
// due order. Checked against a plain Map and a list of due times under a seeded random workload.
import { describe, expect, it } from 'vitest';
import { RestTable } from './rest.js';
import { fakeBase } from '../../test/helpers/fake-clock.js';

/** a table on the fake base clock, and the values it told onEnd of, in order */
const setup = <V>() => {
  const f = fakeBase();
  const ended: V[] = [];
  const t = new RestTable<V>(f.base, f.mono, (v) => ended.push(v));
  return { t, ended, c: { advance: f.advance, mono: f.mono, pending: () => f.pending.size } };
};

/** a seeded generator (mulberry32): the same workload every run */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

describe('RestTable', () => {
  it('finds what rests under a key for exactly its time, then tells onEnd and forgets it', () => {
    const { t, ended, c } = setup<string>();
    t.set('z9hG4bK-a\n192.0.2.1:5060\nBYE', 'a', 32_000);
    t.set('z9hG4bK-b\n192.0.2.1:5060\nBYE', 'b', 32_000);
    expect(t.get('z9hG4bK-a\n192.0.2.1:5060\nBYE')).toBe('a');
    expect(t.get('z9hG4bK-a\n192.0.2.1:5060\nINVITE')).toBeUndefined();
    expect(t.size).toBe(2);
    c.advance(31_999);
    expect(t.get('z9hG4bK-b\n192.0.2.1:5060\nBYE')).toBe('b');
    expect(ended).toEqual([]);
    c.advance(1);
    expect(ended).toEqual(['a', 'b']);
    expect(t.get('z9hG4bK-a\n192.0.2.1:5060\nBYE')).toBeUndefined();
    expect(t.size).toBe(0);
    expect(c.pending()).toBe(0);
  });

  it('keeps one queue per duration, an entry with less time left in its place, and one timer per queue', () => {
    const { t, ended, c } = setup<string>();
    t.set('k1', 'long1', 32_000);
    t.set('k2', 'short', 5_000);
    c.advance(1_000);
    t.set('k3', 'long2', 32_000);
    // came to rest part-way through a 32 s timer: ends before long2 although added after it
    t.set('k4', 'partway', 20_000, 32_000);
    expect(c.pending()).toBe(2);
    c.advance(40_000);
    expect(ended).toEqual(['short', 'partway', 'long1', 'long2']);
  });

  it('replaces an entry under the same key and ends one at once on remove(), telling onEnd each time', () => {
    const { t, ended, c } = setup<string>();
    t.set('k', 'old', 32_000);
    t.set('k', 'new', 32_000);
    expect(ended).toEqual(['old']);
    expect(t.get('k')).toBe('new');
    expect(t.size).toBe(1);
    expect(t.remove('k')).toBe(true);
    expect(t.remove('k')).toBe(false);
    expect(ended).toEqual(['old', 'new']);
    expect(c.pending()).toBe(0);
    c.advance(60_000);
    expect(ended).toEqual(['old', 'new']);
  });

  it('agrees with a Map over 200,000 seeded operations across growth, removals and expiry', () => {
    const { t, ended, c } = setup<number>();
    const random = rng(8);
    const model = new Map<string, { val: number; due: number }>();
    let val = 0;
    const keyOf = (n: number) => `z9hG4bK-${n.toString(36)}\n198.51.100.${n % 7}:${5060 + (n % 3)}\n${n % 2 === 0 ? 'INVITE' : 'BYE'}`;
    let maxSize = 0;
    for (let op = 0; op < 200_000; op++) {
      const r = random();
      const k = keyOf(Math.floor(random() * 30_000));
      if (r < 0.6) {
        const ms = random() < 0.5 ? 32_000 : 5_000;
        val++;
        const old = model.get(k);
        if (old !== undefined) ended.length = 0;
        t.set(k, val, ms);
        if (old !== undefined) expect(ended).toEqual([old.val]);
        model.set(k, { val, due: c.mono() + ms });
      } else if (r < 0.7) {
        expect(t.remove(k)).toBe(model.delete(k));
      } else if (r < 0.99) {
        expect(t.get(k)).toBe(model.get(k)?.val);
      } else {
        ended.length = 0;
        c.advance(Math.floor(random() * 100));
        const now = c.mono();
        const gone = [...model].filter(([, e]) => e.due <= now);
        for (const [key] of gone) model.delete(key);
        expect(ended.sort((a, b) => a - b)).toEqual(gone.map(([, e]) => e.val).sort((a, b) => a - b));
      }
      expect(t.size).toBe(model.size);
      maxSize = Math.max(maxSize, model.size);
    }
    expect(maxSize).toBeGreaterThan(10_000); // the table grew many times over its first 64
    for (const [k, e] of model) expect(t.get(k)).toBe(e.val);
    c.advance(32_000);
    expect(t.size).toBe(0);
    expect(c.pending()).toBe(0);
  });

  it('gives back the arrays of a peak as its entries end, keeping the rest in order', () => {
    const { t, ended, c } = setup<number>();
    for (let i = 0; i < 20_000; i++) t.set(`peak${i}`, i, 5_000);
    c.advance(1_000);
    for (let i = 0; i < 100; i++) t.set(`stay${i}`, 100_000 + i, 32_000);
    t.remove('peak7');
    expect(t.capacity).toBe(32_768);
    c.advance(4_000);
    expect(t.size).toBe(100);
    expect(t.capacity).toBeLessThanOrEqual(1_024);
    for (let i = 0; i < 100; i++) expect(t.get(`stay${i}`)).toBe(100_000 + i);
    expect(t.get('peak8')).toBeUndefined();
    ended.length = 0;
    t.set('late', -1, 10_000);
    c.advance(28_000);
    expect(ended).toEqual([-1, ...Array.from({ length: 100 }, (_, i) => 100_000 + i)]);
    expect(t.capacity).toBe(64);
    expect(c.pending()).toBe(0);
  });

  it('ends entries on time and in order across the wrap of its 32-bit ms clock (after 24.8 and 49.7 days)', () => {
    const { t, ended, c } = setup<string>();
    for (const jump of [2 ** 31 - 10_000, 2 ** 31]) {
      c.advance(jump);
      ended.length = 0;
      t.set('long', 'long', 32_000);
      c.advance(5_000);
      // one queue (5 s): 'other', with 3 s left, goes ahead of 'short'
      t.set('short', 'short', 5_000);
      t.set('other', 'other', 3_000, 5_000);
      c.advance(2_999);
      expect(ended).toEqual([]);
      c.advance(1);
      expect(ended).toEqual(['other']);
      c.advance(2_000);
      expect(ended).toEqual(['other', 'short']);
      c.advance(21_999);
      expect(t.get('long')).toBe('long');
      c.advance(1);
      expect(ended).toEqual(['other', 'short', 'long']);
      expect(t.size).toBe(0);
      expect(c.pending()).toBe(0);
    }
  });

  it('tells keys of every shape apart: empty, one character apart, long, beyond latin1', () => {
    const { t } = setup<number>();
    const keys = ['', 'a', 'b', 'ab', 'ba', 'x'.repeat(1000), `${'x'.repeat(999)}y`, 'z9hG4bK\u00e9\n::1:5060\nBYE', 'z9hG4bK\u4e2d\n::1:5060\nBYE'];
    keys.forEach((k, i) => t.set(k, i, 1_000));
    keys.forEach((k, i) => expect(t.get(k)).toBe(i));
    expect(t.size).toBe(keys.length);
  });

  it('clear() drops everything and its timers, telling no one', () => {
    const { t, ended, c } = setup<number>();
    for (let i = 0; i < 1_000; i++) t.set(`k${i}`, i, i % 2 === 0 ? 32_000 : 5_000);
    t.clear();
    expect(c.pending()).toBe(0);
    expect(t.size).toBe(0);
    expect(t.get('k1')).toBeUndefined();
    t.set('k1', 1, 10);
    c.advance(10);
    expect(ended).toEqual([1]);
  });
});
