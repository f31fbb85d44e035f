import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { SipMessage } from '../message/message.js';
import type { ClientTransaction } from './client-transaction.js';
import { TransactionError } from './errors.js';
import { createTransactionLayer } from './layer.js';
import type { ClientTransactionHandlers, Target, TimeoutReason, TransactionLayerOptions } from './types.js';

const UDP: Target = { transport: 'udp', address: '192.0.2.20', port: 5060 };
const TCP: Target = { transport: 'tcp', address: '192.0.2.20', port: 5060 };

const request = (method: string, branch = 'z9hG4bK-c1'): SipMessage =>
  parseMessage(Buffer.from([
    `${method} sip:2001@192.0.2.20 SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=${branch}`,
    'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-ua;received=198.51.100.7',
    'Max-Forwards: 69',
    'Route: <sip:192.0.2.30;lr>',
    'Route: <sip:192.0.2.20;lr>',
    'Record-Route: <sip:192.0.2.1;lr>',
    'From: "Alice" <sip:alice@example.com>;tag=f1',
    'To: <sip:2001@example.com>',
    'Call-ID: call-7@198.51.100.7',
    `CSeq: 42 ${method}`,
    'Contact: <sip:alice@198.51.100.7>',
    'Proxy-Authorization: Digest username="alice"',
    'Content-Type: application/sdp',
    'Content-Length: 3',
    '',
    'v=0',
  ].join('\r\n')));

const response = (req: SipMessage, status: number, toTag = 't1', method = req.method): SipMessage => {
  const lines = [`SIP/2.0 ${status} Whatever`];
  for (const h of req.headers) {
    if (h.key === 'via' || h.key === 'from' || h.key === 'call-id') lines.push(`${h.name}: ${h.value}`);
    if (h.key === 'to') lines.push(status === 100 ? `To: ${h.value}` : `To: ${h.value};tag=${toTag}`);
  }
  lines.push(`CSeq: ${req.cseq!.seq} ${method}`, 'Content-Length: 0', '', '');
  return parseMessage(Buffer.from(lines.join('\r\n')));
};

const harness = (opts: Partial<TransactionLayerOptions> = {}) => {
  const t0 = Date.now();
  const sent: Array<{ at: number; msg: SipMessage; target: Target }> = [];
  const stray: SipMessage[] = [];
  const layer = createTransactionLayer({
    send: (msg, target) => {
      sent.push({ at: Date.now() - t0, msg, target });
    },
    onRequest: () => undefined,
    onStrayResponse: (res) => stray.push(res),
    ...opts,
  });
  const events: Array<{ at: number; what: string; status?: number; reason?: TimeoutReason }> = [];
  const handlers: ClientTransactionHandlers = {
    onResponse: (res) => events.push({ at: Date.now() - t0, what: 'response', status: res.status }),
    onTimeout: (_tx, reason) => events.push({ at: Date.now() - t0, what: 'timeout', reason }),
    onTransportError: () => events.push({ at: Date.now() - t0, what: 'transport-error' }),
    onTerminated: () => events.push({ at: Date.now() - t0, what: 'terminated' }),
  };
  const sentOf = (method: string): number[] => sent.filter((s) => s.msg.method === method).map((s) => s.at);
  return { layer, sent, stray, events, handlers, sentOf };
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('INVITE client transaction', () => {
  it('retransmits with Timer A (T1 doubling) over UDP and times out with Timer B = 64·T1', () => {
    const { layer, events, handlers, sentOf } = harness();
    const tx = layer.createClient(request('INVITE'), UDP, handlers);
    expect(tx.state).toBe('calling');
    expect(layer.size.client).toBe(1);
    vi.advanceTimersByTime(31_999);
    expect(sentOf('INVITE')).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events).toEqual([{ at: 32000, what: 'timeout', reason: 'timer-b' }, { at: 32000, what: 'terminated' }]);
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('over TCP: no Timer A, Timer B still 64·T1', () => {
    const { layer, events, handlers, sentOf } = harness();
    layer.createClient(request('INVITE'), TCP, handlers);
    vi.advanceTimersByTime(31_999);
    expect(sentOf('INVITE')).toEqual([0]);
    vi.advanceTimersByTime(1);
    expect(events[0]).toEqual({ at: 32000, what: 'timeout', reason: 'timer-b' });
  });

  it('a provisional stops Timer A and Timer B', () => {
    const { layer, events, handlers, sentOf } = harness({ timers: { timerC: 0 } });
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    vi.advanceTimersByTime(600);
    layer.receive(response(inv, 100), UDP);
    layer.receive(response(inv, 180), UDP);
    expect(tx.state).toBe('proceeding');
    expect(tx.provisionalStatus).toBe(180);
    vi.advanceTimersByTime(600_000);
    expect(sentOf('INVITE')).toEqual([0, 500]);
    expect(events.map((e) => e.status ?? e.what)).toEqual([100, 180]);
    tx.terminate();
    expect(layer.size.client).toBe(0);
    expect(events.at(-1)?.what).toBe('terminated');
  });

  it('ACKs a non-2xx final itself (§17.1.1.3) and re-ACKs retransmissions during Timer D', () => {
    const { layer, events, handlers, sent, sentOf } = harness();
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    layer.receive(response(inv, 180), UDP);
    vi.advanceTimersByTime(1000);
    layer.receive(response(inv, 486, 'busy'), UDP);
    expect(tx.state).toBe('completed');
    const acks = sent.filter((s) => s.msg.method === 'ACK');
    expect(acks).toHaveLength(1);
    const ack = acks[0]!.msg;
    expect(acks[0]!.target).toBe(UDP);
    expect(ack.uri).toBe('sip:2001@192.0.2.20');
    expect(ack.getAll('via')).toEqual(['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-c1']);
    expect(ack.get('from')).toBe('"Alice" <sip:alice@example.com>;tag=f1');
    expect(ack.get('to')).toBe('<sip:2001@example.com>;tag=busy');
    expect(ack.callId).toBe('call-7@198.51.100.7');
    expect(ack.get('cseq')).toBe('42 ACK');
    expect(ack.getAll('route')).toEqual(['<sip:192.0.2.30;lr>', '<sip:192.0.2.20;lr>']);
    expect(ack.get('max-forwards')).toBe('69');
    for (const k of ['contact', 'record-route', 'proxy-authorization', 'content-type']) expect(ack.has(k)).toBe(false);
    expect(ack.body.length).toBe(0);
    // the ACK survives a round trip through the parser
    const reparsed = parseMessage(ack.toBuffer());
    expect(reparsed.method).toBe('ACK');
    expect(reparsed.get('content-length')).toBe('0');

    vi.advanceTimersByTime(500);
    layer.receive(response(inv, 486, 'busy'), UDP);
    expect(sentOf('ACK')).toEqual([1000, 1500]);
    expect(events.filter((e) => e.what === 'response').map((e) => e.status)).toEqual([180, 486]);
    vi.advanceTimersByTime(31_999 - 500);
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(events.at(-1)).toEqual({ at: 33000, what: 'terminated' });
    expect(layer.size.client).toBe(0);
  });

  it('Timer D is 0 over TCP', () => {
    const { layer, events, handlers, sentOf } = harness();
    const inv = request('INVITE');
    const tx = layer.createClient(inv, TCP, handlers);
    layer.receive(response(inv, 603), TCP);
    expect(sentOf('ACK')).toEqual([0]);
    expect(tx.state).toBe('terminated');
    expect(events.map((e) => e.status ?? e.what)).toEqual([603, 'terminated']);
    expect(layer.size.client).toBe(0);
  });

  it('timerD is configurable', () => {
    const { layer, handlers } = harness({ timers: { timerD: 40_000 } });
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    layer.receive(response(inv, 404), UDP);
    vi.advanceTimersByTime(39_999);
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
  });

  it('a 2xx moves to Accepted (RFC 6026): every 2xx goes up, nothing is ACKed, Timer M = 64·T1', () => {
    const { layer, events, handlers, sentOf } = harness();
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    layer.receive(response(inv, 200, 'a'), UDP);
    expect(tx.state).toBe('accepted');
    vi.advanceTimersByTime(500);
    layer.receive(response(inv, 200, 'a'), UDP); // retransmission
    layer.receive(response(inv, 200, 'b'), UDP); // another fork
    layer.receive(response(inv, 486, 'c'), UDP); // discarded
    layer.receive(response(inv, 180, 'd'), UDP); // discarded
    expect(events.map((e) => e.status)).toEqual([200, 200, 200]);
    expect(sentOf('ACK')).toEqual([]);
    expect(sentOf('INVITE')).toEqual([0]);
    vi.advanceTimersByTime(31_499);
    expect(tx.state).toBe('accepted');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(0);
    // a late 2xx is now stray: the proxy forwards it statelessly
  });

  it('Timer C: armed by the first provisional, reset by 101–199 but not by 100; the transaction stays for the CANCEL', () => {
    const { layer, events, handlers } = harness({ timers: { timerC: 10_000 } });
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    vi.advanceTimersByTime(100);
    layer.receive(response(inv, 100), UDP);
    vi.advanceTimersByTime(5000);
    layer.receive(response(inv, 100), UDP); // does not reset
    vi.advanceTimersByTime(4999);
    expect(events.filter((e) => e.what === 'timeout')).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events.at(-1)).toEqual({ at: 10100, what: 'timeout', reason: 'timer-c' });
    expect(tx.state).toBe('proceeding');

    const inv2 = request('INVITE', 'z9hG4bK-c2');
    const tx2 = layer.createClient(inv2, UDP, handlers);
    layer.receive(response(inv2, 100), UDP); // armed at 10100
    vi.advanceTimersByTime(6000);
    layer.receive(response(inv2, 183), UDP); // reset at 16100
    vi.advanceTimersByTime(9999);
    expect(events.filter((e) => e.what === 'timeout')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(events.at(-1)).toEqual({ at: 26100, what: 'timeout', reason: 'timer-c' });
    expect(tx2.state).toBe('proceeding');
    layer.close();
  });

  it('after Timer C, a CANCEL without a final response ends the transaction 64·T1 later', () => {
    const { layer, events, handlers, sentOf } = harness({ timers: { timerC: 10_000 } });
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    layer.receive(response(inv, 180), UDP);
    vi.advanceTimersByTime(10_000);
    expect(events.at(-1)?.reason).toBe('timer-c');
    expect(tx.cancel()).toBe(true);
    expect(sentOf('CANCEL')).toEqual([10_000]);
    vi.advanceTimersByTime(31_999);
    expect(tx.state).toBe('proceeding');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(events.slice(-2)).toEqual([{ at: 42_000, what: 'timeout', reason: 'cancel-timeout' }, { at: 42_000, what: 'terminated' }]);
    vi.runAllTimers();
    expect(layer.size.client).toBe(0);
  });

  it('Timer C defaults to 180 s', () => {
    const { layer, events, handlers } = harness();
    const inv = request('INVITE');
    layer.createClient(inv, UDP, handlers);
    layer.receive(response(inv, 180), UDP);
    vi.advanceTimersByTime(179_999);
    expect(events.filter((e) => e.what === 'timeout')).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events.at(-1)).toEqual({ at: 180_000, what: 'timeout', reason: 'timer-c' });
    layer.close();
  });
});

describe('CANCEL (§9.1)', () => {
  it('waits for a provisional, then sends a CANCEL built from the INVITE in its own transaction', () => {
    const { layer, events, handlers, sent, stray } = harness();
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    expect(tx.cancel([['Reason', 'SIP;cause=487;text="ORIGINATOR_CANCEL"']])).toBe(true);
    expect(tx.cancelState).toBe('pending');
    expect(tx.cancel()).toBe(false);
    vi.advanceTimersByTime(700);
    expect(sent.filter((s) => s.msg.method === 'CANCEL')).toHaveLength(0);
    layer.receive(response(inv, 100), UDP);
    expect(tx.cancelState).toBe('sent');
    const cancels = sent.filter((s) => s.msg.method === 'CANCEL');
    expect(cancels).toHaveLength(1);
    const c = cancels[0]!.msg;
    expect(cancels[0]!.target).toBe(UDP);
    expect(c.uri).toBe(inv.uri);
    expect(c.getAll('via')).toEqual(['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-c1']);
    expect(c.get('from')).toBe(inv.get('from'));
    expect(c.get('to')).toBe('<sip:2001@example.com>');
    expect(c.callId).toBe(inv.callId);
    expect(c.get('cseq')).toBe('42 CANCEL');
    expect(c.getAll('route')).toEqual(inv.getAll('route'));
    expect(c.get('reason')).toBe('SIP;cause=487;text="ORIGINATOR_CANCEL"');
    expect(c.has('proxy-authorization')).toBe(false);
    expect(layer.size.client).toBe(2);

    // the 200 for the CANCEL belongs to the CANCEL transaction, not to the INVITE or the proxy
    layer.receive(response(c, 200, 't1'), UDP);
    expect(stray).toHaveLength(0);
    layer.receive(response(inv, 487, 't1'), UDP);
    expect(events.filter((e) => e.what === 'response').map((e) => e.status)).toEqual([100, 487]);
    expect(sent.filter((s) => s.msg.method === 'ACK')).toHaveLength(1);
    expect(tx.cancel()).toBe(false);
    vi.runAllTimers();
    expect(layer.size.client).toBe(0);
  });

  it('is not sent when a final response comes first, nor for a non-INVITE', () => {
    const { layer, handlers, sentOf } = harness();
    const inv = request('INVITE');
    const tx = layer.createClient(inv, UDP, handlers);
    tx.cancel();
    layer.receive(response(inv, 200), UDP);
    expect(sentOf('CANCEL')).toEqual([]);
    const opt = layer.createClient(request('OPTIONS', 'z9hG4bK-o'), UDP, handlers);
    expect(opt.cancel()).toBe(false);
    layer.close();
  });
});

describe('non-INVITE client transaction', () => {
  it('retransmits with Timer E (T1 doubling, capped at T2) and times out with Timer F = 64·T1', () => {
    const { layer, events, handlers, sentOf } = harness();
    layer.createClient(request('OPTIONS'), UDP, handlers);
    vi.advanceTimersByTime(31_999);
    expect(sentOf('OPTIONS')).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    vi.advanceTimersByTime(1);
    expect(events).toEqual([{ at: 32000, what: 'timeout', reason: 'timer-f' }, { at: 32000, what: 'terminated' }]);
    expect(layer.size.client).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retransmits every T2 once a provisional came; Timer F still applies', () => {
    const { layer, events, handlers, sentOf } = harness();
    const reg = request('REGISTER');
    const tx = layer.createClient(reg, UDP, handlers);
    vi.advanceTimersByTime(600);
    layer.receive(response(reg, 100), UDP);
    expect(tx.state).toBe('proceeding');
    vi.advanceTimersByTime(31_400);
    expect(sentOf('REGISTER')).toEqual([0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
    expect(events.map((e) => e.reason ?? e.status)).toEqual([100, 'timer-f', undefined]);
    expect(layer.size.client).toBe(0);
  });

  it('Completed absorbs retransmitted finals until Timer K = T4 (UDP)', () => {
    const { layer, events, handlers, sentOf } = harness();
    const reg = request('REGISTER');
    const tx = layer.createClient(reg, UDP, handlers);
    layer.receive(response(reg, 401), UDP);
    expect(tx.state).toBe('completed');
    layer.receive(response(reg, 401), UDP);
    layer.receive(response(reg, 200), UDP);
    expect(events.map((e) => e.status)).toEqual([401]);
    vi.advanceTimersByTime(4999);
    expect(sentOf('REGISTER')).toEqual([0]);
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(0);
  });

  it('Timer K is 0 over TCP, and there is no Timer E', () => {
    const { layer, events, handlers, sentOf } = harness();
    const reg = request('REGISTER');
    const tx = layer.createClient(reg, TCP, handlers);
    vi.advanceTimersByTime(3000);
    expect(sentOf('REGISTER')).toEqual([0]);
    layer.receive(response(reg, 200), TCP);
    expect(tx.state).toBe('terminated');
    expect(events.map((e) => e.status ?? e.what)).toEqual([200, 'terminated']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('client transactions and the layer', () => {
  it('a transport error ends the transactions sending to that target only', () => {
    const { layer, events, handlers } = harness();
    const a = layer.createClient(request('INVITE', 'z9hG4bK-x1'), UDP, handlers);
    const other: Target = { transport: 'udp', address: '192.0.2.21', port: 5060 };
    const b = layer.createClient(request('INVITE', 'z9hG4bK-x2'), other, handlers);
    layer.reportTransportError(UDP, new Error('ICMP port unreachable'));
    expect(a.state).toBe('terminated');
    expect(b.state).toBe('calling');
    expect(events.map((e) => e.what)).toEqual(['transport-error', 'terminated']);
    expect(layer.size.client).toBe(1);
    layer.close();
    expect(layer.size.client).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a send() that throws becomes a transport error', async () => {
    const { events, handlers } = harness();
    const layer = createTransactionLayer({
      send: () => {
        throw new Error('boom');
      },
      onRequest: () => undefined,
    });
    layer.createClient(request('OPTIONS'), UDP, handlers);
    expect(events).toEqual([]);
    await Promise.resolve();
    expect(events.map((e) => e.what)).toEqual(['transport-error', 'terminated']);
    expect(layer.size.client).toBe(0);
  });

  it('responses match on branch and CSeq method; the others are stray', () => {
    const { layer, events, handlers, stray } = harness();
    const inv = request('INVITE');
    layer.createClient(inv, UDP, handlers);
    layer.receive(response(inv, 200, 't', 'BYE'), UDP);
    layer.receive(response(request('INVITE', 'z9hG4bK-other'), 200), UDP);
    expect(stray).toHaveLength(2);
    expect(events).toEqual([]);
    layer.close();
  });

  it('refuses requests it cannot run', () => {
    const { layer, handlers } = harness();
    const noBranch = parseMessage(Buffer.from(request('OPTIONS').toString().replace(';branch=z9hG4bK-c1', '')));
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof TransactionError ? e.code : 'other';
      }
      return undefined;
    };
    expect(code(() => layer.createClient(noBranch, UDP, handlers))).toBe('no-branch');
    expect(code(() => layer.createClient(request('ACK'), UDP, handlers))).toBe('ack-has-no-transaction');
    layer.createClient(request('OPTIONS'), UDP, handlers);
    expect(code(() => layer.createClient(request('OPTIONS'), UDP, handlers))).toBe('duplicate-branch');
    layer.close();
    expect(code(() => layer.createClient(request('INFO'), UDP, handlers))).toBe('closed');
  });

  it('an exception in a callback fired by a timer goes to onError', () => {
    const errors: unknown[] = [];
    const { handlers } = harness();
    const layer = createTransactionLayer({ send: () => undefined, onRequest: () => undefined, onError: (e) => errors.push(e) });
    const tx: ClientTransaction = layer.createClient(request('OPTIONS'), UDP, {
      ...handlers,
      onTimeout: () => {
        throw new Error('TU bug');
      },
    });
    vi.advanceTimersByTime(32_000);
    expect(errors).toHaveLength(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(0);
  });
});
