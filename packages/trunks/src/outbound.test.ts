import { describe, expect, it } from 'vitest';
import { parseMessage } from '@sipfront/core';
import type { SipMessage } from '@sipfront/core';
import { createTrunkManager } from './manager.js';
import { outboundDecision } from './outbound.js';
import { challenged, credentialsOf, reply, trunk, verifies } from '../test/helpers/fake-provider.js';

const invite = (ruri = 'sip:004930123456@10.0.0.11', extra: string[] = []): SipMessage =>
  parseMessage(
    Buffer.from(
      [
        `INVITE ${ruri} SIP/2.0`,
        'Via: SIP/2.0/UDP 10.0.0.11:5060;branch=z9hG4bK-ast-1',
        'Max-Forwards: 70',
        'From: "Alice" <sip:1001@example.com>;tag=caller-tag',
        `To: <${ruri}>`,
        'Call-ID: call-1@10.0.0.11',
        'CSeq: 102 INVITE',
        'Contact: <sip:1001@10.0.0.11:5060>',
        'P-Asserted-Identity: <sip:1001@example.com>',
        'P-Preferred-Identity: <sip:boss@example.com>',
        ...extra,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    ),
  );

const logs: string[] = [];
const log = { debug: () => undefined, info: () => undefined, warn: (_o: object, m: string) => void logs.push(m), error: () => undefined };
const manager = (t = trunk()) => createTrunkManager({ send: () => new Promise(() => undefined), localContact: () => '198.51.100.7:5060', log }, [t]);

describe('calls out: outboundRequestFor', () => {
  it('rewrites Request-URI and From into the provider domain, keeps the tag, asserts only the trunk identity', () => {
    const m = manager(trunk({ fromUser: '4930999', domain: 'sip.provider.example' }));
    const plan = m.outboundRequestFor('p1', invite())!;
    expect(plan).toEqual({
      trunk: 'p1',
      destination: 'sip:192.0.2.10',
      requestUri: 'sip:004930123456@sip.provider.example',
      from: '<sip:4930999@sip.provider.example>;tag=caller-tag',
      route: [],
      removeHeaders: ['p-asserted-identity', 'p-preferred-identity', 'remote-party-id', 'authorization', 'proxy-authorization'],
      addHeaders: [['P-Asserted-Identity', '<sip:4930999@sip.provider.example>']],
    });
    expect(m.outboundRequestFor('nope', invite())).toBeUndefined();
  });

  it('takes the dialled user from the hook (a stripped prefix) and goes through the outbound proxy', () => {
    const m = manager(trunk({ outboundProxy: 'sip:edge.provider.example:5070;transport=tcp' }));
    const plan = m.outboundRequestFor('p1', invite('sip:9004930123@10.0.0.11'), { user: '004930123' })!;
    expect(plan.requestUri).toBe('sip:004930123@sip.provider.example');
    expect(plan.destination).toBe('sip:edge.provider.example:5070;transport=tcp');
    expect(plan.route).toEqual(['<sip:edge.provider.example:5070;transport=tcp;lr>']);
  });

  it('as a forward decision: one target, From replaced (remove + add), identity headers gone', () => {
    const m = manager();
    const d = outboundDecision(m.outboundRequestFor('p1', invite())!);
    expect(d.targets).toEqual([{ destination: 'sip:192.0.2.10', requestUri: 'sip:004930123456@sip.provider.example' }]);
    expect(d.removeHeaders).toContain('from');
    expect(d.removeHeaders).toContain('p-asserted-identity');
    expect(d.addHeaders?.[0]).toEqual(['From', '<sip:200200@sip.provider.example>;tag=caller-tag']);
    // applied the way the proxy applies a decision
    const out = invite().clone();
    out.setRequestUri(d.targets[0]!.requestUri!);
    for (const k of d.removeHeaders!) out.remove(k);
    for (const [n, v] of d.addHeaders!) out.append(n, v);
    const again = parseMessage(out.toBuffer());
    expect(again.fromTag).toBe('caller-tag');
    expect(again.getAll('p-asserted-identity')).toEqual(['<sip:200200@sip.provider.example>']);
    expect(again.has('p-preferred-identity')).toBe(false);
  });
});

describe('calls out: answerChallenge', () => {
  const sentOut = (): SipMessage => {
    const req = invite();
    req.setRequestUri('sip:004930123456@sip.provider.example');
    return req;
  };

  it('answers a 407 with Proxy-Authorization over the Request-URI as sent', () => {
    const m = manager();
    const req = sentOut();
    const a = m.answerChallenge('p1', req, challenged(req, 'sip.provider.example', 'inv-nonce', { proxy: true, qop: ['auth'] }))!;
    expect(a.authorization[0]).toBe('Proxy-Authorization');
    req.append(...a.authorization);
    expect(verifies(req, 'secret', 'proxy-authorization')).toBe(true);
    expect(credentialsOf(req, 'proxy-authorization')).toMatchObject({ uri: 'sip:004930123456@sip.provider.example', username: '200200', realm: 'sip.provider.example' });
  });

  it('answers a 401 with Authorization', () => {
    const m = manager();
    const req = sentOut();
    const a = m.answerChallenge('p1', req, challenged(req, 'r', 'n'))!;
    expect(a.authorization[0]).toBe('Authorization');
    req.append(...a.authorization);
    expect(verifies(req, 'secret')).toBe(true);
  });

  it('gives up on a realm mismatch (logging both), a refused answer, or a non-challenge', () => {
    const m = manager(trunk({ realm: 'mine.example' }));
    const req = sentOut();
    expect(m.answerChallenge('p1', req, challenged(req, 'theirs.example', 'n', { proxy: true }))).toBeUndefined();
    expect(logs.at(-1)).toContain('"theirs.example"');
    expect(logs.at(-1)).toContain('"mine.example"');
    expect(m.answerChallenge('p1', req, reply(req, 486))).toBeUndefined();

    const m2 = manager();
    const again = sentOut();
    const first = m2.answerChallenge('p1', again, challenged(again, 'r', 'n1', { proxy: true }))!;
    again.append(...first.authorization);
    // challenged again for the same realm: the credentials were refused
    expect(m2.answerChallenge('p1', again, challenged(again, 'r', 'n2', { proxy: true }))).toBeUndefined();
    // unless the nonce was only stale
    expect(m2.answerChallenge('p1', again, challenged(again, 'r', 'n3', { proxy: true, stale: true }))).toBeDefined();
  });
});
