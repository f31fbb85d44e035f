// Pure formatting helpers: countdowns, time offsets, RTTs and `transport:address:port` parties.
// Kept free of the DOM so the unit tests run them under Node.

/**
 * A countdown as a clock: `0:09`, `4:05`, `1:02:03`, `2d 03:04:05`; `expired` at or below zero.
 * Fractions round up, so a contact with 0.4 s left still shows `0:01` rather than `0:00`.
 */
export const formatCountdown = (seconds: number | null | undefined): string => {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds <= 0) return 'expired';
  const total = Math.ceil(seconds);
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${pad(h)}:${pad(m)}:${pad(s)}`;
  if (h > 0) return `${h}:${pad(m)}:${pad(s)}`;
  return `${m}:${pad(s)}`;
};

/** Seconds left of something that had `expiresIn` seconds at `fetchedAt` (ms), seen at `now` (ms). */
export const remainingSeconds = (expiresIn: number, fetchedAt: number, now: number): number => expiresIn - (now - fetchedAt) / 1000;

/** A countdown in words for screen readers: `3 minutes 5 seconds`. */
export const countdownWords = (seconds: number): string => {
  if (seconds <= 0) return 'expired';
  const total = Math.ceil(seconds);
  const parts: string[] = [];
  const units: Array<[number, string]> = [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  let rest = total;
  for (const [size, name] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
  }
  return parts.slice(0, 2).join(' ');
};

/** A time offset from the start of a call: `+0 ms`, `+4.2 ms`, `+180 ms`, `+2.004 s`. */
export const formatOffset = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return '+?';
  if (ms < 10) return `+${ms === 0 ? '0' : ms.toFixed(1)} ms`;
  if (ms < 1000) return `+${Math.round(ms)} ms`;
  return `+${(ms / 1000).toFixed(3)} s`;
};

/** A duration in seconds for sentences: `800 ms`, `2.0 s`, `95 s`. */
export const formatSeconds = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
};

/** A probe round trip: `0.4 ms`, `12 ms`, `1.20 s`. */
export const formatRtt = (ms: number): string => {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
};

/** Calls per second, one decimal below 10. */
export const formatRate = (perSecond: number | null | undefined): string => {
  if (perSecond === null || perSecond === undefined) return '—';
  if (perSecond === 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(1);
  return String(Math.round(perSecond));
};

/** Milliseconds since the epoch from either a number or an ISO 8601 string; NaN when neither. */
export const toMillis = (t: number | string | null | undefined): number => {
  if (typeof t === 'number') return t;
  if (typeof t === 'string') return Date.parse(t);
  return Number.NaN;
};

/** Local wall-clock time with seconds, and the date when it is not today. */
export const formatTime = (t: number | string | null | undefined, now: number = Date.now()): string => {
  const ms = toMillis(t);
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date(now);
  if (d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
};

export interface Party {
  transport: string;
  /** without brackets for IPv6 */
  address: string;
  port: number | null;
  /** `address:port`, IPv6 in brackets: what the console shows */
  hostPort: string;
}

/** `udp:203.0.113.7:5060`, `tcp:[2001:db8::1]:5061` (a missing transport or port is tolerated). */
export const parseParty = (s: string): Party => {
  const m = /^(?:([a-z]+):)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/i.exec(s.trim());
  if (m === null) return { transport: '', address: s, port: null, hostPort: s };
  const address = m[2]!.replace(/^\[|\]$/g, '');
  const port = m[3] !== undefined ? Number(m[3]) : null;
  const host = address.includes(':') ? `[${address}]` : address;
  return { transport: (m[1] ?? '').toLowerCase(), address, port, hostPort: port === null ? host : `${host}:${port}` };
};

/** The reason phrase of a status line (`SIP/2.0 503 Service Unavailable` → `Service Unavailable`). */
export const reasonOf = (firstLine: string): string => firstLine.replace(/^SIP\/2\.0\s+\d{3}\s*/i, '');
