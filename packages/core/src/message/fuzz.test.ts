// Property tests over mutated messages: whatever the bytes, the parser returns a message or a
// typed parse error (never another exception), never hangs, and a message it accepts can be read
// and sent on without throwing. Seeds: the valid RFC 4475 / RFC 5118 torture messages and a few
// everyday ones.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import { SipMessage } from './message.js';
import { parseMessage, tryParseMessage } from './parser.js';
import type { ParseOptions } from './parser.js';
import { INVITE, OK_200, REGISTER } from '../../test/helpers/sample-messages.js';

const tortureDir = fileURLToPath(new URL('../../test/fixtures/torture/valid/', import.meta.url));
const SEEDS: Buffer[] = [
  ...readdirSync(tortureDir).filter((f) => f.endsWith('.sip')).sort().map((f) => readFileSync(tortureDir + f)),
  Buffer.from(INVITE, 'latin1'),
  Buffer.from(REGISTER, 'latin1'),
  Buffer.from(OK_200, 'latin1'),
];

/** Slower than this for one parse means a super-linear path (regex backtracking, quadratic loops). */
const PARSE_BUDGET_MS = 50;

// the bytes that matter to a SIP parser, plus any byte at all
const SPECIAL = [13, 10, 32, 9, 58, 59, 44, 34, 92, 60, 62, 64, 91, 93, 61, 63, 37, 0, 0x7f, 0xa0, 0xc3, 0xff].map((b) => Buffer.from([b]));
const FRAGMENTS = ['\r\n', '\r\n\r\n', '\r\n ', ': ', ';', ',', '"', '<', '>', '<sip:', 'sip:', '[', ']', '[::1]', ';branch=', ';tag=', 'Via: ', 'l: ', 'Content-Length: ', 'SIP/2.0', '%00', '\\']
  .map((s) => Buffer.from(s, 'latin1'));
const HUGE = ['4294967296', '99999999999999999999999999', '2147483648', '-1', '0000000000000000000001', '1e9', '65536', '256'];

type Op =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'insert'; at: number; bytes: Buffer }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'dupLine'; at: number }
  | { kind: 'dropLine'; at: number }
  | { kind: 'swapLines'; at: number; to: number }
  | { kind: 'number'; at: number; value: string }
  | { kind: 'repeat'; at: number; len: number; times: number };

// positions are fractions of the current length, uniform (fast-check would favour 0 and 1)
const pos = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((x) => x / 1e6);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: pos, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: pos, bytes: fc.oneof(fc.constantFrom(...SPECIAL), fc.constantFrom(...FRAGMENTS), fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a))) }),
  fc.record({ kind: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: pos }),
  fc.record({ kind: fc.constant('dupLine' as const), at: pos }),
  fc.record({ kind: fc.constant('dropLine' as const), at: pos }),
  fc.record({ kind: fc.constant('swapLines' as const), at: pos, to: pos }),
  fc.record({ kind: fc.constant('number' as const), at: pos, value: fc.constantFrom(...HUGE) }),
  fc.record({ kind: fc.constant('repeat' as const), at: pos, len: fc.integer({ min: 1, max: 12 }), times: fc.integer({ min: 2, max: 3000 }) }),
);

const splitLines = (b: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  let s = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) {
    out.push(b.subarray(s, i + 1));
    s = i + 1;
  }
  out.push(b.subarray(s));
  return out;
};

const apply = (input: Buffer, op: Op): Buffer => {
  const n = input.length;
  const at = Math.floor(op.at * (n + 1));
  switch (op.kind) {
    case 'flip': {
      if (n === 0) return input;
      const b = Buffer.from(input);
      b[Math.min(at, n - 1)]! ^= op.xor;
      return b;
    }
    case 'insert':
      return Buffer.concat([input.subarray(0, at), op.bytes, input.subarray(at)]);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + op.len)]);
    case 'truncate':
      return input.subarray(0, at);
    case 'dupLine':
    case 'dropLine':
    case 'swapLines': {
      const lines = splitLines(input);
      const i = Math.floor(op.at * lines.length);
      if (op.kind === 'dupLine') lines.splice(i, 0, lines[i]!);
      else if (op.kind === 'dropLine') lines.splice(i, 1);
      else {
        const j = Math.floor(op.to * lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      }
      return Buffer.concat(lines);
    }
    case 'number': {
      // replace the digit run at or after the position (Content-Length, CSeq, ports, status codes)
      let s = at;
      while (s < n && (input[s]! < 48 || input[s]! > 57)) s++;
      if (s >= n) return input;
      let e = s;
      while (e < n && input[e]! >= 48 && input[e]! <= 57) e++;
      return Buffer.concat([input.subarray(0, s), Buffer.from(op.value), input.subarray(e)]);
    }
    case 'repeat': {
      const piece = input.subarray(at, at + op.len);
      if (piece.length === 0) return input;
      return Buffer.concat([input.subarray(0, at), Buffer.alloc(piece.length * op.times, piece), input.subarray(at)]);
    }
  }
};

/** Parses, timing it, and checks the parser kept its contract; returns what it returned. */
const check = (bytes: Buffer, opts?: ParseOptions): SipMessage | SipParseError => {
  const t0 = performance.now();
  let result: SipMessage | SipParseError;
  try {
    result = parseMessage(bytes, opts);
  } catch (e) {
    if (!(e instanceof SipParseError)) throw new Error(`parseMessage threw something else: ${String(e)}`, { cause: e });
    result = e;
  }
  const ms = performance.now() - t0;
  expect(ms, `parse took ${ms.toFixed(1)} ms for ${bytes.length} bytes`).toBeLessThan(PARSE_BUDGET_MS);

  const r = tryParseMessage(bytes, opts);
  if (r.ok) {
    expect(result).toBeInstanceOf(SipMessage);
    expect(r.message).toBeInstanceOf(SipMessage);
  } else {
    expect(r.error).toBeInstanceOf(SipParseError);
    // a cause means tryParseMessage caught something that was not a SipParseError
    expect(r.error.cause).toBeUndefined();
    expect(result).toBeInstanceOf(SipParseError);
    expect((result as SipParseError).code).toBe(r.error.code);
    expect([0, 400, 505]).toContain(r.error.status);
  }
  return result;
};

/** What a proxy does with an accepted message must not throw either, and what it sends parses again. */
const use = (m: SipMessage): void => {
  void [m.topVia, m.vias(), m.from, m.to, m.fromTag, m.toTag, m.callId, m.cseq, m.maxForwards, m.expires, m.contentType];
  void [m.contacts(), m.routes(), m.recordRoutes(), m.requestUri, m.list('supported'), m.text('subject')];
  const out = m.toBuffer();
  const again = check(out);
  expect(again, 'a message we send must parse again').toBeInstanceOf(SipMessage);
  expect((again as SipMessage).toBuffer().equals(out)).toBe(true);
  // and after the changes a proxy makes
  const f = m.clone();
  f.prepend('Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz');
  f.prepend('Record-Route', '<sip:192.0.2.1;lr>');
  if (f.isRequest && f.maxForwards !== undefined && !Number.isNaN(f.maxForwards)) f.set('Max-Forwards', String(Math.max(0, f.maxForwards - 1)));
  f.removeFirstItem('route');
  const fwd = check(f.toBuffer());
  expect(fwd, 'a forwarded message must parse again').toBeInstanceOf(SipMessage);
  expect((fwd as SipMessage).topVia?.branch).toBe('z9hG4bKfuzz');
  // a Via or Route taken off as received lines (the fast way) gives what the Header objects give
  for (const key of ['via', 'route']) {
    const quick = m.clone();
    quick.removeFirstItem(key);
    const slow = m.clone();
    void slow.headers;
    slow.removeFirstItem(key);
    expect(quick.toBuffer().equals(slow.toBuffer()), key).toBe(true);
  }
};

describe('fuzzing the parser', () => {
  it('mutated messages: a message or a typed error, in bounded time', () => {
    fc.assert(
      fc.property(fc.nat({ max: SEEDS.length - 1 }), fc.array(opArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (seed, ops, datagram) => {
        const bytes = ops.reduce(apply, SEEDS[seed]!);
        const r = check(bytes, { datagram });
        if (r instanceof SipMessage) use(r);
      }),
      { numRuns: 2500 },
    );
  });

  it('arbitrary bytes and text: a message or a typed error, in bounded time', () => {
    const text = fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS, ...SPECIAL), fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a))), { maxLength: 60 })
      .map((parts) => Buffer.concat([Buffer.from('INVITE sip:a@b SIP/2.0\r\n'), ...parts]));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)), text), (bytes) => {
        const r = check(bytes);
        if (r instanceof SipMessage) use(r);
      }),
      { numRuns: 500 },
    );
  });

  it('stays linear on inputs built to make a parser backtrack', () => {
    const big = (line: string): Buffer => {
      const lines = INVITE.split('\r\n');
      lines.splice(1, 0, line);
      return Buffer.from(lines.join('\r\n'), 'latin1');
    };
    const cases = [
      big(`Via: SIP/2.0/UDP h${';a=b'.repeat(20000)}`),
      big(`Via: SIP/2.0/UDP h;branch=${'z'.repeat(60000)}`),
      big(`Via: ${'SIP / '.repeat(10000)}`),
      big(`Via: SIP/2.0/UDP ${'['.repeat(30000)}`),
      big(`Via: ${'SIP/2.0/UDP h;branch=z9hG4bK1, '.repeat(3000)}`),
      big(`Contact: ${'<sip:a@b>, '.repeat(5000)}`),
      big(`Contact: "${'\\"'.repeat(20000)}`),
      big(`Contact: ${'a '.repeat(20000)}<sip:a@b>`),
      big(`Contact: <sip:${'a'.repeat(30000)}@${'b.'.repeat(10000)}c;${'x;'.repeat(10000)}y>`),
      big(`Route: ${'"'.repeat(40000)}`),
      big(`X: ${' '.repeat(50000)}x`),
      big(`${'X'.repeat(50000)}: y`),
      Buffer.from(`INVITE sip:${'a'.repeat(60000)} SIP/2.0\r\n\r\n`),
      Buffer.from(`SIP/2.0 ${'2'.repeat(60000)} OK\r\n\r\n`),
      Buffer.from(`${'\r\n'.repeat(30000)}OPTIONS sip:a@b SIP/2.0\r\n\r\n`),
      Buffer.from(`OPTIONS sip:a@b SIP/2.0\r\n${'X: y\r\n \r\n'.repeat(8000)}\r\n`),
      Buffer.from(`OPTIONS sip:a@b SIP/2.0\n${'X: y\n'.repeat(20000)}\n`),
      Buffer.from(`OPTIONS sip:a@b SIP/2.0${'\r'.repeat(60000)}\r\n\r\n`),
    ];
    for (const b of cases) check(b);
  });
});

describe('header edits on a parsed message', () => {
  // an edit on a message whose lines are still offsets into the text received (removeFirstItem
  // stays in that form; others make Header objects) must do what the same edit does on Header
  // objects, and a clone must never see the other side's edits
  type Edit =
    | { op: 'set' | 'insertFirst' | 'prepend' | 'append'; name: string; value: string }
    | { op: 'remove' | 'removeFirstItem'; key: string }
    | { op: 'clone'; edit: boolean };
  const NAMES = ['Via', 'Max-Forwards', 'Record-Route', 'Route', 'X-Mine', 'Contact', 'Content-Length'];
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    fc.record({
      op: fc.constantFrom('set' as const, 'insertFirst' as const, 'prepend' as const, 'append' as const),
      name: fc.constantFrom(...NAMES),
      value: fc.constantFrom('SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx', '69', '<sip:p.example;lr>', 'a, b', '<sip:c@192.0.2.3>'),
    }),
    fc.record({ op: fc.constantFrom('remove' as const, 'removeFirstItem' as const), key: fc.constantFrom(...NAMES.map((n) => n.toLowerCase())) }),
    fc.record({ op: fc.constant('clone' as const), edit: fc.boolean() }),
  );
  const apply = (m: SipMessage, e: Edit): void => {
    if (e.op === 'remove' || e.op === 'removeFirstItem') m[e.op](e.key);
    else if (e.op === 'set' || e.op === 'insertFirst' || e.op === 'prepend' || e.op === 'append') m[e.op](e.name, e.value);
  };
  const view = (m: SipMessage) => ({ text: m.toString(), keys: [...m.keys()], via: m.getAll('via'), top: m.topVia?.branch, routes: m.routes().length });

  it('match the same edits on Header objects; clones stay apart', () => {
    fc.assert(
      fc.property(fc.constantFrom(...[INVITE, REGISTER, OK_200]), fc.array(edit, { maxLength: 12 }), (seed, edits) => {
        const fast = parseMessage(Buffer.from(seed, 'latin1'));
        const slow = parseMessage(Buffer.from(seed, 'latin1'));
        void slow.headers; // Header objects from here on
        const clones: Array<{ m: SipMessage; want: ReturnType<typeof view> }> = [];
        for (const e of edits) {
          if (e.op === 'clone') {
            const c = fast.clone();
            // the clone may take an edit of its own: the original must not see it
            if (e.edit) c.prepend('X-Clone', String(clones.length));
            clones.push({ m: c, want: view(c) });
            continue;
          }
          apply(fast, e);
          apply(slow, e);
          expect(view(fast)).toEqual(view(slow));
        }
        for (const { m, want } of clones) expect(view(m)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});
