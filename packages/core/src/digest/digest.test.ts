import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { parseMessage } from '../message/index.js';
import {
  buildAuthorization, digestResponse, formatChallenge, formatCredentials, ha1, parseAlgorithm,
  parseAuthHeader, parseDigestChallenge, parseDigestCredentials, parseNonceCount, selectChallenge,
} from './index.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

describe('RFC 7616 §3.9.1 example (GET /dir/index.html, Mufasa / Circle of Life)', () => {
  const base = {
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    qop: 'auth' as const,
  };
  const realm = 'http-auth@example.org';

  test('MD5', () => {
    const r = digestResponse({ ...base, alg: 'MD5', ha1: ha1('MD5', 'Mufasa', realm, 'Circle of Life') });
    expect(r).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  test('SHA-256', () => {
    const r = digestResponse({ ...base, alg: 'SHA-256', ha1: ha1('SHA-256', 'Mufasa', realm, 'Circle of Life') });
    expect(r).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  test('the Authorization header of the example parses back to the same values', () => {
    const value = [
      'Digest username="Mufasa",',
      '       realm="http-auth@example.org",',
      '       uri="/dir/index.html",',
      '       algorithm=SHA-256,',
      '       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",',
      '       nc=00000001,',
      '       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",',
      '       qop=auth,',
      '       response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",',
      '       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    ].join('\r\n');
    const r = parseDigestCredentials(value);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ username: 'Mufasa', realm, uri: '/dir/index.html', algorithm: 'SHA-256', nc: '00000001', qop: 'auth', opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS' });
    expect(parseAlgorithm(r.value.algorithm)).toBe('SHA-256');
  });

  test('the challenge of the example parses (qop list, two algorithms in order)', () => {
    const challenges = [
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    ];
    const c = parseDigestChallenge(challenges[0]!);
    expect(c.ok && c.value.qop).toEqual(['auth', 'auth-int']);
    expect(selectChallenge(challenges)?.algorithm).toBe('SHA-256');
    expect(selectChallenge(challenges, ['MD5'])?.algorithm).toBe('MD5');
    const auth = buildAuthorization(selectChallenge(challenges)!, { username: 'Mufasa', password: 'Circle of Life' }, 'GET', '/dir/index.html', {
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    });
    expect(auth).toContain('response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"');
    expect(auth).toContain('opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"');
  });
});

describe('RFC 2617 §3.5 example (MD5, qop=auth)', () => {
  test('response', () => {
    const a1 = ha1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    expect(a1).toBe('939e7578ed9e3c518a452acee763bce9');
    const r = digestResponse({
      alg: 'MD5', ha1: a1, method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      nc: '00000001', cnonce: '0a4f113b', qop: 'auth',
    });
    expect(r).toBe('6629fae49393a05397450978507c4ef1');
  });

  test('no qop (RFC 2069 compatibility) and MD5-sess follow the RFC 2617 formulas', () => {
    const a1 = ha1('MD5', 'bob', 'example.com', 'pw');
    const ha2 = md5('REGISTER:sip:example.com');
    expect(digestResponse({ alg: 'MD5', ha1: a1, method: 'REGISTER', uri: 'sip:example.com', nonce: 'n1' })).toBe(md5(`${a1}:n1:${ha2}`));
    const sess = md5(`${a1}:n1:c1`);
    expect(digestResponse({ alg: 'MD5-sess', ha1: a1, method: 'REGISTER', uri: 'sip:example.com', nonce: 'n1', nc: '00000002', cnonce: 'c1', qop: 'auth' }))
      .toBe(md5(`${sess}:n1:00000002:c1:auth:${ha2}`));
    const bodyHash = md5('v=0\r\n');
    expect(digestResponse({ alg: 'MD5', ha1: a1, method: 'INVITE', uri: 'sip:a@b', nonce: 'n', nc: '00000001', cnonce: 'c', qop: 'auth-int', body: 'v=0\r\n' }))
      .toBe(md5(`${a1}:n:00000001:c:auth-int:${md5(`INVITE:sip:a@b:${bodyHash}`)}`));
  });
});

describe('header parsing', () => {
  test('RFC 4475 regaut01: an unknown Authorization scheme is not Digest', () => {
    const file = new URL('../../test/fixtures/torture/valid/regaut01.sip', import.meta.url);
    const msg = parseMessage(readFileSync(file));
    const value = msg.get('authorization')!;
    const r = parseDigestCredentials(value);
    expect(r).toMatchObject({ ok: false, error: 'not-digest', scheme: 'NoOneKnowsThisScheme' });
    expect(parseAuthHeader(value)?.params?.get('opaque-data')).toBe('here');
  });

  test('quoted strings keep commas and escaped quotes; scheme and names are case-insensitive', () => {
    const r = parseDigestCredentials('digest USERNAME="a\\"b,c", realm="r", nonce="n", uri="sip:x@y;transport=tcp", response="ABCDEF", algorithm=md5');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.username).toBe('a"b,c');
    expect(r.value.response).toBe('abcdef');
    expect(parseAlgorithm(r.value.algorithm)).toBe('MD5');
    expect(parseAlgorithm(undefined)).toBe('MD5');
    expect(parseAlgorithm('SHA-1')).toBeUndefined();
  });

  test('malformed credentials', () => {
    expect(parseDigestCredentials('Digest username="a", realm="r"')).toMatchObject({ ok: false, error: 'malformed' });
    expect(parseDigestCredentials('Digest username="a", username="b", realm="r", nonce="n", uri="u", response="00"')).toMatchObject({ ok: false, error: 'malformed' });
    expect(parseDigestCredentials('Digest username="a, realm="r"')).toMatchObject({ ok: false, error: 'malformed' });
    expect(parseDigestCredentials('Digest username="a", realm="r", nonce="n", uri="u", response="00", qop=auth')).toMatchObject({ ok: false, error: 'malformed' });
    expect(parseDigestCredentials('Digest username="a", realm="r", nonce="n", uri="u", response="00", qop=auth, nc=xyz, cnonce="c"')).toMatchObject({ ok: false, error: 'malformed' });
    expect(parseDigestCredentials('')).toMatchObject({ ok: false, error: 'malformed' });
    expect(parseDigestCredentials('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==')).toMatchObject({ ok: false, error: 'not-digest' });
    expect(parseNonceCount('0000000a')).toBe(10);
    expect(parseNonceCount('zz')).toBeNaN();
  });

  test('formatting round-trips', () => {
    const ch = formatChallenge({ realm: 'example.com', nonce: 'abc', algorithm: 'MD5' });
    expect(ch).toBe('Digest realm="example.com", nonce="abc", algorithm=MD5, qop="auth"');
    expect(formatChallenge({ realm: 'r', nonce: 'n', algorithm: 'SHA-256', stale: true, qop: [] })).toBe('Digest realm="r", nonce="n", algorithm=SHA-256, stale=true');
    const p = parseDigestChallenge(formatChallenge({ realm: 'a"b', nonce: 'n', algorithm: 'SHA-256', opaque: 'o', stale: true }));
    expect(p).toMatchObject({ ok: true, value: { realm: 'a"b', nonce: 'n', algorithm: 'SHA-256', opaque: 'o', stale: true, qop: ['auth'] } });
    const cr = formatCredentials({ username: '1001', realm: 'example.com', nonce: 'n', uri: 'sip:example.com', response: 'ff', algorithm: 'MD5', cnonce: 'c', qop: 'auth', nc: 1 });
    expect(cr).toBe('Digest username="1001", realm="example.com", nonce="n", uri="sip:example.com", response="ff", algorithm=MD5, cnonce="c", qop=auth, nc=00000001');
    expect(parseDigestCredentials(cr)).toMatchObject({ ok: true, value: { username: '1001', nc: '00000001', qop: 'auth', cnonce: 'c' } });
  });
});

describe('buildAuthorization', () => {
  const challenge = 'Digest realm="example.com", nonce="xyz", algorithm=MD5, qop="auth"';

  test('answers with a response the server side computes the same way', () => {
    const v = buildAuthorization(challenge, { username: '1001', password: 'secret' }, 'REGISTER', 'sip:example.com', { nc: 3 });
    const c = parseDigestCredentials(v);
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.value.nc).toBe('00000003');
    const expected = digestResponse({
      alg: 'MD5', ha1: ha1('MD5', '1001', 'example.com', 'secret'), method: 'REGISTER', uri: 'sip:example.com',
      nonce: 'xyz', nc: c.value.nc, cnonce: c.value.cnonce, qop: 'auth',
    });
    expect(c.value.response).toBe(expected);
  });

  test('uses a given HA1, refuses what it cannot answer', () => {
    const a1 = ha1('MD5', '1001', 'example.com', 'secret');
    const a = buildAuthorization(challenge, { username: '1001', ha1: { MD5: a1 } }, 'REGISTER', 'sip:example.com', { cnonce: 'c' });
    const b = buildAuthorization(challenge, { username: '1001', password: 'secret' }, 'REGISTER', 'sip:example.com', { cnonce: 'c' });
    expect(a).toBe(b);
    expect(() => buildAuthorization(challenge.replace('MD5', 'SHA-256'), { username: '1001', ha1: { MD5: a1 } }, 'REGISTER', 'sip:x'))
      .toThrow(expect.objectContaining({ code: 'no-credentials' }));
    expect(() => buildAuthorization(challenge.replace('MD5', 'SHA-1'), { username: '1', password: 'p' }, 'REGISTER', 'sip:x'))
      .toThrow(expect.objectContaining({ code: 'unsupported-algorithm' }));
    expect(() => buildAuthorization('Basic realm="x"', { username: '1', password: 'p' }, 'REGISTER', 'sip:x'))
      .toThrow(expect.objectContaining({ code: 'invalid-challenge' }));
  });

  test('a challenge without qop gets an RFC 2069 answer (no nc, no cnonce)', () => {
    const v = buildAuthorization('Digest realm="r", nonce="n"', { username: 'u', password: 'p' }, 'INVITE', 'sip:a@b');
    expect(v).not.toContain('nc=');
    expect(v).not.toContain('algorithm=');
    const c = parseDigestCredentials(v);
    expect(c.ok && c.value.response).toBe(digestResponse({ alg: 'MD5', ha1: ha1('MD5', 'u', 'r', 'p'), method: 'INVITE', uri: 'sip:a@b', nonce: 'n' }));
  });
});
