import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../message/parser.js';
import { fnv1a, newBranch, workerBranchTag } from '../proxy/branch.js';
import { callIdOwner, datagramOwner, viaBranchOwner } from './affinity.js';

const msg = (lines: string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
const invite = (callId: string, callIdHeader = 'Call-ID'): Buffer =>
  msg([
    'INVITE sip:100@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1;rport',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:100@example.com>',
    `${callIdHeader}: ${callId}`,
    'CSeq: 1 INVITE',
    'Content-Length: 0',
  ]);

describe('datagramOwner', () => {
  it('sends every request of a Call-ID to one worker, and spreads Call-IDs over the workers', () => {
    const seen = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const id = `${i}-abc@host`;
      const w = datagramOwner(invite(id), 3);
      expect(w).toBe(datagramOwner(invite(id, 'i'), 3));
      expect(w).toBe(datagramOwner(invite(id, 'call-ID '), 3));
      seen[w]! += 1;
    }
    for (const n of seen) expect(n).toBeGreaterThan(800);
  });

  it('reads the Call-ID as the parser does (trailing blanks are not part of it)', () => {
    const a = datagramOwner(invite('xyz@h'), 7);
    expect(datagramOwner(msg(['BYE sip:a@b SIP/2.0', 'i:\txyz@h  ', 'CSeq: 2 BYE']), 7)).toBe(a);
    expect(a).toBe(callIdOwner(Buffer.from('X\r\nCall-ID: xyz@h\r\n\r\n'), 7));
  });

  it('sends a response to the worker named in the branch of its top Via', () => {
    for (const w of [0, 1, 5, 12]) {
      const branch = newBranch('0123abcd', workerBranchTag(w));
      const res = msg([
        'SIP/2.0 180 Ringing',
        `via: SIP/2.0/UDP 10.0.0.1:5060;BRANCH=${branch}, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKsf0123abcd.w3-aa1`,
        'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKsf0123abcd.w2-aa1',
        'Call-ID: whatever',
      ]);
      expect(viaBranchOwner(res, 16)).toBe(w);
      expect(datagramOwner(res, 16)).toBe(w);
    }
  });

  it('reads the branch parameter as the parser does: its own name only, any case, blanks around =, leading CRLFs', () => {
    const res = (via: string, lead = ''): Buffer =>
      Buffer.from(`${lead}SIP/2.0 200 OK\r\nVia: ${via}\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    const ours = (w: string): string => `z9hG4bKsf0123abcd.${w}-aa1`;
    // a parameter that merely ends in "branch" is not the branch
    expect(datagramOwner(res(`SIP/2.0/UDP 1.2.3.4;xbranch=${ours('w5')};branch=${ours('w3')}`), 8)).toBe(3);
    expect(datagramOwner(res(`SIP/2.0/UDP 1.2.3.4;xbranch=${ours('w5')}`), 8)).toBe(-1);
    expect(datagramOwner(res(`SIP/2.0/UDP 1.2.3.4;BRANCH = ${ours('W3')}`), 8)).toBe(3);
    expect(datagramOwner(res(`SIP/2.0/UDP 1.2.3.4 ; branch=${ours('w2')} ;rport`), 8)).toBe(2);
    expect(datagramOwner(res(`SIP/2.0/UDP 1.2.3.4;branch=${ours('w6')}`, '\r\n\r\n'), 8)).toBe(6);
    for (const via of [`SIP/2.0/UDP 1.2.3.4;branch=${ours('w3')}`, `SIP/2.0/UDP 1.2.3.4;BRANCH = ${ours('W3')}`]) {
      expect(parseMessage(res(via), { datagram: true }).topVia?.branch?.toLowerCase()).toBe(ours('w3').toLowerCase());
    }
  });

  it('reads a Call-ID folded onto the next line as the parser does', () => {
    const head = 'BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n';
    const folded = Buffer.from(`${head}Call-ID:\r\n  abc-def@host \r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    const flat = Buffer.from(`${head}Call-ID: abc-def@host\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    const id = parseMessage(folded, { datagram: true }).callId!;
    expect(id).toBe('abc-def@host');
    for (const n of [2, 3, 7, 16]) {
      expect(datagramOwner(folded, n)).toBe(datagramOwner(flat, n));
      expect(datagramOwner(folded, n)).toBe(fnv1aBytes(Buffer.from(id, 'latin1')) % n);
    }
    // a request after leading CRLFs is still read by its Call-ID
    expect(datagramOwner(Buffer.concat([Buffer.from('\r\n'), flat]), 7)).toBe(datagramOwner(flat, 7));
  });

  it('leaves where it arrived what it cannot place: foreign branches, unnamed workers, no Call-ID, junk', () => {
    const res = (via: string): Buffer => msg(['SIP/2.0 200 OK', `Via: ${via}`, 'Call-ID: c']);
    expect(datagramOwner(res('SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK776asdhds'), 4)).toBe(-1);
    // a process tag without a worker (workers: 1 made it)
    expect(datagramOwner(res(`SIP/2.0/UDP 1.2.3.4;branch=${newBranch('0123abcd')}`), 4)).toBe(-1);
    // a worker number out of range
    expect(datagramOwner(res('SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKsf0123abcd.w9-aa1'), 4)).toBe(-1);
    // the top Via has no branch; the next one's is not used
    expect(datagramOwner(res('SIP/2.0/UDP 1.2.3.4, SIP/2.0/UDP 5.6.7.8;branch=z9hG4bKsf0123abcd.w1-aa1'), 4)).toBe(-1);
    expect(datagramOwner(msg(['OPTIONS sip:a SIP/2.0', 'CSeq: 1 OPTIONS']), 4)).toBe(-1);
    expect(datagramOwner(msg(['OPTIONS sip:a SIP/2.0', 'Call-ID:   ']), 4)).toBe(-1);
    expect(datagramOwner(Buffer.from('hello'), 4)).toBe(-1);
    expect(datagramOwner(Buffer.from('\x00\xff\r\n\r\n\r\n'), 4)).toBe(-1);
    // a Call-ID in the body is not a header
    expect(datagramOwner(Buffer.from('OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\nCall-ID: x\r\n'), 4)).toBe(-1);
    // one worker: nothing to place
    expect(datagramOwner(invite('abc'), 1)).toBe(-1);
  });

  it('looks no further than its bound (128 header lines, 8 KB): later Call-IDs and junk stay where they arrived', () => {
    const filler = Array.from({ length: 130 }, (_, i) => `X-Filler-${i}: x`);
    const late = Buffer.from(['OPTIONS sip:a SIP/2.0', ...filler, 'Call-ID: late@host', '', ''].join('\r\n'), 'latin1');
    expect(datagramOwner(late, 4)).toBe(-1);
    const early = Buffer.from(['OPTIONS sip:a SIP/2.0', ...filler.slice(0, 100), 'Call-ID: late@host', '', ''].join('\r\n'), 'latin1');
    expect(datagramOwner(early, 4)).toBeGreaterThanOrEqual(0);
    // 64 KB built to be expensive: an answer, and the same one every time
    const junk = [
      Buffer.from(`SIP/2.0 200 OK\r\nVia: ${';branch'.repeat(9000)}\r\n\r\n`, 'latin1'),
      Buffer.from(`INVITE sip:a SIP/2.0\r\n${'i\r\n'.repeat(21_000)}\r\n`, 'latin1'),
      Buffer.from(`INVITE sip:a SIP/2.0\r\nCall-ID: a\r\n${' b\r\n'.repeat(16_000)}\r\n`, 'latin1'),
      Buffer.alloc(65_000, 0x0a),
    ];
    for (const j of junk) {
      const w = datagramOwner(j, 4);
      expect(w).toBeGreaterThanOrEqual(-1);
      expect(w).toBeLessThan(4);
      expect(datagramOwner(j, 4)).toBe(w);
    }
  });

  it('agrees with the parser on every RFC 4475 message it parses, and never throws on any', () => {
    const root = fileURLToPath(new URL('../../test/fixtures/torture/', import.meta.url));
    let compared = 0;
    for (const kind of ['valid', 'invalid']) {
      for (const f of readdirSync(root + kind)) {
        const data = readFileSync(`${root}${kind}/${f}`);
        const owner = datagramOwner(data, 5);
        expect(owner).toBeGreaterThanOrEqual(-1);
        expect(owner).toBeLessThan(5);
        let m;
        try {
          m = parseMessage(data, { datagram: true });
        } catch {
          continue;
        }
        const id = m.callId;
        // folded or multi-line Call-IDs are left to the worker that got them
        if (!m.isRequest || id === undefined || owner === -1) continue;
        expect(owner, f).toBe(fnv1aBytes(Buffer.from(id, 'latin1')) % 5);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
  });
});

const fnv1aBytes = (b: Buffer): number => fnv1a(b.toString('latin1'));
