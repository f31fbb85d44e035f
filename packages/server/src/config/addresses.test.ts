import { describe, expect, it } from 'vitest';
import { isDnsServer, isHost, normalizeCidr, parseCidr, parseSipUri } from './addresses.js';

describe('parseSipUri', () => {
  it('accepts host, port, user and params', () => {
    expect(parseSipUri('sip:10.0.0.11:5060')).toMatchObject({ scheme: 'sip', host: '10.0.0.11', port: 5060, user: null });
    expect(parseSipUri('sips:sip.provider.example')).toMatchObject({ scheme: 'sips', host: 'sip.provider.example', port: null });
    expect(parseSipUri('sip:[2001:db8::1]:5080;transport=tcp')).toMatchObject({ host: '2001:db8::1', port: 5080, params: { transport: 'tcp' } });
    expect(parseSipUri('sip:alice@example.com;lr')).toMatchObject({ user: 'alice', params: { lr: null } });
  });

  it('refuses what is no SIP URI', () => {
    for (const bad of ['http://10.0.0.1', '10.0.0.1:5060', 'sip:', 'sip:10.0.0.1:70000', 'sip:2001:db8::1',
      'sip:[not-v6]', 'sip:10.0.0.999', 'sip:a b', 'sip:h;transport=sctp', 'sip:h?subject=x']) {
      expect(parseSipUri(bad), bad).toBeNull();
    }
  });
});

describe('CIDRs and hosts', () => {
  it('parses IPv4 and IPv6 CIDRs and bare addresses', () => {
    expect(parseCidr('10.0.0.0/24')).toEqual({ address: '10.0.0.0', prefix: 24, family: 4 });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 6 });
    expect(normalizeCidr('::1')).toBe('::1/128');
    expect(normalizeCidr('127.0.0.1')).toBe('127.0.0.1/32');
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0/8', 'example.com/24', '10.0.0.0/x']) expect(parseCidr(bad), bad).toBeNull();
  });

  it('tells host names from broken addresses', () => {
    expect(isHost('example.com')).toBe(true);
    expect(isHost('::1')).toBe(true);
    expect(isHost('10.0.0.999')).toBe(false);
    expect(isHost('-bad-.com')).toBe(false);
  });

  it('checks DNS server addresses', () => {
    for (const ok of ['1.1.1.1', '1.1.1.1:53', '[2001:db8::53]:5353', '2001:db8::53']) expect(isDnsServer(ok), ok).toBe(true);
    for (const bad of ['dns.example', '1.1.1.1:99999', '2001:db8::53:53x']) expect(isDnsServer(bad), bad).toBe(false);
  });
});
