// name-addr / addr-spec values of From, To, Contact, Route, Record-Route, Path (RFC 3261 §20.10).
import { TOKEN, bytesOf } from './grammar.js';
import type { Params } from './params.js';
import { getParam, paramsAt, formatParams } from './params.js';
import type { Uri } from './uri.js';
import { uriAt } from './uri.js';

// Module-local bindings of what the per-message paths call: vitest's module runner (tests,
// benchmarks) turns each use of an import into a getter call.
const TOKEN_CHAR = TOKEN.slice();
const uriAt_ = uriAt;
const paramsAt_ = paramsAt;
const getParam_ = getParam;

/** `s.indexOf(char, from)` bounded by `end`: String.indexOf would search on through the rest of the header section. */
const find = (b: Uint8Array, c: number, from: number, end: number): number => {
  for (let i = from; i < end; i++) if (b[i] === c) return i;
  return -1;
};

export interface NameAddr {
  /** display name as written: a quoted string with its quotes, or tokens; undefined when absent */
  displayName: string | undefined;
  /** the URI text as written */
  uri: string;
  /** the parsed URI */
  parsedUri: Uri;
  /** true when the URI was written in angle brackets */
  bracketed: boolean;
  /** header parameters (tag, expires, q, lr belongs to the URI when bracketed) */
  params: Params;
}

/** Parses one name-addr or addr-spec with header parameters; undefined when malformed. */
export const parseNameAddr = (value: string): NameAddr | undefined => {
  const b = bytesOf(value);
  return b === undefined ? undefined : nameAddrAt(b, value, 0, value.length);
};

const isLws = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;

/** `parseNameAddr` over `s[start..end)`, reading the characters from `b` (`b[k]` is `s.charCodeAt(k)`). @internal */
export const nameAddrAt = (b: Uint8Array, s: string, start: number, end: number): NameAddr | undefined => {
  while (start < end && isLws(b[start]!)) start++;
  while (end > start && isLws(b[end - 1]!)) end--;
  if (start === end) return undefined;
  let displayName: string | undefined;
  let i = start;
  const c0 = b[start]!;
  if (c0 === 34) { // quoted display name
    i = start + 1;
    for (;;) {
      if (i >= end) return undefined;
      const c = b[i]!;
      if (c === 92) i += 2;
      else if (c === 34) break;
      else i++;
    }
    displayName = s.slice(start, i + 1);
    i++;
    while (i < end && (b[i]! === 32 || b[i]! === 9)) i++;
    if (i >= end || b[i]! !== 60) return undefined;
  } else if (c0 !== 60) {
    const lt = find(b, 60, start, end); // '<'
    if (lt === -1) {
      // addr-spec: the URI ends at the first ';' and may not contain ',' or '?' (§20: such URIs need <>)
      const semi = find(b, 59, start, end); // ';'
      let ue = semi === -1 ? end : semi;
      while (ue > start && isLws(b[ue - 1]!)) ue--;
      for (let k = start; k < ue; k++) {
        const c = b[k]!;
        if (c === 44 || c === 63) return undefined;
      }
      const parsedUri = uriAt_(b, s, start, ue);
      if (parsedUri === undefined) return undefined;
      const params = semi === -1 ? [] : paramsAt_(b, s, semi, end);
      if (params === undefined) return undefined;
      return { displayName: undefined, uri: s.slice(start, ue), parsedUri, bracketed: false, params };
    }
    // *(token LWS): every character is a token character or white space
    let de = lt;
    while (de > start && isLws(b[de - 1]!)) de--;
    for (let k = start; k < de; k++) {
      const c = b[k]!;
      if (c !== 32 && c !== 9 && (c > 127 || TOKEN_CHAR[c] !== 1)) return undefined;
    }
    displayName = s.slice(start, de);
    i = lt;
  }
  // s[i] === '<'
  const gt = find(b, 62, i, end); // '>'
  if (gt === -1) return undefined;
  const parsedUri = uriAt_(b, s, i + 1, gt);
  if (parsedUri === undefined) return undefined;
  const params = paramsAt_(b, s, gt + 1, end);
  if (params === undefined) return undefined;
  return { displayName, uri: s.slice(i + 1, gt), parsedUri, bracketed: true, params };
};

export const tagOf = (na: NameAddr | undefined): string | undefined => {
  if (na === undefined) return undefined;
  const t = getParam_(na.params, 'tag');
  return typeof t === 'string' ? t : undefined;
};

export const formatNameAddr = (na: { displayName?: string | undefined; uri: string; params?: Params }): string => {
  const dn = na.displayName !== undefined && na.displayName.length > 0 ? `${na.displayName} ` : '';
  return `${dn}<${na.uri}>${na.params ? formatParams(na.params) : ''}`;
};
