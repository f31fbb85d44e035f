// Parses one SIP message from bytes (RFC 3261 §7, §25). Only the start line and the header
// lines are split here; typed values are parsed by `validate` (which a proxy runs on every
// message) or on first use. Throws only SipParseError.
import { SipParseError } from './errors.js';
import { headerKey, SINGLE_VALUE } from './header-names.js';
import { TOKEN, isDigits, isToken } from './grammar.js';
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

export const parseMessage = (buf: Buffer, opts: ParseOptions = {}): SipMessage => {
  const datagram = opts.datagram ?? true;
  const maxHeaders = opts.maxHeaders ?? 256;
  let start = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= buf.length) throw new SipParseError('empty', 'empty message');

  let headEnd = buf.indexOf(CRLFCRLF, start);
  let bodyStart: number;
  let lf = false;
  if (headEnd !== -1) bodyStart = headEnd + 4;
  else {
    // tolerate bare-LF line endings (some devices); a message without the empty line is cut off
    headEnd = buf.indexOf(LFLF, start);
    if (headEnd === -1) {
      if (buf.indexOf(0x0d, start) === -1 && buf[buf.length - 1] === 10) { headEnd = buf.length - 1; bodyStart = buf.length; lf = true; }
      else throw new SipParseError('header-syntax', 'no empty line after the header section');
    } else {
      bodyStart = headEnd + 2;
      lf = true;
    }
  }
  const head = buf.toString('latin1', start, headEnd);
  const msg = new SipMessage();
  parseHead(head, msg, maxHeaders, lf);

  // body
  const clIdx = msg.indexOf('content-length');
  const available = buf.length - bodyStart;
  if (clIdx !== -1) {
    const v = msg.headers[clIdx]!.value;
    if (!isDigits(v) || v.length > 10) throw withPartial(new SipParseError('content-length', `bad Content-Length: ${v}`, { header: 'content-length' }), msg);
    const n = Number(v);
    if (n > available) throw withPartial(new SipParseError('body-truncated', `Content-Length ${n} but ${available} bytes follow`, { header: 'content-length' }), msg);
    msg.body = n === 0 ? msg.body : buf.subarray(bodyStart, bodyStart + n);
  } else if (datagram && available > 0) {
    msg.body = buf.subarray(bodyStart);
  }

  if (opts.validate ?? true) validate(msg);
  return msg;
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

const withPartial = (e: SipParseError, m: SipMessage): SipParseError => {
  e.partial = m;
  return e;
};

const RESPONSE_RE = /^SIP\/(\d+\.\d+) (\d+)(?: (.*))?$/i;
const VERSION_RE = /^SIP\/\d+\.\d+$/i;

const parseHead = (head: string, msg: SipMessage, maxHeaders: number, lf: boolean): void => {
  const eol = lf ? '\n' : '\r\n';
  let lineEnd = head.indexOf(eol);
  const first = lineEnd === -1 ? head : head.slice(0, lineEnd);
  const startLine = lf && first.endsWith('\r') ? first.slice(0, -1) : first;
  parseStartLine(startLine, msg);
  msg.startLineRaw = startLine;
  if (lineEnd === -1) return;
  let pos = lineEnd + eol.length;
  const headers: Header[] = msg.headers;
  let last: Header | undefined;
  while (pos <= head.length) {
    lineEnd = head.indexOf(eol, pos);
    if (lineEnd === -1) lineEnd = head.length;
    let line = head.slice(pos, lineEnd);
    if (lf && line.endsWith('\r')) line = line.slice(0, -1);
    pos = lineEnd + eol.length;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) {
      // folded continuation of the previous header (RFC 3261 §7.3.1)
      if (last === undefined) throw withPartial(new SipParseError('header-syntax', 'continuation line before any header'), msg);
      last.raw = `${last.raw!}\r\n${line}`;
      const t = line.trim();
      if (t.length > 0) last.value = last.value.length === 0 ? t : `${last.value} ${t}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw withPartial(new SipParseError('header-syntax', `not a header line: ${line.slice(0, 40)}`), msg);
    let ne = colon;
    while (ne > 0 && (line.charCodeAt(ne - 1) === 32 || line.charCodeAt(ne - 1) === 9)) ne--;
    const name = line.slice(0, ne);
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c > 127 || TOKEN[c] !== 1) throw withPartial(new SipParseError('header-syntax', `bad header name: ${name.slice(0, 40)}`), msg);
    }
    if (headers.length >= maxHeaders) throw withPartial(new SipParseError('too-many-headers', `more than ${maxHeaders} header lines`), msg);
    last = { name, key: headerKey(name), value: line.slice(colon + 1).trim(), raw: line };
    headers.push(last);
  }
};

const parseStartLine = (line: string, msg: SipMessage): void => {
  if (line.length >= 4 && (line.charCodeAt(0) | 32) === 115 && (line.charCodeAt(1) | 32) === 105 && (line.charCodeAt(2) | 32) === 112 && line.charCodeAt(3) === 47) {
    const m = RESPONSE_RE.exec(line);
    if (m === null) throw new SipParseError('start-line', 'malformed status line', { status: 0 });
    if (m[2]!.length !== 3) throw new SipParseError('status-code', `bad status code ${m[2]!.slice(0, 12)}`, { status: 0 });
    const code = Number(m[2]);
    if (code < 100 || code > 699) throw new SipParseError('status-code', `bad status code ${code}`, { status: 0 });
    if (m[1] !== '2.0') throw new SipParseError('version', `unsupported version SIP/${m[1]!}`, { status: 0 });
    msg.status = code;
    msg.reason = m[3] ?? '';
    msg.version = 'SIP/2.0';
    return;
  }
  const s1 = line.indexOf(' ');
  const s2 = s1 === -1 ? -1 : line.indexOf(' ', s1 + 1);
  if (s1 <= 0 || s2 === -1 || line.indexOf(' ', s2 + 1) !== -1) throw new SipParseError('start-line', 'malformed request line');
  const method = line.slice(0, s1);
  const uri = line.slice(s1 + 1, s2);
  const version = line.slice(s2 + 1);
  if (!isToken(method) || uri.length === 0 || /[\t<>"]/.test(uri)) throw new SipParseError('start-line', 'malformed request line');
  if (!VERSION_RE.test(version)) throw new SipParseError('start-line', 'malformed request line: no SIP version');
  msg.method = method;
  msg.uri = uri;
  msg.version = 'SIP/2.0';
  if (version.slice(4) !== '2.0') {
    const e = new SipParseError('version', `unsupported version ${version}`, { status: 505 });
    e.partial = msg;
    throw e;
  }
};

/**
 * The checks a proxy needs before it may act on a message: mandatory headers present and
 * single, CSeq and Max-Forwards in range, Via, From, To (and Contact in requests) well formed,
 * a Request-URI without headers. Throws SipParseError naming the header.
 */
export const validate = (msg: SipMessage): void => {
  const fail = (code: ConstructorParameters<typeof SipParseError>[0], text: string, header?: string): never => {
    const e = new SipParseError(code, text, header === undefined ? { status: msg.isRequest ? 400 : 0 } : { header, status: msg.isRequest ? 400 : 0 });
    e.partial = msg;
    throw e;
  };
  if (msg.isRequest) {
    const ru = msg.requestUri;
    if (ru === undefined) fail('uri', 'malformed Request-URI');
    if (isSipUri(ru) && ru.headers !== undefined) fail('uri', 'Request-URI carries headers');
  }
  let via = 0, from = 0, to = 0, callId = 0, cseq = 0, mf = 0, cl = 0, ct = 0;
  for (const h of msg.headers) {
    switch (h.key) {
      case 'via': via++; break;
      case 'from': from++; break;
      case 'to': to++; break;
      case 'call-id': callId++; break;
      case 'cseq': cseq++; break;
      case 'max-forwards': mf++; break;
      case 'content-length': cl++; break;
      case 'content-type': ct++; break;
      default: break;
    }
  }
  if (via === 0) fail('missing-header', 'no Via', 'via');
  if (from === 0) fail('missing-header', 'no From', 'from');
  if (to === 0) fail('missing-header', 'no To', 'to');
  if (callId === 0) fail('missing-header', 'no Call-ID', 'call-id');
  if (cseq === 0) fail('missing-header', 'no CSeq', 'cseq');
  if (cl > 1) fail('content-length', 'more than one Content-Length', 'content-length');
  if (from > 1 || to > 1 || callId > 1 || cseq > 1 || mf > 1 || ct > 1) {
    for (const k of SINGLE_VALUE) if (msg.count(k) > 1) fail('duplicate-header', `more than one ${k}`, k);
  }
  const cs = msg.cseq;
  if (cs === undefined) fail('cseq', 'malformed CSeq', 'cseq');
  if (msg.isRequest && cs!.method !== msg.method) fail('cseq-method', 'CSeq method does not match the request method', 'cseq');
  if (mf === 1) {
    const m = msg.maxForwards!;
    if (Number.isNaN(m) || m > 255) fail('max-forwards', 'malformed Max-Forwards', 'max-forwards');
  }
  if (msg.callId!.length === 0 || /\s/.test(msg.callId!)) fail('header-syntax', 'malformed Call-ID', 'call-id');
  for (const v of msg.vias()) if (v === undefined) fail('via', 'malformed Via', 'via');
  if (msg.from === undefined) fail('name-addr', 'malformed From', 'from');
  if (msg.to === undefined) fail('name-addr', 'malformed To', 'to');
  if (msg.isRequest) for (const c of msg.contacts()) if (c === undefined) fail('name-addr', 'malformed Contact', 'contact');
};
