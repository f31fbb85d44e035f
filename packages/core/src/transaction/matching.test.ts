import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { SipMessage } from '../message/message.js';
import { realClock } from './clock.js';
import { createTransactionLayer } from './layer.js';
import type { ServerTransaction } from './server-transaction.js';
import type { Target } from './types.js';

const UDP: Target = { transport: 'udp', address: '192.0.2.1', port: 5060 };

const parse = (lines: string[]): SipMessage => parseMessage(Buffer.from([...lines, '', ''].join('\r\n')));

/** RFC 4475 §3.2.1: the branch is the bare magic cookie */
const BADBRANCH = [
  'OPTIONS sip:user@example.com SIP/2.0',
  'To: sip:user@example.com',
  'From: sip:caller@example.org;tag=33242',
  'Max-Forwards: 3',
  'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK',
  'Accept: application/sdp',
  'Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n',
  'CSeq: 8 OPTIONS',
  'l: 0',
];

const edit = (lines: string[], from: string, to: string): string[] => lines.map((l) => (l === from ? to : l));

const rfc2543 = (method: string, o: { via?: string; cseq?: number; fromTag?: string; toTag?: string; extra?: string[] } = {}): SipMessage =>
  parse([
    `${method} sip:2001@example.com SIP/2.0`,
    `Via: ${o.via ?? 'SIP/2.0/UDP 192.0.2.1:5060'}`,
    'Max-Forwards: 70',
    `From: <sip:alice@example.com>;tag=${o.fromTag ?? 'f1'}`,
    `To: <sip:2001@example.com>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    'Call-ID: legacy-1@192.0.2.1',
    `CSeq: ${o.cseq ?? 1} ${method}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
  ]);

const withCookie = (method: string, branch: string, o: { host?: string; cseqMethod?: string; extra?: string[] } = {}): SipMessage =>
  parse([
    `${method} sip:2001@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP ${o.host ?? '192.0.2.1:5060'};branch=${branch}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=f1',
    'To: <sip:2001@example.com>',
    'Call-ID: c-1@192.0.2.1',
    `CSeq: 1 ${o.cseqMethod ?? method}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
  ]);

const response = (req: SipMessage, status: number, toTag: string): SipMessage => {
  const lines = [`SIP/2.0 ${status} Whatever`];
  for (const h of req.headers) {
    if (h.key === 'via' || h.key === 'from' || h.key === 'call-id' || h.key === 'cseq') lines.push(`${h.name}: ${h.value}`);
    if (h.key === 'to') lines.push(`To: ${h.value};tag=${toTag}`);
  }
  lines.push('Content-Length: 0');
  return parse(lines);
};

const harness = () => {
  const sent: SipMessage[] = [];
  const requests: Array<{ req: SipMessage; tx: ServerTransaction | undefined }> = [];
  const layer = createTransactionLayer({
    send: (msg) => {
      sent.push(msg);
    },
    onRequest: (req, _source, tx) => requests.push({ req, tx }),
  });
  return { layer, sent, requests };
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('requests with an RFC 3261 branch (§17.2.3)', () => {
  it('match on branch, sent-by and method; ACK matches the INVITE, CANCEL has its own transaction', () => {
    const { layer, requests } = harness();
    layer.receive(withCookie('INVITE', 'z9hG4bK-1'), UDP);
    layer.receive(withCookie('INVITE', 'z9hG4bK-1', { host: '192.0.2.2:5060' }), UDP); // other sent-by
    layer.receive(withCookie('INVITE', 'z9hG4bK-1', { host: '192.0.2.1' }), UDP); // sent-by without port differs too
    layer.receive(withCookie('INVITE', 'z9hG4bK-1'), UDP); // retransmission
    expect(requests).toHaveLength(3);
    const cancel = withCookie('CANCEL', 'z9hG4bK-1');
    layer.receive(cancel, UDP);
    expect(requests).toHaveLength(4);
    expect(requests[3]!.tx?.method).toBe('CANCEL');
    expect(requests[3]!.tx).not.toBe(requests[0]!.tx);
    expect(layer.size.server).toBe(4);

    // §9.2: the CANCEL finds its INVITE
    expect(layer.findInviteServerTx(cancel)).toBe(requests[0]!.tx);
    expect(layer.findInviteServerTx(withCookie('CANCEL', 'z9hG4bK-1', { host: '192.0.2.2:5060' }))).toBe(requests[1]!.tx);
    expect(layer.findInviteServerTx(withCookie('CANCEL', 'z9hG4bK-9'))).toBeUndefined();

    const inv = requests[0]!.tx!;
    inv.respond(response(requests[0]!.req, 486, 'x'));
    layer.receive(withCookie('ACK', 'z9hG4bK-1'), UDP);
    expect(inv.state).toBe('confirmed');
    expect(requests).toHaveLength(4);
    // an ACK with an unknown branch (ACK for a 2xx) goes up without a transaction
    layer.receive(withCookie('ACK', 'z9hG4bK-2xx'), UDP);
    expect(requests).toHaveLength(5);
    expect(requests[4]!.tx).toBeUndefined();
    layer.close();
  });

  it('a reused branch with other credentials after a final response is a new request', () => {
    const { layer, requests, sent } = harness();
    const first = withCookie('REGISTER', 'z9hG4bK-r');
    layer.receive(first, UDP);
    // before any final response, it is a retransmission whatever it carries
    layer.receive(withCookie('REGISTER', 'z9hG4bK-r', { extra: ['Authorization: Digest username="a"'] }), UDP);
    expect(requests).toHaveLength(1);
    const tx1 = requests[0]!.tx!;
    tx1.respond(response(first, 401, 'r'));
    layer.receive(withCookie('REGISTER', 'z9hG4bK-r'), UDP);
    expect(sent.map((m) => m.status)).toEqual([401, 401]);
    layer.receive(withCookie('REGISTER', 'z9hG4bK-r', { extra: ['Authorization: Digest username="a"'] }), UDP);
    expect(requests).toHaveLength(2);
    expect(tx1.state).toBe('terminated');
    expect(layer.size.server).toBe(1);
    layer.close();
  });
});

describe('requests without an RFC 3261 branch (RFC 2543, §17.2.3)', () => {
  it('RFC 4475 badbranch: matched by the RFC 2543 rules, never answered 400', () => {
    const { layer, requests, sent } = harness();
    layer.receive(parse(BADBRANCH), UDP);
    expect(requests).toHaveLength(1);
    const tx = requests[0]!.tx!;
    expect(tx.legacy).toBe(true);
    tx.respond(response(requests[0]!.req, 200, 'b'));
    layer.receive(parse(BADBRANCH), UDP); // retransmission: the 200 again
    expect(requests).toHaveLength(1);
    expect(sent.map((m) => m.status)).toEqual([200, 200]);
    // another request with the same empty identifier is a request of its own
    const second = edit(edit(BADBRANCH, 'Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n', 'Call-ID: badbranch.second'), 'CSeq: 8 OPTIONS', 'CSeq: 9 OPTIONS');
    layer.receive(parse(second), UDP);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.tx).not.toBe(tx);
    requests[1]!.tx!.respond(response(requests[1]!.req, 200, 'c'));
    expect(sent.at(-1)!.callId).toBe('badbranch.second');
    expect(sent.at(-1)!.get('cseq')).toBe('9 OPTIONS');
    vi.advanceTimersByTime(32_000);
    expect(layer.size.server).toBe(0);
  });

  it('each of Request-URI, From tag, Call-ID, CSeq number, top Via and To tag makes another transaction', () => {
    const { layer, requests } = harness();
    layer.receive(rfc2543('OPTIONS'), UDP);
    layer.receive(rfc2543('OPTIONS'), UDP);
    expect(requests).toHaveLength(1);
    layer.receive(parse(rfc2543('OPTIONS').toString().replace('OPTIONS sip:2001@', 'OPTIONS sip:2002@').split('\r\n').slice(0, -2)), UDP);
    layer.receive(rfc2543('OPTIONS', { fromTag: 'f2' }), UDP);
    layer.receive(parse(rfc2543('OPTIONS').toString().replace('legacy-1@', 'legacy-2@').split('\r\n').slice(0, -2)), UDP);
    layer.receive(rfc2543('OPTIONS', { cseq: 2 }), UDP);
    layer.receive(rfc2543('OPTIONS', { via: 'SIP/2.0/UDP 192.0.2.1:5070' }), UDP);
    layer.receive(rfc2543('OPTIONS', { via: 'SIP/2.0/UDP 192.0.2.1:5060;branch=1234' }), UDP);
    layer.receive(rfc2543('OPTIONS', { toTag: 'dialog' }), UDP);
    layer.receive(rfc2543('INFO'), UDP);
    expect(requests).toHaveLength(9);
    expect(layer.size.server).toBe(9);
    layer.close();
    expect(layer.size.server).toBe(0);
  });

  it('a REGISTER re-sent with the same Call-ID and CSeq but other Authorization is a new request (CONTRACT Interop)', () => {
    const { layer, requests, sent } = harness();
    const first = rfc2543('REGISTER');
    layer.receive(first, UDP);
    requests[0]!.tx!.respond(response(first, 401, 'r1'));
    const authed = rfc2543('REGISTER', { extra: ['Authorization: Digest username="alice", response="x"'] });
    layer.receive(authed, UDP);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.req).toBe(authed);
    const tx2 = requests[1]!.tx!;
    expect(tx2).not.toBe(requests[0]!.tx);
    // retransmissions still find their own transaction
    layer.receive(rfc2543('REGISTER'), UDP);
    expect(sent.map((m) => m.status)).toEqual([401, 401]);
    layer.receive(rfc2543('REGISTER', { extra: ['Authorization: Digest username="alice", response="x"'] }), UDP);
    expect(requests).toHaveLength(2);
    tx2.respond(response(authed, 200, 'r2'));
    layer.receive(rfc2543('REGISTER', { extra: ['Authorization: Digest username="alice", response="x"'] }), UDP);
    expect(sent.map((m) => m.status)).toEqual([401, 401, 200, 200]);
    // and yet other credentials again make a new one
    layer.receive(rfc2543('REGISTER', { extra: ['Proxy-Authorization: Digest username="alice", response="y"'] }), UDP);
    expect(requests).toHaveLength(3);
    expect(layer.size.server).toBe(3);
    vi.advanceTimersByTime(32_000);
    requests[2]!.tx!.respond(response(requests[2]!.req, 403, 'r3'));
    vi.advanceTimersByTime(32_000);
    expect(layer.size.server).toBe(0);
  });

  it('an ACK matches the INVITE whose final response had its To tag; CANCEL finds the INVITE (§9.2)', () => {
    const { layer, requests } = harness();
    const inv = rfc2543('INVITE');
    layer.receive(inv, UDP);
    const tx = requests[0]!.tx!;
    expect(layer.findInviteServerTx(rfc2543('CANCEL'))).toBe(tx);
    expect(layer.findInviteServerTx(rfc2543('CANCEL', { fromTag: 'zz' }))).toBeUndefined();
    expect(layer.findInviteServerTx(rfc2543('CANCEL', { cseq: 2 }))).toBeUndefined();
    const cancel = rfc2543('CANCEL');
    layer.receive(cancel, UDP);
    expect(requests[1]!.tx?.method).toBe('CANCEL');
    expect(requests[1]!.tx).not.toBe(tx);
    requests[1]!.tx!.respond(response(cancel, 200, 'p1'));

    tx.respond(response(inv, 407, 'p1'));
    // an ACK with another To tag is not for this transaction: it goes up
    layer.receive(rfc2543('ACK', { toTag: 'other' }), UDP);
    expect(requests).toHaveLength(3);
    expect(requests[2]!.tx).toBeUndefined();
    expect(tx.state).toBe('completed');
    layer.receive(rfc2543('ACK', { toTag: 'p1' }), UDP);
    expect(tx.state).toBe('confirmed');
    expect(requests).toHaveLength(3);

    // the challenged INVITE re-sent with credentials and the same CSeq: a new transaction
    layer.receive(rfc2543('INVITE', { extra: ['Proxy-Authorization: Digest username="alice"'] }), UDP);
    expect(requests).toHaveLength(4);
    expect(requests[3]!.tx).not.toBe(tx);
    expect(requests[3]!.tx!.state).toBe('proceeding');
    // its 2xx: the ACK is not absorbed, it goes up
    requests[3]!.tx!.respond(response(requests[3]!.req, 200, 'ok'));
    layer.receive(rfc2543('ACK', { toTag: 'ok' }), UDP);
    expect(requests).toHaveLength(5);
    expect(requests[4]!.tx).toBeUndefined();
    vi.runAllTimers();
    expect(layer.size.server).toBe(0);
  });
});

describe('lifecycle', () => {
  it('size returns to 0 once every timer has run, and no timer is left', () => {
    const { layer, requests } = harness();
    const handlers = { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined };
    layer.receive(withCookie('INVITE', 'z9hG4bK-s1'), UDP);
    layer.receive(withCookie('INVITE', 'z9hG4bK-s2'), UDP);
    layer.receive(withCookie('OPTIONS', 'z9hG4bK-s3'), UDP);
    layer.receive(parse(BADBRANCH), UDP);
    layer.receive(withCookie('BYE', 'z9hG4bK-s4'), UDP); // never answered: lives until the TU ends it
    requests[0]!.tx!.respond(response(requests[0]!.req, 486, 'a'));
    requests[1]!.tx!.respond(response(requests[1]!.req, 200, 'b'));
    requests[2]!.tx!.respond(response(requests[2]!.req, 200, 'c'));
    requests[3]!.tx!.respond(response(requests[3]!.req, 200, 'd'));
    const inv = withCookie('INVITE', 'z9hG4bK-c1');
    layer.createClient(inv, UDP, handlers);
    layer.createClient(withCookie('OPTIONS', 'z9hG4bK-c2'), UDP, handlers);
    const c3 = layer.createClient(withCookie('INVITE', 'z9hG4bK-c3'), UDP, handlers);
    layer.receive(response(c3.request!, 180, 'e'), UDP);
    c3.cancel();
    layer.receive(response(inv, 503, 'f'), UDP);
    expect(layer.size).toEqual({ server: 5, client: 4 });
    vi.runAllTimers();
    expect(layer.size).toEqual({ server: 1, client: 0 });
    requests[4]!.tx!.terminate();
    expect(layer.size).toEqual({ server: 0, client: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() clears every timer and ignores later messages', () => {
    const { layer, requests } = harness();
    const handlers = { onResponse: () => undefined, onTimeout: vi.fn(), onTransportError: () => undefined };
    layer.receive(withCookie('INVITE', 'z9hG4bK-1'), UDP);
    requests[0]!.tx!.respond(response(requests[0]!.req, 486, 'a'));
    layer.createClient(withCookie('INVITE', 'z9hG4bK-2'), UDP, handlers);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    layer.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(layer.size).toEqual({ server: 0, client: 0 });
    layer.receive(withCookie('OPTIONS', 'z9hG4bK-3'), UDP);
    expect(requests).toHaveLength(1);
    expect(handlers.onTimeout).not.toHaveBeenCalled();
  });

  it('the real clock unref()s its timers', () => {
    vi.useRealTimers();
    const h = realClock.setTimeout(() => undefined, 60_000, undefined) as NodeJS.Timeout;
    expect(h.hasRef()).toBe(false);
    realClock.clearTimeout(h);
  });
});

describe('admit: a new request the TU answers statelessly', () => {
  it('gets no server transaction, is asked again on a retransmission, and an admitted one gets its transaction', () => {
    let refuse = true;
    const asked: string[] = [];
    const seen: Array<ServerTransaction | undefined> = [];
    const layer = createTransactionLayer({
      send: () => undefined,
      clock: realClock,
      onRequest: (_req, _src, tx) => seen.push(tx),
      admit: (req) => {
        asked.push(req.method);
        return !refuse;
      },
    });
    try {
      const inv = withCookie('INVITE', 'z9hG4bK-admit-1');
      layer.receive(inv, UDP);
      layer.receive(inv, UDP);
      expect(asked).toEqual(['INVITE', 'INVITE']);
      expect(seen).toEqual([]);
      expect(layer.size.server).toBe(0);
      // an ACK is never asked: it goes to the TU (which knows its own stateless answers)
      layer.receive(withCookie('ACK', 'z9hG4bK-admit-1', { extra: [] }), UDP);
      expect(asked).toEqual(['INVITE', 'INVITE']);
      expect(seen).toEqual([undefined]);
      // RFC 2543 matching too
      layer.receive(rfc2543('MESSAGE'), UDP);
      expect(asked).toEqual(['INVITE', 'INVITE', 'MESSAGE']);
      expect(layer.size.server).toBe(0);
      refuse = false;
      layer.receive(inv, UDP);
      expect(layer.size.server).toBe(1);
      expect(seen[1]).toBeDefined();
      // its retransmission is the transaction's: not asked again
      layer.receive(inv, UDP);
      expect(asked).toEqual(['INVITE', 'INVITE', 'MESSAGE', 'INVITE']);
    } finally {
      layer.close();
    }
  });
});
