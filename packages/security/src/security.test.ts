import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Endpoint, SipMessage } from '@sipfront/core';
import { parseMessage } from '@sipfront/core';
import type { Ban, BanStore, BanStoreEvent } from './ban.js';
import { createMemoryBanStore } from './memory-ban-store.js';
import type { Security, SecurityDeps, SecurityOptions } from './security.js';
import { createSecurity } from './security.js';
import { isSecurityError } from './errors.js';

const T0 = 1_700_000_000_000;

const OPTIONS: SecurityOptions = {
  trusted: ['10.0.0.0/24', '2001:db8:aaaa::/48'],
  flood: { window: 1000, max: 5, ban: 10_000 },
  authFailures: { max: 3, window: 60_000, ban: 3_600_000 },
  blockUserAgents: ['friendly-scanner', 'sipvicious', 'sipcli'],
  banReply: 'drop',
};

const udp = (address: string, port = 5060): Endpoint => ({ transport: 'udp', address, port });

let seq = 0;
const request = (o: { method?: string; branch?: string | null; callId?: string; cseq?: number; ua?: string; extra?: string[] } = {}): SipMessage => {
  const method = o.method ?? 'OPTIONS';
  const n = ++seq;
  const branch = o.branch === undefined ? `z9hG4bK-t${n}` : o.branch;
  return parseMessage(
    Buffer.from(
      [
        `${method} sip:100@example.com SIP/2.0`,
        `Via: SIP/2.0/UDP 192.0.2.1:5060${branch === null ? '' : `;branch=${branch}`}`,
        'Max-Forwards: 70',
        'From: <sip:alice@example.com>;tag=f1',
        'To: <sip:100@example.com>',
        `Call-ID: ${o.callId ?? `call-${n}`}`,
        `CSeq: ${o.cseq ?? 1} ${method}`,
        ...(o.ua !== undefined ? [`User-Agent: ${o.ua}`] : []),
        ...(o.extra ?? []),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
  );
};

const opened: Security[] = [];
const make = (options: Partial<SecurityOptions> = {}, deps: Partial<SecurityDeps> = {}): Security => {
  const s = createSecurity({ bans: createMemoryBanStore(), ...deps }, { ...OPTIONS, ...options });
  opened.push(s);
  return s;
};

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});

afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  vi.useRealTimers();
});

describe('flood detection', () => {
  it('bans a source that sends max + 1 requests within the window', () => {
    const onBan = vi.fn();
    const onRefused = vi.fn();
    const s = make({}, { onBan, onRefused });
    const src = udp('192.0.2.10');
    for (let i = 0; i < 5; i++) {
      expect(s.check(request(), src)).toEqual({ action: 'pass' });
      vi.advanceTimersByTime(100);
    }
    expect(s.check(request(), src)).toEqual({ action: 'drop', reason: 'flood' });
    expect(s.isBanned('192.0.2.10')).toBe(true);
    expect(s.getBan('192.0.2.10')).toMatchObject({ ip: '192.0.2.10', reason: 'flood', createdAt: T0 + 500, expiresAt: T0 + 500 + 10_000 });
    expect(onBan).toHaveBeenCalledTimes(1);
    expect(onBan.mock.calls[0]![1]).toBe('local');
    // from now on the source is refused as banned
    expect(s.check(request(), src)).toEqual({ action: 'drop', reason: 'banned' });
    expect(onRefused.mock.calls.map((c) => c[0])).toEqual(['flood', 'banned']);
    expect(s.activeBans()).toBe(1);
    // another source is unaffected
    expect(s.check(request(), udp('192.0.2.11'))).toEqual({ action: 'pass' });
  });

  it('counts a retransmission once (same branch and method; same Call-ID and CSeq without a branch)', () => {
    const s = make();
    const src = udp('192.0.2.20');
    const invite = request({ method: 'INVITE' });
    const legacy = request({ method: 'REGISTER', branch: null, callId: 'legacy@x', cseq: 7 });
    const badbranch = request({ method: 'OPTIONS', branch: 'z9hG4bK', callId: 'bb@x', cseq: 8 });
    for (let i = 0; i < 8; i++) {
      expect(s.check(invite, src).action).toBe('pass');
      expect(s.check(legacy, src).action).toBe('pass');
      expect(s.check(badbranch, src).action).toBe('pass');
      vi.advanceTimersByTime(50);
    }
    // the ACK for a non-2xx shares the INVITE's branch: part of the same transaction
    const ack = parseMessage(Buffer.from(invite.toString().replace('INVITE sip:', 'ACK sip:').replace(/CSeq: 1 INVITE/, 'CSeq: 1 ACK')));
    expect(s.check(ack, src).action).toBe('pass');
    // three transactions counted so far: two more new ones fit, the sixth is too many
    expect(s.check(request(), src).action).toBe('pass');
    expect(s.check(request(), src).action).toBe('pass');
    expect(s.check(request(), src)).toEqual({ action: 'drop', reason: 'flood' });
  });

  it('a new request of the same dialog (next CSeq) is not a retransmission', () => {
    const s = make();
    const src = udp('192.0.2.21');
    for (let cseq = 1; cseq <= 5; cseq++) expect(s.check(request({ branch: null, callId: 'dlg@x', cseq }), src).action).toBe('pass');
    expect(s.check(request({ branch: null, callId: 'dlg@x', cseq: 6 }), src).action).toBe('drop');
  });

  it('one packet replayed far beyond what retransmission timers allow still trips the limit', () => {
    const s = make();
    const src = udp('192.0.2.22');
    const replayed = request();
    const results: string[] = [];
    for (let i = 0; i < 30; i++) results.push(s.check(replayed, src).action);
    // 1 counted + 10 forgiven retransmissions + 4 counted, then the 6th counted is too many
    expect(results.indexOf('drop')).toBe(15);
  });

  it('does not ban a source whose requests are spread over time', () => {
    const s = make();
    const src = udp('192.0.2.30');
    // 5 per 1005 ms, for 100 requests: never more than 5 in any 1000 ms
    for (let i = 0; i < 100; i++) {
      expect(s.check(request(), src).action).toBe('pass');
      vi.advanceTimersByTime(201);
    }
    // bursts of 5 separated by a full window
    vi.advanceTimersByTime(1000);
    for (let burst = 0; burst < 5; burst++) {
      for (let i = 0; i < 5; i++) expect(s.check(request(), src).action).toBe('pass');
      vi.advanceTimersByTime(1000);
    }
    expect(s.activeBans()).toBe(0);
  });

  it('a burst straddling the window edge is judged on the exact window', () => {
    const s = make();
    const src = udp('192.0.2.31');
    vi.advanceTimersByTime(999);
    for (let i = 0; i < 5; i++) expect(s.check(request(), src).action).toBe('pass');
    vi.advanceTimersByTime(2);
    // 5 requests 2 ms ago are within the last 1000 ms whatever the clock's second
    expect(s.check(request(), src).action).toBe('drop');
  });
});

describe('ban expiry', () => {
  it('lifts a flood ban at the configured time and reports it', () => {
    const onUnban = vi.fn();
    const s = make({ sweepInterval: 250 }, { onUnban });
    const src = udp('192.0.2.40');
    for (let i = 0; i < 6; i++) s.check(request(), src);
    const ban = s.getBan('192.0.2.40')!;
    expect(ban.expiresAt - ban.createdAt).toBe(10_000);
    vi.advanceTimersByTime(9_999);
    expect(s.check(request(), src)).toEqual({ action: 'drop', reason: 'banned' });
    expect(onUnban).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(s.isBanned('192.0.2.40')).toBe(false);
    expect(s.check(request(), src)).toEqual({ action: 'pass' });
    expect(onUnban).toHaveBeenCalledWith(ban, 'expired');
    expect(s.activeBans()).toBe(0);
  });

  it('the sweeper reports an expiry within its interval even with no traffic', () => {
    const onUnban = vi.fn();
    const s = make({ sweepInterval: 250 }, { onUnban });
    s.ban('192.0.2.41', 2);
    vi.advanceTimersByTime(1_999);
    expect(onUnban).not.toHaveBeenCalled();
    vi.advanceTimersByTime(251);
    expect(onUnban).toHaveBeenCalledTimes(1);
    expect(onUnban.mock.calls[0]![1]).toBe('expired');
    expect(s.listBans()).toEqual([]);
  });
});

describe('auth failures', () => {
  it('bans after max failures within the window; a later success does not lift it', () => {
    const s = make();
    const src = udp('198.51.100.7', 40_000);
    expect(s.authFailure(src, '1001@example.com')).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    expect(s.authFailure(src, '1001@example.com')).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    const ban = s.authFailure(src, '1001@example.com');
    expect(ban).toMatchObject({ ip: '198.51.100.7', reason: 'auth-failures', expiresAt: T0 + 20_000 + 3_600_000 });
    // the right password now: the REGISTER never gets past step 1
    const register = request({ method: 'REGISTER', extra: ['Authorization: Digest username="1001", realm="example.com", nonce="n", uri="sip:example.com", response="0123456789abcdef0123456789abcdef"'] });
    expect(s.check(register, src)).toEqual({ action: 'drop', reason: 'banned' });
    // failures while banned neither count nor extend the ban
    expect(s.authFailure(src)).toBeUndefined();
    expect(s.getBan('198.51.100.7')).toBe(ban);
    vi.advanceTimersByTime(3_600_000);
    expect(s.check(register, src).action).toBe('pass');
  });

  it('failures spread beyond the window do not ban', () => {
    const s = make();
    const src = udp('198.51.100.8');
    for (let i = 0; i < 10; i++) {
      expect(s.authFailure(src)).toBeUndefined();
      vi.advanceTimersByTime(30_001); // never three within 60 s
    }
    expect(s.activeBans()).toBe(0);
  });

  it('counts per IP, whatever the port', () => {
    const s = make();
    s.authFailure(udp('198.51.100.9', 1));
    s.authFailure({ transport: 'tcp', address: '198.51.100.9', port: 2 });
    expect(s.authFailure(udp('198.51.100.9', 3))?.reason).toBe('auth-failures');
  });
});

describe('scanner User-Agents', () => {
  it('drops and bans on a case-insensitive substring match', () => {
    const onRefused = vi.fn();
    const s = make({ banReply: 403 }, { onRefused });
    const a = udp('203.0.113.5');
    expect(s.check(request({ method: 'REGISTER', ua: 'Friendly-Scanner' }), a)).toEqual({ action: 'drop', reason: 'scanner' });
    expect(s.getBan('203.0.113.5')).toMatchObject({ reason: 'scanner', expiresAt: T0 + 3_600_000 });
    // afterwards refused as banned (403 here, as configured)
    expect(s.check(request(), a)).toEqual({ action: 'reply', status: 403, reason: 'banned' });
    const b = udp('203.0.113.6');
    expect(s.check(request({ ua: 'pplsip SIPVicious 0.3' }), b).action).toBe('drop');
    expect(s.isBanned('203.0.113.6')).toBe(true);
    expect(onRefused.mock.calls.map((c) => c[0])).toEqual(['scanner', 'banned', 'scanner']);
  });

  it('lets ordinary User-Agents through', () => {
    const s = make();
    const src = udp('203.0.113.7');
    for (const ua of ['Linphone/5.2', 'Grandstream GXP2170', 'friendly scanner', 'sip-cli']) {
      expect(s.check(request({ ua }), src).action).toBe('pass');
    }
    expect(s.activeBans()).toBe(0);
  });

  it('never bans a trusted source for its User-Agent', () => {
    const s = make();
    expect(s.check(request({ ua: 'sipcli/v1.8' }), udp('10.0.0.9')).action).toBe('pass');
    expect(s.activeBans()).toBe(0);
  });
});

describe('trusted sources', () => {
  it('are never flood-limited nor banned (CIDRs, IPv4 and IPv6)', () => {
    const s = make();
    for (const src of [udp('10.0.0.7'), udp('2001:db8:aaaa::5')]) {
      for (let i = 0; i < 200; i++) expect(s.check(request(), src).action).toBe('pass');
      for (let i = 0; i < 10; i++) expect(s.authFailure(src)).toBeUndefined();
    }
    expect(s.activeBans()).toBe(0);
    expect(() => s.ban('10.0.0.7', 60)).toThrow(expect.objectContaining({ code: 'TRUSTED_SOURCE', httpStatus: 409 }));
  });

  it('include what addTrusted matches (dispatcher destinations), until removed', () => {
    const s = make();
    const backend = udp('192.0.2.50', 5080);
    const remove = s.addTrusted((src) => src.address === '192.0.2.50' && src.port === 5080);
    for (let i = 0; i < 100; i++) expect(s.check(request(), backend).action).toBe('pass');
    expect(s.isTrusted(backend)).toBe(true);
    // same address, another UDP port: not the destination
    expect(s.isTrusted(udp('192.0.2.50', 5099))).toBe(false);
    remove();
    vi.advanceTimersByTime(1000);
    for (let i = 0; i < 5; i++) expect(s.check(request(), backend).action).toBe('pass');
    expect(s.check(request(), backend).action).toBe('drop');
  });

  it('count nothing while trusted: a destination removed starts from an empty flood window', () => {
    const s = make();
    const backend = udp('192.0.2.52', 5080);
    const remove = s.addTrusted((src) => src.address === '192.0.2.52' && src.port === 5080);
    for (let i = 0; i < 100; i++) expect(s.check(request({ ua: 'friendly-scanner' }), backend).action).toBe('pass');
    remove();
    // no time has passed: the 100 requests above were not counted, the next five are
    for (let i = 0; i < 5; i++) expect(s.check(request(), backend).action).toBe('pass');
    expect(s.check(request(), backend)).toEqual({ action: 'drop', reason: 'flood' });
  });

  it('a ban from elsewhere does not refuse a dispatcher destination', () => {
    const s = make();
    s.ban('192.0.2.51', 60);
    s.addTrusted((src) => src.address === '192.0.2.51' && src.port === 5080);
    expect(s.check(request(), udp('192.0.2.51', 5080)).action).toBe('pass');
    expect(s.check(request(), udp('192.0.2.51', 6000)).action).toBe('drop');
  });
});

describe('manual bans', () => {
  it('ban, list, refuse, unban', () => {
    const onBan = vi.fn();
    const onUnban = vi.fn();
    const s = make({}, { onBan, onUnban });
    const ban = s.ban('192.0.2.60', 30);
    expect(ban).toEqual({ ip: '192.0.2.60', reason: 'manual', createdAt: T0, expiresAt: T0 + 30_000 });
    expect(Object.isFrozen(ban)).toBe(true);
    expect(s.listBans()).toEqual([ban]);
    expect(s.check(request(), udp('192.0.2.60')).action).toBe('drop');
    // before parsing: the ban alone
    expect(s.checkSource({ transport: 'tcp', address: '192.0.2.60', port: 40_001 })).toEqual({ action: 'drop', reason: 'banned' });
    expect(s.checkSource(udp('192.0.2.61'))).toEqual({ action: 'pass' });
    expect(s.unban('192.0.2.60')).toBe(true);
    expect(s.checkSource(udp('192.0.2.60'))).toEqual({ action: 'pass' });
    expect(onUnban).toHaveBeenCalledWith(ban, 'lifted');
    expect(s.check(request(), udp('192.0.2.60')).action).toBe('pass');
    expect(s.unban('192.0.2.60')).toBe(false);
    expect(onBan).toHaveBeenCalledWith(ban, 'local');
  });

  it('normalises addresses, so an API ban matches the transport spelling', () => {
    const s = make();
    s.ban('2001:DB8:0:0::1', 10, 'flood');
    s.ban('::ffff:192.0.2.61', 10);
    expect(s.isBanned('2001:db8::1')).toBe(true);
    expect(s.check(request(), udp('2001:db8::1')).action).toBe('drop');
    expect(s.check(request(), udp('192.0.2.61')).action).toBe('drop');
    expect(s.listBans().map((b) => b.ip)).toEqual(['2001:db8::1', '192.0.2.61']);
  });

  it('rejects bad input with stable codes', () => {
    const s = make();
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (e) {
        return isSecurityError(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(code(() => s.ban('not-an-ip', 10))).toBe('INVALID_IP');
    expect(code(() => s.ban('192.0.2.1', 0))).toBe('INVALID_DURATION');
    expect(code(() => s.ban('192.0.2.1', Number.NaN))).toBe('INVALID_DURATION');
    expect(code(() => s.ban('192.0.2.1', 10, 'because' as never))).toBe('INVALID_REASON');
    expect(code(() => s.unban('999.1.1.1'))).toBe('INVALID_IP');
    expect(s.isBanned('garbage')).toBe(false);
  });

  it('a replaced ban keeps the newest terms', () => {
    const s = make();
    s.ban('192.0.2.62', 10);
    const longer = s.ban('192.0.2.62', 100, 'auth-failures');
    expect(s.listBans()).toEqual([longer]);
  });
});

describe('ban reply', () => {
  it('answers 403 instead of dropping when configured', () => {
    const s = make({ banReply: 403 });
    const src = udp('192.0.2.70');
    for (let i = 0; i < 5; i++) s.check(request(), src);
    expect(s.check(request(), src)).toEqual({ action: 'reply', status: 403, reason: 'flood' });
    expect(s.check(request(), src)).toEqual({ action: 'reply', status: 403, reason: 'banned' });
  });
});

describe('memory bounds', () => {
  it('caps tracked addresses and forgets idle counters', () => {
    const s = make({ maxTrackedIps: 100 });
    for (let i = 0; i < 1000; i++) s.check(request(), udp(`198.18.${i >> 8}.${i & 255}`));
    for (let i = 0; i < 1000; i++) s.authFailure(udp(`198.19.${i >> 8}.${i & 255}`));
    expect(s.trackedIps()).toEqual({ flood: 100, authFailures: 100 });
    vi.advanceTimersByTime(60_000 + 2_000);
    expect(s.trackedIps()).toEqual({ flood: 0, authFailures: 0 });
  });

  it('the newest addresses keep their counters when the oldest are evicted', () => {
    const s = make({ maxTrackedIps: 10 });
    const src = udp('192.0.2.80');
    for (let i = 0; i < 20; i++) s.check(request(), udp(`198.18.0.${i}`));
    for (let i = 0; i < 5; i++) s.check(request(), src);
    expect(s.check(request(), src).action).toBe('drop');
  });
});

describe('options', () => {
  it('rejects unusable options naming the config path', () => {
    expect(() => make({ flood: { window: 0, max: 5, ban: 1 } })).toThrow(/security\.flood\.window/);
    expect(() => make({ authFailures: { window: 1, max: 1.5, ban: 1 } })).toThrow(/security\.auth_failures\.max/);
    expect(() => make({ trusted: ['10.0.0.0/33'] })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});

/** A store whose events the test drives, as Redis would from another instance. */
const scriptedStore = (initial: Ban[] | Error = []) => {
  let listener: ((e: BanStoreEvent) => void) | undefined;
  const put = vi.fn(async (_: Ban) => {});
  const remove = vi.fn(async (_: string) => {});
  const store: BanStore = {
    load: async () => {
      if (initial instanceof Error) throw initial;
      return initial;
    },
    put,
    remove,
    subscribe: (l) => {
      listener = l;
      return () => {
        listener = undefined;
      };
    },
    close: async () => {},
  };
  return { store, put, remove, emit: (e: BanStoreEvent) => listener?.(e), subscribed: () => listener !== undefined };
};

describe('the ban store behind the view', () => {
  it('loads stored bans at start and writes changes behind', async () => {
    const stored: Ban = { ip: '192.0.2.90', reason: 'flood', createdAt: T0 - 1000, expiresAt: T0 + 5000 };
    const expired: Ban = { ip: '192.0.2.91', reason: 'flood', createdAt: T0 - 9000, expiresAt: T0 - 1 };
    const sc = scriptedStore([stored, expired]);
    const onBan = vi.fn();
    const s = make({}, { bans: sc.store, onBan });
    await s.ready;
    expect(s.listBans()).toEqual([stored]);
    expect(onBan).toHaveBeenCalledWith(stored, 'store');
    const ban = s.ban('192.0.2.92', 10);
    expect(sc.put).toHaveBeenCalledWith(ban);
    s.unban('192.0.2.92');
    expect(sc.remove).toHaveBeenCalledWith('192.0.2.92');
  });

  it('applies bans, unbans and a re-sync from other instances', async () => {
    const sc = scriptedStore();
    const onUnban = vi.fn();
    const s = make({}, { bans: sc.store, onUnban });
    await s.ready;
    const remote: Ban = { ip: '192.0.2.93', reason: 'auth-failures', createdAt: T0, expiresAt: T0 + 60_000 };
    sc.emit({ type: 'ban', ban: remote });
    expect(s.check(request(), udp('192.0.2.93')).action).toBe('drop');
    sc.emit({ type: 'unban', ip: '192.0.2.93' });
    expect(s.isBanned('192.0.2.93')).toBe(false);
    expect(onUnban).toHaveBeenCalledWith(remote, 'lifted');
    // a trusted address is not banned here whatever another instance thinks
    sc.emit({ type: 'ban', ban: { ...remote, ip: '10.0.0.3' } });
    expect(s.isBanned('10.0.0.3')).toBe(false);

    const old = s.ban('192.0.2.94', 60);
    vi.advanceTimersByTime(10);
    const since = Date.now();
    vi.advanceTimersByTime(10);
    const made = s.ban('192.0.2.95', 60); // during the re-read: kept
    const other: Ban = { ip: '192.0.2.96', reason: 'manual', createdAt: T0, expiresAt: T0 + 60_000 };
    sc.emit({ type: 'sync', bans: [other], since });
    expect(s.isBanned(old.ip)).toBe(false); // lifted elsewhere during the outage
    expect(s.isBanned(made.ip)).toBe(true);
    expect(s.isBanned(other.ip)).toBe(true);
  });

  it('holds bans locally when the store fails, and never throws from check()', async () => {
    const sc = scriptedStore(new Error('store down'));
    sc.put.mockRejectedValue(new Error('store down'));
    const errors: string[] = [];
    const log = { debug: () => {}, info: () => {}, warn: () => {}, error: (_: object, msg: string) => void errors.push(msg) };
    const s = make({}, { bans: sc.store, log, onRefused: () => { throw new Error('metrics broke'); } });
    await expect(s.ready).resolves.toBeUndefined();
    const src = udp('192.0.2.97');
    for (let i = 0; i < 5; i++) s.check(request(), src);
    expect(s.check(request(), src)).toEqual({ action: 'drop', reason: 'flood' });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.isBanned('192.0.2.97')).toBe(true);
    expect(errors).toContain('could not load bans from the store; bans made now hold locally');
    expect(errors).toContain('ban store write failed; the change holds locally');
    expect(errors).toContain('security onRefused callback threw');
  });

  it('close() stops the sweeper and the subscription', () => {
    const sc = scriptedStore();
    const s = make({}, { bans: sc.store });
    expect(sc.subscribed()).toBe(true);
    s.close();
    expect(sc.subscribed()).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
