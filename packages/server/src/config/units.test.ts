import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from './units.js';

describe('parseDuration', () => {
  it('reads each unit into milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1.5s')).toBe(1500);
  });

  it('takes a bare number as seconds', () => {
    expect(parseDuration(3600)).toBe(3_600_000);
    expect(parseDuration(0.5)).toBe(500);
    expect(parseDuration('30')).toBe(30_000);
  });

  it('refuses what is no duration', () => {
    for (const bad of ['5x', '-1s', 's', '', '1 d', -1, Number.NaN, true, null]) expect(parseDuration(bad)).toBeNull();
  });
});

describe('parseSize', () => {
  it('reads KB, MB, GB as 1024-based', () => {
    expect(parseSize('64KB')).toBe(65_536);
    expect(parseSize('64MB')).toBe(64 * 1024 * 1024);
    expect(parseSize('2GB')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5KB')).toBe(1536);
  });

  it('takes a bare number as bytes', () => {
    expect(parseSize(1400)).toBe(1400);
    expect(parseSize('512B')).toBe(512);
  });

  it('refuses what is no size', () => {
    for (const bad of ['64XB', 'MB', '-1KB', -5, {}]) expect(parseSize(bad)).toBeNull();
  });
});
