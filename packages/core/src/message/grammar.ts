// Character classes of the RFC 3261 §25 grammar, as lookup tables built once.

const table = (chars: string, alnum: boolean): Uint8Array => {
  const t = new Uint8Array(128);
  if (alnum) {
    for (let c = 48; c <= 57; c++) t[c] = 1;
    for (let c = 65; c <= 90; c++) t[c] = 1;
    for (let c = 97; c <= 122; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
};

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~", true);
/** characters allowed in a host name, IPv4 address or bracketed IPv6 reference */
export const HOST = table('-.[]:_', true);

export const isToken = (s: string): boolean => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] !== 1) return false;
  }
  return true;
};

export const isDigits = (s: string): boolean => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
};

export const isWs = (c: number): boolean => c === 32 || c === 9;

const NOT_LATIN1 = /[^\x00-\xff]/;

/**
 * The bytes of header text (latin1, one byte per character), which the parsers read: indexing a
 * Buffer is several times faster than charCodeAt. Undefined for text with characters above
 * U+00FF, which is not header text (Buffer.from would keep only their low byte).
 */
export const bytesOf = (s: string): Buffer | undefined => (NOT_LATIN1.test(s) ? undefined : Buffer.from(s, 'latin1'));

/**
 * Trims SP, HTAB, CR and LF only. `String.prototype.trim` would also strip U+00A0, and header text
 * is held as latin1, where 0xA0 is the last byte of many UTF-8 characters (`à` is C3 A0).
 */
export const trimLws = (s: string): string => {
  let a = 0;
  let b = s.length;
  while (a < b) {
    const c = s.charCodeAt(a);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
    a++;
  }
  while (b > a) {
    const c = s.charCodeAt(b - 1);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
    b--;
  }
  return a === 0 && b === s.length ? s : s.slice(a, b);
};

/** Collapses folded and repeated linear white space into single spaces and trims. */
export const collapseLws = (s: string): string => trimLws(s.replace(/[ \t\r\n]+/g, ' '));

/**
 * Where the next top-level comma of a header value is, from `from` (an item's start), or -1:
 * commas inside quoted strings, angle brackets or after a backslash inside quotes do not count.
 */
export const nextTopComma = (value: string, from: number): number => {
  let inQuote = false;
  let inAngle = false;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++;
      else if (c === 34) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 44 && !inAngle) return i;
  }
  return -1;
};

/** Splits a header value on top-level commas (nextTopComma). Returns trimmed items. */
export const splitCommas = (value: string): string[] => {
  if (value.indexOf(',') === -1) return [trimLws(value)];
  const out: string[] = [];
  let start = 0;
  for (let k = nextTopComma(value, 0); k !== -1; k = nextTopComma(value, start)) {
    out.push(trimLws(value.slice(start, k)));
    start = k + 1;
  }
  out.push(trimLws(value.slice(start)));
  return out;
};

/** Unquotes a quoted-string (RFC 3261 quoted-pair handling); returns undefined when malformed. */
export const unquote = (s: string): string | undefined => {
  if (s.length < 2 || s.charCodeAt(0) !== 34 || s.charCodeAt(s.length - 1) !== 34) return undefined;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) {
      if (i + 1 >= s.length - 1) return undefined;
      out += s[i + 1];
      i++;
    } else if (c === 34) return undefined;
    else out += s[i];
  }
  return out;
};

export const quote = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;
