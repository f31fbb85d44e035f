// Realistic SIP messages shared by the parser's fuzz test, the cross-check against the npm `sip`
// package and the parse benchmark. Each is an array of lines joined with CRLF.

const crlf = (lines: string[]): string => lines.join('\r\n');

const sdp = crlf([
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 198.51.100.10',
  's=-',
  'c=IN IP4 198.51.100.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 9 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
]);

/** An INVITE as a proxy sees it after one hop: two Vias, Record-Route, SDP offer (~900 bytes). */
export const INVITE = crlf([
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK776asdhds-1;rport',
  'Via: SIP/2.0/UDP 198.51.100.10:5060;received=198.51.100.10;branch=z9hG4bKnashds8;rport=5060',
  'Max-Forwards: 69',
  'Record-Route: <sip:203.0.113.5;lr;ftag=1928301774>',
  'To: Bob <sip:bob@example.com>',
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@198.51.100.10:5060;transport=udp>',
  'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE',
  'Supported: replaces, timer, 100rel',
  'Session-Expires: 1800;refresher=uac',
  'Min-SE: 90',
  'User-Agent: ExamplePhone/4.2.1',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(sdp)}`,
  '',
  sdp,
]);

export const REGISTER = crlf([
  'REGISTER sip:registrar.example.com SIP/2.0',
  'Via: SIP/2.0/TCP 192.0.2.33:49152;branch=z9hG4bKnashds7;rport',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@example.com>',
  'From: Bob <sip:bob@example.com>;tag=456248',
  'Call-ID: 843817637684230@998sdasdh09',
  'CSeq: 1826 REGISTER',
  'Contact: <sip:bob@192.0.2.33:49152;transport=tcp>;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"',
  'Authorization: Digest username="bob", realm="example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:registrar.example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5',
  'Expires: 3600',
  'Supported: path, outbound, gruu',
  'User-Agent: ExamplePhone/4.2.1',
  'Content-Length: 0',
  '',
  '',
]);

export const OK_200 = crlf([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK776asdhds-1;rport=5060;received=203.0.113.5',
  'Via: SIP/2.0/UDP 198.51.100.10:5060;received=198.51.100.10;branch=z9hG4bKnashds8;rport=5060',
  'Record-Route: <sip:203.0.113.5;lr;ftag=1928301774>',
  'To: Bob <sip:bob@example.com>;tag=a6c85cf',
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:bob@192.0.2.4:5060>',
  'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE',
  'Supported: replaces, timer',
  'Server: ExampleAsterisk/20',
  'Content-Length: 0',
  '',
  '',
]);

/** The fields the cross-check compares, per message. */
export const SAMPLES: ReadonlyArray<{ name: string; text: string }> = [
  { name: 'INVITE', text: INVITE },
  { name: 'REGISTER', text: REGISTER },
  { name: '200 OK', text: OK_200 },
];
