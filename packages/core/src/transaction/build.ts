// Messages the transaction layer writes itself: 100 Trying (§8.2.6.1), the ACK for a non-2xx
// final response (§17.1.1.3) and CANCEL (§9.1); and where a server sends responses (§18.2.2).
import { SipMessage } from '../message/message.js';
import { getParam } from '../message/params.js';
import { fresh } from './retain.js';
import type { Target } from './types.js';

const copy = (from: SipMessage, to: SipMessage, key: string): void => {
  for (const h of from.headers) if (h.key === key) to.headers.push(h);
};

/** 100 Trying for a request: its Vias, From, To, Call-ID, CSeq and Timestamp. */
export const buildTrying = (req: SipMessage, delaySeconds = 0): SipMessage => {
  const res = SipMessage.response(100, 'Trying');
  for (const h of req.headers) {
    switch (h.key) {
      case 'via': case 'from': case 'to': case 'call-id': case 'cseq':
        res.headers.push(h);
        break;
      case 'timestamp':
        // §8.2.6.1: a response sent after a delay adds the delay (seconds) to the Timestamp
        if (delaySeconds > 0) res.headers.push({ name: h.name, key: h.key, value: `${h.value.trim().split(/\s+/)[0]} ${delaySeconds.toFixed(3)}`, raw: undefined });
        else res.headers.push(h);
        break;
      default:
        break;
    }
  }
  return res;
};

// ACK and CANCEL share the shape of §9.1 / §17.1.1.3: same Request-URI, Call-ID, From and CSeq
// number as the request, its top Via only (same branch), its Route set.
const hopByHop = (req: SipMessage, method: string, to: SipMessage): SipMessage => {
  const m = SipMessage.request(method, req.uri);
  const top = req.firstItemText('via');
  if (top !== undefined) m.append('Via', top);
  m.append('Max-Forwards', req.get('max-forwards') ?? '70');
  copy(req, m, 'route');
  copy(req, m, 'from');
  copy(to, m, 'to');
  copy(req, m, 'call-id');
  m.append('CSeq', `${req.cseq?.seq ?? 0} ${method}`);
  return m;
};

/** The ACK a client INVITE transaction sends for a 3xx–6xx response: the To comes from the response. */
export const buildNon2xxAck = (invite: SipMessage, res: SipMessage): SipMessage => hopByHop(invite, 'ACK', res);

/** CANCEL for an INVITE (§9.1); `headers` are appended (e.g. a Reason copied from the CANCEL received). */
export const buildCancel = (invite: SipMessage, headers?: ReadonlyArray<readonly [name: string, value: string]>): SipMessage => {
  const c = hopByHop(invite, 'CANCEL', invite);
  if (headers !== undefined) for (const [n, v] of headers) c.append(n, v);
  return c;
};

/**
 * Where responses to a request go (RFC 3261 §18.2.2, RFC 3581): over a stream, back on the
 * connection it came in on; over UDP to the Via's maddr, else to the source address at the
 * source port when the Via has `rport`, else at the Via's sent-by port (default 5060).
 */
export const defaultResponseTarget = (req: SipMessage, source: Target): Target => {
  if (source.transport !== 'udp') return source;
  const via = req.topVia;
  if (via === undefined) return source;
  const maddr = getParam(via.params, 'maddr');
  // a fresh address: the transaction keeps its response target after it let go of the request
  if (typeof maddr === 'string') return { transport: 'udp', address: fresh(maddr), port: via.port ?? 5060 };
  if (getParam(via.params, 'rport') !== undefined) return source;
  const port = via.port ?? 5060;
  return port === source.port ? source : { transport: 'udp', address: source.address, port };
};

export const sameTarget = (a: Target, b: Target): boolean =>
  a.port === b.port &&
  a.address === b.address &&
  a.transport === b.transport &&
  (a.connectionId === undefined || b.connectionId === undefined || a.connectionId === b.connectionId);
