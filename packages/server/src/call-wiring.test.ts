import { createEventHub } from '@sipfront/api';
import { parseMessage, type Endpoint } from '@sipfront/core';
import { describe, expect, it } from 'vitest';
import { traceShare, wireCalls } from './call-wiring.js';
import { parseConfigText } from './config/index.js';

const invite = (callId: string): Buffer =>
  Buffer.from(
    [
      'INVITE sip:100@example.com SIP/2.0',
      `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-${callId}`,
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=a1',
      'To: <sip:100@example.com>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      'Contact: <sip:alice@192.0.2.1:5060>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );

const remote: Endpoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };
const local: Endpoint = { transport: 'udp', address: '127.0.0.1', port: 5060 };

describe('the trace budget with workers', () => {
  it('splits trace.calls and trace.max_bytes evenly, rounding calls up', () => {
    const trace = { calls: 2000, maxBytes: 64 * 1024 * 1024, capture: 'all' as const, filter: {} };
    expect(traceShare(trace, 1)).toEqual({ calls: 2000, maxBytes: 64 * 1024 * 1024 });
    expect(traceShare(trace, 2)).toEqual({ calls: 1000, maxBytes: 32 * 1024 * 1024 });
    expect(traceShare(trace, 3)).toEqual({ calls: 667, maxBytes: Math.floor((64 * 1024 * 1024) / 3) });
    expect(traceShare(trace, 0)).toEqual({ calls: 2000, maxBytes: 64 * 1024 * 1024 });
  });

  it('a worker of two keeps half of trace.calls; one process keeps them all', () => {
    const { config } = parseConfigText('trace: { calls: 6, max_bytes: 1MB, capture: all }\n');
    const record = (workers: number): number => {
      const { trace } = wireCalls(config, createEventHub(), workers);
      for (let i = 0; i < 10; i++) {
        const data = invite(`call-${i}`);
        trace.record('in', parseMessage(data), data, remote, local);
      }
      return trace.stats().calls;
    };
    expect(record(1)).toBe(6);
    expect(record(2)).toBe(3);
  });
});
