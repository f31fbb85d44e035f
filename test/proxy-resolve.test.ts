// Resolving the next hop, as the proxy meets it: at once (an address), later (a DNS answer), not at
// all (an error thrown or a rejected lookup), or with no address (a bug): the request goes on in
// the first two cases, and the caller gets an answer in the others, 503 or 500, never silence or
// an unhandled rejection. Stateful and stateless.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver, type DestinationResolver, type Endpoint, type SipUri } from '@sipfront/core';
import { startCoreProxy, type CoreProxy } from './helpers/core-proxy.js';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { byCall, request, responseTo } from './helpers/sip-text.js';

type Behaviour = 'at-once' | 'later' | 'throws' | 'rejects' | 'no-address';

/** the real resolver, made to answer as the test says */
const resolverFor = (behaviour: () => Behaviour): DestinationResolver => {
  const real = createResolver();
  return {
    resolve(uri: string | SipUri): Endpoint[] | Promise<Endpoint[]> {
      switch (behaviour()) {
        case 'at-once':
          return real.resolve(uri);
        case 'later':
          return new Promise((resolve, reject) => setImmediate(() => Promise.resolve(real.resolve(uri)).then(resolve, reject)));
        case 'throws':
          throw new Error('no such host');
        case 'rejects':
          return Promise.reject(new Error('SERVFAIL'));
        case 'no-address':
          return [];
      }
    },
  };
};

describe.each(['stateful', 'stateless'] as const)('next hop resolution (%s)', (mode) => {
  let sf: CoreProxy;
  let backend: UdpPeer;
  let caller: UdpPeer;
  let behaviour: Behaviour = 'at-once';

  beforeAll(async () => {
    backend = await udpPeer();
    sf = await startCoreProxy({ route: () => ({ action: 'forward', targets: [{ destination: `sip:127.0.0.1:${backend.port}` }] }) }, { mode, resolver: resolverFor(() => behaviour) });
    caller = (await udpPeer()).to(sf.port);
    backend.to(sf.port);
  });
  afterAll(async () => {
    await sf?.close();
    await caller?.close();
    await backend?.close();
  });

  it.each(['at-once', 'later'] as const)('forwards when the destination resolves %s, and relays the answer', async (b) => {
    behaviour = b;
    const inv = request('INVITE', 'sip:bob@example.com', { port: caller.port });
    caller.send(inv);
    const fwd = await backend.next(2000, byCall(inv));
    expect(fwd.method).toBe('INVITE');
    expect(fwd.vias()).toHaveLength(2);
    if (mode === 'stateful') expect(fwd.getAll('record-route')).toHaveLength(1);
    backend.send(responseTo(fwd, 486, 'Busy Here', { toTag: 'b1' }));
    expect((await caller.next(2000, (m) => m.status === 486 && byCall(inv)(m))).cseq?.method).toBe('INVITE');
  });

  // a failed lookup is a 503 of that branch: the stateful proxy answers the caller with its best
  // final answer, which turns a 503 into 500 (RFC 3261 §16.7 step 6); the stateless one sends the 503
  it.each([
    ['throws', mode === 'stateful' ? 500 : 503],
    ['rejects', mode === 'stateful' ? 500 : 503],
    ['no-address', 500],
  ] as const)('answers the caller when resolving %s (%i), and sends nothing on', async (b, status) => {
    behaviour = b;
    const inv = request('INVITE', 'sip:bob@example.com', { port: caller.port });
    caller.send(inv);
    // stateless, a request that cannot go on is answered, not forwarded (no transaction: no 500 for a bug, the 503 of a failed lookup only)
    if (mode === 'stateless' && b === 'no-address') {
      expect(await caller.silence(600, (m) => m.status >= 200 && byCall(inv)(m))).toBe(true);
    } else {
      expect((await caller.next(2000, (m) => m.status >= 200 && byCall(inv)(m))).status).toBe(status);
    }
    expect(await backend.silence(300, byCall(inv))).toBe(true);
  });
});
