import { describe, expect, it } from 'vitest';
import { canonicalIp } from './ip.js';

describe('canonicalIp', () => {
  it('writes addresses as the transport reports them', () => {
    expect(canonicalIp('192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalIp(' 192.0.2.1 ')).toBe('192.0.2.1');
    expect(canonicalIp('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalIp('[2001:DB8::1]')).toBe('2001:db8::1');
    expect(canonicalIp('2001:db8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalIp('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1'); // the longest run
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // a lone zero group stays
    expect(canonicalIp('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalIp('::')).toBe('::');
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1');
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', 'example.com', '256.1.1.1', '1.2.3', '2001:db8::1::2', '10.0.0.0/8']) expect(canonicalIp(bad)).toBeUndefined();
  });
});
