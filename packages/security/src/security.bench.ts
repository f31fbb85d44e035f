// The cost check() adds to every request, against parsing the same request (the least the
// proxy does per message). Run: npx vitest bench --run packages/security
import { bench, describe } from 'vitest';
import type { Endpoint } from '@sipfront/core';
import { parseMessage } from '@sipfront/core';
import { createMemoryBanStore } from './memory-ban-store.js';
import { createSecurity } from './security.js';

const invite = (i: number): Buffer =>
  Buffer.from(
    [
      'INVITE sip:1002@example.com SIP/2.0',
      `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-bench-${i};rport`,
      'Max-Forwards: 70',
      'From: "Alice" <sip:1001@example.com>;tag=9fxced76sl',
      'To: <sip:1002@example.com>',
      `Call-ID: bench-${i}@192.0.2.1`,
      'CSeq: 1 INVITE',
      'Contact: <sip:1001@192.0.2.1:5060>',
      'User-Agent: Linphone Desktop/5.2.6 (Ubuntu 22.04.4 LTS) LinphoneSDK/5.3.72',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );

const messages = Array.from({ length: 1024 }, (_, i) => invite(i));
const parsed = messages.map((b) => parseMessage(b));
for (const m of parsed) void m.topVia; // the proxy parses the top Via anyway
const sources: Endpoint[] = Array.from({ length: 64 }, (_, i) => ({ transport: 'udp', address: `198.51.100.${i}`, port: 5060 }));

// limits far above the bench's rate: this measures the pass path, as for normal traffic
const security = createSecurity(
  { bans: createMemoryBanStore() },
  {
    trusted: ['10.0.0.0/8'],
    flood: { window: 2000, max: 1_000_000_000, ban: 300_000 },
    authFailures: { max: 5, window: 60_000, ban: 3_600_000 },
    blockUserAgents: ['friendly-scanner', 'sipvicious', 'sipcli'],
    banReply: 'drop',
  },
);
security.ban('203.0.113.1', 3600);

let i = 0;
// keeps results alive so the engine cannot drop the measured work
// eslint-disable-next-line @typescript-eslint/no-unused-vars
let sink: unknown;

describe('security.check per request', () => {
  bench('parseMessage alone (reference)', () => {
    sink = parseMessage(messages[i++ & 1023]!);
  });
  bench('check(): new transaction, known source', () => {
    const k = i++;
    sink = security.check(parsed[k & 1023]!, sources[k & 63]!);
  });
});
