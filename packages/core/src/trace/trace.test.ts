import { describe, expect, it } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { Endpoint } from '../transport/types.js';
import { createCallTrace } from './trace.js';
import { ladderText } from './ladder.js';
import { callPcap } from './pcap.js';

const caller: Endpoint = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const me: Endpoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };
const backend: Endpoint = { transport: 'udp', address: '10.0.0.11', port: 5060 };

const msg = (first: string, callId: string, cseq: string, toTag = '') =>
  Buffer.from(
    [
      first,
      'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1',
      'From: <sip:1001@example.com>;tag=a',
      `To: <sip:600@example.com>${toTag}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );

const rec = (t: ReturnType<typeof createCallTrace>, dir: 'in' | 'out', data: Buffer, remote: Endpoint) =>
  t.record(dir, parseMessage(data), data, remote, me);

describe('call trace', () => {
  it('records a call in order with its outcome; probes and registrations are not calls', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'all' });
    const events: string[] = [];
    t.onCall = (e, c) => events.push(`${e}:${c.callId}:${c.state}`);
    rec(t, 'in', msg('OPTIONS sip:192.0.2.1 SIP/2.0', 'p1', '1 OPTIONS'), caller);
    rec(t, 'in', msg('INVITE sip:600@example.com SIP/2.0', 'c1', '1 INVITE'), caller);
    rec(t, 'out', msg('INVITE sip:600@example.com SIP/2.0', 'c1', '1 INVITE'), backend);
    rec(t, 'in', msg('SIP/2.0 486 Busy Here', 'c1', '1 INVITE', ';tag=b'), backend);
    rec(t, 'out', msg('SIP/2.0 486 Busy Here', 'c1', '1 INVITE', ';tag=b'), caller);
    expect(t.list().map((c) => c.callId)).toEqual(['c1']);
    const c = t.get('c1')!;
    expect(c.summary).toMatchObject({ state: 'failed', status: 486, messages: 4, from: 'sip:1001@example.com' });
    expect(c.messages.map((m) => `${m.direction} ${m.firstLine}`)).toEqual([
      'in INVITE sip:600@example.com SIP/2.0',
      'out INVITE sip:600@example.com SIP/2.0',
      'in SIP/2.0 486 Busy Here',
      'out SIP/2.0 486 Busy Here',
    ]);
    expect(events).toEqual(['start:c1:trying', 'end:c1:failed']);
    const text = ladderText('c1', c.messages);
    expect(text).toContain('udp:192.0.2.10:5060');
    expect(text).toContain('INVITE (1)');
    expect(text).toContain('----->');
    expect(text).toContain('<-----');
    expect(text).toContain('486 Busy Here');
  });

  it('keeps at most `calls` calls and `maxBytes` bytes, dropping the oldest', () => {
    const t = createCallTrace({ calls: 3, maxBytes: 1 << 20, capture: 'all' });
    for (let i = 0; i < 5; i++) rec(t, 'in', msg('INVITE sip:600@example.com SIP/2.0', `c${i}`, '1 INVITE'), caller);
    expect(t.list().map((c) => c.callId)).toEqual(['c4', 'c3', 'c2']);
    const small = createCallTrace({ calls: 100, maxBytes: 600, capture: 'all' });
    for (let i = 0; i < 5; i++) rec(small, 'in', msg('INVITE sip:600@example.com SIP/2.0', `c${i}`, '1 INVITE'), caller);
    expect(small.stats().bytes).toBeLessThanOrEqual(600);
    expect(small.list()[0]!.callId).toBe('c4');
  });

  it('captures nothing when off, and only matching calls when filtered', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'off' });
    rec(t, 'in', msg('INVITE sip:600@example.com SIP/2.0', 'x', '1 INVITE'), caller);
    expect(t.list()).toHaveLength(0);
    t.setCapture('filtered', { match: ['1001'] });
    rec(t, 'in', msg('INVITE sip:600@example.com SIP/2.0', 'y', '1 INVITE'), caller);
    t.setCapture('filtered', { match: ['4444'], ips: [] });
    rec(t, 'in', msg('INVITE sip:600@example.com SIP/2.0', 'z', '1 INVITE'), caller);
    expect(t.list().map((c) => c.callId)).toEqual(['y']);
  });

  it('writes a pcap with one IPv4/UDP packet per message', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'all' });
    const data = msg('INVITE sip:600@example.com SIP/2.0', 'c1', '1 INVITE');
    rec(t, 'in', data, caller);
    const pcap = callPcap(t.get('c1')!.messages);
    expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(pcap.readUInt32LE(20)).toBe(101);
    const len = pcap.readUInt32LE(24 + 8);
    expect(len).toBe(20 + 8 + data.length);
    const ip = pcap.subarray(40, 60);
    expect(ip[9]).toBe(17);
    expect([...ip.subarray(12, 16)]).toEqual([192, 0, 2, 10]);
    expect(pcap.subarray(40 + 28).toString()).toBe(data.toString());
  });
});
