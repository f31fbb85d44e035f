import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { SipMessage } from '../message/message.js';
import { createTransactionLayer } from './layer.js';
import type { ServerTransaction } from './server-transaction.js';
import type { Target, TransactionLayerOptions } from './types.js';

const UDP: Target = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const TCP: Target = { transport: 'tcp', address: '192.0.2.10', port: 40123, connectionId: 'c1' };

const request = (method: string, o: { branch?: string; transport?: string; viaPort?: string; extra?: string[] } = {}): SipMessage =>
  parseMessage(Buffer.from([
    `${method} sip:bob@example.com SIP/2.0`,
    `Via: SIP/2.0/${o.transport ?? 'UDP'} 192.0.2.10${o.viaPort ?? ':5060'};branch=${o.branch ?? 'z9hG4bK-a1'}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=f1',
    'To: <sip:bob@example.com>',
    'Call-ID: call-1@192.0.2.10',
    `CSeq: 1 ${method}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')));

const response = (req: SipMessage, status: number, toTag = 't1'): SipMessage => {
  const lines = [`SIP/2.0 ${status} Whatever`];
  for (const h of req.headers) {
    if (h.key === 'via' || h.key === 'from' || h.key === 'call-id' || h.key === 'cseq') lines.push(`${h.name}: ${h.value}`);
    if (h.key === 'to') lines.push(`To: ${h.value};tag=${toTag}`);
  }
  lines.push('Content-Length: 0', '', '');
  return parseMessage(Buffer.from(lines.join('\r\n')));
};

const harness = (opts: Partial<TransactionLayerOptions> = {}) => {
  const t0 = Date.now();
  const sent: Array<{ at: number; msg: SipMessage; target: Target }> = [];
  const requests: Array<{ req: SipMessage; source: Target; tx: ServerTransaction | undefined }> = [];
  const layer = createTransactionLayer({
    send: (msg, target) => {
      sent.push({ at: Date.now() - t0, msg, target });
    },
    onRequest: (req, source, tx) => requests.push({ req, source, tx }),
    ...opts,
  });
  const sentStatus = (status: number): number[] => sent.filter((s) => s.msg.status === status).map((s) => s.at);
  return { layer, sent, requests, sentStatus };
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('INVITE server transaction', () => {
  it('sends 100 Trying at once with the request\'s Vias, From, To, Call-ID, CSeq and Timestamp', () => {
    const { layer, sent, requests } = harness();
    const inv = request('INVITE', { extra: ['Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-up', 'Timestamp: 54', 'Subject: hi'] });
    layer.receive(inv, UDP);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.tx?.state).toBe('proceeding');
    expect(sent).toHaveLength(1);
    const t = sent[0]!.msg;
    expect(t.status).toBe(100);
    expect(t.getAll('via')).toEqual(inv.getAll('via'));
    expect(t.get('from')).toBe(inv.get('from'));
    expect(t.get('to')).toBe(inv.get('to'));
    expect(t.callId).toBe(inv.callId);
    expect(t.get('cseq')).toBe('1 INVITE');
    expect(t.get('timestamp')).toBe('54');
    expect(t.has('subject')).toBe(false);
    expect(sent[0]!.target).toEqual(UDP);
    layer.close();
  });

  it('does not send 100 Trying with autoTrying: false', () => {
    const { layer, sent, requests } = harness({ autoTrying: false });
    layer.receive(request('INVITE'), UDP);
    expect(requests).toHaveLength(1);
    expect(sent).toHaveLength(0);
    layer.close();
  });

  describe('tryingDelay: the 100 Trying waits for the TU (§17.2.1)', () => {
    it('goes out when the TU has sent nothing for tryingDelay ms, not a ms before, and once', () => {
      const { layer, requests, sentStatus } = harness({ tryingDelay: 200 });
      layer.receive(request('INVITE'), UDP);
      expect(requests[0]!.tx?.state).toBe('proceeding');
      vi.advanceTimersByTime(199);
      expect(sentStatus(100)).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(sentStatus(100)).toEqual([200]);
      vi.advanceTimersByTime(1000);
      expect(sentStatus(100)).toEqual([200]);
      // from then on a retransmission replays it, as without the delay
      layer.receive(request('INVITE'), UDP);
      expect(sentStatus(100)).toEqual([200, 1200]);
      layer.close();
    });

    it('adds the time it waited to a Timestamp (§8.2.6.1); one sent for a retransmission copies it as it came', () => {
      const { layer, sent } = harness({ tryingDelay: 200 });
      layer.receive(request('INVITE', { extra: ['Timestamp: 54'] }), UDP);
      vi.advanceTimersByTime(200);
      expect(sent.map((x) => [x.msg.status, x.msg.get('timestamp')])).toEqual([[100, '54 0.200']]);
      layer.receive(request('INVITE', { branch: 'z9hG4bK-b2', extra: ['Timestamp: 77.5'] }), UDP);
      layer.receive(request('INVITE', { branch: 'z9hG4bK-b2', extra: ['Timestamp: 77.5'] }), UDP);
      expect(sent.map((x) => x.msg.get('timestamp'))).toEqual(['54 0.200', '77.5']);
      layer.close();
    });

    it('is never sent when the TU answers first, with a provisional or a final response', () => {
      for (const status of [180, 486, 200]) {
        const { layer, requests, sent, sentStatus } = harness({ tryingDelay: 200 });
        layer.receive(request('INVITE'), UDP);
        vi.advanceTimersByTime(150);
        requests[0]!.tx!.respond(response(requests[0]!.req, status));
        vi.advanceTimersByTime(1000);
        expect(sentStatus(100)).toEqual([]);
        expect(sent[0]!.msg.status).toBe(status);
        layer.close();
      }
    });

    it('goes at once to a retransmitted INVITE in the meantime, and its timer sends no second one', () => {
      const { layer, requests, sentStatus } = harness({ tryingDelay: 200 });
      layer.receive(request('INVITE'), UDP);
      vi.advanceTimersByTime(50);
      layer.receive(request('INVITE'), UDP);
      expect(sentStatus(100)).toEqual([50]);
      vi.advanceTimersByTime(1000);
      expect(sentStatus(100)).toEqual([50]);
      expect(requests).toHaveLength(1);
      layer.close();
    });

    it('leaves non-INVITE requests alone (they never get a 100 from the layer) and refuses a bad value', () => {
      const { layer, sent } = harness({ tryingDelay: 200 });
      layer.receive(request('OPTIONS'), UDP);
      vi.advanceTimersByTime(1000);
      expect(sent).toHaveLength(0);
      layer.close();
      expect(() => harness({ tryingDelay: -1 })).toThrow(/tryingDelay/);
      expect(() => harness({ tryingDelay: Number.NaN })).toThrow(/tryingDelay/);
    });

    it('a CANCELled INVITE (487 from the TU) before the delay gets no 100 either', () => {
      const { layer, requests, sentStatus } = harness({ tryingDelay: 200 });
      layer.receive(request('INVITE'), UDP);
      vi.advanceTimersByTime(10);
      requests[0]!.tx!.respond(response(requests[0]!.req, 487));
      vi.advanceTimersByTime(500);
      expect(sentStatus(100)).toEqual([]);
      expect(sentStatus(487)).toEqual([10, 510]); // Timer G from T1 after the final, as always
      layer.close();
    });
  });

  it('replays the last provisional for a retransmitted INVITE in Proceeding', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('INVITE'), UDP);
    layer.receive(request('INVITE'), UDP);
    expect(sent.map((s) => s.msg.status)).toEqual([100, 100]);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 180));
    layer.receive(request('INVITE'), UDP);
    expect(sent.map((s) => s.msg.status)).toEqual([100, 100, 180, 180]);
    expect(requests).toHaveLength(1);
    layer.close();
  });

  it('retransmits a non-2xx final with Timer G (T1 doubling to T2) until Timer H (64·T1)', () => {
    const { layer, requests, sentStatus } = harness();
    const onTimeout = vi.fn();
    const onTerminated = vi.fn();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.onTimeout = onTimeout;
    tx.onTerminated = onTerminated;
    tx.respond(response(requests[0]!.req, 486));
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(31_999);
    expect(sentStatus(486)).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(onTimeout).not.toHaveBeenCalled();
    expect(layer.size.server).toBe(1);
    vi.advanceTimersByTime(1);
    expect(onTimeout).toHaveBeenCalledWith(tx, 'timer-h');
    expect(onTerminated).toHaveBeenCalledTimes(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('replays the final for a retransmitted INVITE in Completed; the ACK confirms, Timer I = T4 ends it', () => {
    const { layer, requests, sentStatus, sent } = harness();
    const onAck = vi.fn();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.onAck = onAck;
    tx.respond(response(requests[0]!.req, 404));
    vi.advanceTimersByTime(100);
    layer.receive(request('INVITE'), UDP);
    expect(sentStatus(404)).toEqual([0, 100]);
    vi.advanceTimersByTime(100);
    const ack = request('ACK');
    layer.receive(ack, UDP);
    expect(tx.state).toBe('confirmed');
    expect(onAck).toHaveBeenCalledWith(tx, ack);
    expect(requests).toHaveLength(1); // the ACK is absorbed
    const n = sent.length;
    // confirmed: no more Timer G, retransmitted INVITE and ACK absorbed
    layer.receive(request('INVITE'), UDP);
    layer.receive(request('ACK'), UDP);
    vi.advanceTimersByTime(4999);
    expect(sent.length).toBe(n);
    expect(tx.state).toBe('confirmed');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(0);
    expect(onAck).toHaveBeenCalledTimes(1);
  });

  it('over TCP: no Timer G, Timer I is 0, Timer H stays 64·T1', () => {
    const { layer, requests, sentStatus } = harness();
    layer.receive(request('INVITE', { transport: 'TCP' }), TCP);
    const tx = requests[0]!.tx!;
    expect(tx.reliable).toBe(true);
    tx.respond(response(requests[0]!.req, 486));
    vi.advanceTimersByTime(20_000);
    expect(sentStatus(486)).toEqual([0]);
    layer.receive(request('ACK', { transport: 'TCP' }), TCP);
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(0);

    layer.receive(request('INVITE', { transport: 'TCP', branch: 'z9hG4bK-a2' }), TCP);
    const tx2 = requests[1]!.tx!;
    const onTimeout = vi.fn();
    tx2.onTimeout = onTimeout;
    tx2.respond(response(requests[1]!.req, 486));
    vi.advanceTimersByTime(31_999);
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onTimeout).toHaveBeenCalledWith(tx2, 'timer-h');
    expect(layer.size.server).toBe(0);
  });

  it('a 2xx moves to Accepted (RFC 6026): INVITEs absorbed, more 2xx pass, ACK goes up, Timer L = 64·T1', () => {
    const { layer, requests, sent, sentStatus } = harness();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 200, 'a'));
    expect(tx.state).toBe('accepted');
    vi.advanceTimersByTime(1000);
    layer.receive(request('INVITE'), UDP);
    expect(sentStatus(200)).toEqual([0]);
    tx.respond(response(requests[0]!.req, 200, 'a')); // the UAS retransmits its 2xx through the proxy
    tx.respond(response(requests[0]!.req, 200, 'b')); // another fork
    tx.respond(response(requests[0]!.req, 487)); // not after a 2xx
    expect(sentStatus(200)).toEqual([0, 1000, 1000]);
    expect(sentStatus(487)).toEqual([]);
    const ack = request('ACK');
    layer.receive(ack, UDP);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.req).toBe(ack);
    expect(requests[1]!.tx).toBeUndefined();
    const n = sent.length;
    vi.advanceTimersByTime(30_999);
    expect(sent.length).toBe(n); // no retransmission of 2xx by the proxy's transaction
    expect(tx.state).toBe('accepted');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(0);
  });

  it('uses the configured timer values', () => {
    const { layer, requests, sentStatus } = harness({ timers: { t1: 100, t2: 300 } });
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 500));
    vi.advanceTimersByTime(6399);
    expect(sentStatus(500).slice(0, 6)).toEqual([0, 100, 300, 600, 900, 1200]);
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
  });
});

describe('non-INVITE server transaction', () => {
  it('Trying absorbs, Proceeding and Completed replay, Timer J = 64·T1 over UDP', () => {
    const { layer, requests, sent } = harness();
    layer.receive(request('OPTIONS'), UDP);
    const tx = requests[0]!.tx!;
    expect(tx.state).toBe('trying');
    expect(sent).toHaveLength(0);
    layer.receive(request('OPTIONS'), UDP);
    expect(sent).toHaveLength(0);
    tx.respond(response(requests[0]!.req, 100));
    expect(tx.state).toBe('proceeding');
    layer.receive(request('OPTIONS'), UDP);
    expect(sent.map((s) => s.msg.status)).toEqual([100, 100]);
    tx.respond(response(requests[0]!.req, 200));
    expect(tx.state).toBe('completed');
    layer.receive(request('OPTIONS'), UDP);
    expect(sent.map((s) => s.msg.status)).toEqual([100, 100, 200, 200]);
    tx.respond(response(requests[0]!.req, 500)); // ignored after the final
    expect(sent).toHaveLength(4);
    expect(requests).toHaveLength(1);
    vi.advanceTimersByTime(31_999);
    expect(sent).toHaveLength(4); // no retransmission of non-INVITE responses
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(1);
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(0);
  });

  it('Timer J is 0 over TCP', () => {
    const { layer, requests } = harness();
    const onTerminated = vi.fn();
    layer.receive(request('REGISTER', { transport: 'TCP' }), TCP);
    const tx = requests[0]!.tx!;
    tx.onTerminated = onTerminated;
    tx.respond(response(requests[0]!.req, 200));
    expect(tx.state).toBe('terminated');
    expect(onTerminated).toHaveBeenCalledTimes(1);
    expect(layer.size.server).toBe(0);
  });
});

describe('responses', () => {
  it('go back on the connection over TCP, to the source port with rport, else to the Via port (§18.2.2)', () => {
    const { layer, requests, sent } = harness();
    layer.receive(request('OPTIONS', { transport: 'TCP', branch: 'z9hG4bK-1' }), TCP);
    const src = { transport: 'udp', address: '203.0.113.5', port: 61000 } as const;
    layer.receive(request('OPTIONS', { branch: 'z9hG4bK-2;rport' }), src);
    layer.receive(request('OPTIONS', { branch: 'z9hG4bK-3' }), src);
    layer.receive(request('OPTIONS', { branch: 'z9hG4bK-4', viaPort: '' }), src);
    for (const r of requests) r.tx!.respond(response(r.req, 200));
    expect(sent.map((s) => s.target)).toEqual([
      TCP,
      src,
      { transport: 'udp', address: '203.0.113.5', port: 5060 },
      { transport: 'udp', address: '203.0.113.5', port: 5060 },
    ]);
  });

  it('a custom responseTarget decides', () => {
    const forced: Target = { transport: 'udp', address: '198.51.100.9', port: 7000 };
    const { layer, requests, sent } = harness({ responseTarget: () => forced });
    layer.receive(request('OPTIONS'), UDP);
    requests[0]!.tx!.respond(response(requests[0]!.req, 200));
    expect(sent[0]!.target).toBe(forced);
    layer.close();
  });

  it('a transport error towards the response target ends the server transaction', () => {
    const { layer, requests } = harness();
    const onTransportError = vi.fn();
    const onTerminated = vi.fn();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.onTransportError = onTransportError;
    tx.onTerminated = onTerminated;
    tx.respond(response(requests[0]!.req, 486));
    const err = new Error('ECONNREFUSED');
    layer.reportTransportError({ transport: 'udp', address: '192.0.2.99', port: 5060 }, err);
    expect(tx.state).toBe('completed');
    layer.reportTransportError(UDP, err);
    expect(onTransportError).toHaveBeenCalledWith(tx, err);
    expect(onTerminated).toHaveBeenCalledTimes(1);
    expect(layer.size.server).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
