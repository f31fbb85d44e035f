// The SIP message model: a start line, an ordered list of header lines kept byte for byte,
// and the body. Typed views (Via, From, To, CSeq, ...) are parsed on first use and cached;
// any change to the headers drops the cache. Header text is held as latin1 strings, so every
// byte that came in goes out unchanged (see `text()` for UTF-8 display).
import { headerKey } from './header-names.js';
import { splitCommas, collapseLws, isDigits } from './grammar.js';
import type { NameAddr } from './name-addr.js';
import { parseNameAddr, tagOf } from './name-addr.js';
import type { Via } from './via.js';
import { parseVia } from './via.js';
import type { Uri } from './uri.js';
import { parseUri } from './uri.js';

export interface Header {
  /** the name as written (`v`, `VIA`, `Via`) */
  name: string;
  /** lower-case full name (`via`) */
  key: string;
  /** value with folding removed, trimmed */
  value: string;
  /** the exact line(s) as received, without the final CRLF; undefined once changed */
  raw: string | undefined;
}

export interface HeaderItem {
  value: string;
  /** index into `headers` */
  header: number;
  /** position within that header line's comma-separated list */
  item: number;
}

export interface CSeq {
  seq: number;
  method: string;
}

export interface ContactValue {
  star: boolean;
  nameAddr: NameAddr | undefined;
}

export class SipMessage {
  /** request fields ('' / 0 on the other kind) */
  method = '';
  uri = '';
  status = 0;
  reason = '';
  version = 'SIP/2.0';
  /** the start line as received; undefined once changed */
  startLineRaw: string | undefined = undefined;
  headers: Header[] = [];
  body: Buffer = EMPTY;
  private cache: Map<string, unknown> | undefined = undefined;

  get isRequest(): boolean {
    return this.status === 0;
  }

  get isResponse(): boolean {
    return this.status !== 0;
  }

  static request(method: string, uri: string): SipMessage {
    const m = new SipMessage();
    m.method = method;
    m.uri = uri;
    return m;
  }

  static response(status: number, reason: string): SipMessage {
    const m = new SipMessage();
    m.status = status;
    m.reason = reason;
    return m;
  }

  // ---- raw header access -------------------------------------------------------------

  /** The value of the first header with this key (lower-case full name). */
  get(key: string): string | undefined {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.key === key) return hs[i]!.value;
    return undefined;
  }

  has(key: string): boolean {
    return this.indexOf(key) !== -1;
  }

  indexOf(key: string, from = 0): number {
    const hs = this.headers;
    for (let i = from; i < hs.length; i++) if (hs[i]!.key === key) return i;
    return -1;
  }

  /** Every header line's value with this key, in order. */
  getAll(key: string): string[] {
    const out: string[] = [];
    for (const h of this.headers) if (h.key === key) out.push(h.value);
    return out;
  }

  count(key: string): number {
    let n = 0;
    for (const h of this.headers) if (h.key === key) n++;
    return n;
  }

  /** Values of a list header across all its lines, split on top-level commas. */
  list(key: string): HeaderItem[] {
    return this.cached(`list:${key}`, () => {
      const out: HeaderItem[] = [];
      const hs = this.headers;
      for (let i = 0; i < hs.length; i++) {
        if (hs[i]!.key !== key) continue;
        const items = splitCommas(hs[i]!.value);
        for (let j = 0; j < items.length; j++) out.push({ value: items[j]!, header: i, item: j });
      }
      return out;
    });
  }

  // ---- changes ---------------------------------------------------------------------

  private changed(): void {
    this.cache = undefined;
  }

  /** Adds a header line before all others (Via, Record-Route). */
  prepend(name: string, value: string): void {
    this.headers.unshift({ name, key: headerKey(name), value, raw: undefined });
    this.changed();
  }

  /** Adds a header line before the first line with the same key, or at the end. */
  insertFirst(name: string, value: string): void {
    const key = headerKey(name);
    const i = this.indexOf(key);
    const h: Header = { name, key, value, raw: undefined };
    if (i === -1) this.headers.push(h);
    else this.headers.splice(i, 0, h);
    this.changed();
  }

  append(name: string, value: string): void {
    this.headers.push({ name, key: headerKey(name), value, raw: undefined });
    this.changed();
  }

  /** Replaces the first header with this name's key (keeping its position), removes the others. */
  set(name: string, value: string): void {
    const key = headerKey(name);
    const i = this.indexOf(key);
    if (i === -1) {
      this.append(name, value);
      return;
    }
    const old = this.headers[i]!;
    this.headers[i] = { name: old.name, key, value, raw: undefined };
    this.headers = this.headers.filter((h, j) => j <= i || h.key !== key);
    this.changed();
  }

  remove(key: string): void {
    const before = this.headers.length;
    this.headers = this.headers.filter((h) => h.key !== key);
    if (this.headers.length !== before) this.changed();
  }

  /** Removes the first item of a list header (our Via from a response, our Route). */
  removeFirstItem(key: string): void {
    const first = this.list(key)[0];
    if (first === undefined) return;
    const h = this.headers[first.header]!;
    const items = splitCommas(h.value);
    if (items.length <= 1) this.headers.splice(first.header, 1);
    else this.headers[first.header] = { name: h.name, key: h.key, value: items.slice(1).join(', '), raw: undefined };
    this.changed();
  }

  /** Replaces the first item of a list header, keeping the others on that line. */
  replaceFirstItem(key: string, value: string): void {
    const first = this.list(key)[0];
    if (first === undefined) return;
    const h = this.headers[first.header]!;
    const items = splitCommas(h.value);
    items[0] = value;
    this.headers[first.header] = { name: h.name, key: h.key, value: items.join(', '), raw: undefined };
    this.changed();
  }

  setRequestUri(uri: string): void {
    this.uri = uri;
    this.startLineRaw = undefined;
  }

  // ---- typed views -----------------------------------------------------------------

  private cached<T>(k: string, f: () => T): T {
    let c = this.cache;
    if (c === undefined) c = this.cache = new Map();
    if (c.has(k)) return c.get(k) as T;
    const v = f();
    c.set(k, v);
    return v;
  }

  /** Every Via, top first; an entry is undefined where a value does not parse. */
  vias(): Array<Via | undefined> {
    return this.cached('vias', () => this.list('via').map((it) => parseVia(it.value)));
  }

  get topVia(): Via | undefined {
    return this.cached('topVia', () => {
      const first = this.list('via')[0];
      return first === undefined ? undefined : parseVia(first.value);
    });
  }

  get from(): NameAddr | undefined {
    return this.cached('from', () => {
      const v = this.get('from');
      return v === undefined ? undefined : parseNameAddr(v);
    });
  }

  get to(): NameAddr | undefined {
    return this.cached('to', () => {
      const v = this.get('to');
      return v === undefined ? undefined : parseNameAddr(v);
    });
  }

  get fromTag(): string | undefined {
    return tagOf(this.from);
  }

  get toTag(): string | undefined {
    return tagOf(this.to);
  }

  get callId(): string | undefined {
    return this.get('call-id');
  }

  get cseq(): CSeq | undefined {
    return this.cached('cseq', () => parseCSeq(this.get('cseq')));
  }

  /** undefined when absent; NaN when malformed */
  get maxForwards(): number | undefined {
    const v = this.get('max-forwards');
    if (v === undefined) return undefined;
    return isDigits(v) ? Number(v) : NaN;
  }

  get contentType(): string | undefined {
    return this.get('content-type');
  }

  /** undefined when absent or malformed */
  get expires(): number | undefined {
    const v = this.get('expires');
    return v !== undefined && isDigits(v) ? Number(v) : undefined;
  }

  contacts(): Array<ContactValue | undefined> {
    return this.cached('contacts', () =>
      this.list('contact').map((it) => (it.value === '*' ? { star: true, nameAddr: undefined } : nameAddrContact(it.value))),
    );
  }

  routes(): Array<NameAddr | undefined> {
    return this.cached('routes', () => this.list('route').map((it) => parseNameAddr(it.value)));
  }

  recordRoutes(): Array<NameAddr | undefined> {
    return this.cached('recordRoutes', () => this.list('record-route').map((it) => parseNameAddr(it.value)));
  }

  get requestUri(): Uri | undefined {
    return this.cached('ruri', () => (this.isRequest ? parseUri(this.uri) : undefined));
  }

  /** A decoded view of a header value for people (UTF-8), e.g. User-Agent, display names. */
  text(key: string): string | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : latin1ToUtf8(v);
  }

  // ---- serializing -----------------------------------------------------------------

  startLine(): string {
    if (this.startLineRaw !== undefined) return this.startLineRaw;
    return this.status === 0 ? `${this.method} ${this.uri} ${this.version}` : `${this.version} ${this.status} ${this.reason}`;
  }

  /**
   * The message as bytes: unchanged lines exactly as received, changed ones as `Name: value`.
   * A Content-Length is added when absent (a stream needs it) and corrected when the body changed.
   */
  toBuffer(): Buffer {
    let s = this.startLine() + '\r\n';
    let hasCl = false;
    const bodyLen = this.body.length;
    for (const h of this.headers) {
      if (h.key === 'content-length') {
        if (hasCl) continue;
        hasCl = true;
        if (h.value !== String(bodyLen) && !(isDigits(h.value) && Number(h.value) === bodyLen)) {
          s += `${h.name}: ${bodyLen}\r\n`;
          continue;
        }
      }
      s += h.raw !== undefined ? h.raw + '\r\n' : `${h.name}: ${h.value}\r\n`;
    }
    if (!hasCl) s += `Content-Length: ${bodyLen}\r\n`;
    s += '\r\n';
    if (bodyLen === 0) return Buffer.from(s, 'latin1');
    const head = Buffer.from(s, 'latin1');
    return Buffer.concat([head, this.body], head.length + bodyLen);
  }

  toString(): string {
    return this.toBuffer().toString('latin1');
  }

  /** A copy whose header list and typed views can change without touching this one. */
  clone(): SipMessage {
    const m = new SipMessage();
    m.method = this.method;
    m.uri = this.uri;
    m.status = this.status;
    m.reason = this.reason;
    m.version = this.version;
    m.startLineRaw = this.startLineRaw;
    m.headers = this.headers.slice();
    m.body = this.body;
    return m;
  }
}

const EMPTY = Buffer.alloc(0);

const nameAddrContact = (v: string): ContactValue | undefined => {
  const na = parseNameAddr(v);
  return na === undefined ? undefined : { star: false, nameAddr: na };
};

export const parseCSeq = (v: string | undefined): CSeq | undefined => {
  if (v === undefined) return undefined;
  const s = collapseLws(v);
  const sp = s.indexOf(' ');
  if (sp === -1) return undefined;
  const num = s.slice(0, sp);
  const method = s.slice(sp + 1);
  if (!isDigits(num) || num.length > 10 || method.length === 0 || method.indexOf(' ') !== -1) return undefined;
  const seq = Number(num);
  if (seq > 0x7fffffff) return undefined; // RFC 3261 §8.1.1.5: less than 2**31
  return { seq, method };
};

export const latin1ToUtf8 = (s: string): string => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return Buffer.from(s, 'latin1').toString('utf8');
  return s;
};

export const utf8ToLatin1 = (s: string): string => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
};
