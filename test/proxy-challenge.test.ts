// A next hop that challenges (a provider's 407 on a call out through a trunk): the proxy sends
// the INVITE again with credentials and CSeq + 1, and keeps the dialog's later requests raised
// by the same step towards the provider while the caller sees its own numbers (contract).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreProxy, type CoreProxy } from './helpers/core-proxy.js';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';

describe('answering a next hop challenge', () => {
  let sf: CoreProxy;
  let provider: UdpPeer;
  let caller: UdpPeer;
  let port: number;
  const challenged: string[] = [];

  beforeAll(async () => {
    provider = await udpPeer();
    sf = await startCoreProxy({
      route: () => ({
        action: 'forward',
        targets: [{
          destination: `sip:127.0.0.1:${provider.port}`,
          onChallenge: (res, sent) => {
            challenged.push(`${res.status} ${sent.get('cseq')!}`);
            return [['Proxy-Authorization', 'Digest username="200200", realm="provider", nonce="n", uri="sip:x", response="r"']];
          },
        }],
      }),
    });
    port = sf.port;
    caller = (await udpPeer()).to(port);
    provider.to(port);
  });
  afterAll(async () => {
    await sf?.close();
    await caller?.close();
    await provider?.close();
  });

  it('resends with credentials and CSeq + 1, and shifts the dialog towards the provider only', async () => {
    const inv = request('INVITE', 'sip:0049301234@provider.example', { port: caller.port, cseq: 1 });
    const byCall = (m: { callId: string | undefined }) => m.callId === callIdOf(inv);
    caller.send(inv);
    const first = await provider.next(2000, (m) => m.method === 'INVITE' && byCall(m));
    expect(first.cseq?.seq).toBe(1);
    provider.send(responseTo(first, 407, 'Proxy Authentication Required', { toTag: 'p1', extra: ['Proxy-Authenticate: Digest realm="provider", nonce="n"'] }));
    // the 407 is ACKed hop by hop and never reaches the caller
    await provider.next(2000, (m) => m.method === 'ACK' && byCall(m) && m.cseq?.seq === 1);
    const second = await provider.next(2000, (m) => m.method === 'INVITE' && byCall(m) && m.cseq?.seq === 2);
    expect(second.get('proxy-authorization')).toContain('username="200200"');
    expect(second.topVia?.branch).not.toBe(first.topVia?.branch);
    expect(challenged).toEqual(['407 1 INVITE']);
    const twoHundred = responseTo(second, 200, 'OK', { toTag: 'p2', contact: `<sip:gw@127.0.0.1:${provider.port}>` });
    provider.send(twoHundred);
    const ok = await caller.next(2000, (m) => m.status === 200 && byCall(m));
    expect(ok.get('cseq')).toBe('1 INVITE');
    expect(caller.received.some((m) => m.status === 407)).toBe(false);
    // the provider retransmits its 2xx (RFC 6026 Accepted, after the call's state was let go):
    // it still reaches the caller with the caller's own numbers
    provider.send(twoHundred);
    const again = await caller.next(2000, (m) => m.status === 200 && byCall(m) && m !== ok);
    expect(again.get('cseq')).toBe('1 INVITE');
    expect(again.get('from')).toBe(ok.get('from'));
    expect(again.vias()).toHaveLength(1);

    const inDialog = (method: string, cseq: number) =>
      request(method, `sip:gw@127.0.0.1:${provider.port}`, {
        port: caller.port, callId: callIdOf(inv), fromTag: ok.fromTag!, toTag: 'p2', cseq,
        extra: ok.list('record-route').map((r) => `Route: ${r.value}`).reverse(),
      });
    caller.send(inDialog('ACK', 1));
    expect((await provider.next(2000, (m) => m.method === 'ACK' && byCall(m) && m.toTag === 'p2')).cseq?.seq).toBe(2);
    caller.send(inDialog('BYE', 2));
    const bye = await provider.next(2000, (m) => m.method === 'BYE' && byCall(m));
    expect(bye.cseq?.seq).toBe(3);
    provider.send(responseTo(bye, 200, 'OK'));
    const byeOk = await caller.next(2000, (m) => m.status === 200 && m.cseq?.method === 'BYE' && byCall(m));
    expect(byeOk.cseq?.seq).toBe(2);
  });
});
