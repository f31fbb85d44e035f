// `pnpm bench:parse`: what placing a datagram costs (transport/affinity.ts), for an INVITE, a 200
// and 64 KB built to be expensive (the scan's bound keeps it near a short message's cost).
import { bench, describe } from 'vitest';
import { datagramOwner } from './affinity.js';

const invite = Buffer.from(
  [
    'INVITE sip:100@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1;rport',
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:100@example.com>',
    'Call-ID: 9f1c2b7e-4d3a-11ef-8a1b-0242ac120002@192.0.2.1',
    'CSeq: 1 INVITE',
    'Contact: <sip:a@192.0.2.1:5060>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);
const ok = Buffer.from(
  ['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsf0123abcd.w1-aa11f2', 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1;rport=5060', 'Call-ID: x@y', '', ''].join('\r\n'),
  'latin1',
);
const junk = Buffer.from(`SIP/2.0 200 OK\r\nVia: ${';branch'.repeat(9000)}\r\n\r\n`, 'latin1');

describe('datagramOwner', () => {
  bench('INVITE (Call-ID)', () => {
    datagramOwner(invite, 2);
  });
  bench('200 OK (branch)', () => {
    datagramOwner(ok, 2);
  });
  bench('64 KB of ;branch', () => {
    datagramOwner(junk, 2);
  });
});
