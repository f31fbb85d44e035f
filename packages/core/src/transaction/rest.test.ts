// A finished transaction at rest (TransactionLayerOptions.compactRest, ClientTransaction.retire):
// the layer keeps only its key and what absorbing or replaying needs, for exactly the time its
// timer had left (RFC 3261 Timers J, I, K; RFC 6026 Timers L, M).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { txRequest, txResponse } from '../../test/helpers/tx-messages.js';
import type { SipMessage } from '../message/message.js';
import { createTransactionLayer } from './layer.js';
import type { ServerTransaction } from './server-transaction.js';
import type { Target, TransactionLayerOptions } from './types.js';

const UDP: Target = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const UP: Target = { transport: 'udp', address: '198.51.100.7', port: 41000 };
const T1 = 500;

const request = (method: string, branch = 'z9hG4bK-rest1', extra: string[] = [], cseqMethod = method): SipMessage =>
  txRequest(method, branch, { extra, cseqMethod });
const response = txResponse;

const harness = (extra: Partial<TransactionLayerOptions> = {}) => {
  const sent: Array<{ msg: SipMessage; target: Target; bytes: string }> = [];
  const requests: Array<{ req: SipMessage; tx: ServerTransaction | undefined }> = [];
  const stray: SipMessage[] = [];
  const rested: Array<{ res: SipMessage; up: Target }> = [];
  const layer = createTransactionLayer({
    send: (msg, target) => {
      sent.push({ msg, target, bytes: msg.toBuffer().toString('latin1') });
    },
    onRequest: (req, _source, tx) => requests.push({ req, tx }),
    onStrayResponse: (res) => stray.push(res),
    onRested2xx: (res, up) => rested.push({ res, up }),
    compactRest: true,
    ...extra,
  });
  return { layer, sent, requests, stray, rested };
};

const NO_HANDLERS = { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a server transaction at rest (compactRest)', () => {
  it('non-INVITE: leaves its object, replays the same final bytes until Timer J (64·T1), then a copy is a new request', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('BYE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 200));
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(1);
    vi.advanceTimersByTime(64 * T1 - 1);
    layer.receive(request('BYE'), UDP);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.bytes).toBe(sent[0]!.bytes);
    expect(sent[1]!.target).toEqual(UDP);
    expect(requests).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(layer.size.server).toBe(0);
    layer.receive(request('BYE'), UDP);
    expect(requests).toHaveLength(2);
    layer.close();
  });

  it('non-INVITE finals of many calls share one skeleton; each replay is filled from its own retransmission', () => {
    const { layer, sent, requests } = harness();
    const byes = [1, 2, 3].map((i) => () => request('BYE', `z9hG4bK-sk${i}`, [], 'BYE'));
    for (const mk of byes) layer.receive(mk(), UDP);
    for (const r of requests) r.tx!.respond(response(r.req, 200, 'same-tag'));
    expect(layer.restSkeletons).toBe(1);
    const firsts = sent.map((s) => s.bytes);
    expect(new Set(firsts).size).toBe(3);
    for (const mk of [...byes].reverse()) layer.receive(mk(), UDP);
    expect(sent.slice(3).map((s) => s.bytes)).toEqual([...firsts].reverse());
    expect(requests).toHaveLength(3);
    vi.advanceTimersByTime(64 * T1);
    expect(layer.size.server).toBe(0);
    expect(layer.restSkeletons).toBe(0);
    layer.close();
  });

  it('a final not made of its request (a Via rewritten) and one of a full table replay their own text', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('BYE', 'z9hG4bK-odd'), UDP);
    const own = response(requests[0]!.req, 200);
    own.replaceFirstItem('via', 'SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-odd');
    requests[0]!.tx!.respond(own);
    layer.receive(request('BYE', 'z9hG4bK-odd'), UDP);
    expect(sent[1]!.bytes).toBe(sent[0]!.bytes);
    // 4,096 different skeletons (a header of each call's own), then one more that keeps its own
    const n = 4097;
    for (let i = 0; i < n; i++) {
      layer.receive(request('BYE', `z9hG4bK-full${i}`), UDP);
      const r = requests[requests.length - 1]!;
      const res = response(r.req, 200);
      res.append('X-Seq', String(i));
      r.tx!.respond(res);
    }
    expect(layer.restSkeletons).toBe(4096);
    const before = sent.length;
    layer.receive(request('BYE', `z9hG4bK-full${n - 1}`), UDP);
    layer.receive(request('BYE', 'z9hG4bK-full7'), UDP);
    expect(sent.slice(before).map((s) => s.bytes)).toEqual([sent[before - 1]!.bytes, sent[2 + 7]!.bytes]);
    expect(sent[before]!.bytes).toContain(`X-Seq: ${n - 1}\r\n`);
    vi.advanceTimersByTime(64 * T1);
    expect(layer.restSkeletons).toBe(0);
    layer.close();
  });

  it('INVITE 2xx (Accepted): absorbs the INVITE, passes each ACK on, answers for a CANCEL, for 64·T1 (Timer L)', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 200));
    expect(tx.state).toBe('terminated');
    layer.receive(request('INVITE'), UDP);
    expect(sent.map((s) => s.msg.status)).toEqual([100, 200]);
    layer.receive(request('ACK', 'z9hG4bK-rest1', [], 'ACK'), UDP);
    layer.receive(request('ACK', 'z9hG4bK-rest1', [], 'ACK'), UDP);
    expect(requests.map((r) => [r.req.method, r.tx])).toEqual([['INVITE', tx], ['ACK', undefined], ['ACK', undefined]]);
    const cancel = request('CANCEL', 'z9hG4bK-rest1');
    expect(layer.findInviteServerTx(cancel)).toBeUndefined();
    expect(layer.answeredInvite(cancel)).toBe(true);
    vi.advanceTimersByTime(64 * T1);
    expect(layer.answeredInvite(cancel)).toBe(false);
    expect(layer.size.server).toBe(0);
    layer.close();
  });

  it('INVITE 2xx at rest: further 2xx of its TU (other forks, retransmissions) still go out, nothing else', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 200, 'forkA'));
    tx.respond(response(requests[0]!.req, 200, 'forkB'));
    tx.respond(response(requests[0]!.req, 486, 'forkC'));
    expect(sent.map((x) => [x.msg.status, x.msg.toTag])).toEqual([[100, undefined], [200, 'forkA'], [200, 'forkB']]);
    expect(sent[2]!.target).toBe(UDP);
    layer.close();
  });

  it('an older entry under a key taken over and given back does not end the newest one early', () => {
    const { layer, requests } = harness();
    const TCP: Target = { transport: 'tcp', address: '192.0.2.10', port: 5060, connectionId: 'c1' };
    const b = 'z9hG4bK-reused';
    layer.receive(request('INVITE', b), UDP);
    requests[0]!.tx!.respond(response(requests[0]!.req, 200)); // rests until 32 s
    vi.advanceTimersByTime(1000);
    // a copy with credentials takes the key over, over TCP: answered and ACKed, it ends at once
    layer.receive(request('INVITE', b, ['Proxy-Authorization: Digest username="a"']), TCP);
    requests[1]!.tx!.respond(response(requests[1]!.req, 486));
    layer.receive(request('ACK', b, [], 'ACK'), TCP);
    vi.advanceTimersByTime(9000);
    layer.receive(request('INVITE', b), UDP);
    requests[2]!.tx!.respond(response(requests[2]!.req, 200)); // rests until 42 s
    vi.advanceTimersByTime(22_500); // 32.5 s: the first entry fell due
    layer.receive(request('INVITE', b), UDP);
    expect(requests).toHaveLength(3); // absorbed, not a new request
    vi.advanceTimersByTime(64 * T1 - 22_500);
    expect(layer.size.server).toBe(0);
    layer.close();
  });

  it('INVITE non-2xx: Timer G runs on the object; once ACKed it rests absorbing INVITE and ACK for T4 (Timer I)', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 486));
    expect(tx.state).toBe('completed');
    vi.advanceTimersByTime(T1); // Timer G
    expect(sent.filter((s) => s.msg.status === 486)).toHaveLength(2);
    layer.receive(request('ACK', 'z9hG4bK-rest1', [], 'ACK'), UDP);
    expect(tx.state).toBe('terminated');
    expect(layer.answeredInvite(request('CANCEL'))).toBe(true);
    layer.receive(request('ACK', 'z9hG4bK-rest1', [], 'ACK'), UDP);
    layer.receive(request('INVITE'), UDP);
    vi.advanceTimersByTime(5000 - 1);
    layer.receive(request('INVITE'), UDP);
    expect(requests).toHaveLength(1);
    expect(sent.filter((s) => s.msg.status === 486)).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(layer.size.server).toBe(0);
    layer.close();
  });

  it('a copy with credentials takes the key over, and the old entry ending does not end the new transaction', () => {
    const { layer, requests } = harness();
    layer.receive(request('BYE', 'z9hG4bK-rest2'), UDP);
    requests[0]!.tx!.respond(response(requests[0]!.req, 200));
    vi.advanceTimersByTime(1000);
    layer.receive(request('BYE', 'z9hG4bK-rest2', ['Authorization: Digest username="a"']), UDP);
    expect(requests).toHaveLength(2);
    const second = requests[1]!.tx!;
    expect(layer.restSkeletons).toBe(0); // the first one's skeleton went with its entry
    vi.advanceTimersByTime(64 * T1); // the first one's rest is over
    expect(second.state).toBe('trying');
    expect(layer.size.server).toBe(1);
    layer.receive(request('BYE', 'z9hG4bK-rest2', ['Authorization: Digest username="a"']), UDP);
    expect(requests).toHaveLength(2);
    layer.close();
  });

  it('keeps the object where it must: credentials, hooks, RFC 2543 matching, or compactRest off', () => {
    const withCreds = harness();
    withCreds.layer.receive(request('REGISTER', 'z9hG4bK-rest3', ['Authorization: Digest username="a"']), UDP);
    const a = withCreds.requests[0]!.tx!;
    a.respond(response(withCreds.requests[0]!.req, 401));
    expect(a.state).toBe('completed');

    const hooked = harness();
    hooked.layer.receive(request('BYE'), UDP);
    const b = hooked.requests[0]!.tx!;
    const ended: string[] = [];
    b.onTerminated = (t) => ended.push(t.state);
    b.respond(response(hooked.requests[0]!.req, 200));
    expect(b.state).toBe('completed');
    vi.advanceTimersByTime(64 * T1);
    expect(ended).toEqual(['terminated']);

    const legacy = harness();
    legacy.layer.receive(request('BYE', 'old-style-1'), UDP);
    const c = legacy.requests[0]!.tx!;
    c.respond(response(legacy.requests[0]!.req, 200));
    expect(c.state).toBe('completed');

    const off = harness({ compactRest: false });
    off.layer.receive(request('INVITE'), UDP);
    const d = off.requests[0]!.tx!;
    d.respond(response(off.requests[0]!.req, 200));
    expect(d.state).toBe('accepted');
    for (const h of [withCreds, hooked, legacy, off]) h.layer.close();
  });
});

describe('a retired client transaction', () => {
  it('INVITE in Accepted: each later 2xx goes to onRested2xx with where it goes, other answers are absorbed, until Timer M', () => {
    const { layer, stray, rested } = harness();
    const inv = request('INVITE', 'z9hG4bK-out1');
    const seen: number[] = [];
    const tx = layer.createClient(inv, UDP, { ...NO_HANDLERS, onResponse: (r) => seen.push(r.status) });
    layer.receive(response(inv, 200), UDP);
    tx.retire(UP);
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(1);
    layer.receive(response(inv, 200), UDP);
    layer.receive(response(inv, 180), UDP);
    layer.receive(response(inv, 486), UDP);
    expect(seen).toEqual([200]);
    expect(rested.map((r) => [r.res.status, r.up])).toEqual([[200, UP]]);
    expect(stray).toEqual([]);
    vi.advanceTimersByTime(64 * T1);
    expect(layer.size.client).toBe(0);
    layer.receive(response(inv, 200), UDP);
    expect(stray.map((r) => r.status)).toEqual([200]);
    expect(rested).toHaveLength(1);
    layer.close();
  });

  it('keeps the time its Timer M had left, in order among others retired earlier', () => {
    const { layer, stray, rested } = harness();
    const a = request('INVITE', 'z9hG4bK-outA');
    const b = request('INVITE', 'z9hG4bK-outB');
    const ta = layer.createClient(a, UDP, NO_HANDLERS);
    layer.receive(response(a, 200), UDP); // A's Timer M: 32 s from now
    vi.advanceTimersByTime(5000);
    const tb = layer.createClient(b, UDP, NO_HANDLERS);
    layer.receive(response(b, 200), UDP);
    tb.retire(UP); // B rests until 37 s
    vi.advanceTimersByTime(5000);
    ta.retire(UP); // A rests until 32 s, ahead of B
    vi.advanceTimersByTime(64 * T1 - 10_000 - 1);
    layer.receive(response(a, 200), UDP);
    vi.advanceTimersByTime(1);
    layer.receive(response(a, 200), UDP);
    layer.receive(response(b, 200), UDP);
    expect(rested.map((r) => r.res.topVia?.branch)).toEqual(['z9hG4bK-outA', 'z9hG4bK-outB']);
    expect(stray.map((r) => r.topVia?.branch)).toEqual(['z9hG4bK-outA']);
    vi.advanceTimersByTime(5000);
    layer.receive(response(b, 200), UDP);
    expect(stray.map((r) => r.topVia?.branch)).toEqual(['z9hG4bK-outA', 'z9hG4bK-outB']);
    layer.close();
  });

  it('INVITE in Accepted retired without a target: later 2xx go the stray way', () => {
    const { layer, stray, rested } = harness();
    const inv = request('INVITE', 'z9hG4bK-out2');
    const tx = layer.createClient(inv, UDP, NO_HANDLERS);
    layer.receive(response(inv, 200), UDP);
    tx.retire();
    layer.receive(response(inv, 200), UDP);
    expect(stray.map((r) => r.status)).toEqual([200]);
    expect(rested).toEqual([]);
    layer.close();
  });

  it('non-INVITE in Completed: absorbs every response until Timer K (T4)', () => {
    const { layer, stray } = harness();
    const bye = request('BYE', 'z9hG4bK-out3');
    const tx = layer.createClient(bye, UDP, NO_HANDLERS);
    layer.receive(response(bye, 200), UDP);
    tx.retire();
    vi.advanceTimersByTime(5000 - 1);
    layer.receive(response(bye, 200), UDP);
    expect(stray).toEqual([]);
    vi.advanceTimersByTime(1);
    layer.receive(response(bye, 200), UDP);
    expect(stray).toHaveLength(1);
    layer.close();
  });

  it('INVITE in Completed stays an object: it ACKs a retransmitted final again, and tells its old handlers nothing', () => {
    const { layer, sent } = harness();
    const inv = request('INVITE', 'z9hG4bK-out4');
    const seen: number[] = [];
    const tx = layer.createClient(inv, UDP, { ...NO_HANDLERS, onResponse: (r) => seen.push(r.status) });
    layer.receive(response(inv, 486), UDP);
    tx.retire(UP);
    expect(tx.state).toBe('completed');
    layer.receive(response(inv, 486), UDP);
    expect(sent.filter((s) => s.msg.method === 'ACK')).toHaveLength(2);
    expect(seen).toEqual([486]);
    layer.close();
  });

  it('close() ends what rests', () => {
    const { layer } = harness();
    const inv = request('INVITE', 'z9hG4bK-out5');
    const tx = layer.createClient(inv, UDP, NO_HANDLERS);
    layer.receive(response(inv, 200), UDP);
    tx.retire(UP);
    layer.close();
    expect(layer.size).toEqual({ server: 0, client: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });
});
