// Parses one SIP message from bytes (RFC 3261 §7, §25). Only the start line and the header
// lines are split here, into offsets of the text received; typed values are parsed by
// `validate` (which a proxy runs on every message) or on first use. Throws only SipParseError.
import type { ParseErrorCode } from './errors.js';
import { SipParseError } from './errors.js';
import { commonKeyIn, headerKeyAt, headerKeyOfHash, NAME_LOWER, SINGLE_VALUE } from './header-names.js';
import { TOKEN, isDigits, trimLws } from './grammar.js';
import type { Header } from './message.js';
import { SipMessage } from './message.js';
import { isSipUri } from './uri.js';

export interface ParseOptions {
  /** a datagram: the body is what follows the headers, Content-Length may be absent (default true) */
  datagram?: boolean;
  /** refuse messages with more header lines (default 256) */
  maxHeaders?: number;
  /** run `validate` (default true) */
  validate?: boolean;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');
/** Messages up to this size are converted to text whole (see parseMessage). */
const WHOLE_TEXT = 4096;

// Module-local copies of what the per-line and per-character loops use: vitest's module runner
// (tests, benchmarks) turns each use of an import into a getter call.
const keyAt = headerKeyAt;
const Message = SipMessage;
const isSipUri_ = isSipUri;
const isDigits_ = isDigits;
const keyOfHash = headerKeyOfHash;
const commonKey = commonKeyIn;
const NAME_LOWER_ = NAME_LOWER;
const TOKEN_CHAR = TOKEN.slice();

export const parseMessage = (buf: Buffer, opts: ParseOptions = {}): SipMessage => {
  const datagram = opts.datagram ?? true;
  const maxHeaders = opts.maxHeaders ?? 256;
  let start = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= buf.length) throw new SipParseError('empty', 'empty message');

  const msg = new Message();
  let bodyStart = buf.length <= WHOLE_TEXT ? oneScan(buf, start, msg, maxHeaders) : -1;
  if (bodyStart === -1) bodyStart = stepByStep(buf, start, msg, maxHeaders);

  // body
  const v = msg.get('content-length');
  const available = buf.length - bodyStart;
  if (v !== undefined) {
    if (!isDigits_(v) || v.length > 10) fail(msg, 'content-length', `bad Content-Length: ${v.slice(0, 20)}`, 'content-length');
    const n = Number(v);
    if (n > available) fail(msg, 'body-truncated', `Content-Length ${n} but ${available} bytes follow`, 'content-length');
    if (n !== 0) msg.body = buf.subarray(bodyStart, bodyStart + n);
  } else if (datagram && available > 0) {
    msg.body = buf.subarray(bodyStart);
  }

  if (opts.validate ?? true) validate(msg);
  return msg;
};

/*
 * Both ways below read the message as text indexed like `buf` (text[k] is buf[k]): lines are
 * found and values sliced in the text, characters read from the bytes.
 */

/**
 * The common case in one pass: a message small enough to be taken as text whole, CRLF line
 * ends, no folding. The header lines are scanned up to the empty line. Returns where the body
 * starts, or -1 for anything else (nothing is changed in `msg` then).
 */
const oneScan = (buf: Buffer, start: number, msg: SipMessage, maxHeaders: number): number => {
  const text = buf.toString('latin1');
  const nl = text.indexOf('\n', start);
  if (nl <= start || buf[nl - 1] !== 13) return -1;
  const headEnd = scanLines(text, buf, nl + 1, -1, maxHeaders);
  if (headEnd === -1) {
    dropLines();
    return -1;
  }
  const offs = lineOffs();
  const keys = lineKeys();
  parseStartLine(text, buf, start, headEnd, msg, false);
  msg.loadHeaders(text, buf, offs, keys, msg.isRequest ? start + msg.method.length + 1 : -1);
  if (msg.version !== 'SIP/2.0') throw unsupportedVersion(msg);
  return headEnd + 4;
};

/** Everything else: the empty line found first (CRLF or bare LF), then the start line, then the header lines. */
const stepByStep = (buf: Buffer, start: number, msg: SipMessage, maxHeaders: number): number => {
  let headEnd = buf.indexOf(CRLFCRLF, start);
  let bodyStart: number;
  let lf = false;
  if (headEnd !== -1) bodyStart = headEnd + 4;
  else {
    // tolerate bare-LF line endings (some devices); a message without the empty line is cut off
    headEnd = buf.indexOf(LFLF, start);
    if (headEnd === -1) {
      if (buf.indexOf(0x0d, start) === -1 && buf[buf.length - 1] === 10) {
        headEnd = buf.length - 1;
        bodyStart = buf.length;
        lf = true;
      } else throw new SipParseError('header-syntax', 'no empty line after the header section');
    } else {
      bodyStart = headEnd + 2;
      lf = true;
    }
  }
  const head = buf.toString('latin1', 0, headEnd);
  const lineEnd = parseStartLine(head, buf, start, headEnd, msg, lf);
  if (msg.version !== 'SIP/2.0') {
    // 505: read the headers anyway, so the answer can be addressed
    try {
      parseHeaders(head, buf, lineEnd, headEnd, msg, maxHeaders, lf, -1);
    } catch {
      // the version is what the sender needs to hear about
    }
    throw unsupportedVersion(msg);
  }
  // a request's Request-URI follows the method and one SP
  parseHeaders(head, buf, lineEnd, headEnd, msg, maxHeaders, lf, msg.isRequest ? start + msg.method.length + 1 : -1);
  return bodyStart;
};

const unsupportedVersion = (msg: SipMessage): SipParseError => {
  const e = new SipParseError('version', `unsupported version ${msg.version}`, { status: 505 });
  e.partial = msg;
  return e;
};

export type ParseResult = { ok: true; message: SipMessage } | { ok: false; error: SipParseError };

export const tryParseMessage = (buf: Buffer, opts?: ParseOptions): ParseResult => {
  try {
    return { ok: true, message: parseMessage(buf, opts) };
  } catch (e) {
    if (e instanceof SipParseError) return { ok: false, error: e };
    // never expected: any other failure is reported as a malformed message, never thrown
    return { ok: false, error: new SipParseError('header-syntax', 'unparseable message', { cause: e }) };
  }
};

/** Throws a SipParseError carrying what was parsed; a failed response is discarded (status 0). */
const fail = (msg: SipMessage, code: ParseErrorCode, text: string, header?: string): never => {
  const e = new SipParseError(code, text, { status: msg.isResponse ? 0 : 400, ...(header === undefined ? {} : { header }) });
  e.partial = msg;
  throw e;
};

const RESPONSE_RE = /^SIP\/(\d+\.\d+) (\d+)(?: (.*))?$/i;
const VERSION_RE = /^SIP\/\d+\.\d+$/i;

/** True when `s` starts with `SIP/2.0` at `i` (the name case-insensitive, RFC 3261 §7.1). */
const isSip20At = (s: string, i: number): boolean =>
  (s.charCodeAt(i) | 32) === 115 && (s.charCodeAt(i + 1) | 32) === 105 && (s.charCodeAt(i + 2) | 32) === 112 &&
  s.charCodeAt(i + 3) === 47 && s.charCodeAt(i + 4) === 50 && s.charCodeAt(i + 5) === 46 && s.charCodeAt(i + 6) === 48;

/**
 * Splits the header lines after the start line (`head[from..]`). Every line keeps its exact text
 * in `raw`; folded lines are joined (RFC 3261 §7.3.1). A CR or LF inside a line is refused: a
 * downstream parser could take it for a line end and see a header this one did not.
 */
const parseHeaders = (head: string, bytes: Buffer, from: number, n: number, msg: SipMessage, maxHeaders: number, lf: boolean, uriPos: number): void => {
  if (!lf) {
    if (scanLines(head, bytes, from, n, maxHeaders) !== -1) {
      const offs = lineOffs();
      msg.loadHeaders(head, bytes, offs, lineKeys(), uriPos);
      return;
    }
    dropLines();
  }
  eagerHeaders(head, from, n, msg, maxHeaders, lf);
};

// What scanLines found, handed out at its exact size (lineOffs, lineKeys): arrays grown by push
// from empty reserve 17 slots, then 41, 77, 131, copying each time (~1.1 KB allocated for the 70
// offsets of a 14-line message, of which 576 bytes are needed). Filled by push once: packed, as
// the copies are.
const LINE_OFFS: number[] = [];
const LINE_KEYS: string[] = [];
for (let i = 0; i < 5 * 64; i++) LINE_OFFS.push(0);
for (let i = 0; i < 64; i++) LINE_KEYS.push('');
/** lines in LINE_OFFS / LINE_KEYS */
let lineCount = 0;

const lineOffs = (): number[] => LINE_OFFS.slice(0, 5 * lineCount);

/** the keys scanned, as an array of their own; the scratch lets go of them (a key may be a slice of the message) */
const lineKeys = (): string[] => {
  const keys = LINE_KEYS.slice(0, lineCount);
  dropLines();
  return keys;
};

const dropLines = (): void => {
  for (let i = 0; i < lineCount; i++) LINE_KEYS[i] = '';
  lineCount = 0;
};

/**
 * The common case, CRLF lines and no folding: records in LINE_OFFS and LINE_KEYS (lineCount
 * lines) where each line's name and value are, building no strings. Reads up to `n`, or up to the empty line when `n` is
 * -1; returns that end (where the CRLFCRLF is), or -1 on anything else, which `eagerHeaders`
 * then reads (and reports, with what was parsed so far).
 */
const scanLines = (head: string, b: Buffer, from: number, n: number, maxHeaders: number): number => {
  const limit = n === -1 ? head.length : n;
  const offs = LINE_OFFS;
  const keys = LINE_KEYS;
  let k = 0;
  lineCount = 0;
  let pos = from;
  let cr = head.indexOf('\r', pos);
  let c = 0;
  let l = 0;
  while (pos < limit) {
    let nl = head.indexOf('\n', pos);
    let end: number;
    if (nl === -1 || nl > limit) {
      if (n === -1) return -1; // no empty line
      end = nl = n;
    } else if (nl === pos || b[nl - 1] !== 13) return -1;
    else end = nl - 1;
    if (end === pos && n === -1) return pos - 2; // the empty line
    if (cr !== -1 && cr < pos) cr = head.indexOf('\r', pos);
    if (cr !== -1 && cr < end) return -1;
    // the name: a common one matched as it is read, else token characters hashed; then HCOLON
    let key = commonKey(b, pos, end);
    let i: number;
    if (key !== undefined) {
      c = b[pos + 1]!;
      i = c === 58 || c === 32 || c === 9 ? pos + 1 : pos + key.length;
    } else {
      let h = 0;
      i = pos;
      while (i < end && (c = b[i]!) < 128 && (l = NAME_LOWER_[c]!) !== 0) {
        h = (Math.imul(h, 33) + l) | 0; // nameHash, inlined
        i++;
      }
      if (i > pos) key = keyOfHash(head, pos, i, h);
    }
    const ne = i;
    while (i < end && ((c = b[i]!) === 32 || c === 9)) i++;
    if (ne === pos || i >= end || b[i] !== 58 || k >= maxHeaders) return -1;
    let vs = i + 1;
    while (vs < end && ((c = b[vs]!) === 32 || c === 9)) vs++;
    let ve = end;
    while (ve > vs && ((c = b[ve - 1]!) === 32 || c === 9)) ve--;
    if (k < keys.length) {
      const j = 5 * k;
      offs[j] = pos;
      offs[j + 1] = ne;
      offs[j + 2] = vs;
      offs[j + 3] = ve;
      offs[j + 4] = end;
      keys[k] = key!;
    } else {
      offs.push(pos, ne, vs, ve, end);
      keys.push(key!);
    }
    lineCount = ++k;
    pos = nl + 1;
  }
  return n === -1 ? -1 : n;
};

const eagerHeaders = (head: string, from: number, n: number, msg: SipMessage, maxHeaders: number, lf: boolean): void => {
  const headers: Header[] = [];
  msg.headers = headers;
  let last: Header | undefined;
  let pos = from;
  let cr = head.indexOf('\r', pos);
  while (pos < n) {
    let nl = head.indexOf('\n', pos);
    if (nl === -1 || nl > n) nl = n;
    let end = nl;
    if (nl < n || lf) {
      if (nl > pos && head.charCodeAt(nl - 1) === 13) end--;
      else if (!lf) fail(msg, 'header-syntax', 'bare LF in a header line');
    }
    if (cr !== -1 && cr < pos) cr = head.indexOf('\r', pos);
    if (cr !== -1 && cr < end) fail(msg, 'header-syntax', 'bare CR in a header line');
    const c0 = head.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) {
      // folded continuation of the previous header
      if (last === undefined) fail(msg, 'header-syntax', 'continuation line before any header');
      const line = head.slice(pos, end);
      last!.raw = `${last!.raw!}\r\n${line}`;
      const t = trimLws(line);
      if (t.length > 0) last!.value = last!.value.length === 0 ? t : `${last!.value} ${t}`;
    } else {
      const colon = head.indexOf(':', pos);
      if (colon === -1 || colon >= end || colon === pos) fail(msg, 'header-syntax', `not a header line: ${head.slice(pos, Math.min(end, pos + 40))}`);
      let ne = colon;
      let c = 0;
      while (ne > pos && ((c = head.charCodeAt(ne - 1)) === 32 || c === 9)) ne--;
      const key = keyAt(head, pos, ne);
      if (key === undefined) fail(msg, 'header-syntax', `bad header name: ${head.slice(pos, Math.min(ne, pos + 40))}`);
      if (headers.length >= maxHeaders) fail(msg, 'too-many-headers', `more than ${maxHeaders} header lines`);
      let vs = colon + 1;
      while (vs < end && ((c = head.charCodeAt(vs)) === 32 || c === 9)) vs++;
      let ve = end;
      while (ve > vs && ((c = head.charCodeAt(ve - 1)) === 32 || c === 9)) ve--;
      last = { name: head.slice(pos, ne), key: key!, value: head.slice(vs, ve), raw: head.slice(pos, end) };
      headers.push(last);
    }
    pos = nl + 1;
  }
};

/** Parses the start line at `head[start..n)` into `msg`; returns the index where the header lines start. */
const parseStartLine = (head: string, b: Buffer, start: number, n: number, msg: SipMessage, lf: boolean): number => {
  let nl = head.indexOf('\n', start);
  if (nl === -1 || nl > n) nl = n;
  let end = nl;
  if (nl < n || lf) {
    if (nl > start && head.charCodeAt(nl - 1) === 13) end--;
    else if (!lf) throw new SipParseError('start-line', 'bare LF in the start line');
  }
  const line = head.slice(start, end);
  if (line.indexOf('\r') !== -1) throw new SipParseError('start-line', 'bare CR in the start line');
  msg.startLineRaw = line;
  if (line.length >= 4 && (line.charCodeAt(0) | 32) === 115 && (line.charCodeAt(1) | 32) === 105 && (line.charCodeAt(2) | 32) === 112 && line.charCodeAt(3) === 47) {
    parseStatusLine(line, msg);
  } else {
    parseRequestLine(line, b, start, msg);
  }
  return nl + 1;
};

const parseStatusLine = (line: string, msg: SipMessage): void => {
  // fast path: `SIP/2.0 DDD` then end or SP reason
  const d0 = line.charCodeAt(8) - 48, d1 = line.charCodeAt(9) - 48, d2 = line.charCodeAt(10) - 48;
  if (
    line.length >= 11 && isSip20At(line, 0) && line.charCodeAt(7) === 32 &&
    d0 >= 1 && d0 <= 6 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 && (line.length === 11 || line.charCodeAt(11) === 32)
  ) {
    msg.status = d0 * 100 + d1 * 10 + d2;
    msg.reason = line.length > 12 ? line.slice(12) : '';
    msg.version = 'SIP/2.0';
    return;
  }
  const m = RESPONSE_RE.exec(line);
  if (m === null) throw new SipParseError('start-line', 'malformed status line', { status: 0 });
  if (m[2]!.length !== 3) throw new SipParseError('status-code', `bad status code ${m[2]!.slice(0, 12)}`, { status: 0 });
  const code = Number(m[2]);
  if (code < 100 || code > 699) throw new SipParseError('status-code', `bad status code ${code}`, { status: 0 });
  if (m[1] !== '2.0') throw new SipParseError('version', `unsupported version SIP/${m[1]!}`, { status: 0 });
  msg.status = code;
  msg.reason = m[3] ?? '';
  msg.version = 'SIP/2.0';
};

/** `line` is `b[base..]` as text. */
const parseRequestLine = (line: string, b: Buffer, base: number, msg: SipMessage): void => {
  const s1 = line.indexOf(' ');
  const s2 = s1 === -1 ? -1 : line.indexOf(' ', s1 + 1);
  if (s1 <= 0 || s2 === -1 || line.indexOf(' ', s2 + 1) !== -1) throw new SipParseError('start-line', 'malformed request line');
  for (let i = base; i < base + s1; i++) {
    const c = b[i]!;
    if (c > 127 || TOKEN_CHAR[c] !== 1) throw new SipParseError('start-line', 'malformed request line: method');
  }
  if (s2 === s1 + 1) throw new SipParseError('start-line', 'malformed request line: no Request-URI');
  for (let i = base + s1 + 1; i < base + s2; i++) {
    // controls, HTAB and the characters that enclose a URI (RFC 4475 §3.1.2.7: `<sip:...>`)
    const c = b[i]!;
    if (c < 32 || c === 127 || c === 34 || c === 60 || c === 62) throw new SipParseError('start-line', 'malformed request line: Request-URI');
  }
  msg.method = line.slice(0, s1);
  msg.uri = line.slice(s1 + 1, s2);
  if (line.length - s2 - 1 === 7 && isSip20At(line, s2 + 1)) {
    msg.version = 'SIP/2.0';
    return;
  }
  const version = line.slice(s2 + 1);
  if (!VERSION_RE.test(version)) throw new SipParseError('start-line', 'malformed request line: no SIP version');
  // answered with 505 once the headers are read (parseMessage)
  msg.version = `SIP/${version.slice(4)}`;
};

/**
 * The checks a proxy needs before it may act on a message: mandatory headers present and
 * single, CSeq and Max-Forwards in range, Via, From, To (and Contact in requests) well formed,
 * a Request-URI without headers. Throws SipParseError naming the header.
 */
export const validate = (msg: SipMessage): void => {
  if (msg.isRequest) {
    const ru = msg.requestUri;
    if (ru === undefined) fail(msg, 'uri', 'malformed Request-URI');
    if (isSipUri_(ru) && ru.headers !== undefined) fail(msg, 'uri', 'Request-URI carries headers');
  }
  let via = 0, from = 0, to = 0, callId = 0, cseq = 0, mf = 0, cl = 0, ct = 0;
  const keys = msg.keys();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    // by length first: most lines are none of these
    switch (k.length) {
      case 2: if (k === 'to') to++; break;
      case 3: if (k === 'via') via++; break;
      case 4: if (k === 'from') from++; else if (k === 'cseq') cseq++; break;
      case 7: if (k === 'call-id') callId++; break;
      case 12: if (k === 'max-forwards') mf++; else if (k === 'content-type') ct++; break;
      case 14: if (k === 'content-length') cl++; break;
      default: break;
    }
  }
  if (via === 0) fail(msg, 'missing-header', 'no Via', 'via');
  if (from === 0) fail(msg, 'missing-header', 'no From', 'from');
  if (to === 0) fail(msg, 'missing-header', 'no To', 'to');
  if (callId === 0) fail(msg, 'missing-header', 'no Call-ID', 'call-id');
  if (cseq === 0) fail(msg, 'missing-header', 'no CSeq', 'cseq');
  if (cl > 1) fail(msg, 'content-length', 'more than one Content-Length', 'content-length');
  if (from > 1 || to > 1 || callId > 1 || cseq > 1 || mf > 1 || ct > 1) {
    for (const k of SINGLE_VALUE) if (msg.count(k) > 1) fail(msg, 'duplicate-header', `more than one ${k}`, k);
  }
  const cs = msg.cseq;
  if (cs === undefined) fail(msg, 'cseq', 'malformed CSeq', 'cseq');
  if (msg.isRequest && cs!.method !== msg.method) fail(msg, 'cseq-method', 'CSeq method does not match the request method', 'cseq');
  if (mf === 1) {
    const m = msg.maxForwards!;
    if (Number.isNaN(m) || m > 255) fail(msg, 'max-forwards', 'malformed Max-Forwards', 'max-forwards');
  }
  if (!isCallId(msg.callId!)) fail(msg, 'header-syntax', 'malformed Call-ID', 'call-id');
  const vias = msg.vias();
  for (let i = 0; i < vias.length; i++) if (vias[i] === undefined) fail(msg, 'via', 'malformed Via', 'via');
  if (msg.from === undefined) fail(msg, 'name-addr', 'malformed From', 'from');
  if (msg.to === undefined) fail(msg, 'name-addr', 'malformed To', 'to');
  if (msg.isRequest) {
    const cs = msg.contacts();
    for (let i = 0; i < cs.length; i++) if (cs[i] === undefined) fail(msg, 'name-addr', 'malformed Contact', 'contact');
  }
};

/** Call-ID = word [ "@" word ]: not empty, no white space or control characters. */
const NOT_CALL_ID = /[\x00-\x20\x7f\xa0]/;
const isCallId = (s: string): boolean => s.length > 0 && !NOT_CALL_ID.test(s);
