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

  it('times a message received when it was read, one sent when it is recorded', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'all' });
    const readAt = Date.now() - 5000;
    const invite = msg('INVITE sip:600@example.com SIP/2.0', 't1', '1 INVITE');
    t.record('in', parseMessage(invite), invite, caller, me, readAt);
    const before = Date.now();
    rec(t, 'out', invite, backend);
    const after = Date.now();
    const c = t.get('t1')!;
    expect(c.messages[0]!.at).toBe(readAt);
    expect(c.summary.startedAt).toBe(readAt);
    expect(c.messages[1]!.at).toBeGreaterThanOrEqual(before);
    expect(c.messages[1]!.at).toBeLessThanOrEqual(after);
  });

  it('keeps each message\'s time, order and endpoints while the records grow and wrap, and a 1xx to a BYE does not end the call', () => {
    const t = createCallTrace({ calls: 3, maxBytes: 8 << 20, capture: 'all' });
    const base = Date.UTC(2026, 0, 1);
    const invite = msg('INVITE sip:600@example.com SIP/2.0', 'long', '1 INVITE');
    t.record('in', parseMessage(invite), invite, caller, me, base);
    const answer = msg('SIP/2.0 200 OK', 'long', '1 INVITE', ';tag=b');
    t.record('in', parseMessage(answer), answer, backend, me, base + 1);
    // other calls come and go around it: more records than the first metadata ring holds (4096),
    // so it grows, and the long call's records must be found across it
    for (let i = 0; i < 3000; i++) {
      const other = msg('INVITE sip:600@example.com SIP/2.0', `o${i % 2}`, `${i + 1} INVITE`);
      t.record('in', parseMessage(other), other, caller, me, base + 2 + i);
      t.record('out', parseMessage(other), other, backend, me, base + 2 + i);
      if (i % 500 === 0) {
        const info = msg('INFO sip:600@example.com SIP/2.0', 'long', `${i + 2} INFO`, ';tag=b');
        t.record('in', parseMessage(info), info, caller, me, base + 2 + i);
      }
    }
    const bye = msg('BYE sip:600@example.com SIP/2.0', 'long', '9000 BYE', ';tag=b');
    t.record('in', parseMessage(bye), bye, caller, me, base + 40 * 86_400_000);
    const trying = msg('SIP/2.0 100 Trying', 'long', '9000 BYE', ';tag=b');
    t.record('out', parseMessage(trying), trying, caller, me, base + 40 * 86_400_000 + 1);
    expect(t.get('long')!.summary.state).toBe('answered');
    const done = msg('SIP/2.0 200 OK', 'long', '9000 BYE', ';tag=b');
    t.record('out', parseMessage(done), done, caller, me, base + 40 * 86_400_000 + 2);
    const c = t.get('long')!;
    const day40 = 40 * 86_400_000;
    expect(c.summary).toMatchObject({ state: 'ended', messages: 11, startedAt: base, endedAt: base + day40 + 2 });
    expect(c.messages.map((m) => m.at - base)).toEqual([0, 1, 2, 502, 1002, 1502, 2002, 2502, day40, day40 + 1, day40 + 2]);
    expect(c.messages.map((m) => `${m.direction} ${m.method || m.status} ${m.from} > ${m.to}`)).toEqual([
      'in INVITE udp:192.0.2.10:5060 > udp:192.0.2.1:5060',
      'in 200 udp:10.0.0.11:5060 > udp:192.0.2.1:5060',
      ...Array.from({ length: 6 }, () => 'in INFO udp:192.0.2.10:5060 > udp:192.0.2.1:5060'),
      'in BYE udp:192.0.2.10:5060 > udp:192.0.2.1:5060',
      'out 100 udp:192.0.2.1:5060 > udp:192.0.2.10:5060',
      'out 200 udp:192.0.2.1:5060 > udp:192.0.2.10:5060',
    ]);
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

describe('call trace storage', () => {
  const invite = (callId: string) => msg('INVITE sip:600@example.com SIP/2.0', callId, '1 INVITE');
  const ok = (callId: string) => msg('SIP/2.0 200 OK', callId, '1 INVITE', ';tag=b');

  it('builds the message views lazily from the stored bytes, which are copies of the caller’s', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'all' });
    const v6: Endpoint = { transport: 'tcp', address: '2001:db8::5', port: 5070 };
    const slab = Buffer.alloc(4096, 0x78);
    const raw = invite('c1');
    raw.copy(slab, 100);
    const data = slab.subarray(100, 100 + raw.length);
    const before = Date.now();
    rec(t, 'in', data, caller);
    t.record('out', parseMessage(raw), raw, v6, me);
    const answer = ok('c1');
    rec(t, 'in', answer, v6);
    slab.fill(0x20); // the caller's buffers are reused: the trace kept its own copy
    answer.fill(0x20);
    const c = t.get('c1')!;
    expect(c.summary).toMatchObject({ state: 'answered', status: 200, messages: 3 });
    const [a, b, r] = c.messages;
    expect(a).toMatchObject({
      direction: 'in',
      from: 'udp:192.0.2.10:5060',
      to: 'udp:192.0.2.1:5060',
      transport: 'udp',
      firstLine: 'INVITE sip:600@example.com SIP/2.0',
      method: 'INVITE',
      status: 0,
      cseq: '1 INVITE',
      src: caller,
      dst: me,
    });
    expect(a!.at).toBeGreaterThanOrEqual(before);
    expect(a!.bytes.toString()).toBe(raw.toString());
    expect(a!.bytes.buffer).not.toBe(slab.buffer);
    expect(b).toMatchObject({ direction: 'out', from: 'udp:192.0.2.1:5060', to: 'tcp:[2001:db8::5]:5070', transport: 'tcp', src: me, dst: v6 });
    expect(r).toMatchObject({ direction: 'in', firstLine: 'SIP/2.0 200 OK', method: '', status: 200, cseq: '1 INVITE', src: v6, dst: me });
    expect(r!.bytes.toString()).toBe(ok('c1').toString());
  });

  it('evicts the calls whose bytes the ring overwrites when it wraps, keeping the others intact', () => {
    const size = invite('c00').length;
    const t = createCallTrace({ calls: 100, maxBytes: size * 10 + 50, capture: 'all' });
    rec(t, 'in', invite('c00'), caller); // a long call: its INVITE is the oldest message
    for (let i = 1; i <= 30; i++) {
      const id = `c${String(i).padStart(2, '0')}`;
      rec(t, 'in', invite(id), caller);
      rec(t, 'out', invite(id), backend);
    }
    expect(t.get('c00')).toBeUndefined();
    const kept = t.list().map((c) => c.callId);
    expect(kept[0]).toBe('c30');
    expect(kept.length).toBeGreaterThanOrEqual(4);
    expect(kept.length).toBeLessThanOrEqual(5);
    expect(t.stats()).toMatchObject({ calls: kept.length, bytes: kept.length * 2 * size });
    for (const id of kept) {
      const c = t.get(id)!;
      expect(c.messages.map((m) => m.bytes.toString())).toEqual([invite(id).toString(), invite(id).toString()]);
      expect(c.messages.map((m) => m.to)).toEqual(['udp:192.0.2.1:5060', 'udp:10.0.0.11:5060']);
    }
    // a view taken before the ring moves on stays as it was
    const held = t.get('c30')!.messages[0]!.bytes;
    for (let i = 31; i <= 60; i++) rec(t, 'in', invite(`c${i}`), caller);
    expect(held.toString()).toBe(invite('c30').toString());
    expect(t.get('c30')).toBeUndefined();
    expect(t.stats().bytes).toBeLessThanOrEqual(size * 10 + 50);
  });

  it('names every message\'s endpoints right while their interned ids are freed and reused', () => {
    const size = invite('e0').length;
    // room for two messages: each call's INVITE pushes out the one before, and with it its endpoints
    const t = createCallTrace({ calls: 100, maxBytes: size * 2 + 10, capture: 'all' });
    // peers k and k + 6 share address and port, one over UDP and one over TCP; they come in turn,
    // each while the other's message is still in the ring
    const peers: Endpoint[] = [];
    for (let i = 0; i < 12; i++) peers.push({ transport: i < 6 ? 'udp' : 'tcp', address: `198.51.100.${1 + (i % 3)}`, port: 5060 + (i % 2) });
    for (let i = 0; i < 60; i++) {
      const peer = peers[(i % 2) * 6 + ((i >> 1) % 6)]!;
      // a new object each time, as a datagram's source is
      rec(t, 'in', invite(`e${i}`), { ...peer });
      const c = t.get(`e${i}`)!;
      expect(c.messages.map((m) => `${m.from} ${m.to}`)).toEqual([`${peer.transport}:${peer.address}:${peer.port} udp:192.0.2.1:5060`]);
    }
  });

  it('frees the endpoints no traced call holds, and names the traced calls\' right after their ids are reused', () => {
    // a scanner's spread of sources: each INVITE from an address of its own, 50 calls kept
    const t = createCallTrace({ calls: 50, maxBytes: 1 << 20, capture: 'all' });
    const peerOf = (i: number): Endpoint => ({ transport: 'udp', address: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 5060 + (i % 7) });
    const text = (e: Endpoint) => `${e.transport}:${e.address}:${e.port}`;
    // one peer keeps calling: its endpoint is in use throughout
    const steady: Endpoint = { transport: 'udp', address: '192.0.2.77', port: 5070 };
    for (let i = 0; i < 5000; i++) {
      rec(t, 'in', invite(`s${i}`), peerOf(i));
      if (i % 10 === 0) rec(t, 'in', invite(`k${i}`), { ...steady });
      if (i % 5 !== 0) continue;
      for (const call of t.list()) {
        const m = t.get(call.callId)!.messages[0]!;
        const want = call.callId.startsWith('k') ? text(steady) : text(peerOf(Number(call.callId.slice(1))));
        expect(`${m.from} ${m.to}`).toBe(`${want} udp:192.0.2.1:5060`);
      }
    }
    expect(t.list()).toHaveLength(50);
    // 5,002 endpoints came; the table keeps at most its limit (1,024) before it sweeps
    expect(t.stats().endpoints).toBeLessThanOrEqual(1025);
  });

  it('grows the ring up to maxBytes while it would overwrite traced calls', () => {
    const t = createCallTrace({ calls: 100_000, maxBytes: 8 << 20, capture: 'all' });
    const n = Math.ceil((3 << 20) / invite('c0').length);
    for (let i = 0; i < n; i++) rec(t, 'in', invite(`c${i}`), caller);
    for (let i = 0; i < n; i += 997) rec(t, 'in', ok(`c${i}`), backend);
    expect(t.stats().calls).toBe(n);
    for (let i = 0; i < n; i += 997) {
      const c = t.get(`c${i}`)!;
      expect(c.messages.map((m) => m.bytes.toString())).toEqual([invite(`c${i}`).toString(), ok(`c${i}`).toString()]);
      expect(c.summary.state).toBe('answered');
    }
    // a quarter larger at a time: the ring ends within a quarter of the traced bytes (not twice)
    expect(t.stats().ring).toBeLessThanOrEqual(Math.ceil(t.stats().bytes * 1.25) + invite('c0').length);
    // dropped by count, their bytes are reused rather than the ring growing past what is traced
    const small = createCallTrace({ calls: 5, maxBytes: 1 << 30, capture: 'all' });
    for (let i = 0; i < 50_000; i++) rec(small, 'in', invite(`d${i}`), caller);
    expect(small.list().map((c) => c.callId)).toEqual(['d49999', 'd49998', 'd49997', 'd49996', 'd49995']);
    expect(small.get('d49995')!.messages[0]!.bytes.toString()).toBe(invite('d49995').toString());
  });
});

describe('call trace table', () => {
  const invite = (callId: string) => msg('INVITE sip:600@example.com SIP/2.0', callId, '1 INVITE');
  const ringing = (callId: string) => msg('SIP/2.0 180 Ringing', callId, '1 INVITE', ';tag=b');

  it('finds every traced call by its Call-ID, and no other, while calls come and go in any order', () => {
    // small rings: calls leave by count and by bytes, out of the order they started
    const t = createCallTrace({ calls: 40, maxBytes: 12_000, capture: 'all' });
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    // short ids, ids of 48 and 49 characters (the table keeps 48 bytes; longer ones are kept as
    // strings), ids that differ only at the end
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) {
      const k = i % 4;
      ids.push(k === 0 ? `s${i}` : k === 1 ? `${'x'.repeat(44)}${String(i).padStart(4, '0')}` : k === 2 ? `${'y'.repeat(45)}${String(i).padStart(4, '0')}` : `${i}@host.example`);
    }
    const started: string[] = [];
    for (let step = 0; step < 3000; step++) {
      if (started.length < ids.length && (started.length === 0 || rnd(3) === 0)) {
        const id = ids[started.length]!;
        started.push(id);
        rec(t, 'in', invite(id), caller);
      } else {
        const id = started[rnd(started.length)]!;
        rec(t, 'in', ringing(id), backend);
      }
      if (step % 50 !== 0) continue;
      const listed = t.list().map((c) => c.callId);
      expect(listed.length).toBe(t.stats().calls);
      expect(listed.length).toBeLessThanOrEqual(40);
      const set = new Set(listed);
      for (const id of started) {
        const c = t.get(id);
        expect(c !== undefined).toBe(set.has(id));
        if (c === undefined) continue;
        expect(c.summary.callId).toBe(id);
        // the messages are this call's: each carries its Call-ID
        for (const m of c.messages) expect(m.bytes.toString()).toContain(`Call-ID: ${id}\r\n`);
        expect(c.messages[0]!.firstLine).toBe('INVITE sip:600@example.com SIP/2.0');
        expect(c.summary.messages).toBe(c.messages.length);
      }
      expect(t.stats().bytes).toBe(listed.reduce((n, id) => n + t.get(id)!.messages.reduce((k, m) => k + m.bytes.length, 0), 0));
    }
    expect(started.length).toBeGreaterThan(500);
    // the newest call is kept, listed first
    expect(t.list()[0]!.callId).toBe(started[started.length - 1]);
  });

  it('keeps a Call-ID beyond latin1 or of any length exactly', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'all' });
    const odd = ['ü€-1@host', 'a'.repeat(300), 'a'.repeat(299) + 'b'];
    for (const id of odd) {
      const m = parseMessage(invite('placeholder'));
      m.set('Call-ID', id);
      const data = m.toBuffer();
      t.record('in', m, data, caller, me);
    }
    for (const id of odd) expect(t.get(id)?.summary.callId).toBe(id);
    expect(t.get('a'.repeat(298) + 'b')).toBeUndefined();
    expect(t.list().map((c) => c.callId)).toEqual([...odd].reverse());
  });

  it('builds a summary for call events only while someone wants them, with the INVITE’s parties', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 1 << 20, capture: 'all' });
    const seen: string[] = [];
    let wanted = false;
    t.onCallWanted = () => wanted;
    t.onCall = (e, c) => seen.push(`${e} ${c.callId} ${c.from} ${c.to} ${c.ruri} ${c.state} ${c.status}`);
    rec(t, 'in', invite('q1'), caller);
    rec(t, 'out', msg('SIP/2.0 603 Decline', 'q1', '1 INVITE', ';tag=b'), caller);
    expect(seen).toEqual([]);
    wanted = true;
    rec(t, 'in', invite('q2'), caller);
    rec(t, 'out', msg('SIP/2.0 603 Decline', 'q2', '1 INVITE', ';tag=b'), caller);
    expect(seen).toEqual([
      'start q2 sip:1001@example.com sip:600@example.com sip:600@example.com trying null',
      'end q2 sip:1001@example.com sip:600@example.com sip:600@example.com failed 603',
    ]);
    // the first call's parties are read from its stored INVITE when listed
    expect(t.list().map((c) => `${c.callId} ${c.from} ${c.to} ${c.ruri} ${c.state} ${c.status}`)).toEqual([
      'q2 sip:1001@example.com sip:600@example.com sip:600@example.com failed 603',
      'q1 sip:1001@example.com sip:600@example.com sip:600@example.com failed 603',
    ]);
  });
});

describe('call trace limits', () => {
  it('lists a call whose INVITE is larger than max_bytes with its parties and no messages', () => {
    const t = createCallTrace({ calls: 10, maxBytes: 100, capture: 'all' });
    rec(t, 'in', msg('INVITE sip:600@example.com SIP/2.0', 'big', '1 INVITE'), caller);
    expect(t.list()).toEqual([expect.objectContaining({ callId: 'big', from: 'sip:1001@example.com', to: 'sip:600@example.com', ruri: 'sip:600@example.com', messages: 0 })]);
    expect(t.get('big')!.messages).toEqual([]);
  });
});
