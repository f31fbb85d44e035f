// The final response a non-INVITE server transaction replays for 64·T1 (Timer J) is mostly its
// request's own header values: RFC 3261 §8.2.6.2 has the answer copy Via, From, To, Call-ID and
// CSeq, and a retransmission of the request carries them again. So the layer keeps the response
// as a *skeleton*: its text with each such value that equals the request's replaced by a
// reference, filled in again from the retransmission that asks for the replay. A skeleton of a
// backend's 200 to BYE is the same for every call (status line, Contact, Content-Length), so the
// layer keeps one copy of it for all (SkeletonTable): at 2,000 calls/s that is 64,000 texts of
// ~290 bytes less in the heap. Filling a skeleton with the request it was made from gives back
// the response byte for byte: each reference stands for exactly the text it replaced.
import type { SipMessage } from '../message/message.js';
import { headerKeyAt } from '../message/header-names.js';

/** the header values a response copies from its request (§8.2.6.2), in reference codes' order */
const COPIED = ['via', 'from', 'to', 'call-id', 'cseq'] as const;
/** occurrences of one key a reference can name */
const MAX_OCC = 40;
/** a reference: this character, then one whose code is 1 + key index · MAX_OCC + occurrence */
const REF = '\0';

/** the index in COPIED of the header named at `s[start..end)` (blanks around it allowed), or -1 */
const copiedIndex = (s: string, start: number, end: number): number => {
  while (start < end && (s.charCodeAt(start) === 32 || s.charCodeAt(start) === 9)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--;
  switch (headerKeyAt(s, start, end)) {
    case 'via':
      return 0;
    case 'from':
      return 1;
    case 'to':
      return 2;
    case 'call-id':
      return 3;
    case 'cseq':
      return 4;
    default:
      return -1;
  }
};

/**
 * The skeleton of a response's text `text` against its request `req`: every copied header value
 * equal to the request's (the same key, the same occurrence) becomes a reference. Undefined when
 * nothing is referenced or when the text holds a NUL of its own (the character that marks a
 * reference).
 */
export const skeletonOf = (text: string, req: SipMessage): string | undefined => {
  if (text.indexOf(REF) !== -1) return undefined;
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const seen = [0, 0, 0, 0, 0];
  let out = '';
  let lit = 0;
  let refs = 0;
  let ls = text.indexOf('\r\n') + 2;
  while (ls < headEnd + 2) {
    const le = text.indexOf('\r\n', ls);
    const colon = text.indexOf(':', ls);
    if (colon !== -1 && colon < le) {
      const idx = copiedIndex(text, ls, colon);
      if (idx !== -1) {
        let vs = colon + 1;
        while (vs < le && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
        const occ = seen[idx]!++;
        if (occ >= MAX_OCC) return undefined;
        const v = req.nth(COPIED[idx]!, occ);
        if (v !== undefined && v.length > 0 && v.length === le - vs && text.startsWith(v, vs)) {
          out += text.slice(lit, vs) + REF + String.fromCharCode(1 + idx * MAX_OCC + occ);
          lit = le;
          refs++;
        }
      }
    }
    ls = le + 2;
  }
  return refs === 0 ? undefined : out + text.slice(lit);
};

/**
 * The response a skeleton stands for, its references filled in from `req` (a retransmission of
 * the request it was made from). Undefined when `req` lacks a value referenced.
 */
export const fillSkeleton = (skeleton: string, req: SipMessage): string | undefined => {
  let out = '';
  let lit = 0;
  for (let i = skeleton.indexOf(REF); i !== -1; i = skeleton.indexOf(REF, lit)) {
    const code = skeleton.charCodeAt(i + 1) - 1;
    const v = req.nth(COPIED[Math.floor(code / MAX_OCC)]!, code % MAX_OCC);
    if (v === undefined) return undefined;
    out += skeleton.slice(lit, i) + v;
    lit = i + 2;
  }
  return out + skeleton.slice(lit);
};

/**
 * Skeletons shared by the transactions at rest, each counted by its users and let go with the
 * last. Bounded: when `max` different ones are in use, `acquire` says no (-1) and the caller
 * keeps a skeleton of its own (responses that differ per call: a nonce, a Date).
 */
export class SkeletonTable {
  private readonly ids = new Map<string, number>();
  private readonly texts: Array<string | undefined> = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];
  readonly max: number;

  constructor(max = 4096) {
    this.max = max;
  }

  get size(): number {
    return this.ids.size;
  }

  acquire(skeleton: string): number {
    let id = this.ids.get(skeleton);
    if (id !== undefined) {
      this.refs[id]!++;
      return id;
    }
    if (this.ids.size >= this.max) return -1;
    id = this.free.length > 0 ? this.free.pop()! : this.texts.length;
    this.texts[id] = skeleton;
    this.refs[id] = 1;
    this.ids.set(skeleton, id);
    return id;
  }

  text(id: number): string | undefined {
    return this.texts[id];
  }

  release(id: number): void {
    const t = this.texts[id];
    if (t === undefined || --this.refs[id]! > 0) return;
    this.ids.delete(t);
    this.texts[id] = undefined;
    this.free.push(id);
  }

  clear(): void {
    this.ids.clear();
    this.texts.length = 0;
    this.refs.length = 0;
    this.free.length = 0;
  }
}
