import { describe, expect, test } from 'vitest';
import { createNonceService } from './nonce.js';

const fakeClock = (t = 1_700_000_000_000): { now(): number; t: number } => {
  const c = { t, now: () => c.t };
  return c;
};

describe('signed nonces', () => {
  test('workers: a nonce is valid only in the worker that issued it (the secret alone is not enough)', () => {
    const clock = fakeClock();
    const w0 = createNonceService({ secret: 's3cret', lifetimeMs: 30_000, clock, issuer: 'w0' });
    const w0again = createNonceService({ secret: 's3cret', lifetimeMs: 30_000, clock, issuer: 'w0' });
    const w1 = createNonceService({ secret: 's3cret', lifetimeMs: 30_000, clock, issuer: 'w1' });
    const plain = createNonceService({ secret: 's3cret', lifetimeMs: 30_000, clock });
    const n = w0.issue('example.com');
    expect(w0.verify(n, 'example.com')).toBe('valid');
    expect(w0again.verify(n, 'example.com')).toBe('valid');
    expect(w1.verify(n, 'example.com')).toBe('invalid');
    expect(plain.verify(n, 'example.com')).toBe('invalid');
    expect(w0.verify(plain.issue('example.com'), 'example.com')).toBe('invalid');
  });

  test('any instance with the same secret verifies; another secret or scope does not', () => {
    const clock = fakeClock();
    const a = createNonceService({ secret: 's3cret', lifetimeMs: 30_000, clock });
    const b = createNonceService({ secret: 's3cret', lifetimeMs: 30_000, clock });
    const c = createNonceService({ secret: 'other', lifetimeMs: 30_000, clock });
    const n = a.issue('example.com');
    expect(n).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(b.verify(n, 'example.com')).toBe('valid');
    expect(b.verify(n, 'example.org')).toBe('invalid');
    expect(c.verify(n, 'example.com')).toBe('invalid');
    expect(a.verify('garbage', 'example.com')).toBe('invalid');
    const tampered = (n[5] === 'A' ? 'B' : 'A');
    expect(a.verify(n.slice(0, 5) + tampered + n.slice(6), 'example.com')).toBe('invalid');
    expect(a.issue()).not.toBe(a.issue());
  });

  test('expired nonces are stale; far-future ones invalid', () => {
    const clock = fakeClock();
    const s = createNonceService({ secret: 'x', lifetimeMs: 30_000, clock });
    const n = s.issue();
    clock.t += 30_000;
    expect(s.verify(n)).toBe('valid');
    clock.t += 1;
    expect(s.verify(n)).toBe('stale');
    const later = createNonceService({ secret: 'x', lifetimeMs: 30_000, clock: { now: () => clock.t + 120_000 } });
    expect(s.verify(later.issue())).toBe('invalid');
  });

  test('nonce-count must increase per nonce; memory is bounded', () => {
    const s = createNonceService({ secret: 'x', lifetimeMs: 30_000, maxTracked: 2 });
    const [n1, n2, n3] = [s.issue(), s.issue(), s.issue()];
    expect(s.acceptNonceCount(n1, 1)).toBe(true);
    expect(s.acceptNonceCount(n1, 1)).toBe(false);
    expect(s.acceptNonceCount(n1, 2)).toBe(true);
    expect(s.acceptNonceCount(n1, 1)).toBe(false);
    expect(s.acceptNonceCount(n2, 5)).toBe(true);
    expect(s.acceptNonceCount(n3, 1)).toBe(true); // evicts n1 (least recently used)
    expect(s.acceptNonceCount(n2, 5)).toBe(false);
    expect(s.acceptNonceCount(n1, 1)).toBe(true); // forgotten
  });
});
