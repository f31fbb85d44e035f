import { describe, expect, it } from 'vitest';
import { describeOutcome, layoutLadder, redactMessage, type LadderMessage } from './ladder.js';

const CALLER = 'udp:192.0.2.10:5060';
const ME = 'udp:192.0.2.1:5060';
const B1 = 'udp:10.0.0.11:5060';
const B2 = 'udp:10.0.0.12:5060';

const m = (at: number, direction: 'in' | 'out', from: string, to: string, firstLine: string, cseq: string, branch = 'z9hG4bK1'): LadderMessage => {
  const status = /^SIP\/2\.0 (\d{3})/.exec(firstLine);
  return {
    at: 1_700_000_000_000 + at,
    direction,
    from,
    to,
    transport: 'udp',
    firstLine,
    method: status === null ? (firstLine.split(' ')[0] ?? '') : '',
    status: status === null ? 0 : Number(status[1]),
    cseq,
    text: [firstLine, `Via: SIP/2.0/UDP 192.0.2.1;branch=${branch}`, `CSeq: ${cseq}`, 'Content-Length: 0', '', ''].join('\r\n'),
  };
};

/** A call whose first backend never answers: INVITE retransmitted, failover after 2 s, then a normal call. */
const failoverTrace = (): LadderMessage[] => [
  m(0, 'in', CALLER, ME, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKc'),
  m(1, 'out', ME, CALLER, 'SIP/2.0 100 Trying', '1 INVITE', 'z9hG4bKc'),
  m(2, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
  m(502, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
  m(1502, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
  m(2002, 'out', ME, B2, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKb'),
  m(2004, 'in', B2, ME, 'SIP/2.0 100 Trying', '1 INVITE', 'z9hG4bKb'),
  m(2010, 'in', B2, ME, 'SIP/2.0 180 Ringing', '1 INVITE', 'z9hG4bKb'),
  m(2011, 'out', ME, CALLER, 'SIP/2.0 180 Ringing', '1 INVITE', 'z9hG4bKc'),
  m(3000, 'in', B2, ME, 'SIP/2.0 200 OK', '1 INVITE', 'z9hG4bKb'),
  m(3001, 'out', ME, CALLER, 'SIP/2.0 200 OK', '1 INVITE', 'z9hG4bKc'),
  m(3010, 'in', CALLER, ME, 'ACK sip:600@10.0.0.12 SIP/2.0', '1 ACK', 'z9hG4bKd'),
  m(3011, 'out', ME, B2, 'ACK sip:600@10.0.0.12 SIP/2.0', '1 ACK', 'z9hG4bKe'),
];

describe('ladder layout', () => {
  it('puts the caller, sipfront and each next hop in columns, left to right', () => {
    const l = layoutLadder(failoverTrace());
    expect(l.columns.map((c) => [c.role, c.label, c.transports])).toEqual([
      ['caller', '192.0.2.10:5060', 'udp'],
      ['sipfront', 'sipfront', 'udp'],
      ['next-hop', '10.0.0.11:5060', 'udp'],
      ['next-hop', '10.0.0.12:5060', 'udp'],
    ]);
    const xs = l.columns.map((c) => c.x);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(new Set(xs).size).toBe(4);
    expect(l.width).toBeGreaterThan(xs.at(-1)!);
  });

  it('draws one arrow per message in time order, with labels, offsets and directions', () => {
    const l = layoutLadder(failoverTrace());
    expect(l.arrows).toHaveLength(13);
    expect(l.arrows.map((a) => a.label)).toEqual([
      'INVITE sip:600@example.com',
      '100 Trying',
      'INVITE sip:600@example.com',
      'INVITE sip:600@example.com',
      'INVITE sip:600@example.com',
      'INVITE sip:600@example.com',
      '100 Trying',
      '180 Ringing',
      '180 Ringing',
      '200 OK',
      '200 OK',
      'ACK sip:600@10.0.0.12',
      'ACK sip:600@10.0.0.12',
    ]);
    const ys = l.arrows.map((a) => a.y);
    expect(ys).toEqual([...ys].sort((a, b) => a - b));
    expect(l.height).toBeGreaterThan(ys.at(-1)!);
    const [invite, trying] = l.arrows;
    expect([invite!.from, invite!.to, invite!.x1 < invite!.x2]).toEqual([0, 1, true]);
    expect([trying!.from, trying!.to, trying!.x1 > trying!.x2]).toEqual([1, 0, true]);
    expect(l.arrows[5]).toMatchObject({ from: 1, to: 3, offsetMs: 2002, offsetLabel: '+2.002 s', kind: 'request', method: 'INVITE' });
    expect(l.arrows[9]).toMatchObject({ from: 3, to: 1, kind: 'response', status: 200, method: 'INVITE', failure: false });
  });

  it('marks retransmissions (same hop, first line, CSeq and branch) but not a new branch to another hop', () => {
    const l = layoutLadder(failoverTrace());
    expect(l.arrows.map((a) => a.retransmission)).toEqual([false, false, false, true, true, false, false, false, false, false, false, false, false]);
  });

  it('tells a failover: the timed-out branch, then the one that answered', () => {
    const msgs = failoverTrace();
    const o = describeOutcome(layoutLadder(msgs), msgs);
    expect(o.kind).toBe('answered');
    expect(o.finalStatus).toBe(200);
    expect(o.producedBy).toBe('10.0.0.12:5060');
    expect(o.attempts).toMatchObject([
      { party: '10.0.0.11:5060', timedOut: true, finalStatus: null, waitedMs: 2000, retransmissions: 2, description: 'did not answer the INVITE within 2.0 s' },
      { party: '10.0.0.12:5060', timedOut: false, finalStatus: 200, provisional: [100, 180], description: '200 OK' },
    ]);
    expect(o.headline).toBe('Answered: 200 OK, from 10.0.0.12:5060 — 10.0.0.11:5060 did not answer the INVITE within 2.0 s, failover to 10.0.0.12:5060 answered 200 OK');
  });

  it('says which hop produced a failure, and when sipfront produced it itself', () => {
    const busy = [
      m(0, 'in', CALLER, ME, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE'),
      m(1, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
      m(30, 'in', B1, ME, 'SIP/2.0 486 Busy Here', '1 INVITE', 'z9hG4bKa'),
      m(31, 'out', ME, B1, 'ACK sip:600@example.com SIP/2.0', '1 ACK', 'z9hG4bKa'),
      m(32, 'out', ME, CALLER, 'SIP/2.0 486 Busy Here', '1 INVITE'),
    ];
    const o = describeOutcome(layoutLadder(busy), busy);
    expect(o).toMatchObject({ kind: 'failed', finalStatus: 486, finalReason: 'Busy Here', producedBy: '10.0.0.11:5060' });
    expect(o.headline).toMatch(/^Failed: 486 Busy Here, from 10\.0\.0\.11:5060/);
    expect(layoutLadder(busy).arrows[2]!.failure).toBe(true);

    const timeout = [
      m(0, 'in', CALLER, ME, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE'),
      m(1, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
      m(2001, 'out', ME, B2, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKb'),
      m(4001, 'out', ME, CALLER, 'SIP/2.0 408 Request Timeout', '1 INVITE'),
    ];
    const t = describeOutcome(layoutLadder(timeout), timeout);
    expect(t).toMatchObject({ kind: 'failed', finalStatus: 408, producedBy: 'sipfront' });
    expect(t.attempts.map((a) => a.description)).toEqual(['did not answer the INVITE within 2.0 s', 'no final answer yet']);
    expect(t.headline).toContain('408 Request Timeout, sent by sipfront');
  });

  it('shows a CANCEL and a 487 as a cancelled call', () => {
    const cancel = [
      m(0, 'in', CALLER, ME, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE'),
      m(1, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
      m(20, 'in', B1, ME, 'SIP/2.0 180 Ringing', '1 INVITE', 'z9hG4bKa'),
      m(900, 'in', CALLER, ME, 'CANCEL sip:600@example.com SIP/2.0', '1 CANCEL'),
      m(901, 'out', ME, CALLER, 'SIP/2.0 200 OK', '1 CANCEL'),
      m(902, 'out', ME, B1, 'CANCEL sip:600@example.com SIP/2.0', '1 CANCEL', 'z9hG4bKa'),
      m(910, 'in', B1, ME, 'SIP/2.0 200 OK', '1 CANCEL', 'z9hG4bKa'),
      m(911, 'in', B1, ME, 'SIP/2.0 487 Request Terminated', '1 INVITE', 'z9hG4bKa'),
      m(912, 'out', ME, CALLER, 'SIP/2.0 487 Request Terminated', '1 INVITE'),
    ];
    const l = layoutLadder(cancel);
    expect(l.arrows.filter((a) => a.method === 'CANCEL').map((a) => [a.kind, a.from, a.to])).toEqual([
      ['request', 0, 1],
      ['response', 1, 0],
      ['request', 1, 2],
      ['response', 2, 1],
    ]);
    // the 200 to the CANCEL is not the call's final answer
    const o = describeOutcome(l, cancel);
    expect(o).toMatchObject({ kind: 'cancelled', finalStatus: 487, producedBy: '10.0.0.11:5060' });
    expect(o.attempts[0]).toMatchObject({ cancelled: true, finalStatus: 487 });
  });

  it('finds sipfront without a direction field, merges its sockets, and accepts ISO times', () => {
    const tcpMe = 'tcp:192.0.2.1:5060';
    const trace: LadderMessage[] = [
      { at: '2026-01-01T00:00:00.000Z', from: 'tcp:192.0.2.10:40000', to: tcpMe, firstLine: 'INVITE sip:600@example.com SIP/2.0', cseq: '1 INVITE' },
      { at: '2026-01-01T00:00:00.010Z', from: ME, to: B1, firstLine: 'INVITE sip:600@example.com SIP/2.0', cseq: '1 INVITE' },
      { at: '2026-01-01T00:00:00.050Z', from: B1, to: ME, firstLine: 'SIP/2.0 200 OK', cseq: '1 INVITE' },
      { at: '2026-01-01T00:00:00.051Z', from: tcpMe, to: 'tcp:192.0.2.10:40000', firstLine: 'SIP/2.0 200 OK', cseq: '1 INVITE' },
    ];
    const l = layoutLadder(trace);
    expect(l.columns.map((c) => c.label)).toEqual(['192.0.2.10:40000', 'sipfront', '10.0.0.11:5060']);
    expect(l.columns[1]!.transports).toBe('tcp, udp');
    expect(l.arrows.map((a) => a.offsetLabel)).toEqual(['+0 ms', '+10 ms', '+50 ms', '+51 ms']);
    expect(l.arrows[2]).toMatchObject({ method: 'INVITE', status: 200, kind: 'response' });
  });

  it('lays out an empty trace without failing', () => {
    const l = layoutLadder([]);
    expect(l.columns).toEqual([]);
    expect(l.arrows).toEqual([]);
    expect(describeOutcome(l, []).kind).toBe('in-progress');
  });
});

describe('message redaction', () => {
  it('hides credentials but keeps the scheme and username', () => {
    const text = [
      'INVITE sip:600@example.com SIP/2.0',
      'Authorization: Digest username="1001", realm="example.com", nonce="abc", response="0123456789abcdef"',
      'Proxy-Authorization: Digest username=1001,response="ff"',
      'X-Note: password=hunter2',
      '',
    ].join('\r\n');
    const r = redactMessage(text);
    expect(r).toContain('Authorization: Digest username="1001", [redacted]');
    expect(r).toContain('Proxy-Authorization: Digest username=1001, [redacted]');
    expect(r).toContain('password=[redacted]');
    expect(r).not.toContain('0123456789abcdef');
    expect(r).not.toContain('hunter2');
  });
});
