import { describe, expect, it } from 'vitest';
import { createAcl, createCidrMatcher, parseCidr, parseIp } from './cidr.js';
import { TransportError } from './errors.js';

describe('parseIp', () => {
  it('reads IPv4, IPv6 and IPv4-mapped IPv6', () => {
    expect([...parseIp('192.0.2.1')!]).toEqual([192, 0, 2, 1]);
    expect([...parseIp('::1')!]).toEqual([...new Array<number>(15).fill(0), 1]);
    expect([...parseIp('[2001:db8::1]')!].slice(0, 4)).toEqual([0x20, 0x01, 0x0d, 0xb8]);
    expect([...parseIp('::ffff:10.1.2.3')!]).toEqual([10, 1, 2, 3]);
    expect([...parseIp('fe80::1%eth0')!].slice(0, 2)).toEqual([0xfe, 0x80]);
    expect(parseIp('1:2:3:4:5:6:7:8')).toHaveLength(16);
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', '1.2.3', '1.2.3.256', 'a.b.c.d', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'example.com']) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });
});

describe('parseCidr', () => {
  it('reads prefixes and host routes', () => {
    expect(parseCidr('10.0.0.0/8')!.prefix).toBe(8);
    expect(parseCidr('10.0.0.1')!.prefix).toBe(32);
    expect(parseCidr('::1')!.prefix).toBe(128);
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ bytes: new Uint8Array([10, 0, 0, 0]), prefix: 8 });
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('10.0.0.0/x')).toBeNull();
  });
});

describe('createCidrMatcher', () => {
  it('matches by prefix, each family on its own', () => {
    const m = createCidrMatcher(['10.0.0.0/24', '192.0.2.128/25', '2001:db8::/32', '0.0.0.0/0']);
    expect(m('10.0.0.200')).toBe(true);
    expect(m('192.0.2.129')).toBe(true);
    expect(m('2001:db8:ffff::1')).toBe(true);
    expect(m('2001:db9::1')).toBe(false);
    expect(m('::ffff:8.8.8.8')).toBe(true); // mapped → IPv4 → 0.0.0.0/0
    const n = createCidrMatcher(['192.0.2.128/25']);
    expect(n('192.0.2.127')).toBe(false);
    expect(n('not-an-ip')).toBe(false);
  });

  it('answers the same for an address asked again and past its cache bound (4096 addresses), and nothing matches an empty list', () => {
    const m = createCidrMatcher(['10.1.0.0/16']);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        expect(m(`10.1.${i >> 8}.${i & 255}`)).toBe(true);
        expect(m(`10.2.${i >> 8}.${i & 255}`)).toBe(false);
      }
    }
    expect(m('not-an-ip')).toBe(false);
    expect(m('not-an-ip')).toBe(false);
    expect(createCidrMatcher([])('10.1.0.1')).toBe(false);
  });

  it('names the bad entry', () => {
    expect(() => createCidrMatcher(['10.0.0.0/8', 'nope'], 'listen[0].allow')).toThrow(/listen\[0\]\.allow\[1\]/);
    try {
      createCidrMatcher(['nope']);
    } catch (err) {
      expect((err as TransportError).code).toBe('TRANSPORT_INVALID_CIDR');
    }
  });
});

describe('createAcl', () => {
  it('is null without lists, deny wins over allow, empty allow admits everyone', () => {
    expect(createAcl(undefined, [])).toBeNull();
    const acl = createAcl(['10.0.0.0/8'], ['10.0.0.66/32'])!;
    expect(acl('10.1.2.3')).toBe(true);
    expect(acl('10.0.0.66')).toBe(false);
    expect(acl('192.0.2.1')).toBe(false);
    const denyOnly = createAcl([], ['127.0.0.1/32', '::1/128'])!;
    expect(denyOnly('127.0.0.1')).toBe(false);
    expect(denyOnly('::1')).toBe(false);
    expect(denyOnly('127.0.0.2')).toBe(true);
    expect(denyOnly('127.0.0.2')).toBe(true); // cached answer
  });
});
