// What a finished transaction keeps must not hold on to the message it came from: V8 makes a
// substring of 13 or more characters a view into its parent, so a key or tag sliced from a
// received message keeps that whole message text alive for as long as the transaction lives.
import type { SipMessage } from '../message/message.js';

/**
 * A copy of `s` that keeps nothing of the text it was cut from alive. Prepending a character
 * makes a cons string; slicing it flattens that into a new flat string of s.length + 1 characters
 * and returns a view into it (from 13 characters on a 32-byte slice, below that a copy), so what
 * stays is that new string, never the received message. Any characters, one or two bytes each.
 * (It was a latin1 round trip through a Buffer, one flat string without the view but five times
 * the time: ~250 against ~50 ns, and a call makes a dozen of these keys and names.)
 */
export const fresh = (s: string): string => (' ' + s).slice(1);

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
