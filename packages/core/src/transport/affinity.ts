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
const headersEnd = (data: Buffer, from: number): number => {
  const i = data.indexOf('\r\n\r\n', from);
  if (i >= 0) return i + 2;
  const j = data.indexOf('\n\n', from);
  return j >= 0 ? j + 1 : data.length;
};

/**
 * The scan is bounded: a Call-ID or top Via further in than this many bytes or header lines is
 * not looked for (the datagram stays where it arrived), so junk built to be expensive costs no more
 * than a short message. Real messages carry both within their first kilobyte or two.
 */
const SCAN_BYTES = 8192;
const SCAN_LINES = 128;

/** Where the start line begins: CRLFs before it are skipped, as the parser does. */
const startOf = (data: Buffer): number => {
  const stop = Math.min(data.length, SCAN_BYTES);
  let i = 0;
  while (i < stop && (data[i] === CR || data[i] === LF)) i++;
  return i;
};

/** Each header line's start after the start line, in order; stops when `visit` returns ≥ -1. */
const scanHeaders = (data: Buffer, visit: (p: number, end: number) => number): number => {
  const start = startOf(data);
  const end = Math.min(headersEnd(data, start), start + SCAN_BYTES);
  let p = data.indexOf(LF, start);
  for (let lines = 0; p >= 0 && p + 1 < end && lines < SCAN_LINES; lines++) {
    p += 1;
    const r = visit(p, end);
    if (r !== -2) return r;
    p = data.indexOf(LF, p);
  }
  return -1;
};

/** The next line's start after the line end at `e` (CRLF or LF), or -1. */
const nextLine = (data: Buffer, e: number, end: number): number => {
  if (data[e] === CR && data[e + 1] === LF) return e + 2 < end ? e + 2 : -1;
  return e + 1 < end ? e + 1 : -1;
};

/**
 * The worker a request's Call-ID hashes to; -1 without a Call-ID. A folded value counts as its
 * lines joined by one space (the parser's reading), so every copy of it hashes alike.
 */
export const callIdOwner = (data: Buffer, workers: number): number =>
  scanHeaders(data, (p, end) => {
    let q = valueStart(data, p, end, 'call-id');
    if (q < 0) q = valueStart(data, p, end, 'i');
    if (q < 0) {
      // a name folded onto the next line is not worth following: where it arrived
      return -2;
    }
    let h = 0x811c9dc5;
    let any = false;
    for (;;) {
      let e = lineEnd(data, q, end);
      let b = q;
      while (b < e && (data[b] === SP || data[b] === HTAB)) b++;
      while (e > b && (data[e - 1] === SP || data[e - 1] === HTAB)) e--;
      if (e > b) {
        if (any) h = Math.imul(h ^ SP, 0x01000193);
        for (let i = b; i < e; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
        any = true;
      }
      const n = nextLine(data, lineEnd(data, q, end), end);
      if (n < 0 || (data[n] !== SP && data[n] !== HTAB)) break;
      q = n;
    }
    return any ? (h >>> 0) % workers : -1;
  });

const BRANCH = 'branch';
const COOKIE = 'z9hg4bksf';

/** Does `word` (lower case) start at i, case-insensitively? */
const wordAt = (data: Buffer, i: number, e: number, word: string): boolean => {
  if (i + word.length > e) return false;
  for (let k = 0; k < word.length; k++) if (lower(data[i + k]!) !== word.charCodeAt(k)) return false;
  return true;
};

/** The worker written in our branch of the top Via; -1 when the branch is not ours or has none. */
export const viaBranchOwner = (data: Buffer, workers: number): number =>
  scanHeaders(data, (p, end) => {
    let q = valueStart(data, p, end, 'via');
    if (q < 0) q = valueStart(data, p, end, 'v');
    if (q < 0) return -2;
    const e = lineEnd(data, q, end);
    // the top Via's branch parameter: `;` [LWS] branch [LWS] = [LWS] value, before any comma
    let b = -1;
    let lastSemi = false;
    for (let i = q; i < e; i++) {
      const c = data[i]!;
      if (c === 0x2c) break; // a comma: the next Via
      if (c === 0x3b) {
        lastSemi = true;
        continue;
      }
      if (c === SP || c === HTAB) continue;
      if (lastSemi && wordAt(data, i, e, BRANCH)) {
        let j = i + BRANCH.length;
        while (j < e && (data[j] === SP || data[j] === HTAB)) j++;
        if (data[j] === 0x3d) {
          j++;
          while (j < e && (data[j] === SP || data[j] === HTAB)) j++;
          b = j;
          break;
        }
      }
      lastSemi = false;
    }
    if (b < 0 || !wordAt(data, b, e, COOKIE)) return -1;
    // 8 hex of loop hash, then ".w<k>-"
    const dot = b + COOKIE.length + 8;
    if (dot + 3 >= e || data[dot] !== 0x2e || lower(data[dot + 1]!) !== 0x77) return -1;
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
  // "SIP/" starts a response; anything else is a request (or junk, which has no Call-ID)
  const s = startOf(data);
  const isResponse = wordAt(data, s, data.length, 'sip/');
  return isResponse ? viaBranchOwner(data, workers) : callIdOwner(data, workers);
};

/**
 * Where the UDP listeners hand a datagram before the SIP layer sees it (`workers: N`): `route`
 * returns true when the datagram went to its owner instead (it must then not be delivered here).
 */
export interface UdpAffinity {
  route(data: Buffer, source: { address: string; port: number }, listenerId: string): boolean;
}
