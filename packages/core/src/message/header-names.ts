// Header names: compact forms (RFC 3261 §7.3.3 and later RFCs) and the canonical spelling used
// when sipfront writes a header itself. Keys are the lower-case full names.
import { TOKEN } from './grammar.js';

const COMPACT: Record<string, string> = {
  a: 'accept-contact', b: 'referred-by', c: 'content-type', d: 'request-disposition',
  e: 'content-encoding', f: 'from', i: 'call-id', j: 'reject-contact', k: 'supported',
  l: 'content-length', m: 'contact', o: 'event', r: 'refer-to', s: 'subject', t: 'to',
  u: 'allow-events', v: 'via', x: 'session-expires', y: 'identity',
};

const keyCache = new Map<string, string>();

// The names nearly every message carries, most frequent first: they are recognised by comparing
// characters, not by hashing a fresh string for a Map lookup.
const COMMON = [
  'via', 'from', 'to', 'call-id', 'cseq', 'contact', 'max-forwards', 'content-length', 'content-type',
  'route', 'record-route', 'allow', 'supported', 'require', 'proxy-require', 'user-agent', 'server',
  'expires', 'date', 'accept', 'path', 'event', 'subject', 'authorization', 'proxy-authorization',
  'www-authenticate', 'proxy-authenticate', 'session-expires', 'min-se', 'privacy', 'p-asserted-identity',
  'reason', 'allow-events', 'content-disposition', 'unsupported', 'warning', 'min-expires', 'rseq', 'rack',
];
const BY_LENGTH: string[][] = [];
for (const k of COMMON) (BY_LENGTH[k.length] ??= []).push(k);
const COMPACT_BY_CODE: Array<string | undefined> = [];
for (const [c, k] of Object.entries(COMPACT)) COMPACT_BY_CODE[c.charCodeAt(0)] = k;

/** True when `name` equals the lower-case `key` ignoring ASCII case (`key` holds letters and '-'). */
const eqLower = (name: string, key: string): boolean => {
  for (let i = 0; i < key.length; i++) {
    const c = name.charCodeAt(i);
    const k = key.charCodeAt(i);
    if (c !== k && (c < 65 || c > 90 || c + 32 !== k)) return false;
  }
  return true;
};

/** The lower-case full name of a header as written (`v`, `VIA`, `Via` → `via`). */
export const headerKey = (name: string): string => {
  const n = name.length;
  if (n === 1) {
    const k = COMPACT_BY_CODE[name.charCodeAt(0) | 32];
    if (k !== undefined) return k;
  } else {
    const candidates = BY_LENGTH[n];
    if (candidates !== undefined) for (let i = 0; i < candidates.length; i++) if (eqLower(name, candidates[i]!)) return candidates[i]!;
  }
  let k = keyCache.get(name);
  if (k === undefined) {
    const l = name.toLowerCase();
    k = COMPACT[l] ?? l;
    if (keyCache.size < 4096) keyCache.set(name, k);
  }
  return k;
};

// Header names the parser does not recognise outright: one pass over the name checks its
// characters, lower-cases and hashes them; the hash picks the one common key it can be,
// confirmed by comparing, and anything else goes through `headerKey`.
/** Lower-case code of each token character, 0 for every other (header names are tokens). */
export const NAME_LOWER = new Uint8Array(128);
for (let c = 0; c < 128; c++) if (TOKEN[c] === 1) NAME_LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;
const HASH_MASK = 1023;
/** One step of the header name hash over lower-case codes (see `headerKeyOfHash`). */
export const nameHash = (h: number, lowerCode: number): number => (Math.imul(h, 33) + lowerCode) | 0;
const hashOf = (k: string): number => {
  let h = 0;
  for (let i = 0; i < k.length; i++) h = nameHash(h, k.charCodeAt(i));
  return h;
};
// a key that collides with an earlier one is simply resolved by `headerKey` (correct, slower)
const KEY_BY_HASH: Array<string | undefined> = new Array<string | undefined>(HASH_MASK + 1).fill(undefined);
for (const k of COMMON) KEY_BY_HASH[hashOf(k) & HASH_MASK] ??= k;

/**
 * The key of the header name written at `s[start..end)`, or undefined when the name holds a
 * character that is not a token character.
 */
export const headerKeyAt = (s: string, start: number, end: number): string | undefined => {
  let h = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const l = c < 128 ? NAME_LOWER[c]! : 0;
    if (l === 0) return undefined;
    h = nameHash(h, l);
  }
  return headerKeyOfHash(s, start, end, h);
};

/**
 * The key of the token `s[start..end)` whose `nameHash` over its lower-case codes is `h`
 * (the parser hashes while it scans the name).
 */
export const headerKeyOfHash = (s: string, start: number, end: number, h: number): string => {
  const n = end - start;
  if (n === 1) {
    const k = COMPACT_BY_CODE[NAME_LOWER[s.charCodeAt(start)]!];
    if (k !== undefined) return k;
  } else {
    const k = KEY_BY_HASH[h & HASH_MASK];
    if (k !== undefined && k.length === n) {
      let i = 0;
      while (i < n && NAME_LOWER[s.charCodeAt(start + i)] === k.charCodeAt(i)) i++;
      if (i === n) return k;
    }
  }
  return headerKey(s.slice(start, end));
};

// The parser's first try: the common names by their first letter, most frequent first, matched
// in any case in one pass over the bytes of the name (reading a Buffer is several times faster
// than charCodeAt); anything else goes the hashing way (`headerKeyOfHash`).
const BY_FIRST: Array<Array<[key: string, bytes: Uint8Array]> | undefined> = [];
for (const k of COMMON) (BY_FIRST[k.charCodeAt(0)] ??= []).push([k, Uint8Array.from(k, (ch) => ch.charCodeAt(0))]);

/**
 * The key of a common header name written at `b[pos..]` and ended by ':', SP or HTAB before
 * `end`, compact forms included; undefined for any other name. The written length is 1 for a
 * compact form, else the key's length.
 */
export const commonKeyIn = (b: Uint8Array, pos: number, end: number): string | undefined => {
  let c = b[pos]!;
  if (c >= 65 && c <= 90) c += 32;
  const next = b[pos + 1];
  if (next === 58 || next === 32 || next === 9) return pos + 1 < end ? COMPACT_BY_CODE[c] : undefined;
  const candidates = BY_FIRST[c];
  if (candidates === undefined) return undefined;
  for (let k = 0; k < candidates.length; k++) {
    const kb = candidates[k]![1];
    const n = kb.length;
    if (pos + n >= end) continue;
    let i = 1;
    while (i < n) {
      let d = b[pos + i]!;
      if (d >= 65 && d <= 90) d += 32;
      if (d !== kb[i]) break;
      i++;
    }
    if (i === n) {
      const t = b[pos + n];
      if (t === 58 || t === 32 || t === 9) return candidates[k]![0];
    }
  }
  return undefined;
};

/** Headers that carry exactly one value; a second one makes a request malformed (RFC 4475 §3.3.8). */
export const SINGLE_VALUE = new Set(['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type']);

/** Headers whose values may be written as a comma-separated list on one line. */
export const LIST_HEADERS = new Set(['via', 'route', 'record-route', 'contact', 'path', 'allow', 'supported', 'require', 'proxy-require', 'unsupported']);
