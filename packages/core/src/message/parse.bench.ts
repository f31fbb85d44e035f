// Parser and serializer speed against the npm `sip` package, on the messages a proxy handles
// most: an INVITE with SDP and a 200 OK. Run: npx vitest bench --run packages/core
import { bench, describe } from 'vitest';
import { parseMessage } from './parser.js';
import { INVITE, OK_200 } from '../../test/helpers/sample-messages.js';
import { sip } from '../../test/helpers/sip-peer.js';

const cases = [
  { name: 'INVITE with SDP', buf: Buffer.from(INVITE, 'latin1') },
  { name: '200 OK', buf: Buffer.from(OK_200, 'latin1') },
];

let sink: unknown;
let n = 0;

for (const { name, buf } of cases) {
  describe(`parse + read topVia/from/to/cseq/callId: ${name}`, () => {
    bench('sipfront parseMessage', () => {
      const m = parseMessage(buf);
      sink = [m.topVia, m.from, m.to, m.cseq, m.callId];
    });
    bench('sip.parse', () => {
      const m = sip.parse(buf)!;
      const h = m.headers;
      sink = [h.via![0], h.from, h.to, h.cseq, h['call-id']];
    });
  });

  describe(`serialize: ${name}`, () => {
    const ours = parseMessage(buf);
    const theirs = sip.parse(buf)!;
    bench('sipfront toBuffer', () => {
      sink = ours.toBuffer();
    });
    bench('sip.stringify', () => {
      sink = sip.stringify(theirs);
    });
  });

  describe(`forward (parse, Via, Record-Route, Max-Forwards, serialize): ${name}`, () => {
    bench('sipfront', () => {
      const m = parseMessage(buf);
      m.prepend('Via', `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sf-${++n}`);
      m.prepend('Record-Route', '<sip:192.0.2.1;lr>');
      if (m.isRequest) m.set('Max-Forwards', String(m.maxForwards! - 1));
      sink = m.toBuffer();
    });
    bench('sip', () => {
      const m = sip.parse(buf)!;
      const h = m.headers;
      h.via!.unshift({ version: '2.0', protocol: 'UDP', host: '192.0.2.1', port: 5060, params: { branch: `z9hG4bK-sf-${++n}` } });
      h['record-route'] = [{ uri: 'sip:192.0.2.1;lr', params: {} }, ...(h['record-route'] ?? [])];
      if (m.method !== undefined) h['max-forwards'] = String(Number(h['max-forwards']) - 1);
      sink = Buffer.from(sip.stringify(m), 'binary');
    });
  });
}

export const keep = (): unknown => sink;
