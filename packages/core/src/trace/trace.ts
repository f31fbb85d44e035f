// Call traces: every message of recent calls, in order, as sent and received, so an operator
// can see *why* a call failed (the console's ladder, `ctl calls`, `GET /calls/:id`). Bounded by
// call count and bytes; the oldest calls go first. Recording keeps references to the bytes
// already in hand, so a captured message costs no copy.
import type { SipMessage } from '../message/message.js';
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
  /** `local` is the address of sipfront's socket */
  record(direction: 'in' | 'out', msg: SipMessage, data: Buffer, remote: Endpoint, local: Endpoint): void;
  list(): CallSummary[];
  get(callId: string): { summary: CallSummary; messages: TracedMessage[] } | undefined;
  setCapture(capture: TraceCapture, filter?: TraceFilter): void;
  readonly capture: TraceCapture;
  readonly filter: TraceFilter;
  /** call start and end events */
  onCall?: (event: 'start' | 'end', call: CallSummary) => void;
  stats(): { calls: number; bytes: number };
}

interface CallEntry {
  summary: CallSummary;
  messages: TracedMessage[];
  bytes: number;
}

/**
 * An exact-size copy: a small Buffer is often a slice of an 8 KB pool slab, and keeping the
 * slice would keep the whole slab alive for as long as the call stays in the trace.
 */
const compact = (data: Buffer): Buffer => {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.length) return data;
  const copy = Buffer.allocUnsafeSlow(data.length);
  data.copy(copy);
  return copy;
};

const ep = (e: Endpoint): string => `${e.transport}:${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;

export const createCallTrace = (options: CallTraceOptions): CallTrace => {
  let capture = options.capture;
  let filter: TraceFilter = options.filter ?? {};
  // insertion order = age: the first entry is the oldest call
  const calls = new Map<string, CallEntry>();
  let bytes = 0;

  const admitted = (msg: SipMessage, remote: Endpoint): boolean => {
    if (capture === 'all') return true;
    if (capture === 'off') return false;
    const ips = filter.ips ?? [];
    if (ips.includes(remote.address)) return true;
    const hay = `${msg.uri} ${msg.get('from') ?? ''} ${msg.get('to') ?? ''}`;
    return (filter.match ?? []).some((m) => m.length > 0 && hay.includes(m));
  };

  const evict = (): void => {
    while ((calls.size > options.calls || bytes > options.maxBytes) && calls.size > 0) {
      const [k, v] = calls.entries().next().value as [string, CallEntry];
      calls.delete(k);
      bytes -= v.bytes;
    }
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
      let entry = calls.get(callId);
      if (entry === undefined) {
        // a call starts with an INVITE outside a dialog; probes, registrations and the rest are not calls
        if (msg.method !== 'INVITE' || msg.toTag !== undefined) return;
        if (!admitted(msg, remote)) return;
        entry = {
          summary: {
            callId,
            startedAt: Date.now(),
            lastAt: Date.now(),
            endedAt: null,
            from: msg.from?.uri ?? '',
            to: msg.to?.uri ?? '',
            ruri: msg.uri,
            status: null,
            state: 'trying',
            messages: 0,
          },
          messages: [],
          bytes: 0,
        };
        calls.set(callId, entry);
        trace.onCall?.('start', entry.summary);
      }
      const now = Date.now();
      const src = direction === 'in' ? remote : localEp;
      const dst = direction === 'in' ? localEp : remote;
      entry.messages.push({
        at: now,
        direction,
        from: ep(src),
        to: ep(dst),
        transport: remote.transport,
        firstLine: msg.startLine(),
        method: msg.isRequest ? msg.method : '',
        status: msg.status,
        cseq: msg.get('cseq') ?? '',
        bytes: compact(data),
        src,
        dst,
      });
      entry.bytes += data.length;
      bytes += data.length;
      const s = entry.summary;
      s.lastAt = now;
      s.messages = entry.messages.length;
      const cs = msg.cseq;
      if (msg.isResponse && cs?.method === 'INVITE' && s.endedAt === null) {
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
      } else if (msg.isResponse && cs?.method === 'BYE' && s.state === 'answered' && s.endedAt === null && direction === 'out') {
        s.state = 'ended';
        s.endedAt = now;
        trace.onCall?.('end', s);
      }
      evict();
    },
    list() {
      return [...calls.values()].map((e) => e.summary).reverse();
    },
    get(callId) {
      const e = calls.get(callId);
      return e === undefined ? undefined : { summary: e.summary, messages: e.messages };
    },
    stats() {
      return { calls: calls.size, bytes };
    },
  };
  return trace;
};
