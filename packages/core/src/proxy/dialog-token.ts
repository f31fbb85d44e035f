// The `;sf=` token sipfront writes into its own Record-Route (contract step 3): an HMAC of the
// dialog's Call-ID and the caller's From tag. An in-dialog request passes only when the Route
// that names sipfront carries it, so nobody can ride a forged dialog past the trust checks.
import * as crypto from 'node:crypto';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SipMessage } from '../message/message.js';
import type { SipUri } from '../message/uri.js';
import { getParam } from '../message/params.js';

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
      ? (callId: string, tag: string): string => oneShot('sha256', `${key}\u0000${callId}\u0000${tag}\u0000${key}`, 'base64url').slice(0, 22)
      : (callId: string, tag: string): string => createHmac('sha256', secret).update(callId).update('\u0000').update(tag).digest('base64url').slice(0, 22);
  const same = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
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
      return `;sf=${mac(req.callId ?? '', req.fromTag ?? '')}`;
    },
    verify(req, ourUri) {
      if (ourUri === undefined) return false;
      const t = getParam(ourUri.params, 'sf');
      if (typeof t !== 'string') return false;
      const callId = req.callId ?? '';
      // a request from the callee carries the caller's tag in To
      return same(t, mac(callId, req.fromTag ?? '')) || same(t, mac(callId, req.toTag ?? ''));
    },
  };
};
