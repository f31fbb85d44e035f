// The ladder of one call, computed without the DOM: a trace (messages in time order) in,
// columns (caller, sipfront, each next hop) and arrows with their coordinates out, plus a
// plain-language account of how the call ended and which hop decided it.
import { formatOffset, formatSeconds, parseParty, reasonOf, toMillis } from './format.js';

/** One message as `GET /api/v1/calls/:callId` returns it. */
export interface LadderMessage {
  /** ms since the epoch, or ISO 8601 */
  at: number | string;
  /** `in`: sipfront received it; `out`: sipfront sent it */
  direction?: string;
  /** `transport:address:port` */
  from: string;
  to: string;
  transport?: string;
  firstLine: string;
  method?: string;
  /** 0 (or absent) for a request */
  status?: number;
  /** `1 INVITE` */
  cseq?: string;
  /** the whole message */
  text?: string;
}

export type ColumnRole = 'caller' | 'sipfront' | 'next-hop';

export interface LadderColumn {
  /** `address:port`, or `sipfront` for all of sipfront's sockets */
  key: string;
  label: string;
  role: ColumnRole;
  /** transports seen for this party, e.g. `udp` or `udp, tcp` */
  transports: string;
  x: number;
}

export interface LadderArrow {
  /** position in the trace */
  index: number;
  from: number;
  to: number;
  x1: number;
  x2: number;
  y: number;
  /** `INVITE sip:600@example.com` or `200 OK` */
  label: string;
  /** the CSeq, e.g. `1 INVITE` */
  cseq: string;
  offsetMs: number;
  offsetLabel: string;
  kind: 'request' | 'response';
  method: string;
  status: number;
  /** the same message sent again (same hop, first line, CSeq and branch) */
  retransmission: boolean;
  /** a final response of 300 or above */
  failure: boolean;
  transport: string;
}

export interface LadderLayout {
  columns: LadderColumn[];
  arrows: LadderArrow[];
  width: number;
  height: number;
  /** ms of the first message */
  t0: number;
}

export interface LadderGeometry {
  /** left margin, where the time offsets are written */
  left: number;
  columnGap: number;
  /** space for the column headings */
  top: number;
  rowHeight: number;
  right: number;
  bottom: number;
}

export const DEFAULT_GEOMETRY: LadderGeometry = { left: 96, columnGap: 220, top: 64, rowHeight: 40, right: 110, bottom: 24 };

const isIn = (d: string | undefined): boolean | undefined => {
  if (d === undefined) return undefined;
  if (/^(in|incoming|recv|received|rx)$/i.test(d)) return true;
  if (/^(out|outgoing|sent|send|tx)$/i.test(d)) return false;
  return undefined;
};

const statusOf = (m: LadderMessage): number => {
  if (typeof m.status === 'number' && m.status > 0) return m.status;
  const s = /^SIP\/2\.0\s+(\d{3})/i.exec(m.firstLine);
  return s !== null ? Number(s[1]) : 0;
};

const methodOf = (m: LadderMessage): string => {
  if (m.method !== undefined && m.method !== '') return m.method;
  if (statusOf(m) > 0) return (m.cseq ?? '').trim().split(/\s+/)[1] ?? '';
  return m.firstLine.split(' ')[0] ?? '';
};

/** The branch of the topmost Via, when the message text is there. */
const topBranch = (text: string | undefined): string => {
  if (text === undefined) return '';
  const m = /^(?:via|v)\s*:[^\r\n]*?;\s*branch=([^;,\s]+)/im.exec(text);
  return m?.[1] ?? '';
};

const labelOf = (m: LadderMessage, status: number): string => {
  if (status > 0) return `${status} ${reasonOf(m.firstLine)}`.trim();
  return m.firstLine.replace(/\s+SIP\/2\.0\s*$/i, '');
};

/** Which side of each message is sipfront: by direction, else the party seen most often. */
const sipfrontSides = (messages: readonly LadderMessage[]): Array<'from' | 'to'> => {
  const counts = new Map<string, number>();
  for (const m of messages) {
    for (const p of [m.from, m.to]) {
      const k = parseParty(p).hostPort;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  let busiest = '';
  let best = -1;
  for (const [k, n] of counts) {
    if (n > best) {
      best = n;
      busiest = k;
    }
  }
  return messages.map((m) => {
    const dir = isIn(m.direction);
    if (dir !== undefined) return dir ? 'to' : 'from';
    return parseParty(m.to).hostPort === busiest ? 'to' : 'from';
  });
};

export const layoutLadder = (messages: readonly LadderMessage[], geometry: LadderGeometry = DEFAULT_GEOMETRY): LadderLayout => {
  const g = geometry;
  const sides = sipfrontSides(messages);
  const columns: LadderColumn[] = [];
  const byKey = new Map<string, number>();
  const transports = new Map<string, Set<string>>();
  const column = (key: string, label: string, role: ColumnRole): number => {
    let i = byKey.get(key);
    if (i === undefined) {
      i = columns.push({ key, label, role, transports: '', x: 0 }) - 1;
      byKey.set(key, i);
      transports.set(key, new Set());
    }
    return i;
  };
  // the caller first, then sipfront, then every other party in order of appearance
  const first = messages[0];
  if (first !== undefined) {
    const callerSide = sides[0] === 'to' ? first.from : first.to;
    const caller = parseParty(callerSide);
    column(caller.hostPort, caller.hostPort, 'caller');
    column('sipfront', 'sipfront', 'sipfront');
  }
  const t0 = first !== undefined ? toMillis(first.at) : 0;
  const seen = new Set<string>();
  const arrows: LadderArrow[] = messages.map((m, index) => {
    const src = parseParty(m.from);
    const dst = parseParty(m.to);
    const sipfrontIsFrom = sides[index] === 'from';
    const fromKey = sipfrontIsFrom ? 'sipfront' : src.hostPort;
    const toKey = sipfrontIsFrom ? dst.hostPort : 'sipfront';
    const from = byKey.get(fromKey) ?? column(fromKey, src.hostPort, 'next-hop');
    const to = byKey.get(toKey) ?? column(toKey, dst.hostPort, 'next-hop');
    const transport = (m.transport || src.transport || dst.transport).toLowerCase();
    const remoteKey = sipfrontIsFrom ? toKey : fromKey;
    if (transport !== '') transports.get(remoteKey)?.add(transport);
    if (transport !== '') transports.get('sipfront')?.add(transport);
    const status = statusOf(m);
    const cseq = (m.cseq ?? '').trim();
    const identity = `${fromKey}>${toKey}|${m.firstLine}|${cseq}|${topBranch(m.text)}`;
    const retransmission = seen.has(identity);
    seen.add(identity);
    const offsetMs = toMillis(m.at) - t0;
    return {
      index,
      from,
      to,
      x1: 0,
      x2: 0,
      y: g.top + g.rowHeight * (index + 0.5),
      label: labelOf(m, status),
      cseq,
      offsetMs,
      offsetLabel: formatOffset(offsetMs),
      kind: status > 0 ? 'response' : 'request',
      method: methodOf(m),
      status,
      retransmission,
      failure: status >= 300,
      transport,
    };
  });
  columns.forEach((c, i) => {
    c.x = g.left + g.columnGap * i;
    c.transports = [...(transports.get(c.key) ?? [])].join(', ');
  });
  for (const a of arrows) {
    a.x1 = columns[a.from]!.x;
    a.x2 = columns[a.to]!.x;
  }
  const width = g.left + g.columnGap * Math.max(0, columns.length - 1) + g.right;
  const height = g.top + g.rowHeight * arrows.length + g.bottom;
  return { columns, arrows, width, height, t0 };
};

export interface CallAttempt {
  /** the next hop's column label (`address:port`) */
  party: string;
  /** ms after the call's first message */
  offsetMs: number;
  /** the final answer, if one came */
  finalStatus: number | null;
  finalReason: string;
  /** provisional answers seen (100, 180…) */
  provisional: number[];
  /** true when sipfront moved on without a final answer from it */
  timedOut: boolean;
  cancelled: boolean;
  /** how long it had before the next attempt (timed out) or until its final answer */
  waitedMs: number | null;
  retransmissions: number;
  /** `no answer to the INVITE within 2.0 s`, `503 Service Unavailable`, `200 OK` */
  description: string;
}

export interface CallOutcome {
  kind: 'answered' | 'failed' | 'cancelled' | 'in-progress';
  /** the final status sipfront sent the caller */
  finalStatus: number | null;
  finalReason: string;
  /** who produced the final status: a next hop's label, or `sipfront` */
  producedBy: string | null;
  attempts: CallAttempt[];
  /** one sentence, e.g. `10.0.0.11:5060 did not answer the INVITE within 2.0 s, failover to 10.0.0.12:5060: 200 OK` */
  headline: string;
}

/**
 * How the INVITE went: each attempt sipfront made towards a next hop and what came of it, the
 * final answer the caller got, and who produced it (the hop that sent that status first, or
 * sipfront itself when no hop did).
 */
export const describeOutcome = (layout: LadderLayout, messages: readonly LadderMessage[]): CallOutcome => {
  const { arrows, columns } = layout;
  const callerCol = columns.findIndex((c) => c.role === 'caller');
  const sipfrontCol = columns.findIndex((c) => c.role === 'sipfront');
  const cseqNo = (cseq: string): string => cseq.split(/\s+/)[0] ?? '';
  const isInviteCseq = (a: LadderArrow): boolean => /\bINVITE$/i.test(a.cseq) || (a.cseq === '' && a.method === 'INVITE');

  const attempts: CallAttempt[] = [];
  const attemptArrows: LadderArrow[] = [];
  for (const a of arrows) {
    if (a.kind !== 'request' || a.method !== 'INVITE' || a.from !== sipfrontCol || a.to === callerCol) continue;
    if (a.retransmission) {
      const k = attemptArrows.findIndex((p) => p.to === a.to && p.cseq === a.cseq);
      if (k !== -1) attempts[k]!.retransmissions++;
      continue;
    }
    attemptArrows.push(a);
    attempts.push({
      party: columns[a.to]!.label,
      offsetMs: a.offsetMs,
      finalStatus: null,
      finalReason: '',
      provisional: [],
      timedOut: false,
      cancelled: false,
      waitedMs: null,
      retransmissions: 0,
      description: '',
    });
  }
  attemptArrows.forEach((a, i) => {
    const at = attempts[i]!;
    const next = attemptArrows[i + 1];
    for (const r of arrows) {
      if (r.index <= a.index || r.kind !== 'response' || r.from !== a.to || r.to !== sipfrontCol) continue;
      if (!isInviteCseq(r) || cseqNo(r.cseq) !== cseqNo(a.cseq)) continue;
      if (r.status < 200) {
        if (!at.provisional.includes(r.status)) at.provisional.push(r.status);
        continue;
      }
      at.finalStatus = r.status;
      at.finalReason = reasonOf(messages[r.index]?.firstLine ?? r.label);
      at.waitedMs = r.offsetMs - a.offsetMs;
      break;
    }
    at.cancelled = arrows.some((c) => c.index > a.index && c.kind === 'request' && c.method === 'CANCEL' && c.from === sipfrontCol && c.to === a.to);
    if (at.finalStatus === null && next !== undefined) {
      at.timedOut = true;
      at.waitedMs = next.offsetMs - a.offsetMs;
    }
    const ringing = at.provisional.filter((s) => s > 100);
    if (at.finalStatus !== null) at.description = `${at.finalStatus} ${at.finalReason}`.trim();
    else if (at.timedOut && ringing.length > 0) at.description = `answered ${ringing.join(', ')} but sent no final answer within ${formatSeconds(at.waitedMs ?? 0)}`;
    else if (at.timedOut) at.description = `did not answer the INVITE within ${formatSeconds(at.waitedMs ?? 0)}`;
    else if (at.cancelled) at.description = 'cancelled';
    else at.description = 'no final answer yet';
  });

  // the first final answer sipfront sent the caller for the INVITE
  let final: LadderArrow | undefined;
  for (const a of arrows) {
    if (a.kind === 'response' && a.status >= 200 && a.from === sipfrontCol && a.to === callerCol && isInviteCseq(a) && !a.retransmission) {
      final = a;
      break;
    }
  }
  const finalStatus = final?.status ?? null;
  const finalReason = final !== undefined ? reasonOf(messages[final.index]?.firstLine ?? final.label) : '';
  let producedBy: string | null = null;
  if (finalStatus !== null) {
    const hop = [...attempts].reverse().find((t) => t.finalStatus === finalStatus);
    producedBy = hop !== undefined ? hop.party : 'sipfront';
  }
  const kind: CallOutcome['kind'] =
    finalStatus === null ? 'in-progress' : finalStatus < 300 ? 'answered' : finalStatus === 487 ? 'cancelled' : 'failed';

  const steps = attempts.map((t, i) => {
    const phrase = t.finalStatus !== null ? `${t.party} answered ${t.description}` : `${t.party} ${t.description}`;
    return i === 0 ? phrase : `failover to ${phrase}`;
  });
  let headline: string;
  if (finalStatus === null) headline = steps.length > 0 ? `In progress: ${steps.join(', ')}` : 'In progress: no final answer yet';
  else {
    const verdict = `${kind === 'answered' ? 'Answered' : kind === 'cancelled' ? 'Cancelled' : 'Failed'}: ${finalStatus} ${finalReason}`.trim();
    const by = producedBy === 'sipfront' ? (attempts.length > 0 ? 'sent by sipfront' : 'sent by sipfront (no next hop was tried)') : `from ${producedBy}`;
    headline = `${verdict}, ${by}${steps.length > 0 ? ` — ${steps.join(', ')}` : ''}`;
  }
  return { kind, finalStatus, finalReason, producedBy, attempts, headline };
};

/**
 * The message text with credentials hidden: Authorization and Proxy-Authorization keep their
 * scheme and username only, and anything called a password is masked.
 */
export const redactMessage = (text: string): string =>
  text
    .split(/\r?\n/)
    .map((line) => {
      const auth = /^((?:proxy-)?authorization\s*:\s*)(\S+)(.*)$/i.exec(line);
      if (auth !== null) {
        const user = /username\s*=\s*("[^"]*"|[^,\s]+)/i.exec(auth[3] ?? '');
        return `${auth[1]}${auth[2]}${user !== null ? ` username=${user[1]},` : ''} [redacted]`;
      }
      return line.replace(/(password\s*[=:]\s*)("[^"]*"|\S+)/gi, '$1[redacted]');
    })
    .join('\n');
