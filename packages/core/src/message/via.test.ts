import { describe, expect, it } from 'vitest';
import { MAGIC_COOKIE, formatVia, parseVia } from './via.js';

describe('parseVia', () => {
  it('reads protocol, transport, host, port and parameters', () => {
    expect(parseVia('SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1')).toEqual({
      protocol: 'SIP/2.0',
      transport: 'UDP',
      host: 'pc33.atlanta.example.com',
      ipv6: false,
      port: 5066,
      params: [['branch', 'z9hG4bK776asdhds'], ['rport', null], ['received', '192.0.2.1']],
      branch: 'z9hG4bK776asdhds',
    });
  });

  it('takes LWS between every element and any case (RFC 4475 wsinv)', () => {
    expect(parseVia('SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw')).toMatchObject({ protocol: 'SIP/2.0', transport: 'UDP', host: '192.0.2.2' });
    expect(parseVia('sip/2.0/tcp spindle.example.com   ; branch  =   z9hG4bK9ikj8')).toMatchObject({ protocol: 'SIP/2.0', transport: 'TCP', branch: 'z9hG4bK9ikj8' });
    expect(parseVia('SIP/2.0/UDP host : 5060 ;branch=x')).toMatchObject({ host: 'host', port: 5060 });
    expect(parseVia('SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKx')?.transport).toBe('WSS');
  });

  it('keeps another version as written (answered 505 by the parser)', () => {
    expect(parseVia('SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw')?.protocol).toBe('SIP/7.0');
  });

  it('reads IPv6 sent-by, with port after the bracket (RFC 5118)', () => {
    expect(parseVia('SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111')).toMatchObject({ host: '2001:db8::9:1', ipv6: true, port: 6050 });
    expect(parseVia('SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19')).toMatchObject({ host: '::ffff:192.0.2.10', port: 19823 });
    expect(parseVia('SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111')?.params[0]).toEqual(['received', '[2001:db8::9:255]']);
  });

  it('keeps a branch that is only the magic cookie, and none at all (RFC 2543 peers)', () => {
    expect(parseVia('SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK')?.branch).toBe(MAGIC_COOKIE);
    expect(parseVia('SIP/2.0/UDP iftgw.example.com')?.branch).toBeUndefined();
  });

  it('refuses malformed values', () => {
    for (const bad of [
      '', 'SIP/2.0/UDP', 'SIP/2.0/UDP ', 'SIP/2.0 UDP host', 'SIP/2.0/UDPhost', 'SIP/2.0/UDP host;branch', 'SIP/2.0/UDP host;;',
      'SIP/2.0/UDP 192.0.2.15;;,;,,', 'SIP/2.0/UDP host:', 'SIP/2.0/UDP host:70000', 'SIP/2.0/UDP host:123456', 'SIP/2.0/UDP host junk',
      'SIP/2.0/UDP [2001:db8::1', 'SIP/2.0/UDP [zz::1]', 'SIP/2.0/UDP [::::]', 'SIP/2.0/UDP 2001:db8::1', 'SIP//UDP host', '/2.0/UDP host',
      'SIP/2.0/UDP h\u00e9st',
    ]) {
      expect(parseVia(bad), bad).toBeUndefined();
    }
  });

  it('formatVia writes what parseVia read', () => {
    for (const v of ['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport', 'SIP/2.0/TLS [2001:db8::1];branch=z9hG4bKy', 'SIP/2.0/TCP h']) {
      expect(formatVia(parseVia(v)!)).toBe(v);
    }
  });
});
