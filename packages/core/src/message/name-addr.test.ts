import { describe, expect, it } from 'vitest';
import { formatNameAddr, parseNameAddr, tagOf } from './name-addr.js';

describe('parseNameAddr', () => {
  it('reads a quoted display name, the URI in <> and header parameters', () => {
    expect(parseNameAddr('"Alice Liddell" <sip:alice@example.com;transport=tcp>;tag=1928301774;x=y')).toEqual({
      displayName: '"Alice Liddell"',
      uri: 'sip:alice@example.com;transport=tcp',
      parsedUri: expect.objectContaining({ scheme: 'sip', user: 'alice', host: 'example.com', params: [['transport', 'tcp']] }),
      bracketed: true,
      params: [['tag', '1928301774'], ['x', 'y']],
    });
  });

  it('reads token display names, with or without space before <', () => {
    expect(parseNameAddr('Bob  Smith <sip:bob@example.com>')?.displayName).toBe('Bob  Smith');
    expect(parseNameAddr('caller<sip:caller@example.com>;tag=323')).toMatchObject({ displayName: 'caller', uri: 'sip:caller@example.com' });
    expect(parseNameAddr('<sip:bob@example.com>')?.displayName).toBeUndefined();
  });

  it('keeps escapes inside a quoted display name, with commas and angle brackets', () => {
    const n = parseNameAddr(String.raw`"Bell, \"Alexander\" <ab>" <sip:a.g.bell@example.com>`);
    expect(n?.displayName).toBe(String.raw`"Bell, \"Alexander\" <ab>"`);
    expect(n?.uri).toBe('sip:a.g.bell@example.com');
  });

  it('reads an addr-spec: parameters after it belong to the header, not the URI', () => {
    expect(parseNameAddr('sip:+19725552222@gw1.example.net;unknownparam;tag=x')).toMatchObject({
      uri: 'sip:+19725552222@gw1.example.net',
      bracketed: false,
      params: [['unknownparam', null], ['tag', 'x']],
    });
    expect(parseNameAddr('  sip:a@b  ;  tag = 1 ')).toMatchObject({ uri: 'sip:a@b', params: [['tag', '1']] });
  });

  it('takes LWS around the parameter separators', () => {
    expect(parseNameAddr('<sip:a@b> ; tag = 98asjd8 ; q=0.5')?.params).toEqual([['tag', '98asjd8'], ['q', '0.5']]);
    expect(parseNameAddr('<sip:a@b>;x="quoted ; value";tag=1')?.params).toEqual([['x', '"quoted ; value"'], ['tag', '1']]);
  });

  it('reads IPv6 references and non-SIP schemes', () => {
    expect(parseNameAddr('"Caller" <sip:caller@[2001:db8::1]>')?.parsedUri).toMatchObject({ host: '2001:db8::1', ipv6: true });
    expect(parseNameAddr('<http://www.example.com>;tag=3234233')?.parsedUri).toEqual({ scheme: 'http', opaque: '//www.example.com' });
    expect(parseNameAddr('isbn:2983792873')?.parsedUri).toEqual({ scheme: 'isbn', opaque: '2983792873' });
  });

  it('refuses malformed values (RFC 4475 quotbal, baddn, badaspec, regbadct)', () => {
    for (const bad of [
      '',
      '   ',
      '"Mr. J. User <sip:j.user@example.com>',
      'Bell, Alexander <sip:a.g.bell@example.com>;tag=43',
      '"Watson, Thomas" < sip:t.watson@example.org >',
      'sip:user@example.com?Route=%3Csip:sip.example.com%3E',
      'sip:a@b,sip:c@d',
      '<sip:a@b',
      '<sip:a@b>;',
      '<sip:a@b>;tag=',
      '<sip:a@b>;x="unterminated',
      '<sip:a@b> junk',
      '"a" sip:a@b',
      'Al\u00e9 <sip:a@b>',
      '<>',
    ]) {
      expect(parseNameAddr(bad), bad).toBeUndefined();
    }
  });

  it('does not read past the end it is given (values are parsed inside the header section)', () => {
    expect(parseNameAddr('<sip:a@b')).toBeUndefined();
    expect(parseNameAddr('sip:a@b')?.params).toEqual([]);
  });
});

describe('tagOf and formatNameAddr', () => {
  it('reads the tag; a tag without value is no tag', () => {
    expect(tagOf(parseNameAddr('<sip:a@b>;tag=abc'))).toBe('abc');
    expect(tagOf(parseNameAddr('<sip:a@b>;TAG=abc'))).toBe('abc');
    expect(tagOf(parseNameAddr('<sip:a@b>;tag'))).toBeUndefined();
    expect(tagOf(undefined)).toBeUndefined();
  });

  it('writes a name-addr, always in <>', () => {
    expect(formatNameAddr({ uri: 'sip:a@b' })).toBe('<sip:a@b>');
    expect(formatNameAddr({ displayName: '"A"', uri: 'sip:a@b', params: [['tag', '1'], ['lr', null]] })).toBe('"A" <sip:a@b>;tag=1;lr');
    const n = parseNameAddr('sip:a@b;tag=x')!;
    expect(formatNameAddr(n)).toBe('<sip:a@b>;tag=x');
  });
});
