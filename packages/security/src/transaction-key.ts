// A number that names a request's transaction, so flood counting can tell a retransmission
// from a new request without keeping the message's strings alive (a substring held in a
// counter would pin the whole message text in memory). RFC 3261 §17.2.3: the top Via branch
// when it carries the magic cookie, else Call-ID + CSeq. An ACK belongs to its INVITE's
// transaction (the ACK for a non-2xx reuses the INVITE's branch; a 2xx ACK has a new one).

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

const fnv = (h: number, s: string): number => {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
};

/** The request fields read; SipMessage satisfies it. */
export interface TransactionFields {
  readonly method: string;
  readonly topVia: { readonly branch: string | undefined } | undefined;
  readonly callId: string | undefined;
  readonly cseq: { readonly seq: number; readonly method: string } | undefined;
}

/** A 30-bit hash (a small integer in V8, stored unboxed); -1 when the request names no transaction. */
export const transactionKey = (req: TransactionFields): number => {
  const branch = req.topVia?.branch;
  let h = FNV_OFFSET;
  if (branch !== undefined && branch.length > 7 && branch.startsWith('z9hG4bK')) {
    h = fnv(h, branch);
    h = fnv(Math.imul(h ^ 0x7c, FNV_PRIME), req.method === 'ACK' ? 'INVITE' : req.method);
  } else {
    const callId = req.callId;
    const cseq = req.cseq;
    if (callId === undefined || cseq === undefined) return -1;
    h = fnv(h, callId);
    h = Math.imul(h ^ cseq.seq, FNV_PRIME);
    h = fnv(h, cseq.method === 'ACK' ? 'INVITE' : cseq.method);
  }
  return h & 0x3fffffff;
};
