// Framing cost per message: whole messages in one read (the common case, zero-copy) and a
// stream cut into MTU-sized segments (messages straddle reads and are copied once).

import { bench, describe } from 'vitest';
import { StreamFramer } from './stream-framer.js';

const body = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const invite = Buffer.from(
  [
    'INVITE sip:1001@example.com SIP/2.0',
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    'To: <sip:1001@example.com>',
    'From: <sip:1002@example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:1002@192.0.2.1:5060;transport=tcp>',
    'Content-Type: application/sdp',
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n'),
  'latin1',
);
const stream = Buffer.concat(new Array<Buffer>(1000).fill(invite));
const segments: Buffer[] = [];
for (let i = 0; i < stream.length; i += 1448) segments.push(stream.subarray(i, i + 1448));

let count = 0;
const sink = { message: (): void => void count++, ping: (): void => {}, fail: (): void => {} };
const limits = { maxMessageSize: 65535, maxBuffered: 131070 };

describe('StreamFramer, 1000 INVITEs', () => {
  bench('one message per read', () => {
    const f = new StreamFramer(limits, sink);
    for (let i = 0; i < 1000; i++) f.push(invite);
  });
  bench('1448-byte segments', () => {
    const f = new StreamFramer(limits, sink);
    for (const s of segments) f.push(s);
  });
});
