import { describe, expect, it } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { SipMessage } from '../message/message.js';
import { isSipUri, parseUri, type SipUri } from '../message/uri.js';
import { createDialogToken } from './dialog-token.js';

const req = (method: string, callId: string, fromTag: string, toTag?: string): SipMessage =>
  parseMessage(Buffer.from([
    `${method} sip:bob@example.com SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-t1',
    'Max-Forwards: 70',
    `From: <sip:alice@example.com>;tag=${fromTag}`,
    `To: <sip:bob@example.com>${toTag === undefined ? '' : `;tag=${toTag}`}`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')));

/** our Record-Route URI with the token param() made */
const ours = (param: string): SipUri => {
  const u = parseUri(`sip:192.0.2.1:5060;lr${param}`);
  if (!isSipUri(u)) throw new Error('not a sip URI');
  return u;
};

describe('dialog token (;sf= in our Record-Route)', () => {
  it('fits the in-dialog requests of its dialog, from either side, and no other', () => {
    const dt = createDialogToken('secret-one');
    const uri = ours(dt.param(req('INVITE', 'call-a@h', 'caller')));
    expect(dt.verify(req('ACK', 'call-a@h', 'caller', 'callee'), uri)).toBe(true);
    // the callee's BYE: the caller's tag is in To
    expect(dt.verify(req('BYE', 'call-a@h', 'callee', 'caller'), uri)).toBe(true);
    expect(dt.verify(req('BYE', 'call-b@h', 'caller', 'callee'), uri)).toBe(false);
    expect(dt.verify(req('BYE', 'call-a@h', 'other', 'callee'), uri)).toBe(false);
    // a prefix of the Call-ID, or the tag moved into it, is another dialog
    expect(dt.verify(req('BYE', 'call-a@', 'caller', 'x'), uri)).toBe(false);
    expect(dt.verify(req('BYE', 'call-a@hcaller', 'zz', 'x'), uri)).toBe(false);
    expect(dt.verify(req('BYE', 'call-a@h', 'caller', 'x'), undefined)).toBe(false);
    expect(dt.verify(req('BYE', 'call-a@h', 'caller', 'x'), ours(''))).toBe(false);
  });

  it('refuses a token another secret made, or one altered by a character', () => {
    const a = createDialogToken('secret-one');
    const b = createDialogToken('secret-two');
    const p = b.param(req('INVITE', 'call-c@h', 'caller'));
    expect(a.verify(req('ACK', 'call-c@h', 'caller', 'callee'), ours(p))).toBe(false);
    const good = a.param(req('INVITE', 'call-c@h', 'caller'));
    const last = good.at(-1) === 'A' ? 'B' : 'A';
    expect(a.verify(req('ACK', 'call-c@h', 'caller', 'callee'), ours(good.slice(0, -1) + last))).toBe(false);
  });

  it('verifies a token made long before (past the recent ones it remembers) and one from another instance with the secret', () => {
    const dt = createDialogToken('secret-one');
    const first = dt.param(req('INVITE', 'call-old@h', 'caller'));
    for (let i = 0; i < 5000; i++) dt.param(req('INVITE', `call-${i}@h`, 'caller'));
    expect(dt.verify(req('BYE', 'call-old@h', 'caller', 'callee'), ours(first))).toBe(true);
    expect(dt.verify(req('BYE', 'call-old@h', 'callee', 'caller'), ours(first))).toBe(true);
    expect(dt.verify(req('BYE', 'call-old@h', 'callee', 'other'), ours(first))).toBe(false);
    const twin = createDialogToken('secret-one');
    expect(twin.verify(req('BYE', 'call-4999@h', 'caller', 'callee'), ours(dt.param(req('INVITE', 'call-4999@h', 'caller'))))).toBe(true);
  });
});
