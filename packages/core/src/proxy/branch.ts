// Branch parameters of the Vias sipfront adds (RFC 3261 §16.6 step 8, §16.11).
// Layout: z9hG4bK + "sf" + 8 hex loop-detection hash + "." + transaction part (process tag + counter).
import { createHmac, randomBytes } from 'node:crypto';
import type { SipMessage } from '../message/message.js';
import { MAGIC_COOKIE } from '../message/via.js';

export const BRANCH_PREFIX = `${MAGIC_COOKIE}sf`;

/** 32-bit FNV-1a over a string's UTF-16 units; fast, not cryptographic (loop and stateless ids only). */
export const fnv1a = (s: string, seed = 0x811c9dc5): number => {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

/**
 * MurmurHash3's finaliser: a bijection on 32 bits with full avalanche. FNV-1a's last bytes barely
 * reach its top bits; where a hash is read as a number in [0, 1) or ranked, mix it with this first.
 */
export const fmix32 = (x: number): number => {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/**
 * The loop-detection part (§16.6 step 8): a hash of what identifies the request as it reached
 * us. `viaBelow` is the Via that was topmost when the request arrived.
 */
export const loopHash = (req: SipMessage, viaBelow: string | undefined): string => {
  const cs = req.cseq;
  // No To tag: the ACK of an initial INVITE's non-2xx carries the tag its INVITE lacked, yet must
  // get the INVITE's branch (§17.1.1.3; a stateless proxy computes it again, §16.11), and so must a
  // re-INVITE's ACK and CANCEL. A request coming back unchanged (a loop) has the same To anyway.
  const key = `${req.uri}\u0000${req.fromTag ?? ''}\u0000${req.callId ?? ''}\u0000${cs?.seq ?? ''}\u0000${viaBelow ?? ''}\u0000${req.get('proxy-require') ?? ''}`;
  return hex8(fnv1a(key));
};

const processTag = randomBytes(4).toString('hex');
let counter = 0;

/**
 * The process part of the branches a worker makes (`workers: N`): `w<k>-` tells the worker that
 * sent a request from its response's top Via (transport/affinity.ts). Hex never holds a `w`.
 */
export const workerBranchTag = (worker: number): string => `w${worker}-${randomBytes(3).toString('hex')}`;

/** A branch unique to this process and call (stateful mode); `tag` names the process. */
export const newBranch = (loop: string, tag: string = processTag): string => {
  counter = (counter + 1) >>> 0;
  return `${BRANCH_PREFIX}${loop}.${tag}${counter.toString(36)}`;
};

/**
 * The stateless branch (§16.11): the same request (and its retransmissions, CANCEL, and the ACK
 * of a non-2xx) always gets the same branch, from any process. With an RFC 2543 peer (no magic
 * cookie) the transaction is identified by its fields instead of its branch.
 */
export const statelessBranch = (req: SipMessage, loop: string, targetKey: string): string => {
  const v = req.topVia;
  let id: string;
  if (v?.branch !== undefined && v.branch.startsWith(MAGIC_COOKIE)) id = `${v.branch}\u0000${v.host}:${v.port ?? ''}`;
  else {
    const cs = req.cseq;
    id = `${req.uri}\u0000${req.fromTag ?? ''}\u0000${req.callId ?? ''}\u0000${cs?.seq ?? ''}\u0000${v?.host ?? ''}:${v?.port ?? ''}`;
  }
  id += `\u0000${targetKey}`;
  return `${BRANCH_PREFIX}${loop}.${hex8(fnv1a(id))}${hex8(fnv1a(id, 0x1b873593))}`;
};

/** The loop part of one of our branches, or undefined when the branch is not ours. */
export const loopPartOf = (branch: string | undefined): string | undefined => {
  if (branch === undefined || !branch.startsWith(BRANCH_PREFIX)) return undefined;
  return branch.slice(BRANCH_PREFIX.length, BRANCH_PREFIX.length + 8);
};

/**
 * The To tag of a final answer sipfront sends without a server transaction (stateless mode, or a
 * request refused before one exists): a hash with secret seeds of the request's Call-ID and top Via branch,
 * so the ACK of that answer (it keeps the INVITE's branch, §17.1.1.3) is known as ours and goes no
 * further. The key comes from `secret` (workers share it) or is random. Returns undefined for a
 * request without a Call-ID or branch (a random tag then).
 */
export const localReplyTags = (secret: string | Buffer | undefined): ((req: SipMessage) => string | undefined) => {
  const key = secret === undefined ? randomBytes(8) : createHmac('sha256', secret).update('sipfront local reply tag').digest();
  const s1 = key.readUInt32BE(0);
  const s2 = key.readUInt32BE(4);
  return (req) => {
    const callId = req.callId;
    const branch = req.topVia?.branch;
    if (callId === undefined || branch === undefined) return undefined;
    const id = `${callId}\u0000${branch}`;
    return `sf${hex8(fnv1a(id, s1))}${hex8(fnv1a(id, s2))}`;
  };
};

/** A random tag for To headers of responses sipfront itself creates. */
export const newTag = (): string => randomBytes(6).toString('hex');
