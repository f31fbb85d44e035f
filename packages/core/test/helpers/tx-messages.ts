// Requests and responses for the transaction layer's unit tests: a UDP request from
// 192.0.2.10:5060 with the given branch, and a response to it that copies what a UAS copies.
import { parseMessage } from '../../src/message/parser.js';
import type { SipMessage } from '../../src/message/message.js';

export interface TxRequestOptions {
  /** extra header lines */
  extra?: string[];
  /** the CSeq method, when not the request's (an ACK for the INVITE's transaction has 'ACK') */
  cseqMethod?: string;
  callId?: string;
}

export const txRequest = (method: string, branch: string, o: TxRequestOptions = {}): SipMessage =>
  parseMessage(Buffer.from([
    `${method} sip:bob@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=${branch}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=f1',
    'To: <sip:bob@example.com>',
    `Call-ID: ${o.callId ?? `tx-${branch}@192.0.2.10`}`,
    `CSeq: 1 ${o.cseqMethod ?? method}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')));

/** a response to `req`: its Via, From, Call-ID and CSeq, its To with `toTag` (none on a 100) */
export const txResponse = (req: SipMessage, status: number, toTag = 't1'): SipMessage => {
  const lines = [`SIP/2.0 ${status} Whatever`];
  for (const h of req.headers) {
    if (h.key === 'via' || h.key === 'from' || h.key === 'call-id' || h.key === 'cseq') lines.push(`${h.name}: ${h.value}`);
    if (h.key === 'to') lines.push(status === 100 ? `To: ${h.value}` : `To: ${h.value};tag=${toTag}`);
  }
  lines.push('Content-Length: 0', '', '');
  return parseMessage(Buffer.from(lines.join('\r\n')));
};
