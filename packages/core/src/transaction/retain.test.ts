// A finished transaction lives on for up to 64·T1: it must not hold its request or responses
// (nor strings pinning their text), only key, state, timer and the bytes it may have to replay.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { txRequest, txResponse } from '../../test/helpers/tx-messages.js';
import { SipMessage } from '../message/message.js';
import { createTransactionLayer } from './layer.js';
import { credentialsOf, fresh } from './retain.js';
import type { ClientTransaction } from './client-transaction.js';
import type { ServerTransaction } from './server-transaction.js';
import type { Target } from './types.js';

const UDP: Target = { transport: 'udp', address: '192.0.2.10', port: 5060 };

const request = (method: string, branch = 'z9hG4bK-keep1', extra: string[] = []): SipMessage =>
  txRequest(method, branch, { extra, callId: 'keep-1@192.0.2.10' });
const response = txResponse;

/** the SipMessages a transaction object references directly (its own fields) */
const messagesHeld = (tx: ServerTransaction | ClientTransaction): string[] =>
  Object.entries(tx).filter(([, v]) => v instanceof SipMessage).map(([k]) => k);

const harness = () => {
  const sent: Array<{ msg: SipMessage; target: Target; bytes: string }> = [];
  const requests: Array<{ req: SipMessage; tx: ServerTransaction | undefined }> = [];
  const layer = createTransactionLayer({
    send: (msg, target) => {
      sent.push({ msg, target, bytes: msg.toBuffer().toString('latin1') });
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

describe('a finished server transaction', () => {
  it('non-INVITE: keeps no message, replays its final as the same bytes until Timer J', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('BYE'), UDP);
    const tx = requests[0]!.tx!;
    expect(tx.request).toBe(requests[0]!.req);
    tx.respond(response(requests[0]!.req, 200));
    expect(tx.state).toBe('completed');
    expect(tx.finalStatus).toBe(200);
    expect(tx.request).toBeUndefined();
    expect(tx.lastResponse).toBeUndefined();
    expect(messagesHeld(tx)).toEqual([]);
    layer.receive(request('BYE'), UDP);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.msg.status).toBe(200);
    expect(sent[1]!.bytes).toBe(sent[0]!.bytes);
    expect(sent[1]!.target).toBe(UDP);
    expect(requests).toHaveLength(1);
    vi.advanceTimersByTime(32_000); // Timer J = 64·T1, unchanged
    expect(tx.state).toBe('terminated');
    layer.close();
  });

  it('INVITE non-2xx: keeps no message, Timer G and a retransmitted INVITE send the final bytes, the ACK confirms', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 486));
    expect(tx.request).toBeUndefined();
    expect(messagesHeld(tx)).toEqual([]);
    vi.advanceTimersByTime(500); // Timer G = T1
    layer.receive(request('INVITE'), UDP);
    const finals = sent.filter((s) => s.msg.status === 486);
    expect(finals).toHaveLength(3);
    expect(new Set(finals.map((s) => s.bytes)).size).toBe(1);
    layer.receive(request('ACK'), UDP);
    expect(tx.state).toBe('confirmed');
    expect(requests).toHaveLength(1);
    layer.close();
  });

  it('INVITE 2xx (Accepted): keeps no message, absorbs the INVITE, passes more 2xx and the ACK', () => {
    const { layer, sent, requests } = harness();
    layer.receive(request('INVITE'), UDP);
    const tx = requests[0]!.tx!;
    const req = requests[0]!.req;
    tx.respond(response(req, 200));
    expect(tx.state).toBe('accepted');
    expect(tx.request).toBeUndefined();
    expect(messagesHeld(tx)).toEqual([]);
    tx.respond(response(req, 200));
    expect(messagesHeld(tx)).toEqual([]);
    layer.receive(request('INVITE'), UDP);
    expect(sent.map((s) => s.msg.status)).toEqual([100, 200, 200]);
    layer.receive(request('ACK'), UDP);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.tx).toBeUndefined();
    layer.close();
  });

  it('a reused branch with other credentials after the final is still a new request', () => {
    const { layer, requests } = harness();
    layer.receive(request('REGISTER', 'z9hG4bK-keep2', ['Authorization: Digest username="a"']), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 401));
    expect(tx.request).toBeUndefined();
    layer.receive(request('REGISTER', 'z9hG4bK-keep2', ['Authorization: Digest username="a"']), UDP);
    expect(requests).toHaveLength(1);
    layer.receive(request('REGISTER', 'z9hG4bK-keep2', ['Authorization: Digest username="b"']), UDP);
    expect(requests).toHaveLength(2);
    expect(tx.state).toBe('terminated');
    layer.close();
  });
});

describe('a finished client transaction', () => {
  it('INVITE non-2xx: keeps no message, re-sends the same ACK bytes for a retransmitted final', () => {
    const { layer, sent } = harness();
    const inv = request('INVITE', 'z9hG4bK-out1');
    const events: number[] = [];
    const tx = layer.createClient(inv, UDP, { onResponse: (r) => events.push(r.status), onTimeout: () => undefined, onTransportError: () => undefined });
    layer.receive(response(inv, 180), UDP);
    expect(tx.provisionalStatus).toBe(180);
    layer.receive(response(inv, 486), UDP);
    expect(tx.state).toBe('completed');
    expect(tx.request).toBeUndefined();
    expect(tx.provisionalStatus).toBe(0);
    expect(messagesHeld(tx)).toEqual([]);
    layer.receive(response(inv, 486), UDP);
    const acks = sent.filter((s) => s.msg.method === 'ACK');
    expect(acks).toHaveLength(2);
    expect(acks[1]!.bytes).toBe(acks[0]!.bytes);
    expect(events).toEqual([180, 486]);
    vi.advanceTimersByTime(32_000); // Timer D
    expect(tx.state).toBe('terminated');
    layer.close();
  });

  it('INVITE 2xx (Accepted): keeps no message and still delivers every 2xx', () => {
    const { layer } = harness();
    const inv = request('INVITE', 'z9hG4bK-out2');
    const events: number[] = [];
    const tx = layer.createClient(inv, UDP, { onResponse: (r) => events.push(r.status), onTimeout: () => undefined, onTransportError: () => undefined });
    layer.receive(response(inv, 200), UDP);
    expect(tx.state).toBe('accepted');
    expect(messagesHeld(tx)).toEqual([]);
    layer.receive(response(inv, 200), UDP);
    expect(events).toEqual([200, 200]);
    expect(messagesHeld(tx)).toEqual([]);
    layer.close();
  });

  it('non-INVITE: keeps no message in Completed', () => {
    const { layer } = harness();
    const bye = request('BYE', 'z9hG4bK-out3');
    const tx = layer.createClient(bye, UDP, { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
    layer.receive(response(bye, 200), UDP);
    expect(tx.state).toBe('completed');
    expect(messagesHeld(tx)).toEqual([]);
    layer.close();
  });
});

describe('a transaction while the call rings', () => {
  /** a layer whose send returns the bytes it sent, as the proxy's does */
  const returning = () => {
    const sent: Array<{ msg: SipMessage; bytes: Buffer }> = [];
    const requests: Array<{ req: SipMessage; tx: ServerTransaction | undefined }> = [];
    const layer = createTransactionLayer({
      send: (msg) => {
        const bytes = msg.toBuffer();
        sent.push({ msg, bytes });
        return bytes;
      },
      onRequest: (req, _source, tx) => requests.push({ req, tx }),
    });
    return { layer, sent, requests };
  };

  it('client INVITE: keeps no message, only the text it sent; retransmits those bytes, builds its CANCEL from them', () => {
    const { layer, sent } = returning();
    const inv = request('INVITE', 'z9hG4bK-ring1');
    const tx = layer.createClient(inv, UDP, { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
    expect(messagesHeld(tx)).toEqual([]);
    const first = sent[0]!.bytes.toString('latin1');
    // a change to the message after it was sent does not reach the wire
    inv.set('Subject', 'changed later');
    vi.advanceTimersByTime(500); // Timer A
    expect(sent).toHaveLength(2);
    expect(sent[1]!.bytes.toString('latin1')).toBe(first);
    expect(tx.request?.toBuffer().toString('latin1')).toBe(first);
    expect(tx.request).not.toBe(inv);
    layer.receive(response(inv, 180), UDP);
    expect(tx.provisionalStatus).toBe(180);
    expect(messagesHeld(tx)).toEqual([]);
    expect(tx.cancel()).toBe(true);
    const cancel = sent.find((s) => s.msg.method === 'CANCEL')!.msg;
    expect(cancel.topVia?.branch).toBe('z9hG4bK-ring1');
    expect(cancel.cseq).toEqual({ seq: inv.cseq!.seq, method: 'CANCEL' });
    expect(cancel.callId).toBe(inv.callId);
    layer.receive(response(inv, 487), UDP);
    const ack = sent.find((s) => s.msg.method === 'ACK')!.msg;
    expect(ack.topVia?.branch).toBe('z9hG4bK-ring1');
    expect(ack.to?.params).toEqual(response(inv, 487).to?.params);
    expect(tx.request).toBeUndefined();
    layer.close();
  });

  it('server INVITE: keeps its request and its last provisional as the text sent, replayed for a retransmitted INVITE', () => {
    const { layer, sent, requests } = returning();
    layer.receive(request('INVITE', 'z9hG4bK-ring2'), UDP);
    const tx = requests[0]!.tx!;
    tx.respond(response(requests[0]!.req, 180));
    expect(messagesHeld(tx)).toEqual(['request']);
    expect(tx.lastResponse?.status).toBe(180);
    const ringing = sent.filter((s) => s.msg.status === 180);
    layer.receive(request('INVITE', 'z9hG4bK-ring2'), UDP);
    const again = sent.filter((s) => s.msg.status === 180);
    expect(again).toHaveLength(2);
    expect(again[1]!.bytes.toString('latin1')).toBe(ringing[0]!.bytes.toString('latin1'));
    tx.respond(response(requests[0]!.req, 486));
    expect(tx.lastResponse).toBeUndefined();
    layer.close();
  });
});

describe('credentialsOf', () => {
  it('is empty without credentials and lists them in order otherwise', () => {
    expect(credentialsOf(request('INVITE'))).toBe('');
    expect(credentialsOf(request('INVITE', 'z9hG4bK-x', ['Proxy-Authorization: Digest b', 'Authorization: Digest a']))).toBe(
      'proxy-authorization:Digest b\nauthorization:Digest a\n',
    );
  });
});

describe('fresh', () => {
  it('copies any text exactly', () => {
    for (const t of ['', 'a', 'z9hG4bK-short', 'z9hG4bK-524287-1---6f8d7a6b5c4d3e2f\nINVITE', 'Bj\u00f6rk <sip:bj\u00f6rk@example.com>', '\u20ac\u{1f600} two-byte text']) {
      expect(fresh(t)).toBe(t);
    }
  });

  it('keeps nothing of the text it was cut from alive', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const kept: string[] = [];
    const cut: string[] = [];
    const before = heap();
    for (let i = 0; i < 20; i++) {
      // a flat 2 MB text, as a received message is one flat string
      const text = `${i}${'x'.repeat(2_000_000)}Call-ID: ${i}-12345@192.0.2.10-abcdefghijkl`.toLowerCase();
      const key = text.slice(2_000_001, 2_000_041);
      cut.push(key);
      kept.push(fresh(key));
    }
    // the slices themselves hold their texts: 40 MB
    expect(heap() - before).toBeGreaterThan(35_000_000);
    cut.length = 0;
    // the copies alone hold almost nothing (20 copies of 40 characters; the rest is the heap's noise)
    expect(heap() - before).toBeLessThan(8_000_000);
    expect(kept[3]).toBe('call-id: 3-12345@192.0.2.10-abcdefghijkl');
  });
});
