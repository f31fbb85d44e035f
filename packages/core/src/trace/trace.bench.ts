// What the call trace costs per call, recording alone: the fifteen records of a proxied call
// (INVITE/100/180/200/ACK/BYE/200 each in and out, the 100 to the caller, the backend's 100),
// the calls overlapping as the load bench makes them (no hold: a call lasts about a millisecond
// on loopback, so its messages meet those of the next one or two), against the trace's default
// budget (2,000 calls, 64 MB). One op is one call. The messages are parsed beforehand, tens of
// megabytes of them: their reads miss the cache here where the proxy's, just parsed, hit it.
// Run: npx vitest bench --run packages/core/src/trace
import { bench, describe } from 'vitest';
import type { SipMessage } from '../message/message.js';
import { parseMessage } from '../message/parser.js';
import type { Endpoint } from '../transport/types.js';
import { createCallTrace } from './trace.js';

const caller: Endpoint = { transport: 'udp', address: '127.0.0.1', port: 5061 };
const local: Endpoint = { transport: 'udp', address: '127.0.0.1', port: 5060 };
const backends: Endpoint[] = [
  { transport: 'udp', address: '127.0.0.1', port: 5070 },
  { transport: 'udp', address: '127.0.0.1', port: 5071 },
];

const CALLS = 4096;

interface Rec {
  dir: 'in' | 'out';
  msg: SipMessage;
  data: Buffer;
  remote: Endpoint;
}

const sdp = ['v=0', 'o=user1 53655765 2353687637 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

const text = (lines: string[], body = ''): Buffer => Buffer.from([...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));

/** one call's messages as they cross the proxy: [time, record] */
const callRecords = (i: number): Array<[number, Rec]> => {
  const id = `${i}-4242@127.0.0.1`;
  const backend = backends[i & 1]!;
  const vCaller = `Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-${i}-1-0`;
  const vProxy = `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.sf${i.toString(36)}a.0`;
  const rr = 'Record-Route: <sip:127.0.0.1:5060;lr>';
  const from = `From: sipp <sip:sipp@127.0.0.1:5061>;tag=${i}SIPpTag00`;
  const to = 'To: <sip:service@127.0.0.1:5060>';
  const toTag = `${to};tag=${i}SIPpTag01`;
  const ruri = 'sip:service@127.0.0.1:5060';
  const req = (method: string, cseq: number, vias: string[], extra: string[], body = ''): Buffer =>
    text([`${method} ${ruri} SIP/2.0`, ...vias, 'Max-Forwards: 70', from, method === 'INVITE' ? to : toTag, `Call-ID: ${id}`, `CSeq: ${cseq} ${method}`, ...extra], body);
  const res = (status: string, cseq: string, vias: string[], tagged: boolean, extra: string[], body = ''): Buffer =>
    text([`SIP/2.0 ${status}`, ...vias, from, tagged ? toTag : to, `Call-ID: ${id}`, `CSeq: ${cseq}`, ...extra], body);
  const contact = 'Contact: <sip:sipp@127.0.0.1:5061>';
  const inviteIn = req('INVITE', 1, [vCaller], [contact, 'Content-Type: application/sdp'], sdp);
  const inviteOut = req('INVITE', 1, [vProxy, vCaller], [rr, contact, 'Content-Type: application/sdp'], sdp);
  const both = (t: number, a: Buffer, aFrom: Endpoint, b: Buffer, bTo: Endpoint): Array<[number, Rec]> => [
    [t, { dir: 'in', msg: parseMessage(a), data: a, remote: aFrom }],
    [t + 0.01, { dir: 'out', msg: parseMessage(b), data: b, remote: bTo }],
  ];
  const t = i;
  const trying = res('100 Trying', '1 INVITE', [vCaller], false, []);
  const tryingB = res('100 Trying', '1 INVITE', [vProxy, vCaller], false, []);
  const bcontact = `Contact: <sip:service@${backend.address}:${backend.port}>`;
  return [
    ...both(t, inviteIn, caller, inviteOut, backend),
    [t + 0.02, { dir: 'out', msg: parseMessage(trying), data: trying, remote: caller }],
    [t + 0.05, { dir: 'in', msg: parseMessage(tryingB), data: tryingB, remote: backend }],
    ...both(t + 0.3, res('180 Ringing', '1 INVITE', [vProxy, vCaller], true, [rr, bcontact]), backend, res('180 Ringing', '1 INVITE', [vCaller], true, [rr, bcontact]), caller),
    ...both(t + 0.6, res('200 OK', '1 INVITE', [vProxy, vCaller], true, [rr, bcontact, 'Content-Type: application/sdp'], sdp), backend, res('200 OK', '1 INVITE', [vCaller], true, [rr, bcontact, 'Content-Type: application/sdp'], sdp), caller),
    ...both(t + 0.9, req('ACK', 1, [vCaller], ['Route: <sip:127.0.0.1:5060;lr>']), caller, req('ACK', 1, [vProxy, vCaller], []), backend),
    ...both(t + 1.2, req('BYE', 2, [vCaller], ['Route: <sip:127.0.0.1:5060;lr>']), caller, req('BYE', 2, [vProxy, vCaller], []), backend),
    ...both(t + 1.5, res('200 OK', '2 BYE', [vProxy, vCaller], true, []), backend, res('200 OK', '2 BYE', [vCaller], true, []), caller),
  ];
};

const sequence: Rec[] = Array.from({ length: CALLS }, (_, i) => callRecords(i))
  .flat()
  .sort((a, b) => a[0] - b[0])
  .map(([, r]) => r);
// the proxy has read each message's Call-ID before the trace sees it
for (const r of sequence) void r.msg.callId;
const PER_CALL = sequence.length / CALLS;

const trace = createCallTrace({ calls: 2000, maxBytes: 64 * 1024 * 1024, capture: 'all' });
let k = 0;
// the trace first at its steady state: full, the oldest calls leaving
for (let n = 0; n < 3 * sequence.length; n++) {
  const r = sequence[k]!;
  trace.record(r.dir, r.msg, r.data, r.remote, local);
  k = (k + 1) % sequence.length;
}

describe('call trace, per call (15 records)', () => {
  bench('record()', () => {
    for (let n = 0; n < PER_CALL; n++) {
      const r = sequence[k]!;
      trace.record(r.dir, r.msg, r.data, r.remote, local);
      if (++k === sequence.length) k = 0;
    }
  });
});
