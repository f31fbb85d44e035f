import { describe, expect, it } from 'vitest';
import { countdownWords, formatCountdown, formatOffset, formatRate, formatRtt, parseParty, remainingSeconds } from './format.js';

describe('countdown formatting', () => {
  it('writes minutes and seconds, hours and days as a clock', () => {
    expect(formatCountdown(9)).toBe('0:09');
    expect(formatCountdown(59)).toBe('0:59');
    expect(formatCountdown(60)).toBe('1:00');
    expect(formatCountdown(245)).toBe('4:05');
    expect(formatCountdown(3600)).toBe('1:00:00');
    expect(formatCountdown(3723)).toBe('1:02:03');
    expect(formatCountdown(2 * 86_400 + 3 * 3600 + 4 * 60 + 5)).toBe('2d 03:04:05');
  });

  it('rounds fractions up, says expired at zero and below, and a dash for nothing', () => {
    expect(formatCountdown(0.4)).toBe('0:01');
    expect(formatCountdown(59.01)).toBe('1:00');
    expect(formatCountdown(0)).toBe('expired');
    expect(formatCountdown(-3)).toBe('expired');
    expect(formatCountdown(null)).toBe('—');
    expect(formatCountdown(Number.NaN)).toBe('—');
  });

  it('counts down from the time of the fetch', () => {
    const fetchedAt = 1_000_000;
    expect(remainingSeconds(3600, fetchedAt, fetchedAt)).toBe(3600);
    expect(formatCountdown(remainingSeconds(3600, fetchedAt, fetchedAt + 1500))).toBe('59:59');
    expect(formatCountdown(remainingSeconds(10, fetchedAt, fetchedAt + 10_000))).toBe('expired');
  });

  it('says it in words for screen readers', () => {
    expect(countdownWords(185)).toBe('3 minutes 5 seconds');
    expect(countdownWords(3601)).toBe('1 hour 1 second');
    expect(countdownWords(0)).toBe('expired');
  });
});

describe('other formats', () => {
  it('time offsets, RTTs and rates', () => {
    expect(formatOffset(0)).toBe('+0 ms');
    expect(formatOffset(4.25)).toBe('+4.3 ms');
    expect(formatOffset(180.4)).toBe('+180 ms');
    expect(formatOffset(2004)).toBe('+2.004 s');
    expect(formatRtt(0.42)).toBe('0.4 ms');
    expect(formatRtt(12.4)).toBe('12 ms');
    expect(formatRtt(1200)).toBe('1.20 s');
    expect(formatRate(null)).toBe('—');
    expect(formatRate(0)).toBe('0');
    expect(formatRate(1.44)).toBe('1.4');
    expect(formatRate(42.6)).toBe('43');
  });

  it('parties: transport, IPv4, IPv6 in brackets', () => {
    expect(parseParty('udp:203.0.113.7:5060')).toEqual({ transport: 'udp', address: '203.0.113.7', port: 5060, hostPort: '203.0.113.7:5060' });
    expect(parseParty('tcp:[2001:db8::1]:5061')).toEqual({ transport: 'tcp', address: '2001:db8::1', port: 5061, hostPort: '[2001:db8::1]:5061' });
    expect(parseParty('10.0.0.1')).toMatchObject({ transport: '', port: null, hostPort: '10.0.0.1' });
  });
});
