// The REGISTER rules of RFC 3261 §10.3 steps 6-8 as pure functions: reading the Contact
// list and expiry of a request, and planning the new binding list of an AOR from the current
// one (Call-ID/CSeq ordering, removal, max_contacts). The stores apply the plan atomically.
import { getParam } from '@sipfront/core';
import type { SipMessage } from '@sipfront/core';
import { contactKey } from './bindings.js';
import type { Binding, UpdateOutcome } from './types.js';

export interface ExpiresPolicy {
  /** seconds */
  min: number;
  max: number;
  default: number;
  /** reject = 423 with Min-Expires; raise = grant min */
  belowMin: 'reject' | 'raise';
}

export interface ContactsPolicy {
  /** per AOR; 0 = no limit */
  maxContacts: number;
  /** refuse = 503 Too Many Registered Contacts; replace-oldest = drop the bindings that expire soonest */
  maxContactsPolicy: 'refuse' | 'replace-oldest';
}

export interface ContactRequest {
  uri: string;
  key: string;
  /** granted seconds; 0 = remove */
  expires: number;
  q: number | undefined;
}

export type ContactsParse =
  | { ok: true; star: boolean; contacts: ContactRequest[] }
  | { ok: false; status: 400; reason: string }
  | { ok: false; status: 423; reason: string; minExpires: number };

const DIGITS = /^[0-9]+$/;
const QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;

/** The q parameter (0..1, up to three decimals); undefined when absent or malformed (tolerated). */
const qOf = (v: string | null | undefined): number | undefined =>
  typeof v === 'string' && QVALUE.test(v) ? Number(v) : undefined;

/**
 * The Contact list of a REGISTER with the expiry granted to each (§10.3 steps 6 and 8): the
 * contact's `expires` parameter over the Expires header over the default; capped at max; a
 * non-zero value below min is refused (423) or raised to min.
 */
export const parseRegisterContacts = (req: SipMessage, policy: ExpiresPolicy): ContactsParse => {
  const values = req.contacts();
  const header = req.get('expires');
  const headerExpires = header !== undefined && DIGITS.test(header.trim()) ? Number(header.trim()) : undefined;
  if (values.some((v) => v?.star === true)) {
    if (values.length !== 1 || headerExpires !== 0) return { ok: false, status: 400, reason: 'Invalid Contact: * Request' };
    return { ok: true, star: true, contacts: [] };
  }
  const dflt = Math.min(policy.default, policy.max);
  const contacts: ContactRequest[] = [];
  for (const v of values) {
    if (v === undefined || v.nameAddr === undefined) return { ok: false, status: 400, reason: 'Bad Contact' };
    const na = v.nameAddr;
    const p = getParam(na.params, 'expires');
    let expires = typeof p === 'string' && DIGITS.test(p) ? Number(p) : headerExpires ?? dflt;
    if (expires > 0) {
      expires = Math.min(expires, policy.max);
      if (expires < policy.min) {
        if (policy.belowMin === 'reject') return { ok: false, status: 423, reason: 'Interval Too Brief', minExpires: policy.min };
        expires = policy.min;
      }
    }
    contacts.push({ uri: na.uri, key: contactKey(na.uri), expires, q: qOf(getParam(na.params, 'q')) });
  }
  return { ok: true, star: false, contacts };
};

export interface RegisterChange {
  aor: string;
  callId: string;
  cseq: number;
  star: boolean;
  contacts: readonly ContactRequest[];
  /** the fields every new or refreshed binding gets from this REGISTER */
  template: Pick<Binding, 'source' | 'connectionId' | 'instanceId' | 'listener' | 'userAgent' | 'path'>;
  now: number;
}

export type PlanResult =
  | { kind: 'ok'; bindings: Binding[] }
  /** §10.3 step 6/7: same Call-ID, CSeq not higher than the binding's: the request fails */
  | { kind: 'out-of-order'; uri: string }
  | { kind: 'too-many' };

/** The new binding list of an AOR, or why the request fails (then the store is left untouched). */
export const planRegister = (current: readonly Binding[], change: RegisterChange, policy: ContactsPolicy): UpdateOutcome<PlanResult> => {
  const stale = (b: Binding): boolean => b.callId === change.callId && change.cseq <= b.cseq;
  if (change.star) {
    const old = current.find(stale);
    if (old !== undefined) return { bindings: undefined, result: { kind: 'out-of-order', uri: old.uri } };
    return { bindings: current.length === 0 ? undefined : [], result: { kind: 'ok', bindings: [] } };
  }
  if (change.contacts.length === 0) return { bindings: undefined, result: { kind: 'ok', bindings: [...current] } };
  const before = new Map(current.map((b) => [b.key, b]));
  const next = new Map(before);
  const touched = new Set<string>();
  let added = 0;
  let changed = false;
  for (const c of change.contacts) {
    const old = before.get(c.key);
    if (old !== undefined && stale(old)) return { bindings: undefined, result: { kind: 'out-of-order', uri: old.uri } };
    if (c.expires === 0) {
      if (next.delete(c.key)) changed = true;
      touched.delete(c.key);
      continue;
    }
    changed = true;
    if (old === undefined && !touched.has(c.key)) added++;
    touched.add(c.key);
    next.set(c.key, {
      aor: change.aor,
      uri: c.uri,
      key: c.key,
      expiresAt: change.now + c.expires * 1000,
      q: c.q,
      callId: change.callId,
      cseq: change.cseq,
      ...change.template,
      path: [...change.template.path],
      receivedAt: change.now,
    });
  }
  const max = policy.maxContacts;
  if (max > 0 && added > 0 && next.size > max) {
    if (policy.maxContactsPolicy === 'refuse') return { bindings: undefined, result: { kind: 'too-many' } };
    // Asterisk's remove_existing: the bindings this request did not touch, soonest expiry first
    const victims = [...next.values()].filter((b) => !touched.has(b.key)).sort((a, b) => a.expiresAt - b.expiresAt);
    while (next.size > max && victims.length > 0) next.delete(victims.shift()!.key);
    if (next.size > max) return { bindings: undefined, result: { kind: 'too-many' } };
  }
  const bindings = [...next.values()];
  return { bindings: changed ? bindings : undefined, result: { kind: 'ok', bindings } };
};
