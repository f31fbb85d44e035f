// Durations and sizes as operators write them in the YAML, turned into the numbers the code uses:
// durations become milliseconds, sizes bytes. A bare number is seconds (durations) or bytes (sizes).

/** `500ms`, `2s`, `5m`, `1h`, `1.5s` or a bare number of seconds (`3600`, `"30"`). */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h)?$';
/** `64KB`, `1MB`, `2GB` (1024-based), `512B` or a bare number of bytes. */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s*([KMG]?B)?$';

const DURATION_RE = new RegExp(DURATION_PATTERN);
const SIZE_RE = new RegExp(SIZE_PATTERN, 'i');

const MS_PER_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTES_PER_UNIT: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Milliseconds, rounded to a whole number; null when the value is not a duration. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  if (typeof value !== 'string') return null;
  const m = DURATION_RE.exec(value.trim());
  if (!m) return null;
  const unit = m[2] ?? 's';
  return Math.round(Number.parseFloat(value) * (MS_PER_UNIT[unit] ?? 1000));
}

/** Bytes, rounded to a whole number; null when the value is not a size. */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : null;
  if (typeof value !== 'string') return null;
  const m = SIZE_RE.exec(value.trim());
  if (!m) return null;
  const unit = (m[2] ?? 'b').toLowerCase();
  return Math.round(Number.parseFloat(value) * (BYTES_PER_UNIT[unit] ?? 1));
}
