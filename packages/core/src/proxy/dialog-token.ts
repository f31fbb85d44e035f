// The `;sf=` token sipfront writes into its own Record-Route (contract step 3): an HMAC of the
// dialog's Call-ID and the caller's From tag. An in-dialog request passes only when the Route
// that names sipfront carries it, so nobody can ride a forged dialog past the trust checks.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SipMessage } from '../message/message.js';
import type { SipUri } from '../message/uri.js';
import { getParam } from '../message/params.js';

export interface DialogToken {
  /** `;sf=<token>` for the Record-Route of an initial request */
  param(req: SipMessage): string;
  /** the token in our Route fits this request's dialog (either direction) */
  verify(req: SipMessage, ourUri: SipUri | undefined): boolean;
}

export const createDialogToken = (secret: string | Buffer): DialogToken => {
  const mac = (callId: string, tag: string): string =>
    createHmac('sha256', secret).update(callId).update('\u0000').update(tag).digest('base64url').slice(0, 22);
  const same = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  return {
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
