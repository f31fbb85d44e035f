import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import { headerKey, headerKeyAt } from './header-names.js';
import { parseMessage, tryParseMessage, validate } from './parser.js';

const HEAD = ['Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', 'Call-ID: c1', 'CSeq: 1 OPTIONS', 'Max-Forwards: 70'];
const request = (...extra: string[]): string[] => ['OPTIONS sip:b@example.com SIP/2.0', ...HEAD, ...extra];
const msg = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
const error = (b: Buffer, opts?: Parameters<typeof parseMessage>[1]): SipParseError => {
  const r = tryParseMessage(b, opts);
  if (r.ok) throw new Error('parsed');
  return r.error;
};

describe('header names', () => {
  it('maps every compact form to its full name', () => {
    const compact: Record<string, string> = {
      v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported',
      s: 'subject', e: 'content-encoding', o: 'event', u: 'allow-events', r: 'refer-to', b: 'referred-by', x: 'session-expires', y: 'identity',
      a: 'accept-contact', j: 'reject-contact', d: 'request-disposition',
    };
    for (const [short, full] of Object.entries(compact)) {
      expect(headerKey(short)).toBe(full);
      expect(headerKey(short.toUpperCase())).toBe(full);
      expect(headerKeyAt(`${short}:`, 0, 1)).toBe(full);
    }
  });

  it('takes any case and keeps unknown names as written, lower-cased', () => {
    for (const n of ['Via', 'VIA', 'via', 'vIa', 'ViA']) expect(headerKey(n)).toBe('via');
    expect(headerKey('CALL-ID')).toBe('call-id');
    expect(headerKey('Content-LENGTH')).toBe('content-length');
    expect(headerKey('X-Mine')).toBe('x-mine');
    expect(headerKey('z')).toBe('z');
    expect(headerKey('Vi\ra')).not.toBe('via');
    expect(headerKeyAt('Vía', 0, 3)).toBeUndefined();
    expect(headerKeyAt('Call-ID', 0, 7)).toBe('call-id');
    expect(headerKeyAt('Call-IE', 0, 7)).toBe('call-ie');
  });

  it('parses a message written all in compact forms and odd case', () => {
    const m = parseMessage(msg(['INVITE sip:b@example.com SIP/2.0', 'v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1', 'F: <sip:a@example.com>;tag=1',
      't: <sip:b@example.com>', 'I: c1', 'cSeQ: 1 INVITE', 'm: <sip:a@192.0.2.1>', 'K: timer', 's: hello', 'O: presence', 'U: talk',
      'r: <sip:x@example.com>', 'b: <sip:y@example.com>', 'x: 90', 'e: gzip', 'y: abc', 'C: text/plain', 'L: 2'], 'hi'));
    expect(m.topVia?.branch).toBe('z9hG4bK1');
    expect([m.fromTag, m.to?.uri, m.callId, m.cseq?.method]).toEqual(['1', 'sip:b@example.com', 'c1', 'INVITE']);
    expect(m.contacts()[0]?.nameAddr?.uri).toBe('sip:a@192.0.2.1');
    expect(['supported', 'subject', 'event', 'allow-events', 'refer-to', 'referred-by', 'session-expires', 'content-encoding', 'identity', 'content-type'].map((k) => m.get(k)))
      .toEqual(['timer', 'hello', 'presence', 'talk', '<sip:x@example.com>', '<sip:y@example.com>', '90', 'gzip', 'abc', 'text/plain']);
    expect(m.body.toString()).toBe('hi');
    expect(m.headers.map((h) => h.name).slice(0, 3)).toEqual(['v', 'F', 't']);
  });
});

describe('parseMessage: framing', () => {
  it('skips CRLFs before the start line (RFC 3261 §7.5)', () => {
    const m = parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), msg(request())]));
    expect(m.method).toBe('OPTIONS');
    expect(m.toBuffer().equals(msg([...request(), 'Content-Length: 0']))).toBe(true);
  });

  it('datagram: the body is what follows, cut to Content-Length', () => {
    expect(parseMessage(msg(request(), 'abc')).body.toString()).toBe('abc');
    expect(parseMessage(msg(request('Content-Length: 2'), 'abc')).body.toString()).toBe('ab');
    expect(parseMessage(msg(request('Content-Length: 0'), 'abc')).body.length).toBe(0);
  });

  it('stream: no Content-Length, no body', () => {
    expect(parseMessage(msg(request(), 'abc'), { datagram: false }).body.length).toBe(0);
  });

  it('unfolds continuation lines; the raw lines are kept', () => {
    const m = parseMessage(msg(request('Subject: I know you\'re there,', '\tpick up the phone', '   and talk to me!')));
    expect(m.get('subject')).toBe("I know you're there, pick up the phone and talk to me!");
    expect(m.headers.at(-1)?.raw).toBe("Subject: I know you're there,\r\n\tpick up the phone\r\n   and talk to me!");
  });

  it('takes HCOLON with white space on both sides and empty values', () => {
    const m = parseMessage(msg(request('Subject   :   hi  ', 'X-Empty:', 'X-Tab:\tv')));
    expect([m.get('subject'), m.get('x-empty'), m.get('x-tab')]).toEqual(['hi', '', 'v']);
  });

  it('tolerates bare-LF line ends from broken devices', () => {
    const m = parseMessage(Buffer.from(`${request('Subject: x').join('\n')}\n\nbody`));
    expect([m.method, m.get('subject'), m.body.toString()]).toEqual(['OPTIONS', 'x', 'body']);
    expect(parseMessage(Buffer.from(`${request().join('\n')}\n`)).callId).toBe('c1');
  });

  it('refuses a bare CR or LF inside a CRLF message (a header another parser would see)', () => {
    for (const bad of [
      msg(request('X-A: one\nVia: SIP/2.0/UDP evil;branch=z9hG4bKx')),
      msg(request('X-A: one\rVia: SIP/2.0/UDP evil;branch=z9hG4bKx')),
      msg(request('X-A: one\r')),
      Buffer.from(`OPTIONS sip:b@example.com SIP/2.0\r\r\n${HEAD.join('\r\n')}\r\n\r\n`),
      Buffer.from(`OPTIONS sip:b@example.com\nSIP/2.0\r\n${HEAD.join('\r\n')}\r\n\r\n`),
    ]) {
      const e = error(bad);
      expect(['header-syntax', 'start-line']).toContain(e.code);
      expect(e.status).toBe(400);
    }
  });

  it('refuses what is not a message', () => {
    expect(error(Buffer.alloc(0)).code).toBe('empty');
    expect(error(Buffer.from('\r\n\r\n')).code).toBe('empty');
    expect(error(Buffer.from(request().join('\r\n'))).code).toBe('header-syntax');
    expect(error(msg([...request(), 'no colon here'])).code).toBe('header-syntax');
    expect(error(msg([...request(), ': no name'])).code).toBe('header-syntax');
    expect(error(msg([...request(), 'Bad Name: x'])).code).toBe('header-syntax');
    expect(error(msg([request()[0]!, ' folded first', ...HEAD])).code).toBe('header-syntax');
  });

  it('reads a message larger than the whole-text limit the same way', () => {
    const pad = `X-Pad: ${'p'.repeat(5000)}`;
    const small = parseMessage(msg(request('Contact: <sip:a@192.0.2.1>'), 'body'));
    const big = parseMessage(msg(request('Contact: <sip:a@192.0.2.1>', pad), 'body'));
    for (const m of [small, big]) {
      expect([m.method, m.requestUri, m.topVia?.branch, m.fromTag, m.callId, m.cseq, m.contacts()[0]?.nameAddr?.uri, m.body.toString()])
        .toEqual(['OPTIONS', expect.objectContaining({ user: 'b', host: 'example.com' }), 'z9hG4bK1', '1', 'c1', { seq: 1, method: 'OPTIONS' }, 'sip:a@192.0.2.1', 'body']);
    }
    expect(big.get('x-pad')).toHaveLength(5000);
    expect(big.toBuffer().equals(msg(request('Contact: <sip:a@192.0.2.1>', pad, 'Content-Length: 4'), 'body'))).toBe(true);
    const e = error(msg(['OPTIONS sip:b@example.com SIP/3.0', ...HEAD, pad]));
    expect([e.code, e.status, e.partial?.callId]).toEqual(['version', 505, 'c1']);
  });

  it('limits the number of header lines', () => {
    const many = Array.from({ length: 300 }, (_, i) => `X-${i}: ${i}`);
    expect(error(msg(request(...many))).code).toBe('too-many-headers');
    expect(error(msg(request('X-1: 1', 'X-2: 2')), { maxHeaders: 7 }).code).toBe('too-many-headers');
    expect(parseMessage(msg(request('X-1: 1')), { maxHeaders: 7 }).get('x-1')).toBe('1');
  });

  it('messages parsed one after another keep their own lines (long, folded, refused and short in turn)', () => {
    const long = Array.from({ length: 150 }, (_, i) => `X-Long-${i}: ${i}`);
    const a = parseMessage(msg(request(...long)));
    const folded = parseMessage(msg(request('Subject: one', '  two')));
    expect(error(msg(request('X-Ok: 1', 'Bad Name: x'))).code).toBe('header-syntax');
    const short = parseMessage(msg(request('X-Short: s')));
    expect(a.keys()).toHaveLength(HEAD.length + 150);
    expect(a.get('x-long-149')).toBe('149');
    expect(folded.get('subject')).toBe('one two');
    expect(short.keys()).toEqual([...HEAD.map((h) => h.slice(0, h.indexOf(':')).toLowerCase()), 'x-short']);
    expect(short.get('x-short')).toBe('s');
    expect(a.get('x-short')).toBeUndefined();
    expect(a.toBuffer().toString('latin1')).toBe(msg(request(...long)).toString('latin1').replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'));
  });
});

describe('parseMessage: start line', () => {
  it('reads requests and responses', () => {
    const r = parseMessage(msg(['SIP/2.0 180 Ringing', ...HEAD]));
    expect([r.isResponse, r.status, r.reason, r.method]).toEqual([true, 180, 'Ringing', '']);
    expect(parseMessage(msg(['SIP/2.0 200', ...HEAD])).reason).toBe('');
    expect(parseMessage(msg(['sip/2.0 486 Busy Here  ', ...HEAD])).reason).toBe('Busy Here  ');
    expect(parseMessage(msg(request())).uri).toBe('sip:b@example.com');
  });

  it('refuses malformed request lines with 400', () => {
    for (const line of [
      'OPTIONS  sip:b@example.com SIP/2.0', 'OPTIONS sip:b@example.com  SIP/2.0', 'OPTIONS sip:b@example.com SIP/2.0 ', 'OPTIONS sip:b@example.com',
      'OPTIONS <sip:b@example.com> SIP/2.0', 'OPTIONS sip:b@example.com; lr SIP/2.0', 'OPT@ONS sip:b@example.com SIP/2.0',
      'OPTIONS sip:b@exa\tmple.com SIP/2.0', 'OPTIONS sip:b@example.com HTTP/1.1', 'OPTIONS sip:b@example.com SIP/2',
    ]) {
      const e = error(msg([line, ...HEAD]));
      expect([e.code, e.status], line).toEqual(['start-line', 400]);
    }
  });

  it('answers an unknown SIP version with 505 and keeps the headers for addressing it', () => {
    const e = error(msg(['OPTIONS sip:b@example.com SIP/3.0', ...HEAD]));
    expect([e.code, e.status]).toEqual(['version', 505]);
    expect(e.partial?.topVia?.branch).toBe('z9hG4bK1');
    expect(e.partial?.callId).toBe('c1');
  });

  it('discards malformed responses: status 0, never an answer', () => {
    for (const line of ['SIP/2.0 99 Low', 'SIP/2.0 700 High', 'SIP/2.0 2000 Long', 'SIP/2.0 4294967301 big', 'SIP/2.0 OK', 'SIP/3.0 200 OK', 'SIP/2.0 20x OK']) {
      expect(error(msg([line, ...HEAD])).status, line).toBe(0);
    }
  });
});

describe('parseMessage: refusals of a response are discards (status 0)', () => {
  const resp = (...extra: string[]): string[] => ['SIP/2.0 200 OK', ...HEAD.map((h) => h.replace('OPTIONS', 'INVITE')), ...extra];
  it('for header syntax, Content-Length, a cut body and missing headers', () => {
    expect(error(msg(resp('bad line'))).status).toBe(0);
    expect(error(msg(resp('Content-Length: x'))).status).toBe(0);
    expect(error(msg(resp('Content-Length: 10')), { datagram: true }).status).toBe(0);
    expect(error(msg(['SIP/2.0 200 OK', ...HEAD.slice(1)])).status).toBe(0);
  });
  it('a response is not checked against a method; its Contact is not validated', () => {
    expect(parseMessage(msg(resp('Contact: not a uri'))).status).toBe(200);
  });
});

describe('validate', () => {
  it('requires Via, From, To, Call-ID and CSeq, naming the missing one', () => {
    for (const [i, key] of [[0, 'via'], [1, 'from'], [2, 'to'], [3, 'call-id'], [4, 'cseq']] as const) {
      const e = error(msg(request().filter((_, j) => j !== i + 1)));
      expect([e.code, e.header]).toEqual(['missing-header', key]);
    }
  });

  it('refuses a second value of single-value headers', () => {
    for (const h of ['From: <sip:x@y>;tag=2', 'To: <sip:x@y>', 'Call-ID: c2', 'CSeq: 2 OPTIONS', 'Max-Forwards: 1', 'Content-Type: c/d']) {
      const lines = h.startsWith('Content-Type: c') ? request('Content-Type: a/b', h) : request(h);
      expect(error(msg(lines)).code, h).toBe('duplicate-header');
    }
    expect(error(msg(request('Content-Length: 0', 'l: 0'))).code).toBe('content-length');
  });

  it('checks CSeq, Max-Forwards, Call-ID, Via, From, To, Contact and the Request-URI', () => {
    const cases: Array<[string[], string]> = [
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('1 OPTIONS', 'x OPTIONS'))], 'cseq'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('1 OPTIONS', '1 INVITE'))], 'cseq-method'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('Max-Forwards: 70', 'Max-Forwards: 256'))], 'max-forwards'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('Max-Forwards: 70', 'Max-Forwards: -1'))], 'max-forwards'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('Call-ID: c1', 'Call-ID: c 1'))], 'header-syntax'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('Call-ID: c1', 'Call-ID:'))], 'header-syntax'],
      [request('Via: SIP/2.0/UDP'), 'via'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('From: <sip:a@example.com>;tag=1', 'From: <sip:a@example.com'))], 'name-addr'],
      [['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('To: <sip:b@example.com>', 'To: b@example.com'))], 'name-addr'],
      [request('Contact: <sip:a@b>, junk'), 'name-addr'],
      [['OPTIONS sip:b@example.com?Route=x SIP/2.0', ...HEAD], 'uri'],
      [['OPTIONS sip:2001:db8::1 SIP/2.0', ...HEAD], 'uri'],
    ];
    for (const [lines, code] of cases) expect(error(msg(lines)).code, lines.join('|')).toBe(code);
  });

  it('can be skipped, and run later', () => {
    const m = parseMessage(msg(request('Via: junk')), { validate: false });
    expect(m.vias()[1]).toBeUndefined();
    expect(() => validate(m)).toThrow(SipParseError);
  });

  it('accepts Max-Forwards 0..255 and leading zeros', () => {
    expect(parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('Max-Forwards: 70', 'Max-Forwards: 0068'))])).maxForwards).toBe(68);
    expect(parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...HEAD.map((h) => h.replace('Max-Forwards: 70', 'Max-Forwards: 255'))])).maxForwards).toBe(255);
  });
});

describe('Content-Length', () => {
  it('refuses a non-number, a negative one, an overlong one, and one past the end', () => {
    expect(error(msg(request('Content-Length: -1'))).code).toBe('content-length');
    expect(error(msg(request('Content-Length: 1e3'))).code).toBe('content-length');
    expect(error(msg(request('Content-Length: 99999999999'))).code).toBe('content-length');
    const e = error(msg(request('Content-Length: 10'), 'abc'));
    expect([e.code, e.status, e.header]).toEqual(['body-truncated', 400, 'content-length']);
  });
});

describe('tryParseMessage', () => {
  it('returns the message or a typed error', () => {
    expect(tryParseMessage(msg(request())).ok).toBe(true);
    const r = tryParseMessage(Buffer.from('garbage'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toBeInstanceOf(SipParseError);
  });
});
