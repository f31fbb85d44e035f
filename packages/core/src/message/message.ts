// The SIP message model: a start line, an ordered list of header lines kept byte for byte,
// and the body. Typed views (Via, From, To, CSeq, ...) are parsed on first use and cached;
// any change to the headers drops the cache. Header text is held as latin1 strings, so every
// byte that came in goes out unchanged (see `text()` for UTF-8 display).
import { headerKey } from './header-names.js';
import { splitCommas, isDigits, bytesOf, trimLws, nextTopComma } from './grammar.js';
import type { NameAddr } from './name-addr.js';
import { nameAddrAt, tagOf } from './name-addr.js';
import type { Via } from './via.js';
import { viaAt } from './via.js';
import type { Uri } from './uri.js';
import { parseUri, uriAt } from './uri.js';

// Module-local bindings of what the per-message paths call: vitest's module runner (tests,
// benchmarks) turns each use of an import into a getter call.
const nameAddrAt_ = nameAddrAt;
const viaAt_ = viaAt;
const splitCommas_ = splitCommas;
const trimLws_ = trimLws;
const nextTopComma_ = nextTopComma;
const isDigits_ = isDigits;
const parseUri_ = parseUri;
const uriAt_ = uriAt;
const bytesOf_ = bytesOf;

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
  body: Buffer = EMPTY;
  // The header lines. A parsed message keeps them as offsets into the header section text
  // (`src`, `offs`, `ks`) and builds the Header objects only when someone asks for `headers`
  // or changes them: a proxy reads a few typed headers and forwards the rest untouched.
  private hs: Header[] | undefined = [];
  private src = '';
  /**
   * the bytes of `src`: the parsers read characters from them (`bytesNow`). A parsed message's are
   * the datagram or stream bytes it came in; undefined once let go (forgetParsed), made again from
   * `src` when read.
   */
  private bytes: Uint8Array | undefined = EMPTY;
  /** where `uri` is in `src` while it is the one parsed (`uriText`), else -1 */
  private uriPos = -1;
  private uriText = '';
  /**
   * per header line: line start, name end, value start, value end, line end. A line whose first
   * items were removed (removeFirstItem) has its name end stored as `-ne - 1` and its value start
   * moved: it is written as the name, `: ` and its value.
   */
  private offs: number[] | undefined = undefined;
  private ks: string[] | undefined = undefined;
  // Typed views, parsed on first use: undefined = not parsed yet, null = absent or malformed.
  private cLists: Map<string, HeaderItem[]> | undefined = undefined;
  private cVias: Array<Via | undefined> | undefined = undefined;
  private cTopVia: Via | null | undefined = undefined;
  private cFrom: NameAddr | null | undefined = undefined;
  private cTo: NameAddr | null | undefined = undefined;
  private cCSeq: CSeq | null | undefined = undefined;
  private cContacts: Array<ContactValue | undefined> | undefined = undefined;
  private cRoutes: Array<NameAddr | undefined> | undefined = undefined;
  private cRecordRoutes: Array<NameAddr | undefined> | undefined = undefined;
  private cRuri: Uri | null | undefined = undefined;
  /**
   * the Call-ID, read once: it is asked for by every table keyed on it (trace, dialogs, shedding)
   * and stays when other headers change (a Via or Record-Route added, Max-Forwards set)
   */
  private cCallId: string | null | undefined = undefined;

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

  /** The header lines in order. Changing the array directly bypasses the typed-view caches. */
  get headers(): Header[] {
    let hs = this.hs;
    if (hs === undefined) {
      // `src` and `bytes` stay: the received lines still point into them
      const ks = this.ks!, o = this.offs!, src = this.src;
      hs = new Array<Header>(ks.length);
      for (let i = 0, j = 0; i < ks.length; i++, j += 5) {
        const ne = o[j + 1]!;
        hs[i] =
          ne >= 0
            ? new ReceivedLine(src, o[j]!, ne, o[j + 2]!, o[j + 3]!, o[j + 4]!, ks[i]!)
            : { name: src.slice(o[j]!, -ne - 1), key: ks[i]!, value: src.slice(o[j + 2]!, o[j + 3]!), raw: undefined };
      }
      this.hs = hs;
      this.ks = this.offs = undefined;
    }
    return hs;
  }

  set headers(hs: Header[]) {
    this.hs = hs;
    this.ks = this.offs = undefined;
    this.changed();
  }

  /**
   * Sets the header lines of a parsed message as offsets into `src` (see `offs`); `bytes[k]`
   * is `src.charCodeAt(k)`. `uriPos`: where the Request-URI (`uri`) is in `src`, or -1.
   * @internal the parser's entry point
   */
  loadHeaders(src: string, bytes: Uint8Array, offs: number[], keys: string[], uriPos: number): void {
    this.hs = undefined;
    this.src = src;
    this.bytes = bytes;
    this.uriPos = uriPos;
    this.uriText = this.uri;
    this.offs = offs;
    this.ks = keys;
    this.changed();
  }

  /** The key of every header line, in order. */
  keys(): string[] {
    return this.ks ?? this.headers.map((h) => h.key);
  }

  /** The value of the first header with this key (lower-case full name). */
  get(key: string): string | undefined {
    const i = this.indexOf(key);
    return i === -1 ? undefined : this.valueAt(i);
  }

  has(key: string): boolean {
    return this.indexOf(key) !== -1;
  }

  indexOf(key: string, from = 0): number {
    const ks = this.ks;
    if (ks !== undefined) {
      for (let i = from; i < ks.length; i++) if (ks[i] === key) return i;
      return -1;
    }
    const hs = this.hs!;
    for (let i = from; i < hs.length; i++) if (hs[i]!.key === key) return i;
    return -1;
  }

  /** Every header line's value with this key, in order. */
  getAll(key: string): string[] {
    const out: string[] = [];
    for (let i = this.indexOf(key); i !== -1; i = this.indexOf(key, i + 1)) out.push(this.valueAt(i));
    return out;
  }

  /** The value of the `n`-th header line with this key (0: the first), undefined when there are fewer. */
  nth(key: string, n: number): string | undefined {
    let i = this.indexOf(key);
    for (let k = 0; k < n && i !== -1; k++) i = this.indexOf(key, i + 1);
    return i === -1 ? undefined : this.valueAt(i);
  }

  count(key: string): number {
    let n = 0;
    for (let i = this.indexOf(key); i !== -1; i = this.indexOf(key, i + 1)) n++;
    return n;
  }

  private valueAt(i: number): string {
    const o = this.offs;
    return o === undefined ? this.hs![i]!.value : this.src.slice(o[5 * i + 2]!, o[5 * i + 3]!);
  }

  /** `bytes`, made again from `src` after forgetParsed let them go (a buffer of their own: see there) */
  private bytesNow(): Uint8Array {
    let b = this.bytes;
    if (b === undefined) {
      const own = Buffer.allocUnsafeSlow(this.src.length);
      own.write(this.src, 0, own.length, 'latin1');
      b = this.bytes = own;
    }
    return b;
  }

  /** Parses the whole value of header line `i`: in place when it is a line as received. */
  private parseLine<T>(i: number, parse: Parse<T>): T | undefined {
    const o = this.offs;
    if (o !== undefined) return parse(this.bytesNow(), this.src, o[5 * i + 2]!, o[5 * i + 3]!);
    const h = this.hs![i]!;
    if (h instanceof ReceivedLine && !h.edited && h.src === this.src) return parse(this.bytesNow(), this.src, h.vs, h.ve);
    return parseText(parse, h.value);
  }

  /** Values of a list header across all its lines, split on top-level commas. */
  list(key: string): HeaderItem[] {
    let lists = this.cLists;
    if (lists === undefined) lists = this.cLists = new Map();
    let out = lists.get(key);
    if (out === undefined) {
      out = [];
      for (let i = this.indexOf(key); i !== -1; i = this.indexOf(key, i + 1)) {
        const items = splitCommas_(this.valueAt(i));
        for (let j = 0; j < items.length; j++) out.push({ value: items[j]!, header: i, item: j });
      }
      lists.set(key, out);
    }
    return out;
  }

  /**
   * The text of the first item of a list header (the first line's value up to a top-level comma,
   * trimmed): `list(key)[0]?.value` without building the list.
   */
  firstItemText(key: string): string | undefined {
    const i = this.indexOf(key);
    if (i === -1) return undefined;
    const v = this.valueAt(i);
    return v.indexOf(',') === -1 ? trimLws_(v) : splitCommas_(v)[0];
  }

  /**
   * Every item of a list header, parsed, without building HeaderItems (the hot path). An
   * unchanged line is parsed where it sits in the header section text.
   */
  private items<T>(key: string, parse: Parse<T>): Array<T | undefined> {
    const out: Array<T | undefined> = [];
    for (let i = this.indexOf(key); i !== -1; i = this.indexOf(key, i + 1)) this.itemsAt(i, parse, out, false);
    return out;
  }

  /**
   * Parses the items of header line `i` into `out` (only the first when `first`). The whole
   * value is tried as one item first: no item grammar (Via, name-addr, Contact) admits a comma
   * outside quotes or <>, so a value that parses whole is a single item, and the line need not
   * be scanned for commas. Only a value that fails is split.
   */
  private itemsAt<T>(i: number, parse: Parse<T>, out: Array<T | undefined>, first: boolean): void {
    const whole = this.parseLine(i, parse);
    if (whole !== undefined) {
      out.push(whole);
      return;
    }
    const items = splitCommas_(this.valueAt(i));
    for (let j = 0; j < (first ? 1 : items.length); j++) out.push(parseText(parse, items[j]!));
  }

  /** The first item of the first header line with this key, parsed. */
  private firstItem<T>(key: string, parse: Parse<T>): T | undefined {
    const i = this.indexOf(key);
    if (i === -1) return undefined;
    const out: Array<T | undefined> = [];
    this.itemsAt(i, parse, out, true);
    return out[0];
  }

  // ---- changes ---------------------------------------------------------------------

  /**
   * Lets go of the parsed views (Vias, From, To, Contact, Route, CSeq, the Request-URI); a later
   * read parses again. For a message kept long after it was routed (an INVITE's request while its
   * call rings): its views would otherwise live, and be promoted by the collector, as long. Also
   * lets go of the bytes it was parsed from, and gives the body a buffer of its own: a received
   * message's bytes are a view into a pooled 8 KB slab shared with other messages, which a
   * message kept for seconds would keep whole.
   */
  forgetParsed(): void {
    this.changed();
    this.cRuri = undefined;
    if (this.bytes !== EMPTY) this.bytes = undefined;
    const body = this.body;
    if (body.length > 0 && body.buffer.byteLength !== body.length) {
      const own = Buffer.allocUnsafeSlow(body.length);
      body.copy(own);
      this.body = own;
    }
  }

  /** drops the typed views; the Call-ID too when `key` (the header changed) is it or unknown */
  private changed(key?: string): void {
    if (key === undefined || key === 'call-id') this.cCallId = undefined;
    this.cLists = undefined;
    this.cVias = undefined;
    this.cTopVia = undefined;
    this.cFrom = undefined;
    this.cTo = undefined;
    this.cCSeq = undefined;
    this.cContacts = undefined;
    this.cRoutes = undefined;
    this.cRecordRoutes = undefined;
  }

  /** Adds a header line before all others (Via, Record-Route). */
  prepend(name: string, value: string): void {
    const key = headerKey(name);
    this.headers.unshift({ name, key, value, raw: undefined });
    this.changed(key);
  }

  /** Adds a header line before the first line with the same key, or at the end. */
  insertFirst(name: string, value: string): void {
    const key = headerKey(name);
    const i = this.indexOf(key);
    const h: Header = { name, key, value, raw: undefined };
    if (i === -1) this.headers.push(h);
    else this.headers.splice(i, 0, h);
    this.changed(key);
  }

  append(name: string, value: string): void {
    const key = headerKey(name);
    this.headers.push({ name, key, value, raw: undefined });
    this.changed(key);
  }

  /** Replaces the first header with this name's key (keeping its position), removes the others. */
  set(name: string, value: string): void {
    const key = headerKey(name);
    const i = this.indexOf(key);
    if (i === -1) {
      this.append(name, value);
      return;
    }
    const hs = this.headers;
    hs[i] = { name: hs[i]!.name, key, value, raw: undefined };
    this.hs = hs.filter((h, j) => j <= i || h.key !== key);
    this.changed(key);
  }

  remove(key: string): void {
    const hs = this.headers;
    const kept = hs.filter((h) => h.key !== key);
    if (kept.length === hs.length) return;
    this.hs = kept;
    this.changed(key);
  }

  /** Removes the first item of a list header (our Via from a response, our Route). */
  removeFirstItem(key: string): void {
    const ks = this.ks;
    if (ks !== undefined) {
      // a line as received holding one item (no comma in it: every item grammar admits one only
      // inside quotes or <>, and then the general way below decides) goes as a whole, and the
      // others stay offsets into the text received: no Header objects, and toBuffer still sends
      // them as pieces of that text
      const i = this.indexOf(key);
      if (i === -1) return;
      const o = this.offs!;
      const b = this.bytesNow();
      let comma = -1;
      let nested = false;
      for (let k = o[5 * i + 2]!, e = o[5 * i + 3]!; k < e; k++) {
        const c = b[k];
        if (c === 44) {
          comma = k;
          break;
        }
        // a quoted string or <…> before the first comma: the general way below decides
        if (c === 34 || c === 60) nested = true;
      }
      if (comma !== -1 && !nested) {
        // the line keeps the items after the first: its value starts after that comma (and the
        // white space behind it), and it is written as name, `: ` and that rest (see `offs`)
        const e = o[5 * i + 3]!;
        let vs = comma + 1;
        let c = 0;
        while (vs < e && ((c = b[vs]!) === 32 || c === 9 || c === 13 || c === 10)) vs++;
        if (vs < e) {
          const no = o.slice();
          const ne = no[5 * i + 1]!;
          if (ne >= 0) no[5 * i + 1] = -ne - 1;
          no[5 * i + 2] = vs;
          this.offs = no;
          this.changed(key);
          return;
        }
      }
      if (comma === -1) {
        // new arrays (a clone may share these), copies of the packed ones at their size
        const no = o.slice();
        no.splice(5 * i, 5);
        const nk = ks.slice();
        nk.splice(i, 1);
        this.offs = no;
        this.ks = nk;
        this.changed(key);
        return;
      }
    }
    // the first line holds the first item (list() gives every line one at least)
    const first = this.indexOf(key);
    if (first === -1) return;
    const h = this.headers[first]!;
    // the items after the first stay as written (the fast way above writes them so too)
    const v = h.value;
    const k = nextTopComma_(v, 0);
    const rest = k === -1 ? '' : trimLws_(v.slice(k + 1));
    if (rest !== '') this.headers[first] = { name: h.name, key: h.key, value: rest, raw: undefined };
    else {
      const items = splitCommas_(v);
      if (items.length <= 1) this.headers.splice(first, 1);
      else this.headers[first] = { name: h.name, key: h.key, value: items.slice(1).join(', '), raw: undefined };
    }
    this.changed(key);
  }

  /** Removes the last item of a list header (the Request-URI a strict router moved into Route). */
  removeLastItem(key: string): void {
    const items = this.list(key);
    const last = items[items.length - 1];
    if (last === undefined) return;
    const h = this.headers[last.header]!;
    const rest = splitCommas_(h.value).slice(0, -1);
    if (rest.length === 0) this.headers.splice(last.header, 1);
    else this.headers[last.header] = { name: h.name, key: h.key, value: rest.join(', '), raw: undefined };
    this.changed(key);
  }

  /** Replaces the first item of a list header, keeping the others on that line. */
  replaceFirstItem(key: string, value: string): void {
    const first = this.indexOf(key);
    if (first === -1) return;
    const h = this.headers[first]!;
    const old = h.value;
    // one item (no comma at all): the new value alone, without splitting
    let v = value;
    if (old.indexOf(',') !== -1) {
      const items = splitCommas_(old);
      items[0] = value;
      v = items.join(', ');
    }
    this.headers[first] = { name: h.name, key: h.key, value: v, raw: undefined };
    this.changed(key);
  }

  setRequestUri(uri: string): void {
    this.uri = uri;
    this.startLineRaw = undefined;
    this.cRuri = undefined;
    this.uriPos = -1;
  }

  // ---- typed views -----------------------------------------------------------------

  /** Every Via, top first; an entry is undefined where a value does not parse. */
  vias(): Array<Via | undefined> {
    return (this.cVias ??= this.items('via', viaAt_));
  }

  get topVia(): Via | undefined {
    if (this.cTopVia === undefined) {
      this.cTopVia = (this.cVias !== undefined ? this.cVias[0] : this.firstItem('via', viaAt_)) ?? null;
    }
    return this.cTopVia ?? undefined;
  }

  get from(): NameAddr | undefined {
    if (this.cFrom === undefined) this.cFrom = this.single('from', nameAddrAt_) ?? null;
    return this.cFrom ?? undefined;
  }

  get to(): NameAddr | undefined {
    if (this.cTo === undefined) this.cTo = this.single('to', nameAddrAt_) ?? null;
    return this.cTo ?? undefined;
  }

  /** The first header line with this key, its whole value parsed. */
  private single<T>(key: string, parse: Parse<T>): T | undefined {
    const i = this.indexOf(key);
    return i === -1 ? undefined : this.parseLine(i, parse);
  }

  get fromTag(): string | undefined {
    return tagOf(this.from);
  }

  get toTag(): string | undefined {
    return tagOf(this.to);
  }

  get callId(): string | undefined {
    let c = this.cCallId;
    if (c === undefined) c = this.cCallId = this.get('call-id') ?? null;
    return c ?? undefined;
  }

  get cseq(): CSeq | undefined {
    if (this.cCSeq === undefined) this.cCSeq = this.single('cseq', cseqAt) ?? null;
    return this.cCSeq ?? undefined;
  }

  /** undefined when absent; NaN when malformed */
  get maxForwards(): number | undefined {
    const v = this.get('max-forwards');
    if (v === undefined) return undefined;
    return isDigits_(v) ? Number(v) : NaN;
  }

  get contentType(): string | undefined {
    return this.get('content-type');
  }

  /** undefined when absent or malformed */
  get expires(): number | undefined {
    const v = this.get('expires');
    return v !== undefined && isDigits_(v) ? Number(v) : undefined;
  }

  contacts(): Array<ContactValue | undefined> {
    return (this.cContacts ??= this.items('contact', contactValueAt));
  }

  routes(): Array<NameAddr | undefined> {
    return (this.cRoutes ??= this.items('route', nameAddrAt_));
  }

  recordRoutes(): Array<NameAddr | undefined> {
    return (this.cRecordRoutes ??= this.items('record-route', nameAddrAt_));
  }

  get requestUri(): Uri | undefined {
    if (this.cRuri === undefined) {
      const u = this.uri;
      // while the Request-URI is the one parsed, read it where it came in
      const p = this.uriPos;
      this.cRuri = (this.isRequest ? (p >= 0 && u === this.uriText ? uriAt_(this.bytesNow(), this.src, p, p + u.length) : parseUri_(u)) : undefined) ?? null;
    }
    return this.cRuri ?? undefined;
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
    const bodyLen = this.body.length;
    if (this.ks !== undefined) {
      const fast = this.unchangedHead(bodyLen);
      if (fast !== undefined) return this.withBody(fast, bodyLen);
    }
    let s = this.startLine() + '\r\n';
    let hasCl = false;
    const hs = this.headers;
    // consecutive lines as received go out as one piece of the text they came in
    let run: string | undefined;
    let runStart = 0;
    let runEnd = 0;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i]!;
      if (h.key === 'content-length') {
        if (hasCl) continue;
        hasCl = true;
        if (!(isDigits_(h.value) && Number(h.value) === bodyLen)) {
          if (run !== undefined) s += run.slice(runStart, runEnd) + '\r\n';
          run = undefined;
          s += `${h.name}: ${bodyLen}\r\n`;
          continue;
        }
      }
      if (h instanceof ReceivedLine && !h.edited) {
        if (run === h.src && h.at === runEnd + 2) {
          runEnd = h.end;
          continue;
        }
        if (run !== undefined) s += run.slice(runStart, runEnd) + '\r\n';
        run = h.src;
        runStart = h.at;
        runEnd = h.end;
        continue;
      }
      if (run !== undefined) s += run.slice(runStart, runEnd) + '\r\n';
      run = undefined;
      s += h.raw !== undefined ? h.raw + '\r\n' : `${h.name}: ${h.value}\r\n`;
    }
    if (run !== undefined) s += run.slice(runStart, runEnd) + '\r\n';
    if (!hasCl) s += `Content-Length: ${bodyLen}\r\n`;
    s += '\r\n';
    return this.withBody(s, bodyLen);
  }

  /**
   * The header section of a parsed message whose header lines are as received (some may have
   * been removed): the lines as pieces of the text received. Undefined when Content-Length needs correcting.
   */
  private unchangedHead(bodyLen: number): string | undefined {
    const ks = this.ks!, o = this.offs!;
    let cl = -1;
    for (let i = 0; i < ks.length; i++) {
      if (ks[i] !== 'content-length') continue;
      if (cl !== -1) return undefined;
      cl = i;
    }
    let s = this.startLine() + '\r\n';
    // the lines as runs of the text received (a line removed since splits it)
    const src = this.src;
    let runStart = -1;
    let runEnd = -1;
    for (let j = 0; j < o.length; j += 5) {
      const ne = o[j + 1]!;
      if (ne < 0) {
        // a line that lost its first items: its name, then what is left of its value
        if (runStart !== -1) s += src.slice(runStart, runEnd) + '\r\n';
        runStart = -1;
        s += `${src.slice(o[j]!, -ne - 1)}: ${src.slice(o[j + 2]!, o[j + 3]!)}\r\n`;
        continue;
      }
      if (runStart !== -1 && o[j] === runEnd + 2) {
        runEnd = o[j + 4]!;
        continue;
      }
      if (runStart !== -1) s += src.slice(runStart, runEnd) + '\r\n';
      runStart = o[j]!;
      runEnd = o[j + 4]!;
    }
    if (runStart !== -1) s += src.slice(runStart, runEnd) + '\r\n';
    if (cl === -1) s += `Content-Length: ${bodyLen}\r\n`;
    else {
      const v = this.valueAt(cl);
      if (!(isDigits_(v) && Number(v) === bodyLen)) return undefined;
    }
    return s + '\r\n';
  }

  private withBody(s: string, bodyLen: number): Buffer {
    if (bodyLen === 0) return Buffer.from(s, 'latin1');
    // one allocation: the header text and the body copied behind it
    const out = Buffer.allocUnsafe(s.length + bodyLen);
    out.write(s, 0, s.length, 'latin1');
    this.body.copy(out, s.length);
    return out;
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
    // the header section text and its offsets never change: share them until either side changes
    if (this.ks !== undefined) m.loadHeaders(this.src, this.bytesNow(), this.offs!, this.ks, this.uri === this.uriText ? this.uriPos : -1);
    else {
      m.headers = this.hs!.slice();
      // the received lines among them still read where they came in
      m.src = this.src;
      m.bytes = this.bytes;
    }
    m.body = this.body;
    m.cCallId = this.cCallId;
    return m;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * A header line of a parsed message as received: its name, value and text are sliced from the
 * header section on first read. Setting any of them makes it a changed line (written anew).
 */
class ReceivedLine implements Header {
  key: string;
  /** the header section; the line is `src[at..end)`, the value `src[vs..ve)` */
  readonly src: string;
  readonly at: number;
  readonly end: number;
  readonly vs: number;
  readonly ve: number;
  private readonly ne: number;
  /** set once name, value or raw was assigned */
  edited = false;
  private n: string | undefined = undefined;
  private v: string | undefined = undefined;
  private r: string | undefined = undefined;

  constructor(src: string, at: number, ne: number, vs: number, ve: number, end: number, key: string) {
    this.src = src;
    this.at = at;
    this.ne = ne;
    this.vs = vs;
    this.ve = ve;
    this.end = end;
    this.key = key;
  }

  get name(): string {
    return (this.n ??= this.src.slice(this.at, this.ne));
  }

  set name(n: string) {
    this.n = n;
    this.edited = true;
  }

  get value(): string {
    return (this.v ??= this.src.slice(this.vs, this.ve));
  }

  set value(v: string) {
    this.v = v;
    this.edited = true;
  }

  get raw(): string | undefined {
    return this.edited ? this.r : this.src.slice(this.at, this.end);
  }

  set raw(r: string | undefined) {
    this.r = r;
    this.edited = true;
  }
}

/** A parser of the text `s[start..end)` whose characters it reads from `b` (`b[k]` is `s.charCodeAt(k)`). */
type Parse<T> = (b: Uint8Array, s: string, start: number, end: number) => T | undefined;

/** Runs a parser over a standalone value (a changed header, one item of a list). */
const parseText = <T>(parse: Parse<T>, v: string): T | undefined => {
  const b = bytesOf_(v);
  return b === undefined ? undefined : parse(b, v, 0, v.length);
};

const contactValueAt = (b: Uint8Array, s: string, start: number, end: number): ContactValue | undefined => {
  if (end - start === 1 && b[start] === 42) return { star: true, nameAddr: undefined }; // '*'
  const na = nameAddrAt_(b, s, start, end);
  return na === undefined ? undefined : { star: false, nameAddr: na };
};

const isLws = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;

/** `CSeq: 1*DIGIT LWS Method`; the number must be below 2**31 (RFC 3261 §8.1.1.5). */
export const parseCSeq = (v: string | undefined): CSeq | undefined => (v === undefined ? undefined : parseText(cseqAt, v));

const cseqAt = (b: Uint8Array, v: string, start: number, n: number): CSeq | undefined => {
  let i = start;
  while (i < n && isLws(b[i]!)) i++;
  const ds = i;
  let seq = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
    i++;
  }
  if (i === ds || i - ds > 10 || seq > 0x7fffffff) return undefined;
  const ws = i;
  while (i < n && isLws(b[i]!)) i++;
  if (i === ws) return undefined;
  const ms = i;
  while (i < n && !isLws(b[i]!)) i++;
  if (i === ms) return undefined;
  const me = i;
  while (i < n && isLws(b[i]!)) i++;
  if (i !== n) return undefined;
  return { seq, method: ms === 0 && me === v.length ? v : v.slice(ms, me) };
};

export const latin1ToUtf8 = (s: string): string => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return Buffer.from(s, 'latin1').toString('utf8');
  return s;
};

export const utf8ToLatin1 = (s: string): string => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
};
