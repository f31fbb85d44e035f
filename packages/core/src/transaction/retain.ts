// What a finished transaction keeps must not hold on to the message it came from: V8 makes a
// substring of 13 or more characters a view into its parent, so a key or tag sliced from a
// received message keeps that whole message text alive for as long as the transaction lives.
import type { SipMessage } from '../message/message.js';

/**
 * A flat copy of `s` that shares no storage with the text it was cut from (or built of). Not
 * `(' ' + s).slice(1)`: from 13 characters on that is itself a 32-byte slice of a copy. A latin1
 * round trip through a Buffer gives one flat string; the text of a message is latin1 (one
 * character a byte), anything else takes the slower JSON round trip, which is exact for all.
 */
export const fresh = (s: string): string => {
  if (s.length < 13) return (' ' + s).slice(1);
  const c = Buffer.from(s, 'latin1').toString('latin1');
  return c === s ? c : (JSON.parse(JSON.stringify(s)) as string);
};

export const freshOpt = (s: string | undefined): string | undefined => (s === undefined ? undefined : fresh(s));

/**
 * The credentials a request carries, in order: a re-sent request with others is a new request
 * (CONTRACT, Interop). '' without any, which is most requests: then no header line is built.
 */
export const credentialsOf = (req: SipMessage): string => {
  if (!req.has('authorization') && !req.has('proxy-authorization')) return '';
  let s = '';
  for (const h of req.headers) if (h.key === 'authorization' || h.key === 'proxy-authorization') s += `${h.key}:${h.value}\n`;
  return fresh(s);
};

/**
 * A message as the latin1 text a finished transaction keeps to send again. Not a Buffer: a
 * small Buffer is a view into an 8 KB pool slab shared with other messages, and one kept for
 * 64·T1 keeps the whole slab (measured: ~4.7 KB per call at load). A flat string costs its
 * length plus a header, in the V8 heap.
 */
export const retainedText = (msg: SipMessage): string => msg.toBuffer().toString('latin1');

/** The text a transaction keeps of what it sent: the bytes the transport returned, else serialized again. */
export const sentText = (data: Buffer | undefined, msg: SipMessage): string => (data !== undefined ? data.toString('latin1') : retainedText(msg));
