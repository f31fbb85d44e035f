// Call traces: every message of recent calls, in order, as sent and received, so an operator
// can see *why* a call failed (the console's ladder, `ctl calls`, `GET /calls/:id`). Bounded by
// call count and bytes; the oldest calls go first. Recording is cheap and GC-light: each message's
// bytes are copied into one ring buffer (never pinning the caller's Buffer or its pool slab), its
// metadata goes into typed arrays, and the TracedMessage views are only built by `get()`.
import type { SipMessage } from '../message/message.js';
import type { Endpoint } from '../transport/types.js';
import { fresh } from '../transaction/retain.js';

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
  /** `local` is the address of sipfront's socket */
  record(direction: 'in' | 'out', msg: SipMessage, data: Buffer, remote: Endpoint, local: Endpoint): void;
  list(): CallSummary[];
  get(callId: string): { summary: CallSummary; messages: TracedMessage[] } | undefined;
  setCapture(capture: TraceCapture, filter?: TraceFilter): void;
  readonly capture: TraceCapture;
  readonly filter: TraceFilter;
  /** call start and end events */
  onCall?: (event: 'start' | 'end', call: CallSummary) => void;
  /** traced calls, their bytes, and the byte ring's size */
  stats(): { calls: number; bytes: number; ring: number };
}

interface CallEntry {
  summary: CallSummary;
  /** sequence numbers of the call's first and last messages (a list linked through `mNext`) */
  first: number;
  last: number;
  count: number;
  bytes: number;
  dead: boolean;
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

export const createCallTrace = (options: CallTraceOptions): CallTrace => {
  let capture = options.capture;
  let filter: TraceFilter = options.filter ?? {};
  const maxBytes = Math.max(0, Math.floor(options.maxBytes));
  // insertion order = age: the first entry is the oldest call
  const calls = new Map<string, CallEntry>();
  // the call of the last message: a message forwarded is recorded twice in a row (in, then out),
  // and comparing two Call-IDs is cheaper than hashing one into the Map
  let lastCallId = '';
  let lastEntry: CallEntry | undefined;
  // calls in the order they started, dead ones skipped: the oldest live call without iterating
  // the Map (whose front fills with deleted slots that every values().next() walks over)
  let order: CallEntry[] = [];
  let orderHead = 0;
  const oldest = (): CallEntry | undefined => {
    while (orderHead < order.length && order[orderHead]!.dead) orderHead++;
    if (orderHead > 1024 && orderHead * 2 > order.length) {
      order = order.slice(orderHead);
      orderHead = 0;
    }
    return order[orderHead];
  };
  let liveBytes = 0;

  // ---- the byte ring: messages in write order; a lap wraps to 0 when the next one does not fit
  let ring: Buffer | undefined;
  let cap = 0;
  let wpos = 0;

  // ---- message metadata, a ring indexed by sequence number (slot = seq % mcap), tail..head live
  let mcap = INITIAL_META;
  let mOff = new Uint32Array(mcap);
  let mLen = new Uint32Array(mcap);
  let mAt = new Float64Array(mcap);
  let mNext = new Float64Array(mcap);
  let mDir = new Uint8Array(mcap);
  let mRemote = new Uint32Array(mcap);
  let mLocal = new Uint32Array(mcap);
  let owner: Array<CallEntry | undefined> = new Array<CallEntry | undefined>(mcap).fill(undefined);
  let tail = 0;
  let head = 0;

  // ---- endpoints, interned and reference-counted by the messages in the metadata ring
  const epObj: Array<Endpoint | undefined> = [];
  const epStr: Array<string | undefined> = [];
  const epRefs: number[] = [];
  const byAddr = new Map<string, number[]>();
  const freeIds: number[] = [];

  const intern = (e: Endpoint): number => {
    const list = byAddr.get(e.address);
    if (list !== undefined) {
      for (let k = 0; k < list.length; k++) {
        const id = list[k]!;
        const o = epObj[id]!;
        if (o.port === e.port && o.transport === e.transport) {
          epRefs[id]!++;
          return id;
        }
      }
    }
    const id = freeIds.length > 0 ? freeIds.pop()! : epObj.length;
    epObj[id] = e;
    epStr[id] = undefined;
    epRefs[id] = 1;
    if (list === undefined) byAddr.set(e.address, [id]);
    else list.push(id);
    return id;
  };

  const release = (id: number): void => {
    if (--epRefs[id]! > 0) return;
    const e = epObj[id]!;
    const list = byAddr.get(e.address);
    if (list !== undefined) {
      const k = list.indexOf(id);
      if (k !== -1) list.splice(k, 1);
      if (list.length === 0) byAddr.delete(e.address);
    }
    epObj[id] = undefined;
    epStr[id] = undefined;
    freeIds.push(id);
  };

  const epText = (id: number): string => (epStr[id] ??= ep(epObj[id]!));

  const evict = (e: CallEntry): void => {
    if (e.dead) return;
    e.dead = true;
    if (e === lastEntry) {
      lastEntry = undefined;
      lastCallId = '';
    }
    calls.delete(e.summary.callId);
    liveBytes -= e.bytes;
  };

  /** drops the oldest message of the metadata ring, evicting its call when still traced */
  const dropTail = (): void => {
    const i = tail % mcap;
    const o = owner[i];
    if (o !== undefined) evict(o);
    owner[i] = undefined;
    release(mRemote[i]!);
    release(mLocal[i]!);
    tail++;
  };

  const growMeta = (): void => {
    const n = mcap * 2;
    const off = new Uint32Array(n);
    const len = new Uint32Array(n);
    const at = new Float64Array(n);
    const next = new Float64Array(n);
    const dir = new Uint8Array(n);
    const remote = new Uint32Array(n);
    const local = new Uint32Array(n);
    const own = new Array<CallEntry | undefined>(n).fill(undefined);
    for (let s = tail; s < head; s++) {
      const i = s % mcap;
      const j = s % n;
      off[j] = mOff[i]!;
      len[j] = mLen[i]!;
      at[j] = mAt[i]!;
      next[j] = mNext[i]!;
      dir[j] = mDir[i]!;
      remote[j] = mRemote[i]!;
      local[j] = mLocal[i]!;
      own[j] = owner[i];
    }
    mcap = n;
    mOff = off;
    mLen = len;
    mAt = at;
    mNext = next;
    mDir = dir;
    mRemote = remote;
    mLocal = local;
    owner = own;
  };

  /**
   * A larger byte ring: the traced calls' bytes are moved to its start, in order; dead ones
   * dropped. A quarter larger each time (not twice): the ring ends within a quarter of what the
   * traced calls need (2,000 calls of ~5.5 KB: 11 MB, where doubling gave 16).
   */
  const growRing = (need: number): void => {
    const n = Math.min(maxBytes, Math.max(Math.ceil(cap * 1.25), need, INITIAL_RING));
    const nb = Buffer.allocUnsafeSlow(n);
    let p = 0;
    for (let s = tail; s < head; s++) {
      const i = s % mcap;
      const o = owner[i];
      if (o !== undefined && !o.dead) {
        const from = mOff[i]!;
        ring!.copy(nb, p, from, from + mLen[i]!);
        mOff[i] = p;
        p += mLen[i]!;
      } else {
        mOff[i] = p;
        mLen[i] = 0;
      }
    }
    ring = nb;
    cap = n;
    wpos = p;
  };

  /**
   * Where the next `len` bytes go: the messages they overwrite leave the ring, and their calls
   * the trace (the ring grows instead, up to maxBytes, while it would overwrite a traced call).
   */
  const room = (len: number): number => {
    if (ring === undefined) {
      cap = Math.min(maxBytes, Math.max(INITIAL_RING, len));
      ring = Buffer.allocUnsafeSlow(cap);
      wpos = 0;
    }
    for (;;) {
      if (len > cap) {
        growRing(len);
        continue;
      }
      const wrap = wpos + len > cap;
      let blocked = false;
      while (tail < head) {
        const i = tail % mcap;
        const o = mOff[i]!;
        // the previous lap's messages lie at wpos and after; wrapping drops all of them
        const hit = wrap ? o >= wpos || o < len : o >= wpos && o < wpos + len;
        if (!hit) break;
        const ow = owner[i];
        if (ow !== undefined && !ow.dead && cap < maxBytes) {
          blocked = true;
          break;
        }
        dropTail();
      }
      if (blocked) {
        growRing(0);
        continue;
      }
      return wrap ? 0 : wpos;
    }
  };

  const store = (entry: CallEntry, direction: 'in' | 'out', data: Buffer, remote: Endpoint, local: Endpoint, now: number): void => {
    const len = data.length;
    if (len === 0 || len > maxBytes) return;
    const off = room(len);
    if (entry.dead) return;
    if (head - tail === mcap) {
      if (mcap < MAX_META) growMeta();
      else {
        dropTail();
        if (entry.dead) return;
      }
    }
    ring!.set(data, off);
    wpos = off + len;
    const seq = head++;
    const i = seq % mcap;
    mOff[i] = off;
    mLen[i] = len;
    mAt[i] = now;
    mNext[i] = -1;
    mDir[i] = direction === 'in' ? 0 : 1;
    mRemote[i] = intern(remote);
    mLocal[i] = intern(local);
    owner[i] = entry;
    if (entry.last === -1) entry.first = seq;
    else mNext[entry.last % mcap] = seq;
    entry.last = seq;
    entry.count++;
    entry.bytes += len;
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
    record(direction, msg, data, remote, localEp) {
      if (capture === 'off') return;
      const callId = msg.callId;
      if (callId === undefined) return;
      let entry = callId === lastCallId ? lastEntry : calls.get(callId);
      if (entry === undefined) {
        // a call starts with an INVITE outside a dialog; probes, registrations and the rest are not calls
        if (msg.method !== 'INVITE' || msg.toTag !== undefined) return;
        if (!admitted(msg, remote)) return;
        const at = Date.now();
        entry = {
          // copies: a slice of the message would keep its whole text for as long as the call is listed
          summary: {
            callId: fresh(callId),
            startedAt: at,
            lastAt: at,
            endedAt: null,
            from: fresh(msg.from?.uri ?? ''),
            to: fresh(msg.to?.uri ?? ''),
            ruri: fresh(msg.uri),
            status: null,
            state: 'trying',
            messages: 0,
          },
          first: -1,
          last: -1,
          count: 0,
          bytes: 0,
          dead: false,
        };
        calls.set(entry.summary.callId, entry);
        order.push(entry);
        if (order.length - orderHead > 4 * calls.size + 1024) {
          // calls ended by the ring behind a long-lived one: keep the live ones only
          order = order.filter((e) => !e.dead);
          orderHead = 0;
        }
        trace.onCall?.('start', entry.summary);
        while (calls.size > options.calls) {
          const o = oldest();
          if (o === undefined) break;
          evict(o);
        }
        if (entry.dead) return;
      }
      const now = Date.now();
      store(entry, direction, data, remote, localEp, now);
      if (!entry.dead) {
        lastCallId = entry.summary.callId;
        lastEntry = entry;
      }
      const s = entry.summary;
      s.lastAt = now;
      s.messages = entry.count;
      if (msg.status === 0) return;
      const cs = msg.cseq;
      if (cs?.method === 'INVITE' && s.endedAt === null) {
        if (msg.status >= 180 && msg.status < 200 && s.state === 'trying') s.state = 'ringing';
        else if (msg.status >= 200 && msg.status < 300) {
          s.state = 'answered';
          s.status = msg.status;
        } else if (msg.status >= 300 && direction === 'out' && s.state !== 'answered') {
          // what sipfront told the caller is the call's outcome
          s.state = 'failed';
          s.status = msg.status;
          s.endedAt = now;
          trace.onCall?.('end', s);
        }
      } else if (cs?.method === 'BYE' && s.state === 'answered' && s.endedAt === null && direction === 'out') {
        s.state = 'ended';
        s.endedAt = now;
        trace.onCall?.('end', s);
      }
    },
    list() {
      const out: CallSummary[] = [];
      for (const e of calls.values()) out.push(e.summary);
      return out.reverse();
    },
    get(callId) {
      const e = calls.get(callId);
      if (e === undefined) return undefined;
      const messages: TracedMessage[] = [];
      // one copy of the call's bytes: the views stay valid when the ring moves on
      const all = Buffer.allocUnsafeSlow(e.bytes);
      let p = 0;
      for (let s = e.first; s !== -1; s = mNext[s % mcap]!) {
        const i = s % mcap;
        const len = mLen[i]!;
        const from = mOff[i]!;
        ring!.copy(all, p, from, from + len);
        const bytes = all.subarray(p, p + len);
        p += len;
        const r = mRemote[i]!;
        const l = mLocal[i]!;
        const inbound = mDir[i] === 0;
        const src = inbound ? r : l;
        const dst = inbound ? l : r;
        messages.push({
          at: mAt[i]!,
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
      return { summary: e.summary, messages };
    },
    stats() {
      return { calls: calls.size, bytes: liveBytes, ring: cap };
    },
  };
  return trace;
};
