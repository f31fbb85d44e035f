import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findContentLength, StreamFramer, type FramerFailure } from './stream-framer.js';

function sipMessage(body = '', extra: string[] = [], contentLength: string | null = String(Buffer.byteLength(body))): string {
  return [
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@example.com>',
    'From: Alice <sip:alice@example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.example.com',
    'CSeq: 314159 INVITE',
    ...extra,
    ...(contentLength === null ? [] : [`Content-Length: ${contentLength}`]),
    '',
    body,
  ].join('\r\n');
}

function harness(maxMessageSize = 65535, maxBuffered = 2 * maxMessageSize) {
  const messages: string[] = [];
  const failures: FramerFailure[] = [];
  let pings = 0;
  const framer = new StreamFramer(
    { maxMessageSize, maxBuffered },
    {
      message: (data) => messages.push(data.toString('latin1')),
      ping: () => pings++,
      fail: (reason) => failures.push(reason),
    },
  );
  const push = (...chunks: string[]): boolean => chunks.every((c) => framer.push(Buffer.from(c, 'latin1')));
  return { framer, messages, failures, push, pings: () => pings };
}

describe('findContentLength', () => {
  const cl = (headers: string[]): number => {
    const buf = Buffer.from(['OPTIONS sip:x SIP/2.0', ...headers, '', ''].join('\r\n'), 'latin1');
    return findContentLength(buf, 0, buf.length - 2);
  };

  it('reads the full and compact names, any case, spaces around the colon, folded values', () => {
    expect(cl(['Content-Length: 12'])).toBe(12);
    expect(cl(['content-length:7'])).toBe(7);
    expect(cl(['CONTENT-LENGTH  :   3   '])).toBe(3);
    expect(cl(['l: 5'])).toBe(5);
    expect(cl(['L :5'])).toBe(5);
    expect(cl(['Content-Length:', ' 42'])).toBe(42);
    expect(cl(['Contact: <sip:a@b>', 'Content-Type: application/sdp', 'Content-Length: 0'])).toBe(0);
  });

  it('is -1 when absent and -2 when malformed or conflicting', () => {
    expect(cl(['Call-ID: x', 'Lang: en'])).toBe(-1);
    expect(cl(['Content-Length: -1'])).toBe(-2);
    expect(cl(['Content-Length: abc'])).toBe(-2);
    expect(cl(['Content-Length: 12x'])).toBe(-2);
    expect(cl(['Content-Length:'])).toBe(-2);
    expect(cl(['Content-Length: 4', 'l: 5'])).toBe(-2);
    expect(cl(['Content-Length: 4', 'l: 4'])).toBe(4);
  });
});

describe('StreamFramer', () => {
  it('delivers a message with body exactly as received', () => {
    const h = harness();
    const msg = sipMessage('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n');
    expect(h.push(msg)).toBe(true);
    expect(h.messages).toEqual([msg]);
  });

  it('frames a message fed one byte at a time', () => {
    const h = harness();
    const msg = sipMessage('hello body');
    h.push(...msg.split(''));
    expect(h.messages).toEqual([msg]);
    expect(h.framer.buffered).toBe(0);
  });

  it('frames several messages in one chunk and a message split across chunks', () => {
    const h = harness();
    const a = sipMessage('aaaa');
    const b = sipMessage('', [], null);
    const c = sipMessage('cc');
    const all = a + b + c;
    h.push(all.slice(0, a.length + 10), all.slice(a.length + 10));
    expect(h.messages).toEqual([a, b, c]);
  });

  it('skips CRLFs between messages and counts CRLFCRLF pings, even split', () => {
    const h = harness();
    const msg = sipMessage('x');
    h.push('\r\n\r\n', msg + '\r\n', '\r\n', msg, '\r', '\n\r', '\n');
    expect(h.pings()).toBe(3);
    expect(h.messages).toEqual([msg, msg]);
  });

  it('fails on a bad Content-Length', () => {
    const h = harness();
    expect(h.push(sipMessage('', [], '-3'))).toBe(false);
    expect(h.failures).toEqual(['framing']);
    expect(h.push('more')).toBe(false);
  });

  it('fails when a header section or a Content-Length exceeds maxMessageSize', () => {
    const a = harness(1000);
    a.push('INVITE sip:x SIP/2.0\r\n', 'X: ' + 'y'.repeat(600) + '\r\n', 'X: ' + 'y'.repeat(600));
    expect(a.failures).toEqual(['too-large']);
    const b = harness(1000);
    b.push('INVITE sip:x SIP/2.0\r\nX: ' + 'y'.repeat(2000));
    expect(b.failures).toEqual(['too-large']);
    const c = harness(1000);
    c.push(sipMessage('', [], '5000'));
    expect(c.failures).toEqual(['too-large']);
    const d = harness(1000);
    d.push('OPTIONS sip:x SIP/2.0\r\n', 'l: 2000\r\n\r\n');
    expect(d.failures).toEqual(['too-large']);
  });

  it('accepts a message of exactly maxMessageSize', () => {
    const msg = sipMessage('b'.repeat(50));
    const h = harness(msg.length);
    h.push(msg.slice(0, 100), msg.slice(100), msg);
    expect(h.failures).toEqual([]);
    expect(h.messages).toEqual([msg, msg]);
  });

  it('frames any sequence of messages however the stream is cut', () => {
    const bodyArb = fc.string({ maxLength: 300 });
    const msgArb = fc.tuple(bodyArb, fc.constantFrom('Content-Length', 'l', 'content-length', 'CONTENT-LENGTH')).map(([body, name]) =>
      [`MESSAGE sip:u@h SIP/2.0`, 'Call-ID: c', `${name} : ${Buffer.byteLength(body, 'latin1')}`, '', body].join('\r\n'),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('', '\r\n', '\r\n\r\n'), msgArb), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (items, cuts) => {
        const stream = items.map(([gap, m]) => gap + m).join('');
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
        const chunks: string[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          chunks.push(stream.slice(prev, p));
          prev = p;
        }
        const h = harness();
        h.push(...chunks.filter((c) => c.length > 0));
        expect(h.failures).toEqual([]);
        expect(h.messages).toEqual(items.map(([, m]) => m));
      }),
      { numRuns: 300 },
    );
  });
});
