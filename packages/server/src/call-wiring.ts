// Call traces in the running server: what the proxy sends and receives feeds the trace (bounded
// by trace.calls and trace.max_bytes), which the REST API serves as ladders, text and pcap.
import type { CallTrace, Endpoint, ProxyObserver, SipMessage, TracedMessage, CallSummary } from '@sipfront/core';
import { callPcap, createCallTrace, ladderText } from '@sipfront/core';
import type { CallService, CallSummaryView, EventHub } from '@sipfront/api';
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

export const wireCalls = (config: Config, events: EventHub): CallWiring => {
  const trace = createCallTrace({ calls: config.trace.calls, maxBytes: config.trace.maxBytes, capture: config.trace.capture });
  trace.onCall = (event, call) => {
    if (events.listeners() > 0) events.publish('call', { event, ...summaryView(call) });
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
        received(msg: SipMessage, source: Endpoint, data: Buffer, local: Endpoint) {
          received?.(msg, source, data, local);
          trace.record('in', msg, data, source, local);
        },
        sent(msg: SipMessage, target: Endpoint, data: Buffer, local: Endpoint | undefined) {
          sent?.(msg, target, data, local);
          trace.record('out', msg, data, target, local ?? { transport: target.transport, address: '0.0.0.0', port: 0 });
        },
      };
    },
  };
};
