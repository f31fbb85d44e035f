// Generic parameters (`;name=value`) of header fields and URIs.
import { TOKEN, HOST, bytesOf } from './grammar.js';

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

// Module-local tables: vitest's module runner (tests, benchmarks) turns each use of an import
// into a getter call, which the per-character loops here must not pay.
const NAME_CHAR = TOKEN.slice();
const VALUE_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) VALUE_CHAR[c] = TOKEN[c]! | HOST[c]!;

// Parameter names met in nearly every message, handed out as the same string each time: no copy
// per message, and getParam finds them by identity.
const COMMON = ['branch', 'rport', 'received', 'maddr', 'ttl', 'tag', 'lr', 'transport', 'user', 'expires', 'q', 'ob', 'method', 'ftag'];
const BY_LENGTH: string[][] = [];
for (const k of COMMON) (BY_LENGTH[k.length] ??= []).push(k);

/** The parameter name written at `s[a..e)`, lower-cased (`upper`: it holds upper-case letters). @internal */
export const paramName = (b: Uint8Array, s: string, a: number, e: number, upper: boolean): string => {
  const candidates = BY_LENGTH[e - a];
  if (candidates !== undefined) {
    for (let k = 0; k < candidates.length; k++) {
      const name = candidates[k]!;
      let i = 0;
      while (i < name.length) {
        let c = b[a + i]!;
        if (c >= 65 && c <= 90) c += 32;
        if (c !== name.charCodeAt(i)) break;
        i++;
      }
      if (i === name.length) return name;
    }
  }
  return upper ? s.slice(a, e).toLowerCase() : s.slice(a, e);
};

const NO_PARAM: [string, string | null] = ['', null];

/**
 * Collects parsed parameters and hands them out at their exact size: an array grown by push from
 * empty reserves 17 slots at its first push (152 bytes, for the one or two parameters a header
 * usually has, in every Via, URI and name-addr of every message). One per parser: they do not
 * nest. @internal
 */
export class ParamCollector {
  private readonly items: Params = [];
  private n = 0;

  add(name: string, value: string | null): void {
    const t: [string, string | null] = [name, value];
    if (this.n < this.items.length) this.items[this.n] = t;
    else this.items.push(t);
    this.n++;
  }

  /**
   * The parameters added since the last finish, as an array of their own when `ok`; undefined
   * (a malformed list) otherwise. Either way the collector lets go of them (the strings of a
   * message are not kept here).
   */
  finish(ok: boolean): Params | undefined {
    const n = this.n;
    const out = !ok ? undefined : n === 0 ? [] : this.items.slice(0, n);
    for (let i = 0; i < n; i++) this.items[i] = NO_PARAM;
    this.n = 0;
    return out;
  }
}

const collected = new ParamCollector();

/**
 * Parses `*( SEMI generic-param )` starting at `s[i]` (which must be `;` or the end).
 * Returns undefined on a syntax error (empty parameter, bad characters, unterminated quote).
 */
export const parseParams = (s: string, i = 0): Params | undefined => {
  const b = bytesOf(s);
  return b === undefined ? undefined : paramsAt(b, s, i, s.length);
};

/** `parseParams` over `s[i..n)`, reading the characters from `b` (`b[k]` is `s.charCodeAt(k)`). @internal */
export const paramsAt = (b: Uint8Array, s: string, i: number, n: number): Params | undefined => {
  return collected.finish(collect(b, s, i, n, collected));
};

/** the parameters of `s[i..n)` into `out`; false when malformed */
const collect = (b: Uint8Array, s: string, i: number, n: number, out: ParamCollector): boolean => {
  let c = 0;
  while (i < n && ((c = b[i]!) === 32 || c === 9)) i++;
  while (i < n) {
    if (b[i]! !== 59) return false; // ';'
    i++;
    while (i < n && ((c = b[i]!) === 32 || c === 9)) i++;
    const ns = i;
    let upper = false;
    while (i < n && (c = b[i]!) < 128 && NAME_CHAR[c] === 1) {
      if (c <= 90 && c >= 65) upper = true;
      i++;
    }
    if (i === ns) return false;
    const name = paramName(b, s, ns, i, upper);
    while (i < n && ((c = b[i]!) === 32 || c === 9)) i++;
    let value: string | null = null;
    if (i < n && b[i]! === 61) { // '='
      i++;
      while (i < n && ((c = b[i]!) === 32 || c === 9)) i++;
      const vs = i;
      if (b[i]! === 34) {
        i++;
        for (;;) {
          if (i >= n) return false;
          c = b[i]!;
          if (c === 92) i += 2;
          else if (c === 34) { i++; break; }
          else i++;
        }
      } else {
        while (i < n && (c = b[i]!) < 128 && VALUE_CHAR[c] === 1) i++;
        if (i === vs) return false;
      }
      value = s.slice(vs, i);
      while (i < n && ((c = b[i]!) === 32 || c === 9)) i++;
    }
    out.add(name, value);
  }
  return true;
};
