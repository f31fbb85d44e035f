import { describe, expect, it } from 'vitest';
import { SipMessage, latin1ToUtf8, parseCSeq, utf8ToLatin1 } from './message.js';
import { parseMessage } from './parser.js';

const INVITE = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbbb',
  'Via: SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKccc',
  'Max-Forwards: 70',
  'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
  'Record-Route: <sip:rr.example.com;lr>',
  'To: Bob <sip:bob@example.com>',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@198.51.100.10>;expires=60, "Other" <sip:alice@192.0.2.99>;q=0.1',
  'X-Custom:   spaced   value  ',
  'Content-Type: text/plain',
  'Content-Length: 5',
  '',
  'hello',
].join('\r\n');

const parse = (s = INVITE): SipMessage => parseMessage(Buffer.from(s, 'latin1'));
const text = (m: SipMessage): string => m.toBuffer().toString('latin1');
const lines = (m: SipMessage): string[] => text(m).split('\r\n');

describe('SipMessage: reading headers', () => {
  it('get / getAll / has / count / indexOf by lower-case full name', () => {
    const m = parse();
    expect(m.get('via')).toBe('SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbbb');
    expect(m.getAll('via')).toHaveLength(2);
    expect(m.count('via')).toBe(2);
    expect(m.has('x-custom')).toBe(true);
    expect(m.get('x-custom')).toBe('spaced   value');
    expect(m.has('subject')).toBe(false);
    expect(m.indexOf('via', 1)).toBe(1);
    expect(m.indexOf('via', 2)).toBe(-1);
    expect(m.keys().slice(0, 3)).toEqual(['via', 'via', 'max-forwards']);
  });

  it('list() splits on top-level commas across lines', () => {
    const m = parse();
    expect(m.list('via').map((i) => [i.header, i.item])).toEqual([[0, 0], [0, 1], [1, 0]]);
    expect(m.list('contact').map((i) => i.value)).toEqual(['<sip:alice@198.51.100.10>;expires=60', '"Other" <sip:alice@192.0.2.99>;q=0.1']);
  });

  it('typed views: vias, topVia, from, to, tags, callId, cseq, maxForwards, contacts, routes, recordRoutes', () => {
    const m = parse();
    expect(m.vias().map((v) => v?.branch)).toEqual(['z9hG4bKaaa', 'z9hG4bKbbb', 'z9hG4bKccc']);
    expect(m.topVia?.host).toBe('203.0.113.5');
    expect(m.from?.displayName).toBe('"Alice"');
    expect(m.fromTag).toBe('1928301774');
    expect(m.toTag).toBeUndefined();
    expect(m.to?.uri).toBe('sip:bob@example.com');
    expect(m.callId).toBe('a84b4c76e66710');
    m.set('call-id', 'changed@example.com');
    expect(m.callId).toBe('changed@example.com');
    m.remove('call-id');
    expect(m.callId).toBeUndefined();
    m.append('Call-ID', 'again@example.com');
    expect(m.callId).toBe('again@example.com');
    const n = parse();
    expect(n.callId).toBe('a84b4c76e66710');
    expect(m.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(m.maxForwards).toBe(70);
    expect(m.contacts().map((c) => c?.nameAddr?.uri)).toEqual(['sip:alice@198.51.100.10', 'sip:alice@192.0.2.99']);
    expect(m.routes().map((r) => r?.uri)).toEqual(['sip:p1.example.com;lr', 'sip:p2.example.com;lr']);
    expect(m.recordRoutes().map((r) => r?.uri)).toEqual(['sip:rr.example.com;lr']);
    expect(m.contentType).toBe('text/plain');
    expect(m.body.toString()).toBe('hello');
  });

  it('topVia alone reads the first item of the first line', () => {
    expect(parse().topVia?.branch).toBe('z9hG4bKaaa');
  });

  it('Contact: * is a star', () => {
    const m = parseMessage(Buffer.from(['REGISTER sip:r SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>',
      'Call-ID: c', 'CSeq: 1 REGISTER', 'Contact: *', 'Expires: 0', '', ''].join('\r\n')));
    expect(m.contacts()).toEqual([{ star: true, nameAddr: undefined }]);
    expect(m.expires).toBe(0);
  });

  it('the same views on a message built in code', () => {
    const m = SipMessage.request('OPTIONS', 'sip:x@example.com');
    m.append('Via', 'SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP g;branch=z9hG4bK2');
    m.append('From', '<sip:a@b>;tag=f');
    m.append('To', '<sip:x@example.com>');
    m.append('CSeq', '2 OPTIONS');
    expect(m.topVia?.branch).toBe('z9hG4bK1');
    expect(m.vias()).toHaveLength(2);
    expect(m.fromTag).toBe('f');
    expect(m.cseq).toEqual({ seq: 2, method: 'OPTIONS' });
    expect(m.requestUri).toMatchObject({ user: 'x', host: 'example.com' });
    expect(SipMessage.response(180, 'Ringing').isResponse).toBe(true);
  });

  it('text() decodes UTF-8 for people; the header keeps the bytes', () => {
    const m = parseMessage(Buffer.from(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>',
      'Call-ID: c', 'CSeq: 1 OPTIONS', 'Subject: voilà ', 'User-Agent: Téléphone à', '', ''].join('\r\n'), 'utf8'));
    // 'à' is C3 A0 in UTF-8: trimming must not take the A0 for white space
    expect(m.text('subject')).toBe('voilà');
    expect(m.text('user-agent')).toBe('Téléphone à');
    expect(m.get('subject')).toBe(utf8ToLatin1('voilà'));
    expect(latin1ToUtf8(m.get('subject')!)).toBe('voilà');
    expect(m.text('nothing')).toBeUndefined();
  });
});

describe('SipMessage.firstItemText', () => {
  it("is list(key)[0].value without the list: the first line's first item, trimmed", () => {
    const m = parse();
    for (const key of ['via', 'route', 'record-route', 'contact', 'x-custom', 'call-id', 'warning']) {
      expect(m.firstItemText(key)).toBe(m.list(key)[0]?.value);
    }
    expect(m.firstItemText('via')).toBe('SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa');
    expect(m.firstItemText('x-custom')).toBe('spaced   value');
    expect(m.firstItemText('warning')).toBeUndefined();
    // a quoted comma is not a separator; a changed (materialised) line reads the same way
    const q = parse(INVITE.replace('X-Custom:   spaced   value  ', 'Contact: "a, b" <sip:x@y>, <sip:z@w>'));
    q.set('Max-Forwards', '69');
    expect(q.firstItemText('contact')).toBe(q.list('contact')[0]!.value);
    expect(q.firstItemText('contact')).toBe('<sip:alice@198.51.100.10>;expires=60');
    const c = parse(INVITE.replace('Contact: <sip:alice@198.51.100.10>;expires=60, "Other" <sip:alice@192.0.2.99>;q=0.1', 'Contact: "a, b" <sip:x@y>, <sip:z@w>'));
    expect(c.firstItemText('contact')).toBe('"a, b" <sip:x@y>');
  });
});

describe('SipMessage: changing headers', () => {
  it('prepend adds a line before all others and drops the cached views', () => {
    const m = parse();
    expect(m.topVia?.branch).toBe('z9hG4bKaaa');
    m.prepend('Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnew');
    expect(m.topVia?.branch).toBe('z9hG4bKnew');
    expect(m.vias()).toHaveLength(4);
    expect(lines(m)[1]).toBe('Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnew');
    expect(lines(m)[2]).toBe('Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbbb');
  });

  it('set replaces the first line of a key in place, keeps its spelling, removes the others', () => {
    const m = parse();
    m.set('Max-Forwards', '69');
    expect(m.maxForwards).toBe(69);
    expect(lines(m)[3]).toBe('Max-Forwards: 69');
    m.set('via', 'SIP/2.0/UDP only;branch=z9hG4bKonly');
    expect(m.count('via')).toBe(1);
    expect(lines(m)[1]).toBe('Via: SIP/2.0/UDP only;branch=z9hG4bKonly');
    m.set('Subject', 'new');
    expect(lines(m).at(-3)).toBe('Subject: new');
    const c = parseMessage(Buffer.from(['OPTIONS sip:a@b SIP/2.0', 'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:a@b>;tag=1', 't: <sip:a@b>',
      'i: c', 'CSeq: 1 OPTIONS', '', ''].join('\r\n')));
    c.set('From', '<sip:z@b>;tag=2');
    expect(c.toBuffer().toString('latin1')).toContain('\r\nf: <sip:z@b>;tag=2\r\n');
    expect(c.fromTag).toBe('2');
  });

  it('removeFirstItem takes the first value off a `Via: a, b` line and keeps the rest', () => {
    const m = parse();
    m.removeFirstItem('via');
    expect(m.vias().map((v) => v?.branch)).toEqual(['z9hG4bKbbb', 'z9hG4bKccc']);
    expect(lines(m)[1]).toBe('Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbbb');
    m.removeFirstItem('via');
    expect(m.count('via')).toBe(1);
    expect(lines(m)[1]).toBe('Via: SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKccc');
    m.removeFirstItem('via');
    expect(m.has('via')).toBe(false);
    m.removeFirstItem('via');
    expect(m.has('via')).toBe(false);
  });

  it('removeFirstItem takes a one-item line out of a parsed message; the other lines go out exactly as received', () => {
    const text = [
      'SIP/2.0 200 OK',
      'v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsf1;rport=5060',
      'Via:  SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKcaller ;received=198.51.100.8',
      'Route: <sip:p1.example.com;lr>',
      'From: "A"  <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      'Call-ID: c1@x',
      'CSeq:  7 BYE',
      'l: 0',
      '',
      '',
    ];
    const m = parseMessage(Buffer.from(text.join('\r\n'), 'latin1'));
    const copy = m.clone();
    m.removeFirstItem('via');
    expect(m.toBuffer().toString('latin1')).toBe(text.filter((_, i) => i !== 1).join('\r\n'));
    expect(m.topVia?.branch).toBe('z9hG4bKcaller');
    expect(m.vias()).toHaveLength(1);
    // a line in the middle: the text before and after it are two pieces
    m.removeFirstItem('route');
    expect(m.toBuffer().toString('latin1')).toBe(text.filter((_, i) => i !== 1 && i !== 3).join('\r\n'));
    expect(m.routes()).toEqual([]);
    expect(m.headers.map((h) => h.key)).toEqual(['via', 'from', 'to', 'call-id', 'cseq', 'content-length']);
    expect(m.keys()).toEqual(['via', 'from', 'to', 'call-id', 'cseq', 'content-length']);
    // the clone taken before shares nothing that changed
    expect(copy.toBuffer().toString('latin1')).toBe(text.join('\r\n'));
    expect(copy.topVia?.branch).toBe('z9hG4bKsf1');
    // and a body that changed since still gets its Content-Length
    copy.removeFirstItem('via');
    copy.body = Buffer.from('hello');
    expect(copy.toBuffer().toString('latin1')).toContain('\r\nl: 5\r\n\r\nhello');
  });

  it('removeFirstItem keeps the rest of a `Via: a, b` line as written, without Header objects, as the Header objects would', () => {
    const text = [
      'SIP/2.0 180 Ringing',
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsf1 ,  SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKb ,SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKc  ',
      'X-Custom:   spaced   value  ',
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      'Call-ID: c1@x',
      'CSeq: 7 INVITE',
      'Content-Length: 0',
      '',
      '',
    ];
    const m = parseMessage(Buffer.from(text.join('\r\n'), 'latin1'));
    const copy = m.clone();
    const slow = m.clone();
    void slow.headers;
    m.removeFirstItem('via');
    slow.removeFirstItem('via');
    const want = [text[0], 'Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKb ,SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKc', ...text.slice(2)].join('\r\n');
    expect(m.toBuffer().toString('latin1')).toBe(want);
    expect(slow.toBuffer().toString('latin1')).toBe(want);
    expect(m.vias().map((v) => v?.branch)).toEqual(['z9hG4bKb', 'z9hG4bKc']);
    expect(m.get('via')).toBe('SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKb ,SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKc');
    // again on the same line, then the line goes
    m.removeFirstItem('via');
    expect(m.toBuffer().toString('latin1')).toBe([text[0], 'Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKc', ...text.slice(2)].join('\r\n'));
    m.removeFirstItem('via');
    expect(m.has('via')).toBe(false);
    expect(m.toBuffer().toString('latin1')).toBe([text[0], ...text.slice(2)].join('\r\n'));
    // the clone taken before is untouched; Header objects made after the change read the rest
    expect(copy.toBuffer().toString('latin1')).toBe(text.join('\r\n'));
    copy.removeFirstItem('via');
    copy.set('X-Custom', 'v');
    expect(copy.headers[0]).toMatchObject({ name: 'Via', key: 'via', value: 'SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKb ,SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKc' });
    expect(copy.toBuffer().toString('latin1')).toBe([text[0], 'Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKb ,SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKc', 'X-Custom: v', ...text.slice(3)].join('\r\n'));
  });

  it('removeFirstItem with a quoted comma before the first item ends splits where the grammar says', () => {
    const m = parse(INVITE.replace('Contact: <sip:alice@198.51.100.10>;expires=60,', 'Contact: "Smith, A" <sip:alice@198.51.100.10>;expires=60,'));
    m.removeFirstItem('contact');
    expect(m.get('contact')).toBe('"Other" <sip:alice@192.0.2.99>;q=0.1');
    expect(m.contacts()).toHaveLength(1);
    expect(String(m.contacts()[0]?.nameAddr?.uri)).toBe('sip:alice@192.0.2.99');
  });

  it('removeFirstItem takes an empty first line as the Header objects do', () => {
    const text = ['BYE sip:b@example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx', 'Route:', 'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
      'Max-Forwards: 70', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>;tag=2', 'Call-ID: e1', 'CSeq: 2 BYE', 'Content-Length: 0', '', ''].join('\r\n');
    const quick = parseMessage(Buffer.from(text, 'latin1'));
    quick.removeFirstItem('route');
    const slow = parseMessage(Buffer.from(text, 'latin1'));
    void slow.headers;
    slow.removeFirstItem('route');
    expect(quick.toBuffer().toString('latin1')).toBe(slow.toBuffer().toString('latin1'));
    expect(quick.routes().map((r) => r?.uri)).toEqual(['sip:p1.example.com;lr', 'sip:p2.example.com;lr']);
  });

  it('removeFirstItem on Route pops the first route', () => {
    const m = parse();
    m.removeFirstItem('route');
    expect(m.routes().map((r) => r?.uri)).toEqual(['sip:p2.example.com;lr']);
  });

  it('replaceFirstItem changes only the first value of the line', () => {
    const m = parse();
    m.replaceFirstItem('via', 'SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa;received=10.0.0.1');
    expect(lines(m)[1]).toBe('Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa;received=10.0.0.1, SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbbb');
    expect(m.vias()).toHaveLength(3);
    m.replaceFirstItem('subject', 'x');
    expect(m.has('subject')).toBe(false);
    // a line of one item is the new value alone
    const one = parse(INVITE.replace('Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbbb\r\n', ''));
    one.replaceFirstItem('via', 'SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKccc;received=10.0.0.2');
    expect(lines(one)[1]).toBe('Via: SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKccc;received=10.0.0.2');
    expect(one.vias()).toHaveLength(1);
    expect(one.topVia?.params).toContainEqual(['received', '10.0.0.2']);
  });

  it('insertFirst, append and remove', () => {
    const m = parse();
    m.insertFirst('Route', '<sip:p0.example.com;lr>');
    expect(m.routes()[0]?.uri).toBe('sip:p0.example.com;lr');
    expect(m.getAll('route')).toEqual(['<sip:p0.example.com;lr>', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>']);
    m.insertFirst('Subject', 'hi');
    expect(m.get('subject')).toBe('hi');
    m.remove('route');
    expect(m.routes()).toEqual([]);
    m.append('X-Last', '1');
    expect(lines(m).at(-3)).toBe('X-Last: 1');
  });

  it('setRequestUri rewrites the start line and the parsed Request-URI', () => {
    const m = parse();
    expect(m.requestUri).toMatchObject({ host: 'example.com' });
    m.setRequestUri('sip:bob@192.0.2.50:5062');
    expect(m.requestUri).toMatchObject({ host: '192.0.2.50', port: 5062 });
    expect(lines(m)[0]).toBe('INVITE sip:bob@192.0.2.50:5062 SIP/2.0');
    expect(m.clone().requestUri).toMatchObject({ host: '192.0.2.50', port: 5062 });
    // read where it came in only while it is the text parsed
    const n = parseMessage(Buffer.from(INVITE, 'latin1'), { validate: false });
    n.uri = 'sip:carol@example.org';
    expect(n.requestUri).toMatchObject({ user: 'carol', host: 'example.org' });
    expect(n.clone().requestUri).toMatchObject({ user: 'carol', host: 'example.org' });
  });

  it('clone changes independently', () => {
    const m = parse();
    const c = m.clone();
    c.prepend('Via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc');
    c.set('Max-Forwards', '1');
    expect(m.topVia?.branch).toBe('z9hG4bKaaa');
    expect(m.maxForwards).toBe(70);
    expect(c.topVia?.branch).toBe('z9hG4bKc');
    expect(text(m)).toBe(INVITE);
  });

  it('a header object changed in place is written anew, its neighbours as received', () => {
    const m = parse();
    const mf = m.headers.find((h) => h.key === 'max-forwards')!;
    expect(mf.raw).toBe('Max-Forwards: 70');
    mf.value = '10';
    expect(mf.raw).toBeUndefined();
    expect(text(m)).toBe(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 10'));
    const x = m.headers.find((h) => h.key === 'x-custom')!;
    x.raw = 'X-Custom: rewritten';
    expect(text(m)).toContain('\r\nX-Custom: rewritten\r\nContent-Type: text/plain\r\n');
  });

  it('forwarding changes (Via, Record-Route, Max-Forwards, Route) write only those lines', () => {
    const m = parse();
    m.prepend('Via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp');
    m.prepend('Record-Route', '<sip:192.0.2.1;lr>');
    m.set('Max-Forwards', String(m.maxForwards! - 1));
    m.removeFirstItem('route');
    const want = INVITE.replace('INVITE sip:bob@example.com SIP/2.0\r\n', 'INVITE sip:bob@example.com SIP/2.0\r\nRecord-Route: <sip:192.0.2.1;lr>\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp\r\n')
      .replace('Max-Forwards: 70', 'Max-Forwards: 69')
      .replace('Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>', 'Route: <sip:p2.example.com;lr>');
    expect(text(m)).toBe(want);
    expect(m.topVia?.branch).toBe('z9hG4bKp');
    expect(m.vias()).toHaveLength(4);
  });

  it('assigning headers replaces them and drops the cached views', () => {
    const m = parse();
    expect(m.fromTag).toBe('1928301774');
    m.headers = m.headers.filter((h) => h.key !== 'from');
    expect(m.from).toBeUndefined();
  });
});

describe('SipMessage: serializing', () => {
  it('an unchanged message goes out byte for byte', () => {
    expect(text(parse())).toBe(INVITE);
  });

  it('writes only changed lines anew; unchanged ones keep their spelling, spacing and folding', () => {
    const src = [
      'OPTIONS sip:a@b SIP/2.0',
      'via:SIP/2.0/UDP h;branch=z9hG4bK1',
      'f :  <sip:a@b>;tag=1',
      'TO: <sip:a@b>',
      'i: c',
      'cseq: 1 OPTIONS',
      'X-Fold: one',
      '  two',
      'Max-Forwards: 10',
      'l: 0',
      '',
      '',
    ].join('\r\n');
    const m = parseMessage(Buffer.from(src));
    expect(m.get('x-fold')).toBe('one two');
    m.set('Max-Forwards', '9');
    expect(text(m)).toBe(src.replace('Max-Forwards: 10', 'Max-Forwards: 9'));
  });

  it('adds a Content-Length when absent and corrects a wrong one after the body changed', () => {
    const m = parseMessage(Buffer.from(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>',
      'Call-ID: c', 'CSeq: 1 MESSAGE', '', 'hi'].join('\r\n')));
    expect(m.body.toString()).toBe('hi');
    expect(text(m).endsWith('CSeq: 1 MESSAGE\r\nContent-Length: 2\r\n\r\nhi')).toBe(true);
    const n = parse();
    n.body = Buffer.from('longer body');
    expect(text(n)).toContain('\r\nContent-Length: 11\r\n\r\nlonger body');
    expect(text(n).match(/Content-Length/g)).toHaveLength(1);
  });

  it('keeps a Content-Length written with leading zeros when it is right', () => {
    const src = ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>',
      'Call-ID: c', 'CSeq: 1 OPTIONS', 'Content-Length: 003', '', 'abc'].join('\r\n');
    expect(text(parseMessage(Buffer.from(src)))).toBe(src);
  });

  it('a message built in code gets a Content-Length and its start line', () => {
    const m = SipMessage.response(200, 'OK');
    m.append('Via', 'SIP/2.0/UDP h;branch=z9hG4bK1');
    expect(text(m)).toBe('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n');
    const r = SipMessage.request('BYE', 'sip:a@b');
    r.body = Buffer.from([0, 255, 10]);
    expect(r.toBuffer().subarray(-3)).toEqual(Buffer.from([0, 255, 10]));
    expect(r.toString()).toContain('BYE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\n');
  });
});

describe('parseCSeq', () => {
  it('reads number and method, with LWS', () => {
    expect(parseCSeq('0009\r\n  INVITE')).toEqual({ seq: 9, method: 'INVITE' });
    expect(parseCSeq('  1 OPTIONS  ')).toEqual({ seq: 1, method: 'OPTIONS' });
    expect(parseCSeq('2147483647 X')).toEqual({ seq: 2147483647, method: 'X' });
  });
  it('refuses a missing method, junk, and numbers of 2**31 or more', () => {
    for (const bad of ['1', '1 ', 'INVITE', '1 INVITE x', 'x1 INVITE', '2147483648 INVITE', '36893488147419103232 REGISTER', '']) {
      expect(parseCSeq(bad), bad).toBeUndefined();
    }
    expect(parseCSeq(undefined)).toBeUndefined();
  });
});

describe('SipMessage.forgetParsed', () => {
  const views = (m: SipMessage) => ({
    vias: m.vias().map((v) => v?.branch),
    top: m.topVia?.branch,
    from: m.from?.uri,
    fromTag: m.fromTag,
    to: m.to?.uri,
    contacts: m.contacts().map((c) => c?.nameAddr?.uri),
    routes: m.routes().map((r) => r?.uri),
    cseq: m.cseq,
    ruri: m.requestUri,
  });

  it('lets go of the parsed views and parses them again, alike, when read', () => {
    const m = parse();
    const before = views(m);
    const from = m.from;
    const vias = m.vias();
    m.forgetParsed();
    expect(m.from).not.toBe(from);
    expect(m.vias()).not.toBe(vias);
    expect(views(m)).toEqual(before);
    expect(text(m)).toBe(text(parse()));
  });

  it('after changes too: the views read what the message holds now, and it serializes the same', () => {
    const m = parse();
    m.removeFirstItem('via');
    m.set('Max-Forwards', '69');
    m.insertFirst('Via', 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsf1');
    const before = views(m);
    const out = text(m);
    m.forgetParsed();
    expect(views(m)).toEqual(before);
    expect(m.topVia?.branch).toBe('z9hG4bKsf1');
    expect(text(m)).toBe(out);
  });

  it('lets go of the bytes it came in: the body gets a buffer of its own, the rest reads from the text', () => {
    // as a datagram arrives: a view into a larger pooled slab, shared with other messages
    const slab = Buffer.alloc(8192, 0x58);
    const at = 1000;
    slab.write(INVITE, at, 'latin1');
    const m = parseMessage(slab.subarray(at, at + INVITE.length));
    const before = views(m);
    expect(m.body.buffer).toBe(slab.buffer);
    m.forgetParsed();
    expect(m.body.toString('latin1')).toBe('hello');
    expect(m.body.buffer).not.toBe(slab.buffer);
    expect(m.body.buffer.byteLength).toBe(5);
    // nothing of the slab is read again: overwriting it changes nothing
    slab.fill(0x21);
    expect(views(m)).toEqual(before);
    expect(text(m)).toBe(INVITE);
    const c = m.clone();
    c.removeFirstItem('via');
    expect(c.topVia?.branch).toBe('z9hG4bKbbb');
    m.removeFirstItem('route');
    expect(m.routes().map((r) => r?.uri)).toEqual(['sip:p2.example.com;lr']);
    expect(m.requestUri).toMatchObject({ host: 'example.com' });
  });
});
