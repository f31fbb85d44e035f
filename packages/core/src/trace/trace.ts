// Call traces: every message of recent calls, in order, as sent and received, so an operator
// can see *why* a call failed (the console's ladder, `ctl calls`, `GET /calls/:id`). Bounded by
// call count and bytes; the oldest calls go first. Recording is cheap and leaves nothing for the
// collector: each message's bytes are copied into one ring buffer (never pinning the caller's
// Buffer or its pool slab), its metadata and its call's go into typed arrays (the Call-ID too, as
// bytes in a hash table of our own), and the summaries and message views are built only when
// asked for (`list()`, `get()`). A call traced for seconds used to be a dozen small objects and
// strings that lived long enough to be promoted to the old generation, whose growth then drove
// the major collections: at 1,000 calls/s about as much CPU as the recording itself.
// Nothing is done for a message when it is overwritten: calls leave oldest first, so the oldest
// traced call's guards (where its bytes and records may start) tell whether a write reaches one.
import type { SipMessage } from '../message/message.js';
import { parseMessage } from '../message/parser.js';
import { fresh } from '../transaction/retain.js';
import type { Endpoint } from '../transport/types.js';

export type TraceCapture = 'all' | 'off' | 'filtered';

export interface TraceFilter {
  /** substrings matched against From/To/Request-URI users and AORs, and numbers */
  match?: string[];
  /** source or destination IP addresses */
  ips?: string[];
}

export interface TracedMessage {
  /** ms since the epoch */
  at: number;
  direction: 'in' | 'out';
  /** who sent it and who received it, `transport:address:port` */
  from: string;
  to: string;
  transport: string;
  /** `INVITE sip:…` or `SIP/2.0 200 OK` */
  firstLine: string;
  method: string;
  status: number;
  cseq: string;
  bytes: Buffer;
  src: Endpoint;
  dst: Endpoint;
}

export interface CallSummary {
  callId: string;
  startedAt: number;
  lastAt: number;
  endedAt: number | null;
  from: string;
  to: string;
  ruri: string;
  /** the final status of the INVITE, null while none */
  status: number | null;
  state: 'trying' | 'ringing' | 'answered' | 'failed' | 'ended';
  messages: number;
}

export interface CallTraceOptions {
  calls: number;
  maxBytes: number;
  capture: TraceCapture;
  filter?: TraceFilter;
}

export interface CallTrace {
  /** `local` is the address of sipfront's socket; `at` when the message was read or sent (ms since the epoch; now when not given) */
  record(direction: 'in' | 'out', msg: SipMessage, data: Buffer, remote: Endpoint, local: Endpoint, at?: number): void;
  list(): CallSummary[];
  get(callId: string): { summary: CallSummary; messages: TracedMessage[] } | undefined;
  setCapture(capture: TraceCapture, filter?: TraceFilter): void;
  readonly capture: TraceCapture;
  readonly filter: TraceFilter;
  /** call start and end events */
  onCall?: (event: 'start' | 'end', call: CallSummary) => void;
  /** when set, onCall is called (and its summary built) only while this says true */
  onCallWanted?: () => boolean;
  /** traced calls, their bytes, the byte ring's size, and the endpoints interned */
  stats(): { calls: number; bytes: number; ring: number; endpoints: number };
}

const ep = (e: Endpoint): string => `${e.transport}:${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;

const INITIAL_RING = 1 << 20;
const INITIAL_META = 1 << 12;
const MAX_META = 1 << 22;

const isSpace = (c: number | undefined): boolean => c === 32 || c === 9;

/** The start line, method, status and CSeq value of stored message bytes (cheap text scanning). */
const describe = (b: Buffer): { firstLine: string; method: string; status: number; cseq: string } => {
  const n = b.length;
  let ls = 0;
  while (ls < n && (b[ls] === 13 || b[ls] === 10)) ls++;
  let le = ls;
  while (le < n && b[le] !== 13 && b[le] !== 10) le++;
  const firstLine = b.toString('latin1', ls, le);
  let method = '';
  let status = 0;
  const sp = firstLine.indexOf(' ');
  if (firstLine.length >= 4 && firstLine.slice(0, 4).toUpperCase() === 'SIP/') {
    const code = sp === -1 ? NaN : parseInt(firstLine.slice(sp + 1), 10);
    status = Number.isFinite(code) ? code : 0;
  } else method = sp === -1 ? firstLine : firstLine.slice(0, sp);
  let cseq = '';
  let p = le;
  while (p < n) {
    if (b[p] === 13) p++;
    if (p < n && b[p] === 10) p++;
    const s = p;
    let e = p;
    while (e < n && b[e] !== 13 && b[e] !== 10) e++;
    if (e === s) break; // the end of the header lines
    if (e - s > 5 && (b[s]! | 32) === 99 && (b[s + 1]! | 32) === 115 && (b[s + 2]! | 32) === 101 && (b[s + 3]! | 32) === 113) {
      let c = s + 4;
      while (c < e && isSpace(b[c])) c++;
      if (b[c] === 58) {
        cseq = b.toString('latin1', c + 1, e).trim();
        break;
      }
    }
    p = e;
  }
  return { firstLine, method, status, cseq };
};

/** bytes of a Call-ID kept in the call table; a longer one is kept as a string beside it */
const KEY_W = 48;
const STATES: ReadonlyArray<CallSummary['state']> = ['trying', 'ringing', 'answered', 'failed', 'ended'];
const TRYING = 0;
const RINGING = 1;
const ANSWERED = 2;
const FAILED = 3;
const ENDED = 4;

// A call's fields, at slot * CS in one Float64Array: what a message updates first, in one cache line.
const CS = 16;
/** the call's number (calls are numbered from 0 in the order they start); -1: a free slot */
const C_NO = 0;
/** sequence number of its last message, -1 while none (its messages are a list linked back through M_PREV) */
const C_LAST = 1;
const C_COUNT = 2;
const C_BYTES = 3;
const C_LAST_AT = 4;
/** -1 while not ended */
const C_END = 5;
const C_STATE = 6;
/** 0 while no final status */
const C_STATUS = 7;
const C_START = 8;
/** sequence number of its first message; -1 while none */
const C_FIRST = 9;
const C_HASH = 10;
/** the Call-ID's length in `keys` (at slot * KEY_W); -1 when kept in `cLong` */
const C_KEY_LEN = 11;
/** no byte of the call lies in the ring before this position (counted in written bytes, see `room`) */
const C_BYTE_GUARD = 12;
/** nor any of its messages in the metadata ring before this sequence number */
const C_SEQ_GUARD = 13;

// A message's fields, at (seq % mcap) * MS in one Int32Array: 28 bytes (they were 64 as doubles,
// and each new cache line the records reach is one the CPU must fetch), and its time at seq % mcap
// in a Float64Array beside it.
const MS = 7;
/** where its bytes are in the ring (read back `>>> 0`: a ring may hold up to 4 GB), and how many */
const M_OFF = 0;
const M_LEN = 1;
/** how many sequence numbers back its call's previous message is; 0: none */
const M_PREV = 2;
/** interned endpoint ids */
const M_REMOTE = 3;
const M_LOCAL = 4;
/** (slot + 1) * 2 + direction (0 in, 1 out) */
const M_SLOT_DIR = 5;
/** its call's number, its low 32 bits (the call is still traced while its slot holds that number) */
const M_NO = 6;

/** FNV-1a over the string's UTF-16 code units (a Call-ID's are latin1 bytes as the parser gives them), from a seed */
const hashOf = (s: string, seed: number): number => {
  let h = seed;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h | 0;
};

export const createCallTrace = (options: CallTraceOptions): CallTrace => {
  let capture = options.capture;
  let filter: TraceFilter = options.filter ?? {};
  const maxBytes = Math.max(0, Math.floor(options.maxBytes));
  const maxCalls = Math.max(0, Math.floor(options.calls));
  // a seed of this trace's own: Call-IDs chosen to collide in one process's table do not in another's
  const seed = (0x811c9dc5 ^ Math.floor(Math.random() * 0x100000000)) | 0;

  // ---- the calls: a slot each (see CS)
  let ccap = 0;
  let calls = new Float64Array(0);
  let keys = Buffer.alloc(0);
  const cLong: Array<string | undefined> = [];
  /** From, To and Request-URI, read from the call's INVITE when first asked for */
  const cParties: Array<[string, string, string] | undefined> = [];
  const freeSlots: number[] = [];
  let nextNo = 0;
  let liveCalls = 0;
  let liveBytes = 0;

  // the Call-ID → slot table: open addressing, linear probing; pairs of slot + 1 (0: empty) and hash
  let table = new Int32Array(0);
  let mask = 0;
  /** the hash `lookup` computed last (a new call's, for `open`) */
  let lastHash = 0;

  // the traced calls' slots in the order they started, oldest first. Calls leave only oldest
  // first (by count, by bytes, by metadata), so qHead..qTail are exactly the live ones.
  let qSlot = new Int32Array(1024);
  let qHead = 0;
  let qTail = 0;
  /**
   * The oldest traced call's C_BYTE_GUARD and C_SEQ_GUARD (Infinity while none), read by every
   * record: kept here, they cost no load of that call's fields (two more cache lines a message).
   */
  let oldByte = Infinity;
  let oldSeq = Infinity;
  const refreshOldest = (): void => {
    if (qHead < qTail) {
      const c = qSlot[qHead]! * CS;
      oldByte = calls[c + C_BYTE_GUARD]!;
      oldSeq = calls[c + C_SEQ_GUARD]!;
    } else oldByte = oldSeq = Infinity;
  };

  /** whether the slot still holds the call numbered `no` (its low 32 bits, as a message record keeps it) */
  const live = (slot: number, no: number): boolean => {
    if (slot < 0) return false;
    const n = calls[slot * CS + C_NO]!;
    return n >= 0 && (n | 0) === no;
  };

  const place = (slot: number): void => {
    const h = calls[slot * CS + C_HASH]!;
    let i = h & mask;
    while (table[2 * i] !== 0) i = (i + 1) & mask;
    table[2 * i] = slot + 1;
    table[2 * i + 1] = h;
  };

  const growCalls = (): void => {
    const n = Math.min(Math.max(256, ccap * 2), Math.max(1, maxCalls));
    const nc = new Float64Array(n * CS);
    nc.set(calls);
    for (let s = ccap; s < n; s++) nc[s * CS + C_NO] = -1;
    calls = nc;
    const nk = Buffer.allocUnsafeSlow(n * KEY_W);
    keys.copy(nk);
    keys = nk;
    for (let s = n - 1; s >= ccap; s--) freeSlots.push(s);
    ccap = n;
    // a table at most half full
    let size = 1024;
    while (size < ccap * 2) size *= 2;
    table = new Int32Array(size * 2);
    mask = size - 1;
    for (let s = 0; s < ccap; s++) if (calls[s * CS + C_NO]! >= 0) place(s);
  };

  const keyIs = (slot: number, callId: string): boolean => {
    const len = calls[slot * CS + C_KEY_LEN]!;
    if (len < 0) return cLong[slot] === callId;
    if (len !== callId.length) return false;
    const base = slot * KEY_W;
    for (let k = 0; k < len; k++) if (keys[base + k] !== callId.charCodeAt(k)) return false;
    return true;
  };

  const lookup = (callId: string): number => {
    const h = (lastHash = hashOf(callId, seed));
    if (ccap === 0) return -1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = table[2 * i]!;
      if (v === 0) return -1;
      if (table[2 * i + 1] === h && keyIs(v - 1, callId)) return v - 1;
    }
  };

  /** takes the slot out of the table (backward shift: no tombstones) */
  const unplace = (slot: number): void => {
    let i = calls[slot * CS + C_HASH]! & mask;
    while (table[2 * i] !== slot + 1) i = (i + 1) & mask;
    for (;;) {
      table[2 * i] = 0;
      let j = i;
      for (;;) {
        j = (j + 1) & mask;
        const v = table[2 * j]!;
        if (v === 0) return;
        const k = table[2 * j + 1]! & mask;
        // the entry at j stays when its home k lies cyclically in (i, j]
        if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
        table[2 * i] = v;
        table[2 * i + 1] = table[2 * j + 1]!;
        i = j;
        break;
      }
    }
  };

  const callIdOf = (slot: number): string => {
    const len = calls[slot * CS + C_KEY_LEN]!;
    return len < 0 ? cLong[slot]! : keys.toString('latin1', slot * KEY_W, slot * KEY_W + len);
  };

  // the call of the last message: a message forwarded is recorded twice in a row (in, then out),
  // and comparing two Call-IDs is cheaper than hashing one
  let lastCallId: string | undefined;
  let lastSlot = -1;
  let lastNo = -1;

  /** the oldest call leaves the trace (its messages stay where they are, unreachable, until overwritten) */
  const evictOldest = (): void => {
    const slot = qSlot[qHead++]!;
    const c = slot * CS;
    unplace(slot);
    calls[c + C_NO] = -1;
    cLong[slot] = undefined;
    cParties[slot] = undefined;
    liveCalls--;
    liveBytes -= calls[c + C_BYTES]!;
    freeSlots.push(slot);
    refreshOldest();
    if (slot === lastSlot) {
      lastSlot = -1;
      lastCallId = undefined;
    }
  };

  const pushOrder = (slot: number): void => {
    if (qTail === qSlot.length) {
      const n = qTail - qHead;
      if (n * 2 > qSlot.length) {
        const a = new Int32Array(qSlot.length * 2);
        a.set(qSlot.subarray(qHead, qTail));
        qSlot = a;
      } else qSlot.copyWithin(0, qHead, qTail);
      qHead = 0;
      qTail = n;
    }
    qSlot[qTail++] = slot;
  };

  // ---- message metadata (see MS), a ring indexed by sequence number (mcap a power of two).
  // Nothing is dropped from it: a message's record stays until overwritten, and before a record
  // of a traced call would be, the ring grows (up to MAX_META) or that call leaves the trace.
  let mcap = INITIAL_META;
  let meta = new Int32Array(mcap * MS);
  /** each message's time, ms since the epoch */
  let metaAt = new Float64Array(mcap);
  /** the next message's sequence number, and its index in the ring */
  let head = 0;
  let hIdx = 0;

  /** the slot of the call the message at `m` (its offset in meta) belongs to */
  const slotAt = (m: number): number => (meta[m + M_SLOT_DIR]! >> 1) - 1;
  /** whether the message at `m` still belongs to a traced call */
  const owned = (m: number): boolean => live(slotAt(m), meta[m + M_NO]!);
  /** the first sequence number a traced call may have a message at */
  const firstLiveSeq = (): number => (qHead < qTail ? oldSeq : head);

  // ---- endpoints, interned; an id is freed once no traced call's message can hold it (each
  // id remembers the last message that took it), swept when the table has grown to its limit
  const epObj: Array<Endpoint | undefined> = [];
  const epStr: Array<string | undefined> = [];
  const epLast: number[] = [];
  const byAddr = new Map<string, number[]>();
  const freeIds: number[] = [];
  let epLive = 0;
  let epLimit = 1024;
  // the id last interned for an endpoint on each port (modulo its size): most messages come from
  // and go to a few peers, whose ids this finds without hashing the address. Checked against the
  // endpoint the id stands for, so a freed or reused id is never taken for another endpoint.
  const recent = new Int32Array(64).fill(-1);
  /** the local endpoint of the last message and its id (reset when ids are freed) */
  let lastLocal: Endpoint | undefined;
  let lastLocalId = -1;

  const intern = (e: Endpoint, seq: number): number => {
    const slot = e.port & 63;
    const r = recent[slot]!;
    if (r !== -1) {
      const o = epObj[r];
      if (o !== undefined && (o === e || (o.port === e.port && o.address === e.address && o.transport === e.transport))) {
        epLast[r] = seq;
        return r;
      }
    }
    const id = internSlow(e, seq);
    recent[slot] = id;
    return id;
  };

  const internSlow = (e: Endpoint, seq: number): number => {
    let list = byAddr.get(e.address);
    if (list !== undefined) {
      for (let k = 0; k < list.length; k++) {
        const id = list[k]!;
        const o = epObj[id]!;
        if (o.port === e.port && o.transport === e.transport) {
          epLast[id] = seq;
          return id;
        }
      }
    }
    if (epLive >= epLimit) {
      sweepEndpoints();
      list = byAddr.get(e.address);
    }
    const id = freeIds.length > 0 ? freeIds.pop()! : epObj.length;
    epObj[id] = e;
    epStr[id] = undefined;
    epLast[id] = seq;
    epLive++;
    if (list === undefined) byAddr.set(e.address, [id]);
    else list.push(id);
    return id;
  };

  /** frees the ids no traced call's message holds (their last use is older than the oldest such message) */
  const sweepEndpoints = (): void => {
    lastLocal = undefined;
    const from = firstLiveSeq();
    for (let id = 0; id < epObj.length; id++) {
      const e = epObj[id];
      if (e === undefined || epLast[id]! >= from) continue;
      const list = byAddr.get(e.address)!;
      list.splice(list.indexOf(id), 1);
      if (list.length === 0) byAddr.delete(e.address);
      epObj[id] = undefined;
      epStr[id] = undefined;
      freeIds.push(id);
      epLive--;
    }
    epLimit = Math.max(1024, epLive * 2);
  };

  const epText = (id: number): string => (epStr[id] ??= ep(epObj[id]!));

  // ---- the byte ring: messages in write order; a lap wraps to 0 when the next one does not fit.
  // Positions count the bytes written (the unused end of each lap too): the byte written at
  // position P is overwritten when the writing passes P + cap. A call's C_BYTE_GUARD is at or
  // before its first byte, and the guards rise in the calls' order: the oldest call's tells
  // whether a write would reach any traced call.
  let ring: Buffer | undefined;
  let cap = 0;
  let wpos = 0;
  /** the position of the current lap's offset 0 */
  let lapBase = 0;

  /**
   * A larger byte ring: the traced calls' bytes are moved to its start, in order. A quarter
   * larger each time (not twice): the ring ends within a quarter of what the traced calls need
   * (2,000 calls of ~5.5 KB: 11 MB, where doubling gave 16).
   */
  const growRing = (need: number): void => {
    const n = Math.min(maxBytes, Math.max(Math.ceil(cap * 1.25), need, INITIAL_RING));
    const nb = Buffer.allocUnsafeSlow(n);
    let p = 0;
    for (let s = firstLiveSeq(); s < head; s++) {
      const m = (s % mcap) * MS;
      if (!owned(m)) continue;
      const len = meta[m + M_LEN]!;
      const from = meta[m + M_OFF]! >>> 0;
      nb.set(ring!.subarray(from, from + len), p);
      meta[m + M_OFF] = p;
      p += len;
    }
    // a call's bytes now start at its first message; one without a message kept yet (an INVITE
    // larger than the ring may be) takes the next call's guard, so that they still rise in order
    let next = p;
    for (let r = qTail - 1; r >= qHead; r--) {
      const c = qSlot[r]! * CS;
      const first = calls[c + C_FIRST]!;
      if (first >= 0) next = Math.min(next, meta[(first % mcap) * MS + M_OFF]! >>> 0);
      calls[c + C_BYTE_GUARD] = next;
    }
    refreshOldest();
    ring = nb;
    cap = n;
    wpos = p;
    lapBase = 0;
  };

  /**
   * Where the next `len` bytes go. A write that would reach a traced call's bytes grows the
   * ring (up to maxBytes) or, at maxBytes, makes the oldest calls leave the trace.
   */
  const room = (len: number): number => {
    if (ring === undefined) {
      cap = Math.min(maxBytes, Math.max(INITIAL_RING, len));
      ring = Buffer.allocUnsafeSlow(cap);
      wpos = 0;
      lapBase = 0;
    }
    for (;;) {
      if (len > cap) {
        growRing(len);
        continue;
      }
      const wrap = wpos + len > cap;
      // what was written before this position is overwritten by the write
      const reach = (wrap ? lapBase + cap : lapBase + wpos) + len - cap;
      if (oldByte < reach) {
        if (cap < maxBytes) growRing(0);
        else evictOldest();
        continue;
      }
      if (wrap) {
        lapBase += cap;
        wpos = 0;
      }
      return wpos;
    }
  };

  /** a larger metadata ring, the records at the same sequence numbers */
  const growMeta = (): void => {
    const n = mcap * 2;
    const nm = new Int32Array(n * MS);
    const na = new Float64Array(n);
    for (let s = Math.max(firstLiveSeq(), head - mcap); s < head; s++) {
      nm.set(meta.subarray((s % mcap) * MS, (s % mcap) * MS + MS), (s % n) * MS);
      na[s % n] = metaAt[s % mcap]!;
    }
    mcap = n;
    meta = nm;
    metaAt = na;
    hIdx = head % n;
  };

  const store = (slot: number, no: number, dir: number, data: Buffer, remote: Endpoint, local: Endpoint, now: number): void => {
    const len = data.length;
    if (len === 0 || len > maxBytes) return;
    const off = room(len);
    const c = slot * CS;
    // the record at `head` replaces the one mcap before it
    while (oldSeq <= head - mcap) {
      if (mcap < MAX_META) growMeta();
      else evictOldest();
    }
    if (calls[c + C_NO] !== no) return;
    ring!.set(data, off);
    wpos = off + len;
    const seq = head++;
    const m = hIdx * MS;
    metaAt[hIdx] = now;
    hIdx = (hIdx + 1) & (mcap - 1);
    const last = calls[c + C_LAST]!;
    meta[m + M_OFF] = off;
    meta[m + M_LEN] = len;
    meta[m + M_PREV] = last < 0 ? 0 : seq - last;
    meta[m + M_REMOTE] = intern(remote, seq);
    // most messages come in and go out on one listener, whose Endpoint object sipfront keeps
    if (local === lastLocal) {
      epLast[lastLocalId] = seq;
      meta[m + M_LOCAL] = lastLocalId;
    } else {
      const id = intern(local, seq);
      lastLocal = local;
      lastLocalId = id;
      meta[m + M_LOCAL] = id;
    }
    meta[m + M_SLOT_DIR] = (slot + 1) * 2 + dir;
    meta[m + M_NO] = no;
    if (last < 0) calls[c + C_FIRST] = seq;
    calls[c + C_LAST] = seq;
    calls[c + C_COUNT]!++;
    calls[c + C_BYTES]! += len;
    liveBytes += len;
  };

  const admitted = (msg: SipMessage, remote: Endpoint): boolean => {
    if (capture === 'all') return true;
    if (capture === 'off') return false;
    const ips = filter.ips ?? [];
    if (ips.includes(remote.address)) return true;
    const hay = `${msg.uri} ${msg.get('from') ?? ''} ${msg.get('to') ?? ''}`;
    return (filter.match ?? []).some((m) => m.length > 0 && hay.includes(m));
  };

  /** a new call's slot (the oldest calls go while there are `calls` of them), -1 when none may be kept; `h`: its Call-ID's hash */
  const open = (callId: string, h: number, now: number): number => {
    if (maxCalls === 0) return -1;
    while (liveCalls >= maxCalls && qHead < qTail) evictOldest();
    if (freeSlots.length === 0) growCalls();
    const slot = freeSlots.pop();
    if (slot === undefined) return -1;
    const c = slot * CS;
    calls[c + C_NO] = nextNo++;
    calls[c + C_LAST] = -1;
    calls[c + C_COUNT] = 0;
    calls[c + C_BYTES] = 0;
    calls[c + C_LAST_AT] = now;
    calls[c + C_END] = -1;
    calls[c + C_STATE] = TRYING;
    calls[c + C_STATUS] = 0;
    calls[c + C_START] = now;
    calls[c + C_FIRST] = -1;
    calls[c + C_HASH] = h;
    calls[c + C_BYTE_GUARD] = lapBase + wpos;
    calls[c + C_SEQ_GUARD] = head;
    // the Call-ID's bytes into the table's keys, unless longer than KEY_W or beyond latin1
    const len = callId.length;
    let short = len <= KEY_W;
    const base = slot * KEY_W;
    for (let k = 0; short && k < len; k++) {
      const ch = callId.charCodeAt(k);
      if (ch > 255) short = false;
      else keys[base + k] = ch;
    }
    if (short) calls[c + C_KEY_LEN] = len;
    else {
      calls[c + C_KEY_LEN] = -1;
      cLong[slot] = fresh(callId);
    }
    place(slot);
    liveCalls++;
    pushOrder(slot);
    if (qTail - qHead === 1) refreshOldest();
    return slot;
  };

  const partiesOf = (m: SipMessage): [string, string, string] => [fresh(m.from?.uri ?? ''), fresh(m.to?.uri ?? ''), fresh(m.uri)];

  const parties = (slot: number): [string, string, string] => {
    let p = cParties[slot];
    if (p !== undefined) return p;
    // read from the call's first message, the INVITE that started it
    const first = calls[slot * CS + C_FIRST]!;
    if (first < 0) return ['', '', ''];
    const m = (first % mcap) * MS;
    const off = meta[m + M_OFF]! >>> 0;
    try {
      p = partiesOf(parseMessage(ring!.subarray(off, off + meta[m + M_LEN]!)));
    } catch {
      // bytes that parsed once parse again; a listing never fails over one that would not
      p = ['', '', ''];
    }
    cParties[slot] = p;
    return p;
  };

  const summaryOf = (slot: number): CallSummary => {
    const [from, to, ruri] = parties(slot);
    const c = slot * CS;
    const end = calls[c + C_END]!;
    const status = calls[c + C_STATUS]!;
    return {
      callId: callIdOf(slot),
      startedAt: calls[c + C_START]!,
      lastAt: calls[c + C_LAST_AT]!,
      endedAt: end < 0 ? null : end,
      from,
      to,
      ruri,
      status: status === 0 ? null : status,
      state: STATES[calls[c + C_STATE]!]!,
      messages: calls[c + C_COUNT]!,
    };
  };

  /** `msg`: the INVITE that starts the call, whose parties are at hand */
  const emit = (event: 'start' | 'end', slot: number, msg?: SipMessage): void => {
    const on = trace.onCall;
    if (on === undefined || trace.onCallWanted?.() === false) return;
    if (msg !== undefined && cParties[slot] === undefined) cParties[slot] = partiesOf(msg);
    on(event, summaryOf(slot));
  };

  const trace: CallTrace = {
    get capture() {
      return capture;
    },
    get filter() {
      return filter;
    },
    setCapture(c, f) {
      capture = c;
      if (f !== undefined) filter = f;
    },
    record(direction, msg, data, remote, localEp, at) {
      if (capture === 'off') return;
      const callId = msg.callId;
      if (callId === undefined) return;
      let slot = callId === lastCallId && calls[lastSlot * CS + C_NO] === lastNo ? lastSlot : lookup(callId);
      const now = at ?? Date.now();
      const dir = direction === 'in' ? 0 : 1;
      let c = slot * CS;
      if (slot === -1) {
        // a call starts with an INVITE outside a dialog; probes, registrations and the rest are not calls
        if (msg.method !== 'INVITE' || msg.toTag !== undefined) return;
        if (!admitted(msg, remote)) return;
        slot = open(callId, lastHash, now);
        if (slot === -1) return;
        c = slot * CS;
        const no = calls[c + C_NO]!;
        store(slot, no, dir, data, remote, localEp, now);
        if (calls[c + C_NO] !== no) return;
        // an INVITE too large to keep: its parties are not in the ring to be read later
        if (calls[c + C_FIRST]! < 0) cParties[slot] = partiesOf(msg);
        emit('start', slot, msg);
        if (calls[c + C_NO] !== no) return;
      } else store(slot, calls[c + C_NO]!, dir, data, remote, localEp, now);
      if (calls[c + C_NO]! < 0) return;
      lastCallId = callId;
      lastSlot = slot;
      lastNo = calls[c + C_NO]!;
      calls[c + C_LAST_AT] = now;
      const status = msg.status;
      // requests and 1xx below 180 change nothing of the call (and a 100 sipfront made would have its CSeq parsed for it)
      if (status < 180) return;
      const cs = msg.cseq;
      if (cs === undefined || calls[c + C_END]! >= 0) return;
      const state = calls[c + C_STATE]!;
      if (cs.method === 'INVITE') {
        if (status >= 180 && status < 200 && state === TRYING) calls[c + C_STATE] = RINGING;
        else if (status >= 200 && status < 300) {
          calls[c + C_STATE] = ANSWERED;
          calls[c + C_STATUS] = status;
        } else if (status >= 300 && dir === 1 && state !== ANSWERED) {
          // what sipfront told the caller is the call's outcome
          calls[c + C_STATE] = FAILED;
          calls[c + C_STATUS] = status;
          calls[c + C_END] = now;
          emit('end', slot);
        }
      } else if (cs.method === 'BYE' && state === ANSWERED && dir === 1) {
        calls[c + C_STATE] = ENDED;
        calls[c + C_END] = now;
        emit('end', slot);
      }
    },
    list() {
      const out: CallSummary[] = [];
      for (let r = qTail - 1; r >= qHead; r--) out.push(summaryOf(qSlot[r]!));
      return out;
    },
    get(callId) {
      const slot = lookup(callId);
      if (slot === -1) return undefined;
      const c = slot * CS;
      const messages: TracedMessage[] = [];
      // one copy of the call's bytes: the views stay valid when the ring moves on
      const all = Buffer.allocUnsafeSlow(calls[c + C_BYTES]!);
      // its messages, linked from the last back to the first
      const seqs: number[] = [];
      for (let s = calls[c + C_LAST]!; s >= 0; ) {
        seqs.push(s);
        const back = meta[(s % mcap) * MS + M_PREV]!;
        s = back === 0 ? -1 : s - back;
      }
      let p = 0;
      for (let k = seqs.length - 1; k >= 0; k--) {
        const at = metaAt[seqs[k]! % mcap]!;
        const m = (seqs[k]! % mcap) * MS;
        const len = meta[m + M_LEN]!;
        const from = meta[m + M_OFF]! >>> 0;
        ring!.copy(all, p, from, from + len);
        const bytes = all.subarray(p, p + len);
        p += len;
        const r = meta[m + M_REMOTE]!;
        const l = meta[m + M_LOCAL]!;
        const inbound = (meta[m + M_SLOT_DIR]! & 1) === 0;
        const src = inbound ? r : l;
        const dst = inbound ? l : r;
        messages.push({
          at,
          direction: inbound ? 'in' : 'out',
          from: epText(src),
          to: epText(dst),
          transport: epObj[r]!.transport,
          ...describe(bytes),
          bytes,
          src: epObj[src]!,
          dst: epObj[dst]!,
        });
      }
      return { summary: summaryOf(slot), messages };
    },
    stats() {
      return { calls: liveCalls, bytes: liveBytes, ring: cap, endpoints: epLive };
    },
  };
  return trace;
};
