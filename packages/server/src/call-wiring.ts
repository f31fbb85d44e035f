// Call traces in the running server: what the proxy sends and receives feeds the trace (bounded
// by trace.calls and trace.max_bytes), which the REST API serves as ladders, text and pcap.
import type { CallTrace, Endpoint, ProxyObserver, SipMessage, TracedMessage, CallSummary } from '@sipfront/core';
import { callPcap, createCallTrace, ladderText } from '@sipfront/core';
import type { CallDetailView, CallService, CallSummaryView, EventHub, TraceSettings } from '@sipfront/api';
import type { WorkerRpc } from './workers/index.js';
import type { Config } from './config/index.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const summaryView = (s: CallSummary): CallSummaryView => ({
  callId: s.callId,
  startedAt: new Date(s.startedAt).toISOString(),
  lastAt: new Date(s.lastAt).toISOString(),
  endedAt: iso(s.endedAt),
  from: s.from,
  to: s.to,
  ruri: s.ruri,
  status: s.status,
  state: s.state,
  messages: s.messages,
});

const messageView = (m: TracedMessage) => ({
  at: new Date(m.at).toISOString(),
  direction: m.direction,
  from: m.from,
  to: m.to,
  transport: m.transport,
  firstLine: m.firstLine,
  method: m.method,
  status: m.status,
  cseq: m.cseq,
  // Authorization values never leave sipfront
  text: m.bytes.toString('utf8').replace(/^((?:Proxy-)?Authorization[ \t]*:).*$/gim, '$1 <redacted>'),
});

export interface CallWiring {
  trace: CallTrace;
  service: CallService;
  /** wraps an observer so that messages in and out are traced too */
  observe(base: ProxyObserver): ProxyObserver;
}

/**
 * What one process keeps of `trace.calls` and `trace.max_bytes`: with `workers: N` the budget is
 * the service's, split evenly (each worker traces the calls whose Call-ID it owns, an even share
 * of them), so N workers keep about the calls and at most the bytes one process would.
 */
export const traceShare = (trace: Config['trace'], workers: number): { calls: number; maxBytes: number } => {
  const n = Math.max(1, Math.floor(workers));
  return { calls: Math.ceil(trace.calls / n), maxBytes: Math.floor(trace.maxBytes / n) };
};

export const wireCalls = (config: Config, events: EventHub, workers = 1): CallWiring => {
  const trace = createCallTrace({ ...traceShare(config.trace, workers), capture: config.trace.capture });
  // a summary is built for an event only while someone listens (the console's live view)
  trace.onCallWanted = () => events.listeners() > 0;
  trace.onCall = (event, call) => {
    events.publish('call', { event, ...summaryView(call) });
  };
  const service: CallService = {
    list: () => trace.list().map(summaryView),
    get(callId) {
      const c = trace.get(callId);
      return c === undefined ? undefined : { call: summaryView(c.summary), messages: c.messages.map(messageView) };
    },
    text(callId) {
      const c = trace.get(callId);
      return c === undefined ? undefined : ladderText(callId, c.messages);
    },
    pcap(callId) {
      const c = trace.get(callId);
      return c === undefined ? undefined : callPcap(c.messages);
    },
    trace: () => ({ capture: trace.capture, filter: trace.filter }),
    setTrace(s) {
      trace.setCapture(s.capture, s.filter);
      return { capture: trace.capture, filter: trace.filter };
    },
  };
  return {
    trace,
    service,
    observe(base) {
      const received = base.received;
      const sent = base.sent;
      return {
        ...base,
        received(msg: SipMessage, source: Endpoint, data: Buffer, local: Endpoint, at: number) {
          received?.(msg, source, data, local, at);
          trace.record('in', msg, data, source, local, at);
        },
        sent(msg: SipMessage, target: Endpoint, data: Buffer, local: Endpoint | undefined) {
          sent?.(msg, target, data, local);
          trace.record('out', msg, data, target, local ?? { transport: target.transport, address: '0.0.0.0', port: 0 });
        },
      };
    },
  };
};

// ---- workers: N ----------------------------------------------------------------------------
// Each worker traces the calls it handles (a call's messages all meet the worker its Call-ID
// belongs to). Worker 0's API asks the others and merges: the list, one call, the trace setting.

/** Answers the other workers' questions about this worker's calls. */
export const answerCalls = (local: CallService, rpc: WorkerRpc): void => {
  rpc.handle('calls.list', () => local.list());
  rpc.handle('calls.get', (id) => (typeof id === 'string' ? local.get(id) : undefined));
  rpc.handle('calls.text', (id) => (typeof id === 'string' ? local.text(id) : undefined));
  rpc.handle('calls.pcap', async (id) => (typeof id === 'string' ? (await local.pcap(id))?.toString('base64') : undefined));
  rpc.handle('calls.setTrace', (s) => local.setTrace(s as TraceSettings));
};

/** Worker 0's call service: its own calls and every other worker's. */
export const clusterCalls = (local: CallService, rpc: WorkerRpc, maxCalls: number): CallService => {
  /** this worker's answer, else the first other worker's */
  const first = async <T>(mine: T | undefined | Promise<T | undefined>, op: string, id: string): Promise<T | undefined> => {
    const here = await mine;
    if (here !== undefined) return here;
    for (const v of await rpc.ask(op, id)) if (v !== null && v !== undefined) return v as T;
    return undefined;
  };
  return {
    async list() {
      const all = [...(await local.list())];
      for (const v of await rpc.ask('calls.list')) if (Array.isArray(v)) all.push(...(v as CallSummaryView[]));
      // newest first, as one worker's list (ISO times sort as strings)
      all.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
      return all.slice(0, maxCalls);
    },
    get: (id) => first<CallDetailView>(local.get(id), 'calls.get', id),
    text: (id) => first<string>(local.text(id), 'calls.text', id),
    async pcap(id) {
      const here = await local.pcap(id);
      if (here !== undefined) return here;
      const b64 = await first<string>(undefined, 'calls.pcap', id);
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64');
    },
    trace: () => local.trace(),
    async setTrace(settings) {
      // checked here first: a bad filter is refused before any worker changes
      const applied = await local.setTrace(settings);
      await rpc.ask('calls.setTrace', applied);
      return applied;
    },
  };
};
