import { describe, expect, it } from 'vitest';
import { createResponse, SipMessage } from '@sipfront/core';
import { normalizeTrunk } from './spec.js';
import { contactHostPort } from './local-contact.js';
import { classifyFailure, grantedExpires, retryAfter } from './register-request.js';

describe('normalizeTrunk', () => {
  it('applies the contract defaults', () => {
    expect(normalizeTrunk({ id: 'p1', registrar: 'sip:sip.provider.example:5080;transport=tcp', user: '200200', password: 'x' })).toEqual({
      id: 'p1', registrar: 'sip:sip.provider.example:5080;transport=tcp', user: '200200', password: 'x', ha1: null, authUser: '200200', realm: null,
      contactUser: '200200', domain: 'sip.provider.example', fromUser: '200200', outboundProxy: null, inboundFrom: [], expires: 3600, routeTo: 1,
      retry: { interval: 20_000, forbiddenInterval: 300_000, maxAttempts: 0, initialDelayMax: 2_000 },
    });
  });

  it('names the field that is wrong', () => {
    const base = { id: 'p1', registrar: 'sip:p.example', user: 'u', password: 'x' };
    expect(() => normalizeTrunk({ ...base, id: 'a b' })).toThrow(expect.objectContaining({ field: 'id', httpStatus: 400 }));
    expect(() => normalizeTrunk({ ...base, registrar: 'p.example' })).toThrow(expect.objectContaining({ field: 'registrar' }));
    expect(() => normalizeTrunk({ ...base, password: null })).toThrow(expect.objectContaining({ field: 'password' }));
    expect(() => normalizeTrunk({ ...base, ha1: 'abc' })).toThrow(expect.objectContaining({ field: 'ha1' }));
    expect(() => normalizeTrunk({ ...base, expires: 0 })).toThrow(expect.objectContaining({ field: 'expires' }));
    expect(() => normalizeTrunk({ ...base, retry: { interval: 0 } })).toThrow(expect.objectContaining({ field: 'retry.interval' }));
    expect(() => normalizeTrunk({ ...base, outboundProxy: 'nope' })).toThrow(expect.objectContaining({ field: 'outboundProxy' }));
  });
});

describe('REGISTER answers', () => {
  const req = (): SipMessage => {
    const r = SipMessage.request('REGISTER', 'sip:p.example');
    for (const [n, v] of [['From', '<sip:u@p.example>;tag=1'], ['To', '<sip:u@p.example>'], ['Call-ID', 'x'], ['CSeq', '1 REGISTER']]) r.append(n!, v!);
    return r;
  };
  it('reads the expiry granted to our Contact among others', () => {
    const ours = 'sip:200200@198.51.100.7:5060';
    const res = createResponse(req(), 200, 'OK', [
      ['Contact', '<sip:200200@203.0.113.5:5060>;expires=3000, <sip:200200@198.51.100.7:5060>;expires=120'],
      ['Expires', '3600'],
    ]);
    expect(grantedExpires(res, ours, 3600)).toBe(120);
    expect(grantedExpires(createResponse(req(), 200, 'OK', [['Expires', '90']]), ours, 3600)).toBe(90);
    expect(grantedExpires(createResponse(req(), 200, 'OK'), ours, 3600)).toBe(3600);
    // a registrar that rewrote the host (NAT): the only Contact with our user
    expect(grantedExpires(createResponse(req(), 200, 'OK', [['Contact', '<sip:200200@203.0.113.9:40000>;expires=300']]), ours, 3600)).toBe(300);
  });

  it('classes and reads Retry-After', () => {
    const r = createResponse(req(), 503, 'x', [['Retry-After', '120 (maintenance);duration=60']]);
    expect(retryAfter(r)).toBe(120);
    expect(classifyFailure(null, undefined)).toBe('temporary');
    expect(classifyFailure(403, undefined)).toBe('permanent');
    expect(classifyFailure(600, createResponse(req(), 600, 'x', [['Retry-After', '5']]))).toBe('temporary');
  });
});

describe('contactHostPort', () => {
  const L = (id: string, transport: 'udp' | 'tcp', host: string, port: number, family: 4 | 6 = 4) => ({ id, transport, host, port, family });
  const listeners = [L('a', 'udp', '127.0.0.1', 5060), L('b', 'udp', '10.0.0.5', 5060), L('c', 'tcp', '10.0.0.5', 5061), L('d', 'udp', '2001:db8::5', 5060, 6)];
  const t = (registrar: string) => normalizeTrunk({ id: 'p', registrar, user: 'u', password: 'x' });
  it('picks a socket of the trunk transport, family and loopback-ness; the advertised host wins', () => {
    expect(contactHostPort(t('sip:192.0.2.1'), listeners)).toBe('10.0.0.5:5060');
    expect(contactHostPort(t('sip:127.0.0.1:5090'), listeners)).toBe('127.0.0.1:5060');
    expect(contactHostPort(t('sip:[2001:db8::1]'), listeners)).toBe('[2001:db8::5]:5060');
    expect(contactHostPort(t('sip:p.example;transport=tcp'), listeners)).toBe('10.0.0.5:5061');
    expect(contactHostPort(t('sip:p.example'), listeners, '203.0.113.1')).toBe('203.0.113.1:5060');
    expect(() => contactHostPort(t('sips:p.example'), listeners)).toThrow(/no tls listener/);
  });
});
