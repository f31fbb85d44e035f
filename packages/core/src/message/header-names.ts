// Header names: compact forms (RFC 3261 §7.3.3 and later RFCs) and the canonical spelling used
// when sipfront writes a header itself. Keys are the lower-case full names.

const COMPACT: Record<string, string> = {
  a: 'accept-contact', b: 'referred-by', c: 'content-type', d: 'request-disposition',
  e: 'content-encoding', f: 'from', i: 'call-id', j: 'reject-contact', k: 'supported',
  l: 'content-length', m: 'contact', o: 'event', r: 'refer-to', s: 'subject', t: 'to',
  u: 'allow-events', v: 'via', x: 'session-expires', y: 'identity',
};

const keyCache = new Map<string, string>();

/** The lower-case full name of a header as written (`v`, `VIA`, `Via` → `via`). */
export const headerKey = (name: string): string => {
  let k = keyCache.get(name);
  if (k === undefined) {
    const l = name.toLowerCase();
    k = COMPACT[l] ?? l;
    if (keyCache.size < 4096) keyCache.set(name, k);
  }
  return k;
};

/** Headers that carry exactly one value; a second one makes a request malformed (RFC 4475 §3.3.8). */
export const SINGLE_VALUE = new Set(['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type']);

/** Headers whose values may be written as a comma-separated list on one line. */
export const LIST_HEADERS = new Set(['via', 'route', 'record-route', 'contact', 'path', 'allow', 'supported', 'require', 'proxy-require', 'unsupported']);
