import { describe, expect, it } from 'vitest';
import { createResolver } from './resolve.js';

describe('destination resolver', () => {
  const r = createResolver();

  it('resolves literal addresses synchronously with the transport the URI names', () => {
    expect(r.resolve('sip:127.0.0.1:5080')).toEqual([{ transport: 'udp', address: '127.0.0.1', port: 5080 }]);
    expect(r.resolve('sip:[::1];transport=tcp')).toEqual([{ transport: 'tcp', address: '::1', port: 5060 }]);
    expect(r.resolve('sips:127.0.0.1')).toEqual([{ transport: 'tls', address: '127.0.0.1', port: 5061 }]);
  });

  it('resolves a host name the system knows (/etc/hosts) when DNS does not', async () => {
    const got = await r.resolve('sip:localhost:5090');
    expect(got.some((e) => e.port === 5090 && (e.address === '127.0.0.1' || e.address === '::1'))).toBe(true);
  });

  it('refuses what is not a SIP URI or names an unknown transport', () => {
    expect(() => r.resolve('tel:+123')).toThrow();
    expect(() => r.resolve('sip:127.0.0.1;transport=sctp')).toThrow();
  });
});
