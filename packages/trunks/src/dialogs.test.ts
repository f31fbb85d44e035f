import { describe, expect, it } from 'vitest';
import { parseMessage } from '@sipfront/core';
import type { SipMessage } from '@sipfront/core';
import { createTrunkDialogs } from './dialogs.js';

const msg = (lines: string[]): SipMessage => parseMessage(Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n'), 'latin1'));
const CALLER_FROM = '<sip:1001@example.com>;tag=ct';
const TRUNK_FROM = '<sip:200200@sip.provider.example>;tag=ct';
const head = (cseq: string, from: string, to: string): string[] => ['Via: SIP/2.0/UDP 10.0.0.11;branch=z9hG4bK-1', `From: ${from}`, `To: ${to}`, 'Call-ID: c1', `CSeq: ${cseq}`];

describe('dialog fix-ups after a challenge answered with CSeq + 1', () => {
  it('raises the caller’s requests towards the provider and lowers the answers; the caller sees its own numbers and From', () => {
    let now = 0;
    const d = createTrunkDialogs({ clock: { now: () => now } });
    d.track('c1', 'ct', { trunk: 'p1', callerFrom: CALLER_FROM, trunkFrom: TRUNK_FROM });
    expect(d.trunkOf('c1')).toBe('p1');
    expect(d.raise('c1', 'ct')).toBe(1);
    // the 200 to the re-sent INVITE (CSeq 103 at the provider) goes back as 102
    const ok = msg(['SIP/2.0 200 OK', ...head('103 INVITE', TRUNK_FROM, '<sip:0049@sip.provider.example>;tag=pt')]);
    expect(d.rewrite(ok)).toBe(true);
    expect(ok.get('cseq')).toBe('102 INVITE');
    expect(ok.get('from')).toBe(CALLER_FROM);
    // the caller's ACK for the 2xx and its BYE go up by one, with the trunk's From
    const ack = msg(['ACK sip:0049@192.0.2.10 SIP/2.0', ...head('102 ACK', CALLER_FROM, '<sip:0049@10.0.0.11>;tag=pt')]);
    d.rewrite(ack);
    expect(ack.get('cseq')).toBe('103 ACK');
    expect(ack.get('from')).toBe(TRUNK_FROM);
    const bye = msg(['BYE sip:0049@192.0.2.10 SIP/2.0', ...head('103 BYE', CALLER_FROM, '<sip:0049@10.0.0.11>;tag=pt')]);
    d.rewrite(bye);
    expect(bye.get('cseq')).toBe('104 BYE');
    const byeOk = msg(['SIP/2.0 200 OK', ...head('104 BYE', TRUNK_FROM, '<sip:0049@sip.provider.example>;tag=pt')]);
    d.rewrite(byeOk);
    expect(byeOk.get('cseq')).toBe('103 BYE');
    // the BYE's final answer ended the dialog
    expect(d.size).toBe(0);
    d.track('c1', 'ct', { trunk: 'p1', callerFrom: CALLER_FROM, trunkFrom: TRUNK_FROM });
    d.raise('c1', 'ct');
    // the provider's own requests keep their numbers; To is the caller's identity again
    const pbye = msg(['BYE sip:1001@10.0.0.11 SIP/2.0', ...head('7 BYE', '<sip:0049@sip.provider.example>;tag=pt', TRUNK_FROM)]);
    d.rewrite(pbye);
    expect(pbye.get('cseq')).toBe('7 BYE');
    expect(pbye.get('to')).toBe(CALLER_FROM);
    const pbyeOk = msg(['SIP/2.0 200 OK', ...head('7 BYE', '<sip:0049@sip.provider.example>;tag=pt', CALLER_FROM)]);
    d.rewrite(pbyeOk);
    expect(pbyeOk.get('to')).toBe(TRUNK_FROM);
    expect(pbyeOk.get('cseq')).toBe('7 BYE');
    expect(d.size).toBe(0);
    d.raise('c1', 'ct');
    // a second challenge in the dialog (a challenged re-INVITE) raises it again
    expect(d.raise('c1', 'ct')).toBe(2);
    expect(d.offset('c1', 'ct')).toBe(2);
    d.end('c1');
    expect(d.size).toBe(0);
    // unknown dialogs pass untouched
    const other = msg(['BYE sip:x@y SIP/2.0', ...head('5 BYE', CALLER_FROM, '<sip:x@y>;tag=q')]);
    expect(d.rewrite(other)).toBe(false);
    // idle dialogs are forgotten
    d.raise('c1', 'ct');
    now += 25 * 3600_000;
    expect(d.rewrite(bye)).toBe(false);
  });

  it('keeps at most `max` dialogs, least recently used out first', () => {
    const d = createTrunkDialogs({ max: 2 });
    d.raise('a', 't');
    d.raise('b', 't');
    d.raise('a', 't');
    d.raise('c', 't');
    expect(d.size).toBe(2);
    expect(d.offset('b', 't')).toBe(0);
    expect(d.offset('a', 't')).toBe(2);
  });
});
