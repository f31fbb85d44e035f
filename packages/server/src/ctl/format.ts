// Text output for people, in the habit of kamcmd and `asterisk -rx`: aligned columns with an
// upper-case header, durations and ages in short units, `-` for what the API did not say.

export interface TableOptions {
  /** column indexes aligned right (numbers) */
  readonly right?: readonly number[];
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const right = new Set(options.right ?? []);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => {
        const cell = cells[i] ?? '';
        return right.has(i) ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `name  value` lines with the names padded to one width. */
export function pairs(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
}

/** 42s, 5m07s, 2h03m, 3d04h */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** A time from the API (ISO text, or epoch ms / s as a number) as epoch ms. */
export function toMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value >= 1e11 ? value : value * 1000;
  if (typeof value === 'string' && value !== '') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** `3s ago` / `in 5m07s` relative to now; `-` when unknown. */
export function ago(value: unknown, now: number): string {
  const ms = toMs(value);
  if (ms === undefined) return '-';
  return ms <= now ? `${duration((now - ms) / 1000)} ago` : `in ${duration((ms - now) / 1000)}`;
}

export function until(value: unknown, now: number): string {
  const ms = toMs(value);
  if (ms === undefined) return '-';
  return duration((ms - now) / 1000);
}

export const text = (v: unknown): string => {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
};

export const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
