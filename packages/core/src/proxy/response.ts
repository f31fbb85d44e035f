// Responses sipfront creates itself (RFC 3261 §8.2.6).
import { SipMessage } from '../message/message.js';
import { newTag } from './branch.js';

export const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK', 202: 'Accepted',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 413: 'Request Entity Too Large',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 423: 'Interval Too Brief',
  480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected',
  483: 'Too Many Hops', 484: 'Address Incomplete', 486: 'Busy Here', 487: 'Request Terminated',
  488: 'Not Acceptable Here', 491: 'Request Pending', 500: 'Server Internal Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Server Time-out', 505: 'Version Not Supported',
  513: 'Message Too Large', 600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere',
};

export const reasonFor = (status: number): string => REASONS[status] ?? (status < 300 ? 'OK' : 'Error');

/**
 * A response to `req`: its Vias (as they stand, with received/rport filled), From, To (with a
 * tag added for final responses when the request had none), Call-ID and CSeq.
 */
export const createResponse = (
  req: SipMessage,
  status: number,
  reason: string = reasonFor(status),
  extra: ReadonlyArray<readonly [string, string]> = [],
  toTag?: string,
): SipMessage => {
  const res = SipMessage.response(status, reason);
  const out = res.headers;
  for (const h of req.headers) {
    switch (h.key) {
      case 'via':
      case 'from':
      case 'call-id':
      case 'cseq':
        out.push({ name: h.name, key: h.key, value: h.value, raw: h.raw });
        break;
      case 'to':
        if (status > 100 && req.toTag === undefined) out.push({ name: h.name, key: h.key, value: `${h.value};tag=${toTag ?? newTag()}`, raw: undefined });
        else out.push({ name: h.name, key: h.key, value: h.value, raw: h.raw });
        break;
      default:
        break;
    }
  }
  for (const [n, v] of extra) res.append(n, v);
  return res;
};
