import { describe, expect, it } from 'vitest';
import { parseUri } from '../message/uri.js';
import { LocalAddresses } from './local.js';
import type { ListenerInfo } from '../transport/types.js';

const udp: ListenerInfo = { id: 'u', transport: 'udp', host: '192.0.2.10', port: 5060, family: 4 };
const tls: ListenerInfo = { id: 't', transport: 'tls', host: '192.0.2.10', port: 5061, family: 4 };

describe('LocalAddresses', () => {
  it('names sipfront by a listener host or an extra or advertised name, case-insensitively, on a port it listens on', () => {
    const local = new LocalAddresses([udp, tls], 'SIP.Example.com', ['proxy.example.net']);
    expect(local.isLocal('192.0.2.10', 5060)).toBe(true);
    expect(local.isLocal('192.0.2.10', undefined)).toBe(true); // 5060 by default over UDP
    expect(local.isLocal('192.0.2.10', undefined, 'tls')).toBe(true); // 5061 over TLS
    expect(local.isLocal('192.0.2.10', 5080)).toBe(false);
    expect(local.isLocal('sip.example.com', 5061)).toBe(true);
    expect(local.isLocal('SIP.EXAMPLE.COM', 5060)).toBe(true);
    expect(local.isLocal('Proxy.Example.Net', 5060)).toBe(true);
    expect(local.isLocal('other.example.com', 5060)).toBe(false);
    expect(local.isLocalUri(parseUri('sip:alice@sip.example.com'))).toBe(true);
    expect(local.isLocalUri(parseUri('sips:alice@sip.example.com'))).toBe(true);
    expect(local.isLocalUri(parseUri('sip:alice@sip.example.com:5070'))).toBe(false);
    expect(local.isLocalUri(parseUri('tel:+15551234'))).toBe(false);
  });

  it('a name without a listener is no address of ours; update replaces what was known', () => {
    const local = new LocalAddresses([], 'sip.example.com');
    expect(local.isLocal('sip.example.com', 5060)).toBe(false);
    local.update([udp], ['alias.example.com']);
    expect(local.isLocal('sip.example.com', 5060)).toBe(true);
    expect(local.isLocal('alias.example.com', 5060)).toBe(true);
    local.update([{ ...udp, port: 5080 }]);
    expect(local.isLocal('alias.example.com', 5080)).toBe(false);
    expect(local.isLocal('192.0.2.10', 5060)).toBe(false);
    expect(local.isLocal('192.0.2.10', 5080)).toBe(true);
  });
});
