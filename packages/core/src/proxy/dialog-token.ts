// The `;sf=` token sipfront writes into its own Record-Route (contract step 3): an HMAC of the
// dialog's Call-ID and the caller's From tag. An in-dialog request passes only when the Route
// that names sipfront carries it, so nobody can ride a forged dialog past the trust checks.
import * as crypto from 'node:crypto';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SipMessage } from '../message/message.js';
import type { SipUri } from '../message/uri.js';
import { getParam } from '../message/params.js';
import { fresh } from '../transaction/retain.js';

/** how many of the tokens made last are remembered (~150 bytes each) */
const RECENT_TOKENS = 4096;
/** base64url characters of a token (132 bits of the MAC) */
const TOKEN_LENGTH = 22;

export interface RelayTarget {
  transport: 'udp' | 'tcp' | 'tls';
  address: string;
  port: number;
}

export interface DialogToken {
  /**
   * `;sfr=…;sfs=…` for a Route to another sipfront instance: "send this on to the address a
   * phone registered from" (the phone's NAT pinhole reaches only the instance it registered
   * with). Signed, so nobody can make an instance relay anywhere else.
   */
  relayParams(target: RelayTarget): string;
  /** the relay target in one of our Route URIs, when its signature holds */
  relayTarget(ourUri: SipUri | undefined): RelayTarget | undefined;
  /** `;sf=<token>` for the Record-Route of an initial request */
  param(req: SipMessage): string;
  /** the token in our Route fits this request's dialog (either direction) */
  verify(req: SipMessage, ourUri: SipUri | undefined): boolean;
}

export const createDialogToken = (secret: string | Buffer): DialogToken => {
  // An envelope MAC (secret, data, secret) over one-shot SHA-256: a quarter of an HMAC's cost
  // on the hot path (every INVITE, ACK and BYE); the trailing secret rules out length extension.
  const oneShot = (crypto as unknown as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash;
  const key = Buffer.isBuffer(secret) ? secret.toString('latin1') : secret;
  const mac =
    oneShot !== undefined
      ? (callId: string, tag: string): string => oneShot('sha256', `${key}\u0000${callId}\u0000${tag}\u0000${key}`, 'base64url').slice(0, TOKEN_LENGTH)
      : (callId: string, tag: string): string => createHmac('sha256', secret).update(callId).update('\u0000').update(tag).digest('base64url').slice(0, TOKEN_LENGTH);
  const same = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  // The tokens made last, with the Call-ID and tag each was made of: the ACK and, for a short
  // call, the BYE come back with one of them, and a look-up here spares a hash. A miss (a long
  // call, another instance's token) computes as before. Keys and values are copies of their own:
  // a slice of the INVITE would keep its whole text here.
  const recent = new Map<string, string>();
  const remember = (token: string, callId: string, tag: string): void => {
    if (recent.has(token)) return; // the same dialog again (another branch, a failover)
    if (recent.size >= RECENT_TOKENS) recent.delete(recent.keys().next().value as string);
    recent.set(fresh(token), fresh(`${callId}\u0000${tag}`));
  };
  const known = (token: string, callId: string, fromTag: string, toTag: string): boolean => {
    if (token.length !== TOKEN_LENGTH) return false;
    const was = recent.get(token);
    return was !== undefined && (was === `${callId}\u0000${fromTag}` || was === `${callId}\u0000${toTag}`);
  };
  const relayMac = (v: string): string => createHmac('sha256', secret).update('relay\u0000').update(v).digest('base64url').slice(0, 22);
  return {
    relayParams(t) {
      const v = `${t.transport}:${t.address.includes(':') ? `[${t.address}]` : t.address}:${t.port}`;
      return `;sfr=${v};sfs=${relayMac(v)}`;
    },
    relayTarget(ourUri) {
      if (ourUri === undefined) return undefined;
      const v = getParam(ourUri.params, 'sfr');
      const sig = getParam(ourUri.params, 'sfs');
      if (typeof v !== 'string' || typeof sig !== 'string' || !same(sig, relayMac(v))) return undefined;
      const m = /^(udp|tcp|tls):\[?([0-9A-Fa-f:.]+)\]?:(\d{1,5})$/.exec(v);
      if (m === null) return undefined;
      return { transport: m[1] as RelayTarget['transport'], address: m[2]!, port: Number(m[3]) };
    },
    param(req) {
      const callId = req.callId ?? '';
      const tag = req.fromTag ?? '';
      const token = mac(callId, tag);
      remember(token, callId, tag);
      return `;sf=${token}`;
    },
    verify(req, ourUri) {
      if (ourUri === undefined) return false;
      const t = getParam(ourUri.params, 'sf');
      if (typeof t !== 'string') return false;
      const callId = req.callId ?? '';
      const fromTag = req.fromTag ?? '';
      const toTag = req.toTag ?? '';
      if (known(t, callId, fromTag, toTag)) return true;
      // a request from the callee carries the caller's tag in To
      return same(t, mac(callId, fromTag)) || same(t, mac(callId, toTag));
    },
  };
};
