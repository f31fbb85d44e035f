// The sipp scenarios and helpers, checked without sipfront: caller straight against backend.
// The same scenarios run through the proxy in the integration tests, so they must also work
// without any Record-Route (empty [routes], ACK and BYE straight to the callee's Contact).

import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { recvCount, runSipp, sentCount, startSippUas, type SippUas } from './helpers/sipp.js';
import { withTimeout } from './helpers/wait.js';

/** Sends one OPTIONS over UDP and resolves with the status line of the answer. */
async function options(port: number, n: number): Promise<string> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const local = socket.address().port;
    const request = [
      `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe-${n}`,
      `From: <sip:probe@127.0.0.1:${local}>;tag=probe${n}`,
      `To: <sip:127.0.0.1:${port}>`,
      `Call-ID: probe-${n}-${local}@127.0.0.1`,
      'CSeq: 1 OPTIONS',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const answer = new Promise<string>((resolve) =>
      socket.once('message', (message) => resolve(message.toString('utf8').split('\r\n')[0] ?? '')),
    );
    socket.send(request, port, '127.0.0.1');
    return await withTimeout(answer, 2000, `OPTIONS to 127.0.0.1:${port}`);
  } finally {
    socket.close();
  }
}

describe('sipp scenarios without a proxy', () => {
  let backend: SippUas | undefined;

  afterEach(async () => {
    await backend?.stop();
    backend = undefined;
  });

  it('uac.xml completes 20 calls against uas.xml; OPTIONS probes are answered and not counted', async () => {
    backend = await startSippUas({ scenario: 'uas.xml' });
    for (let n = 0; n < 3; n++) expect(await options(backend.port, n)).toBe('SIP/2.0 200 OK');
    const caller = await runSipp({
      scenario: 'uac.xml',
      remote: backend.address,
      calls: 20,
      rate: 10,
      callDurationMs: 100,
    });
    expect(caller.errors).toBe('');
    expect({ code: caller.code, successful: caller.successful, failed: caller.failed }).toEqual({
      code: 0,
      successful: 20,
      failed: 0,
    });
    expect(await backend.invites()).toBe(20);
    const result = await backend.stop();
    expect(recvCount(result.counts, 'INVITE')).toBe(20);
    expect(recvCount(result.counts, 'BYE')).toBe(20);
    expect(recvCount(result.counts, 'OPTIONS')).toBe(3);
    expect(result.failed).toBe(0);
  });

  it('uac-fail.xml sees the 486 of uas-486.xml and ACKs it', async () => {
    backend = await startSippUas({ scenario: 'uas-486.xml' });
    const caller = await runSipp({ scenario: 'uac-fail.xml', remote: backend.address, calls: 1 });
    expect({ code: caller.code, successful: caller.successful, failed: caller.failed }).toEqual({
      code: 0,
      successful: 1,
      failed: 0,
    });
    expect(recvCount(caller.counts, '486')).toBe(1);
    expect(sentCount(caller.counts, 'ACK')).toBe(1);
    const result = await backend.stop();
    expect(recvCount(result.counts, 'ACK')).toBe(1);
    expect(result.failed).toBe(0);
  });

  it('uac-cancel.xml cancels a call that uas-noanswer.xml never answers', async () => {
    backend = await startSippUas({ scenario: 'uas-noanswer.xml' });
    const caller = await runSipp({
      scenario: 'uac-cancel.xml',
      remote: backend.address,
      calls: 2,
      callDurationMs: 200,
    });
    expect({ code: caller.code, successful: caller.successful, failed: caller.failed }).toEqual({
      code: 0,
      successful: 2,
      failed: 0,
    });
    expect(recvCount(caller.counts, '487')).toBe(2);
    const result = await backend.stop();
    expect(recvCount(result.counts, 'CANCEL')).toBe(2);
    expect(recvCount(result.counts, 'ACK')).toBe(2);
  });
});
