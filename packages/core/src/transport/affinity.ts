// Worker affinity for datagrams (`workers: N`): N processes read one shared UDP socket and the
// kernel hands each datagram to whichever is waiting, but a transaction's state lives in one of
// them. `datagramOwner` names that one from the raw bytes, without parsing the message:
// - a response: the worker written into the branch of its top Via (every branch sipfront makes
//   in stateful mode carries it: `z9hG4bKsf<loop>.w<k>-…`), so answers to requests sipfront
//   forwarded or originated (probes, keep-alives) reach the worker that sent them;
// - a request: a hash of its Call-ID, so every request of a call (INVITE and its
//   retransmissions, CANCEL, ACK, BYE from either side) meets the same worker.
// Anything it cannot read (no Call-ID, a foreign branch, a malformed start) is -1: handled where
// it arrived, where the parser gives it the answer it would get anyway.

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

const lower = (b: number): number => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b);

/** Where the value of the header line starting at `p` begins, when its name is `name` (lower case); else -1. */
const valueStart = (data: Buffer, p: number, end: number, name: string): number => {
  const n = name.length;
  if (p + n >= end) return -1;
  for (let i = 0; i < n; i++) if (lower(data[p + i]!) !== name.charCodeAt(i)) return -1;
  let q = p + n;
  while (q < end && (data[q] === SP || data[q] === HTAB)) q++;
  if (q >= end || data[q] !== COLON) return -1;
  q++;
  while (q < end && (data[q] === SP || data[q] === HTAB)) q++;
  return q;
};

/** The end of the line from `q` (the CR or LF), or `end`. */
const lineEnd = (data: Buffer, q: number, end: number): number => {
  while (q < end && data[q] !== CR && data[q] !== LF) q++;
  return q;
};

/** Where the header section ends (the empty line), or the datagram's end. */
const headersEnd = (data: Buffer): number => {
  const i = data.indexOf('\r\n\r\n');
  if (i >= 0) return i + 2;
  const j = data.indexOf('\n\n');
  return j >= 0 ? j + 1 : data.length;
};

/** Each header line's start after the start line, in order; stops when `visit` returns ≥ -1. */
const scanHeaders = (data: Buffer, visit: (p: number, end: number) => number): number => {
  const end = headersEnd(data);
  let p = data.indexOf(LF);
  while (p >= 0 && p + 1 < end) {
    p += 1;
    const r = visit(p, end);
    if (r !== -2) return r;
    p = data.indexOf(LF, p);
  }
  return -1;
};

/** 32-bit FNV-1a over bytes [from, to). */
const fnvBytes = (data: Buffer, from: number, to: number): number => {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

/** The worker a request's Call-ID hashes to; -1 without a Call-ID. */
export const callIdOwner = (data: Buffer, workers: number): number =>
  scanHeaders(data, (p, end) => {
    let q = valueStart(data, p, end, 'call-id');
    if (q < 0) q = valueStart(data, p, end, 'i');
    if (q < 0) return -2;
    let e = lineEnd(data, q, end);
    while (e > q && (data[e - 1] === SP || data[e - 1] === HTAB)) e--;
    if (e === q) return -1;
    return fnvBytes(data, q, e) % workers;
  });

const BRANCH = 'branch=z9hg4bksf';

/** The worker written in our branch of the top Via; -1 when the branch is not ours or has none. */
export const viaBranchOwner = (data: Buffer, workers: number): number =>
  scanHeaders(data, (p, end) => {
    let q = valueStart(data, p, end, 'via');
    if (q < 0) q = valueStart(data, p, end, 'v');
    if (q < 0) return -2;
    const e = lineEnd(data, q, end);
    // the first branch= of the line belongs to the first (top) Via of the line
    let b = -1;
    for (let i = q; i + BRANCH.length <= e; i++) {
      let hit = true;
      for (let k = 0; k < BRANCH.length; k++) {
        if (lower(data[i + k]!) !== BRANCH.charCodeAt(k)) {
          hit = false;
          break;
        }
      }
      if (hit) {
        b = i + BRANCH.length;
        break;
      }
      if (data[i] === 0x2c) break; // a comma: the top Via of this line had no branch of ours
    }
    if (b < 0) return -1;
    // 8 hex of loop hash, then ".w<k>-"
    const dot = b + 8;
    if (dot + 3 >= e || data[dot] !== 0x2e || data[dot + 1] !== 0x77) return -1;
    let k = 0;
    let i = dot + 2;
    const start = i;
    while (i < e && data[i]! >= 0x30 && data[i]! <= 0x39 && i - start < 4) k = k * 10 + (data[i++]! - 0x30);
    if (i === start || data[i] !== 0x2d || k >= workers) return -1;
    return k;
  });

/** The worker that owns a datagram (see above); -1 for "where it arrived". */
export const datagramOwner = (data: Buffer, workers: number): number => {
  if (workers <= 1 || data.length < 8) return -1;
  // "SIP/2.0 " starts a response; anything else is a request (or junk, which has no Call-ID)
  const isResponse = (data[0] === 0x53 || data[0] === 0x73) && (data[1] === 0x49 || data[1] === 0x69) && (data[2] === 0x50 || data[2] === 0x70) && data[3] === 0x2f;
  return isResponse ? viaBranchOwner(data, workers) : callIdOwner(data, workers);
};

/**
 * Where the UDP listeners hand a datagram before the SIP layer sees it (`workers: N`): `route`
 * returns true when the datagram went to its owner instead (it must then not be delivered here).
 */
export interface UdpAffinity {
  route(data: Buffer, source: { address: string; port: number }, listenerId: string): boolean;
}
