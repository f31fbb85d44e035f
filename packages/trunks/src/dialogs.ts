// Keeps a call out through a trunk consistent after sipfront changed it (Kamailio's uac
// restore): every 401/407 sipfront answered with CSeq + 1 raises the dialog's CSeq offset
// towards the provider and lowers it again in the answers to the caller (RFC 3261 §22.2); the
// caller's From, replaced by the trunk's identity, is put back in what reaches the caller.
// Direction comes from the tags alone: the caller's tag is the From tag of its requests (and of
// the responses to them), the To tag of the provider's requests (and of the responses to those).
// A final response to a BYE ends the record; the proxy ends it itself when the initial INVITE fails.
import type { SipMessage } from '@sipfront/core';
import { realTrunkClock } from './clock.js';
import type { TrunkClock } from './types.js';

interface DialogRecord {
  callId: string;
  callerTag: string;
  /** the trunk the call went out through (for challenges to later in-dialog requests) */
  trunk: string | undefined;
  /** added to the CSeq of the caller's requests towards the provider */
  offset: number;
  /** the caller's From value (with its tag), restored towards the caller */
  callerFrom: string | undefined;
  /** the trunk's From value (with the caller's tag), written towards the provider */
  trunkFrom: string | undefined;
  touched: number;
}

export interface TrunkDialogs {
  /** A call out through a trunk whose From sipfront replaced (call at routing time). */
  track(callId: string, callerTag: string, info: { trunk: string; callerFrom: string; trunkFrom: string }): void;
  /** sipfront answered a 401/407 on a request of this dialog with CSeq + 1: returns the new offset. */
  raise(callId: string, callerTag: string): number;
  /** The offset of a dialog (0 when unknown). */
  offset(callId: string, callerTag: string): number;
  /** The trunk a tracked call went out through (to answer a challenge to a later BYE / re-INVITE). */
  trunkOf(callId: string): string | undefined;
  /**
   * Rewrites a message of a tracked dialog that sipfront forwards (a request in either
   * direction after the initial one, a response in either direction). True when it changed it.
   */
  rewrite(msg: SipMessage): boolean;
  /** The dialog is over (BYE answered, the INVITE failed): forget it. */
  end(callId: string): void;
  readonly size: number;
  clear(): void;
}

export interface TrunkDialogsOptions {
  clock?: Pick<TrunkClock, 'now'>;
  /** a dialog untouched this long is forgotten (default 24 h: calls can be long and silent) */
  idleMs?: number;
  /** most dialogs kept; the least recently used goes first (default 100 000) */
  max?: number;
}

export const createTrunkDialogs = (opts: TrunkDialogsOptions = {}): TrunkDialogs => {
  const clock = opts.clock ?? realTrunkClock;
  const idleMs = opts.idleMs ?? 24 * 3600_000;
  const max = opts.max ?? 100_000;
  // insertion order = least recently used first (touching re-inserts)
  const byCallId = new Map<string, DialogRecord>();

  const sweep = (now: number): void => {
    for (const [k, r] of byCallId) {
      if (byCallId.size <= max && now - r.touched < idleMs) break;
      byCallId.delete(k);
    }
  };

  const recordFor = (callId: string, callerTag: string): DialogRecord => {
    const now = clock.now();
    let r = byCallId.get(callId);
    if (r === undefined || r.callerTag !== callerTag) {
      r = { callId, callerTag, trunk: undefined, offset: 0, callerFrom: undefined, trunkFrom: undefined, touched: now };
    }
    byCallId.delete(callId);
    r.touched = now;
    byCallId.set(callId, r);
    sweep(now);
    return r;
  };

  const shiftCSeq = (msg: SipMessage, by: number): boolean => {
    const c = msg.cseq;
    if (by === 0 || c === undefined) return false;
    msg.set('CSeq', `${c.seq + by} ${c.method}`);
    return true;
  };

  const replace = (msg: SipMessage, name: 'From' | 'To', value: string | undefined): boolean => {
    if (value === undefined || msg.get(name.toLowerCase()) === value) return false;
    msg.set(name, value);
    return true;
  };

  return {
    track(callId, callerTag, info) {
      const r = recordFor(callId, callerTag);
      r.trunk = info.trunk;
      r.callerFrom = info.callerFrom;
      r.trunkFrom = info.trunkFrom;
    },
    raise(callId, callerTag) {
      const r = recordFor(callId, callerTag);
      r.offset += 1;
      return r.offset;
    },
    offset(callId, callerTag) {
      const r = byCallId.get(callId);
      return r !== undefined && r.callerTag === callerTag ? r.offset : 0;
    },
    trunkOf(callId) {
      return byCallId.get(callId)?.trunk;
    },
    rewrite(msg) {
      if (byCallId.size === 0) return false;
      const callId = msg.callId;
      if (callId === undefined) return false;
      const r = byCallId.get(callId);
      if (r === undefined) return false;
      const now = clock.now();
      if (now - r.touched >= idleMs) {
        byCallId.delete(callId);
        return false;
      }
      r.touched = now;
      const fromCaller = msg.fromTag === r.callerTag;
      const toCaller = msg.toTag === r.callerTag;
      let changed = false;
      if (msg.isRequest) {
        if (fromCaller) {
          // the caller's request towards the provider (BYE, re-INVITE, the ACK for a 2xx)
          changed = shiftCSeq(msg, r.offset) || changed;
          changed = replace(msg, 'From', r.trunkFrom) || changed;
        } else if (toCaller) {
          // the provider's request towards the caller: its CSeq space is its own
          changed = replace(msg, 'To', r.callerFrom) || changed;
        }
      } else if (fromCaller) {
        // an answer to the caller's request, going back to the caller
        changed = shiftCSeq(msg, -r.offset) || changed;
        changed = replace(msg, 'From', r.callerFrom) || changed;
      } else if (toCaller) {
        // the caller's answer to a provider's request
        changed = replace(msg, 'To', r.trunkFrom) || changed;
      }
      // any final answer to a BYE, either way, ends the dialog (RFC 3261 §15.1.2)
      if (msg.isResponse && msg.status >= 200 && msg.cseq?.method === 'BYE' && (fromCaller || toCaller)) byCallId.delete(callId);
      return changed;
    },
    end(callId) {
      byCallId.delete(callId);
    },
    get size() {
      return byCallId.size;
    },
    clear() {
      byCallId.clear();
    },
  };
};
