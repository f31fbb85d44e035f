import { describe, expect, it } from 'vitest';
import { formatParams, getParam, hasParam, parseParams } from './params.js';

describe('parseParams', () => {
  it('reads ;name=value and ;name in order, names lower-cased, values as written', () => {
    expect(parseParams(';Branch=z9hG4bK776;RPORT;received=192.0.2.1;x="a;b"')).toEqual([
      ['branch', 'z9hG4bK776'], ['rport', null], ['received', '192.0.2.1'], ['x', '"a;b"'],
    ]);
    expect(parseParams('')).toEqual([]);
    expect(parseParams('   ')).toEqual([]);
  });

  it('each result is an array of its own, and a malformed list leaves nothing behind for the next', () => {
    const a = parseParams(';a=1;b');
    const b = parseParams(';c');
    expect(a).toEqual([['a', '1'], ['b', null]]);
    expect(b).toEqual([['c', null]]);
    a!.push(['z', null]);
    expect(b).toEqual([['c', null]]);
    expect(parseParams(';x=1;y=2;;')).toBeUndefined();
    expect(parseParams(';y')).toEqual([['y', null]]);
    // more parameters than any list before: the collector grows
    const many = Array.from({ length: 40 }, (_, i) => `;p${i}=${i}`).join('');
    expect(parseParams(many)).toHaveLength(40);
    expect(parseParams(';q')).toEqual([['q', null]]);
  });

  it('takes LWS around ; and =', () => {
    expect(parseParams(' ; tag = 1918181833n ;  lr ')).toEqual([['tag', '1918181833n'], ['lr', null]]);
  });

  it('takes IPv6 references and quoted strings with escapes as values', () => {
    expect(parseParams(';received=[2001:db8::9:255];maddr=2001:db8::1')).toEqual([['received', '[2001:db8::9:255]'], ['maddr', '2001:db8::1']]);
    expect(parseParams(String.raw`;x="a \" b"`)).toEqual([['x', String.raw`"a \" b"`]]);
  });

  it('starts where it is told', () => {
    expect(parseParams('<sip:a@b>;tag=1', 9)).toEqual([['tag', '1']]);
  });

  it('refuses empty parameters, bad characters and open quotes (RFC 4475 badinv01)', () => {
    for (const bad of [';', ';;', ';;,;,,', 'tag=1', ';tag=', ';=1', ';a b', ';a=b c', ';x="open', ';x="a\\"', ';a=<b>', ';a,b']) {
      expect(parseParams(bad), bad).toBeUndefined();
    }
  });
});

describe('getParam, hasParam, formatParams', () => {
  const p = parseParams(';branch=z9hG4bKx;rport;ttl=1')!;
  it('finds by lower-case name', () => {
    expect(getParam(p, 'branch')).toBe('z9hG4bKx');
    expect(getParam(p, 'rport')).toBeNull();
    expect(getParam(p, 'maddr')).toBeUndefined();
    expect(hasParam(p, 'rport')).toBe(true);
    expect(hasParam(p, 'maddr')).toBe(false);
  });
  it('writes them back', () => {
    expect(formatParams(p)).toBe(';branch=z9hG4bKx;rport;ttl=1');
    expect(formatParams([])).toBe('');
  });
});
