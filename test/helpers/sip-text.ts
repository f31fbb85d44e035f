// Builders for SIP test messages (arrays of lines joined with CRLF).
import type { SipMessage } from '@sipfront/core';
import { sipText } from './sip-client.js';

let n = 0;
export const uniq = (): string => `${process.pid}-${++n}-${Date.now().toString(36)}`;

/** A response a UAS sends to `req`: its Vias, From, To (+tag), Call-ID, CSeq; Record-Route copied. */
export const responseTo = (req: SipMessage, status: number, reason: string, opts: { toTag?: string; extra?: string[]; body?: string; contact?: string } = {}): string => {
  const to = req.toTag === undefined && status > 100 ? `${req.get('to')!};tag=${opts.toTag ?? 'uas-tag'}` : req.get('to')!;
  return sipText(
    [
      `SIP/2.0 ${status} ${reason}`,
      ...req.getAll('via').map((v) => `Via: ${v}`),
      ...(status < 300 && status > 100 ? req.getAll('record-route').map((r) => `Record-Route: ${r}`) : []),
      `From: ${req.get('from')!}`,
      `To: ${to}`,
      `Call-ID: ${req.callId!}`,
      `CSeq: ${req.get('cseq')!}`,
      ...(opts.contact !== undefined ? [`Contact: ${opts.contact}`] : []),
      ...(opts.extra ?? []),
    ],
    opts.body ?? '',
  );
};

export interface RequestOpts {
  transport?: 'udp' | 'tcp';
  port: number;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  cseq?: number;
  branch?: string;
  extra?: string[];
  body?: string;
  to?: string;
  maxForwards?: number;
}

/** A request from a UAC on 127.0.0.1:port */
export const request = (method: string, ruri: string, o: RequestOpts): string => {
  const id = uniq();
  return sipText(
    [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/${(o.transport ?? 'udp').toUpperCase()} 127.0.0.1:${o.port};branch=${o.branch ?? `z9hG4bK-${id}`};rport`,
      `Max-Forwards: ${o.maxForwards ?? 70}`,
      `From: <sip:alice@127.0.0.1>;tag=${o.fromTag ?? `a-${id}`}`,
      `To: ${o.to ?? '<sip:bob@example.com>'}${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
      `Call-ID: ${o.callId ?? `call-${id}`}`,
      `CSeq: ${o.cseq ?? 1} ${method}`,
      `Contact: <sip:alice@127.0.0.1:${o.port}${o.transport === 'tcp' ? ';transport=tcp' : ''}>`,
      ...(o.extra ?? []),
    ],
    o.body ?? '',
  );
};

export const callIdOf = (text: string): string => /^Call-ID: (.*)$/m.exec(text)![1]!;
/** a predicate: the message belongs to the call of the request text `text` */
export const byCall = (text: string) => {
  const id = callIdOf(text);
  return (m: { callId: string | undefined }): boolean => m.callId === id;
};
export const branchOf = (text: string): string => /branch=([^;\r\n]+)/.exec(text)![1]!;
