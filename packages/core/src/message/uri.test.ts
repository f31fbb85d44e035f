import { describe, expect, it } from 'vitest';
import { formatHost, formatUri, isIPv6Address, isSipUri, parseUri, unescapeUri, uriTransport } from './uri.js';
import type { SipUri } from './uri.js';

const sip = (s: string): SipUri => {
  const u = parseUri(s);
  if (!isSipUri(u)) throw new Error(`not a SIP URI: ${s}`);
  return u;
};

describe('parseUri: sip and sips', () => {
  it('reads user, password, host, port, parameters and headers', () => {
    expect(parseUri('sip:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent')).toEqual({
      scheme: 'sip',
      user: 'alice',
      password: 'secret',
      host: 'atlanta.example.com',
      ipv6: false,
      port: 5061,
      params: [['transport', 'tcp'], ['lr', null]],
      headers: 'subject=project%20x&priority=urgent',
    });
    expect(parseUri('sips:example.com')).toEqual({
      scheme: 'sips', user: undefined, password: undefined, host: 'example.com', ipv6: false, port: undefined, params: [], headers: undefined,
    });
  });

  it('takes the scheme and parameter names in any case, keeps values and the user as written', () => {
    const u = sip('SIP:Alice@Example.COM;Transport=TCP;MADDR=X');
    expect(u.scheme).toBe('sip');
    expect(u.user).toBe('Alice');
    expect(u.host).toBe('Example.COM');
    expect(u.params).toEqual([['transport', 'TCP'], ['maddr', 'X']]);
    expect(sip('sIpS:a@b').scheme).toBe('sips');
  });

  it('keeps escapes as written; unescapeUri decodes them for comparison', () => {
    const u = sip('sip:%61lice%40home@example.com;n%61me=v%61lue');
    expect(u.user).toBe('%61lice%40home');
    expect(unescapeUri(u.user!)).toBe('alice@home');
    expect(u.params).toEqual([['n%61me', 'v%61lue']]);
    expect(unescapeUri('no-escapes')).toBe('no-escapes');
    expect(unescapeUri('%zz%4')).toBe('%zz%4');
  });

  it('lets the user part carry ; ? / and friends (RFC 4475 semiuri, intmeth)', () => {
    expect(sip('sip:user;par=u%40example.net@example.com')).toMatchObject({ user: 'user;par=u%40example.net', host: 'example.com', params: [] });
    expect(sip('sip:a?b@c').user).toBe('a?b');
  });

  it('refuses what is not a SIP URI', () => {
    for (const bad of [
      'sip:', 'sip:@example.com', 'sip:a@', 'sip:host:', 'sip:host:65536', 'sip:host:123456', 'sip:host:5x', 'sip:host;',
      'sip:host;;lr', 'sip:host;=x', 'sip:host?', 'sip:ho st', 'sip:host ', ' sip:host', 'sip:<host>', 'sip:"host"',
      'sip:a@b@c', 'sip:host\u00a0', 'sip:h\u00e9llo', 'sip:[2001:db8::1', 'sip:[2001:db8::1]x', 'sip:[]', 'sip:[::::]',
      'sip:[1.2.3.4]', 'sip:[2001:db8::g]', ':host', '1sip:host', 'si p:host', '',
    ]) {
      expect(parseUri(bad), bad).toBeUndefined();
    }
  });
});

describe('parseUri: IPv6 references (RFC 5118)', () => {
  it('reads the address without brackets and the port after them', () => {
    expect(sip('sip:[2001:db8::10]')).toMatchObject({ host: '2001:db8::10', ipv6: true, port: undefined });
    expect(sip('sip:[2001:db8::10]:5070')).toMatchObject({ host: '2001:db8::10', ipv6: true, port: 5070 });
    expect(sip('sip:user@[::ffff:192.0.2.2];transport=udp')).toMatchObject({ user: 'user', host: '::ffff:192.0.2.2', params: [['transport', 'udp']] });
  });

  it('reads a port inside the brackets as part of the address (§4.3)', () => {
    expect(sip('sip:[2001:db8::10:5070]')).toMatchObject({ host: '2001:db8::10:5070', port: undefined });
  });

  it('tolerates the three-colon form of RFC 3261 ABNF (§4.10) and nothing looser', () => {
    expect(sip('sip:user@[2001:db8:::192.0.2.1]').host).toBe('2001:db8:::192.0.2.1');
    expect(isIPv6Address('2001:db8:::192.0.2.1')).toBe(true);
    expect(isIPv6Address(':::192.0.2.1')).toBe(true);
    expect(isIPv6Address('2001:db8:::10')).toBe(false);
    expect(isIPv6Address('2001:db8::1:::192.0.2.1')).toBe(false);
    expect(isIPv6Address('2001:db8:::192.0.2')).toBe(false);
    expect(isIPv6Address('fe80::1%eth0')).toBe(false);
    expect(isIPv6Address('::')).toBe(true);
  });

  it('refuses an IPv6 address without brackets (§4.2)', () => {
    expect(parseUri('sip:2001:db8::10')).toBeUndefined();
  });

  it('writes brackets back', () => {
    expect(formatUri(sip('sip:[2001:db8::10]:5070;lr'))).toBe('sip:[2001:db8::10]:5070;lr');
    expect(formatHost('2001:db8::1', true)).toBe('[2001:db8::1]');
    expect(formatHost('example.com', false)).toBe('example.com');
  });
});

describe('parseUri: tel and other schemes', () => {
  it('reads tel URIs', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toEqual({
      scheme: 'tel', number: '+1-201-555-0123', params: [['phone-context', 'example.com']],
    });
    expect(parseUri('tel:')).toBeUndefined();
    expect(parseUri('tel:12 34')).toBeUndefined();
  });

  it('keeps other schemes opaque, without white space', () => {
    expect(parseUri('soap.beep://192.0.2.103:3002')).toEqual({ scheme: 'soap.beep', opaque: '//192.0.2.103:3002' });
    expect(parseUri('urn:service:sos')).toEqual({ scheme: 'urn', opaque: 'service:sos' });
    expect(parseUri('http://a b')).toBeUndefined();
    expect(parseUri('isbn:')).toBeUndefined();
  });
});

describe('formatUri', () => {
  it('writes what parseUri read', () => {
    for (const s of [
      'sip:alice@atlanta.example.com',
      'sips:alice:pw@example.com:5061;transport=tcp;lr?h=v',
      'sip:[2001:db8::1]:5060',
      'tel:+15551234;ext=1',
      'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    ]) {
      expect(formatUri(parseUri(s)!)).toBe(s);
    }
  });
});

describe('uriTransport', () => {
  it('follows the transport parameter, else RFC 3263 defaults', () => {
    expect(uriTransport(sip('sip:a@b'))).toBe('udp');
    expect(uriTransport(sip('sips:a@b'))).toBe('tls');
    expect(uriTransport(sip('sip:a@b;transport=TCP'))).toBe('tcp');
    expect(uriTransport(sip('sips:a@b;transport=tcp'))).toBe('tls');
    expect(uriTransport(sip('sip:a@b;transport=ws'))).toBe('ws');
  });
});
