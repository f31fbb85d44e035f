// A call's messages as a text ladder diagram (for `sipfront ctl calls ID` and `?format=text`):
// one column per party, two lines per message (its label, then the arrow), time offsets left.
import type { TracedMessage } from './trace.js';

export const ladderText = (callId: string, messages: readonly TracedMessage[]): string => {
  if (messages.length === 0) return `call ${callId}: no messages\n`;
  const parties: string[] = [];
  const col = (p: string): number => {
    let i = parties.indexOf(p);
    if (i === -1) i = parties.push(p) - 1;
    return i;
  };
  const labels = messages.map((m) => {
    col(m.from);
    col(m.to);
    const what = m.status !== 0 ? m.firstLine.replace(/^SIP\/2\.0 /, '') : m.method;
    return m.status !== 0 ? `${what} (${m.cseq})` : `${what} (${m.cseq.replace(/ .*/, '')})`;
  });
  const longest = Math.max(...labels.map((l) => l.length), ...parties.map((p) => p.length));
  const width = longest + 4;
  const left = 10;
  const total = left + width * parties.length;
  const x = (i: number): number => left + width * i + Math.floor(width / 2);
  const blank = (): string[] => {
    const row = Array<string>(total).fill(' ');
    for (let i = 0; i < parties.length; i++) row[x(i)] = '|';
    return row;
  };
  const put = (row: string[], at: number, s: string): void => {
    for (let i = 0; i < s.length && at + i < total; i++) if (at + i >= 0) row[at + i] = s[i]!;
  };
  const head = Array<string>(total).fill(' ');
  parties.forEach((p, i) => put(head, x(i) - Math.floor(p.length / 2), p));
  const out: string[] = [`call ${callId}`, head.join('').trimEnd()];
  const t0 = messages[0]!.at;
  messages.forEach((m, k) => {
    const a = x(col(m.from));
    const b = x(col(m.to));
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const label = blank();
    put(label, 0, `+${((m.at - t0) / 1000).toFixed(3)}s`);
    put(label, lo + 1 + Math.max(0, Math.floor((hi - lo - 1 - labels[k]!.length) / 2)), labels[k]!);
    const arrow = blank();
    for (let i = lo + 1; i < hi; i++) arrow[i] = '-';
    if (a < b) arrow[hi - 1] = '>';
    else arrow[lo + 1] = '<';
    out.push(label.join('').trimEnd(), arrow.join('').trimEnd());
  });
  return `${out.join('\n')}\n`;
};
