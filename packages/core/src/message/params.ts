// Generic parameters (`;name=value`) of header fields and URIs.
import { TOKEN, HOST, isWs } from './grammar.js';

/** Parameters in the order written; names lower-cased, values as written (quoted strings keep their quotes). */
export type Params = Array<[name: string, value: string | null]>;

export const getParam = (params: Params, name: string): string | null | undefined => {
  for (let i = 0; i < params.length; i++) if (params[i]![0] === name) return params[i]![1];
  return undefined;
};

export const hasParam = (params: Params, name: string): boolean => getParam(params, name) !== undefined;

export const formatParams = (params: Params): string => {
  let s = '';
  for (const [n, v] of params) s += v === null ? `;${n}` : `;${n}=${v}`;
  return s;
};

const skipWs = (s: string, i: number): number => {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
};

const isValueChar = (c: number): boolean => c < 128 && (TOKEN[c] === 1 || HOST[c] === 1);

/**
 * Parses `*( SEMI generic-param )` starting at `s[i]` (which must be `;` or the end).
 * Returns undefined on a syntax error (empty parameter, bad characters, unterminated quote).
 */
export const parseParams = (s: string, i = 0): Params | undefined => {
  const out: Params = [];
  i = skipWs(s, i);
  while (i < s.length) {
    if (s.charCodeAt(i) !== 59) return undefined; // ';'
    i = skipWs(s, i + 1);
    const ns = i;
    while (i < s.length && s.charCodeAt(i) < 128 && TOKEN[s.charCodeAt(i)] === 1) i++;
    if (i === ns) return undefined;
    const name = s.slice(ns, i).toLowerCase();
    i = skipWs(s, i);
    let value: string | null = null;
    if (i < s.length && s.charCodeAt(i) === 61) { // '='
      i = skipWs(s, i + 1);
      if (s.charCodeAt(i) === 34) {
        const vs = i;
        i++;
        for (;;) {
          if (i >= s.length) return undefined;
          const c = s.charCodeAt(i);
          if (c === 92) i += 2;
          else if (c === 34) { i++; break; }
          else i++;
        }
        value = s.slice(vs, i);
      } else {
        const vs = i;
        while (i < s.length && isValueChar(s.charCodeAt(i))) i++;
        if (i === vs) return undefined;
        value = s.slice(vs, i);
      }
      i = skipWs(s, i);
    }
    out.push([name, value]);
  }
  return out;
};
