// The final a non-INVITE server transaction replays, kept as a skeleton of its request's values.
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { SipMessage } from '../message/message.js';
import { fillSkeleton, SkeletonTable, skeletonOf } from './replay.js';

const parse = (lines: string[]): SipMessage => parseMessage(Buffer.from(lines.join('\r\n')));

/** a BYE as the proxy holds it: its top Via stamped with received and rport */
const bye = (callId: string, branch: string, port = 5060): string[] => [
  'BYE sip:100@10.0.0.5:5060 SIP/2.0',
  `Via: SIP/2.0/UDP 192.0.2.10:${port};branch=${branch};received=192.0.2.10;rport=${port}`,
  'Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK-inner',
  'Max-Forwards: 69',
  `From: "Alice" <sip:alice@example.com>;tag=${callId}-f`,
  `To: <sip:100@example.com>;tag=${callId}-t`,
  `Call-ID: ${callId}`,
  'CSeq: 2 BYE',
  'Content-Length: 0',
  '',
  '',
];

/** what a backend answers: the request's values copied, a Contact and a Server of its own */
const ok = (req: string[], extra: string[] = ['Contact: <sip:10.0.0.5:5060>', 'Server: Asterisk PBX 20.5.0']): string =>
  [
    'SIP/2.0 200 OK',
    ...req.filter((l) => /^(Via|From|To|Call-ID|CSeq):/.test(l)),
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

describe('skeletonOf / fillSkeleton', () => {
  it('keeps a response as its own lines and references to the request, and fills it back byte for byte', () => {
    const lines = bye('call-1', 'z9hG4bK-a1');
    const text = ok(lines);
    const sk = skeletonOf(text, parse(lines))!;
    expect(sk).toBeDefined();
    // six references (two Vias, From, To, Call-ID, CSeq): none of the request's values is left
    expect(sk.split('\0')).toHaveLength(7);
    expect(sk).not.toContain('call-1');
    expect(sk).not.toContain('z9hG4bK');
    expect(sk).toContain('Server: Asterisk PBX 20.5.0\r\n');
    expect(sk.length).toBeLessThan(text.length / 2);
    // a retransmission is another message with the same text
    expect(fillSkeleton(sk, parse(lines))).toBe(text);
  });

  it('is the same for every call whose answer differs only in the copied values', () => {
    const a = bye('call-1', 'z9hG4bK-a1');
    const b = bye('call-2', 'z9hG4bK-b7', 5099);
    const ska = skeletonOf(ok(a), parse(a))!;
    const skb = skeletonOf(ok(b), parse(b))!;
    expect(ska).toBe(skb);
    expect(fillSkeleton(ska, parse(b))).toBe(ok(b));
  });

  it('leaves as text what the answer changed, and what it wrote in compact form or other spacing still refers', () => {
    const lines = bye('call-3', 'z9hG4bK-c3');
    const text = [
      'SIP/2.0 200 OK',
      `v:  ${lines[1]!.slice(5)}`,
      lines[2]!,
      'From: Alice <sip:alice@example.com>;tag=call-3-f', // display name rewritten: kept as is
      `t:${lines[5]!.slice(3)}`,
      'i: call-3',
      'CSeq: 2 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const sk = skeletonOf(text, parse(lines))!;
    expect(sk.split('\0')).toHaveLength(6);
    expect(sk).toContain('From: Alice <sip:alice@example.com>;tag=call-3-f\r\n');
    expect(sk.startsWith('SIP/2.0 200 OK\r\nv:  \0')).toBe(true);
    expect(fillSkeleton(sk, parse(lines))).toBe(text);
  });

  it('keeps a body as text, and gives up on a NUL of the text or nothing to refer to', () => {
    const lines = bye('call-4', 'z9hG4bK-d4');
    const withBody = ok(lines, ['Content-Type: text/plain']).replace('Content-Length: 0\r\n\r\n', 'Content-Length: 13\r\n\r\nCall-ID: x\r\n\r\n');
    const sk = skeletonOf(withBody, parse(lines))!;
    expect(fillSkeleton(sk, parse(lines))).toBe(withBody);
    expect(sk.endsWith('\r\n\r\nCall-ID: x\r\n\r\n')).toBe(true);
    expect(skeletonOf(withBody.replace('Call-ID: x', 'Call-ID:\0x'), parse(lines))).toBeUndefined();
    const foreign = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-other\r\nContent-Length: 0\r\n\r\n';
    expect(skeletonOf(foreign, parse(lines))).toBeUndefined();
    expect(skeletonOf('SIP/2.0 200 OK\r\nVia: x', parse(lines))).toBeUndefined();
  });

  it('fills nothing from a request that lacks a value referred to', () => {
    const lines = bye('call-5', 'z9hG4bK-e5');
    const sk = skeletonOf(ok(lines), parse(lines))!;
    expect(fillSkeleton(sk, parse(lines.filter((l) => !l.startsWith('Via: SIP/2.0/UDP 10.1.1.1'))))).toBeUndefined();
  });
});

describe('skeletonOf, mixed answers', () => {
  it('gives back every answer byte for byte from the request it was made from (1,000 seeded variants)', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const names: Record<string, string[]> = { Via: ['Via', 'v', 'VIA', 'Via '], From: ['From', 'f', 'from'], To: ['To', 't', 'TO'], 'Call-ID': ['Call-ID', 'i', 'call-id'], CSeq: ['CSeq', 'cseq'] };
    let referenced = 0;
    for (let k = 0; k < 1000; k++) {
      const lines = bye(`c${k}`, `z9hG4bK-m${k}`, 5060 + rnd(3));
      if (rnd(3) === 0) lines.splice(2, 0, `Via: SIP/2.0/TCP 10.9.9.${rnd(9)};branch=z9hG4bK-x${k}`);
      const req = parse(lines);
      const out = ['SIP/2.0 200 OK'];
      for (const l of lines.slice(1)) {
        const m = /^(Via|From|To|Call-ID|CSeq): (.*)$/.exec(l);
        if (m === null || rnd(6) === 0) continue; // a line the answer leaves out
        const choices = names[m[1]!]!;
        const name = choices[rnd(choices.length)]!;
        const value = rnd(5) === 0 ? `${m[2]!};x=${rnd(10)}` : m[2]!; // sometimes changed
        out.push(`${name}:${rnd(4) === 0 ? '  ' : ' '}${value}`);
      }
      if (rnd(2) === 0) out.push(`Contact: <sip:10.0.0.${rnd(3)}>`);
      out.push('Content-Length: 0', '', '');
      const text = out.join('\r\n');
      const sk = skeletonOf(text, req);
      if (sk === undefined) continue;
      referenced++;
      expect(fillSkeleton(sk, req)).toBe(text);
      expect(fillSkeleton(sk, parse(lines))).toBe(text);
    }
    expect(referenced).toBeGreaterThan(900);
  });
});

describe('SkeletonTable', () => {
  it('keeps one copy of each skeleton while it is used, and makes room when the last user lets go', () => {
    const t = new SkeletonTable(2);
    const a = t.acquire('a');
    expect(t.acquire('a')).toBe(a);
    const b = t.acquire('b');
    expect(b).not.toBe(a);
    expect(t.size).toBe(2);
    expect(t.acquire('c')).toBe(-1);
    t.release(a);
    expect(t.text(a)).toBe('a');
    t.release(a);
    expect(t.text(a)).toBeUndefined();
    expect(t.size).toBe(1);
    const c = t.acquire('c');
    expect(c).toBe(a);
    expect(t.text(c)).toBe('c');
    t.release(b);
    t.release(b); // one too many changes nothing
    expect(t.size).toBe(1);
  });
});
