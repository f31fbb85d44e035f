// name-addr / addr-spec values of From, To, Contact, Route, Record-Route, Path (RFC 3261 §20.10).
import { isToken, isWs } from './grammar.js';
import type { Params } from './params.js';
import { getParam, parseParams, formatParams } from './params.js';
import type { Uri } from './uri.js';
import { parseUri } from './uri.js';

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
  const v = value.trim();
  if (v.length === 0) return undefined;
  let displayName: string | undefined;
  let i = 0;
  if (v.charCodeAt(0) === 34) { // quoted display name
    i = 1;
    for (;;) {
      if (i >= v.length) return undefined;
      const c = v.charCodeAt(i);
      if (c === 92) i += 2;
      else if (c === 34) break;
      else i++;
    }
    displayName = v.slice(0, i + 1);
    i++;
    while (i < v.length && isWs(v.charCodeAt(i))) i++;
    if (v.charCodeAt(i) !== 60) return undefined;
  } else {
    const lt = v.indexOf('<');
    if (lt === -1) {
      // addr-spec: the URI ends at the first ';' and may not contain ',' or '?' (§20: such URIs need <>)
      const semi = v.indexOf(';');
      const uri = (semi === -1 ? v : v.slice(0, semi)).trim();
      if (uri.indexOf(',') !== -1 || uri.indexOf('?') !== -1 || /\s/.test(uri)) return undefined;
      const parsedUri = parseUri(uri);
      if (parsedUri === undefined) return undefined;
      const params = semi === -1 ? [] : parseParams(v, semi);
      if (params === undefined) return undefined;
      return { displayName: undefined, uri, parsedUri, bracketed: false, params };
    }
    const dn = v.slice(0, lt).trim();
    if (dn.length > 0) {
      for (const word of dn.split(/[ \t]+/)) if (!isToken(word)) return undefined;
      displayName = dn;
    }
    i = lt;
  }
  // v[i] === '<'
  const gt = v.indexOf('>', i);
  if (gt === -1) return undefined;
  const uri = v.slice(i + 1, gt);
  const parsedUri = parseUri(uri);
  if (parsedUri === undefined) return undefined;
  const params = parseParams(v, gt + 1);
  if (params === undefined) return undefined;
  return { displayName, uri, parsedUri, bracketed: true, params };
};

export const tagOf = (na: NameAddr | undefined): string | undefined => {
  if (na === undefined) return undefined;
  const t = getParam(na.params, 'tag');
  return typeof t === 'string' ? t : undefined;
};

export const formatNameAddr = (na: { displayName?: string | undefined; uri: string; params?: Params }): string => {
  const dn = na.displayName !== undefined && na.displayName.length > 0 ? `${na.displayName} ` : '';
  return `${dn}<${na.uri}>${na.params ? formatParams(na.params) : ''}`;
};
