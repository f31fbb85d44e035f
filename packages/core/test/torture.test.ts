// RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests), one file per message under
// fixtures/torture/{valid,invalid}. Every valid message parses, its key fields are asserted and it
// goes out byte for byte as it came in; every invalid one is refused with the error code and
// status a proxy answers with. MANIFEST.tsv names every file; no file goes untested.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  MAGIC_COOKIE,
  SipParseError,
  formatUri,
  getParam,
  isSipUri,
  latin1ToUtf8,
  parseMessage,
  tryParseMessage,
  unescapeUri,
} from '../src/message/index.js';
import type { NameAddr, ParseErrorCode, SipMessage, SipUri, Uri, Via } from '../src/message/index.js';

const dir = fileURLToPath(new URL('./fixtures/torture/', import.meta.url));
const files = (folder: 'valid' | 'invalid'): string[] =>
  readdirSync(`${dir}${folder}`).filter((f) => f.endsWith('.sip')).map((f) => f.slice(0, -4)).sort();
const raw = (folder: 'valid' | 'invalid', name: string): Buffer => readFileSync(`${dir}${folder}/${name}.sip`);

const manifest = readFileSync(`${dir}MANIFEST.tsv`, 'utf8')
  .split('\n')
  .slice(1)
  .filter((l) => l.length > 0)
  .map((l) => {
    const [file, section, title, folder, expected] = l.split('\t');
    return { file: file!, section: section!, title: title!, folder: folder!, expected: expected! };
  });

const sip = (u: Uri | undefined): SipUri => {
  if (!isSipUri(u)) throw new Error(`not a SIP URI: ${JSON.stringify(u)}`);
  return u;
};
const via = (v: Via | undefined): Via => {
  if (v === undefined) throw new Error('no Via');
  return v;
};
const na = (n: NameAddr | undefined): NameAddr => {
  if (n === undefined) throw new Error('no name-addr');
  return n;
};

interface ValidCase {
  method?: string;
  status?: number;
  ruri?: Record<string, unknown>;
  via: { transport: string; host: string; port?: number; branch?: string; ipv6?: boolean; count: number };
  from: { uri: string; tag?: string };
  to: { uri: string; tag?: string };
  callId: string;
  cseq: [number, string];
  maxForwards?: number;
  /** undefined: no Content-Length header */
  contentLength?: number;
  bodyLength: number;
  more?: (m: SipMessage, bytes: Buffer) => void;
}

const VALID: Record<string, ValidCase> = {
  // ---- RFC 4475 §3.1.1: valid messages -------------------------------------------------
  wsinv: {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'vivekg', host: 'chair-dnrc.example.com', port: undefined, params: [['unknownparam', null]] },
    via: { transport: 'UDP', host: '192.0.2.2', branch: '390skdjuw', count: 3 },
    from: { uri: 'sip:jdrosen@example.com', tag: '98asjd8' },
    to: { uri: 'sip:vivekg@chair-dnrc.example.com', tag: '1918181833n' },
    callId: 'wsinv.ndaksdj@192.0.2.1',
    cseq: [9, 'INVITE'],
    maxForwards: 68,
    contentLength: 150,
    bodyLength: 150,
    more: (m) => {
      // folded Via list: three values over two header fields, LWS everywhere
      const vs = m.vias().map(via);
      expect(vs.map((v) => [v.protocol, v.transport, v.host, v.branch])).toEqual([
        ['SIP/2.0', 'UDP', '192.0.2.2', '390skdjuw'],
        ['SIP/2.0', 'TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['SIP/2.0', 'UDP', '192.168.255.111', 'z9hG4bK30239'],
      ]);
      expect(na(m.from).displayName).toBe(String.raw`"J Rosenberg \\\""`);
      expect(na(m.to).bracketed).toBe(false);
      const [c] = m.contacts();
      expect(c?.nameAddr?.displayName).toBe(String.raw`"Quoted string \"\""`);
      expect(c?.nameAddr?.uri).toBe('sip:jdrosen@example.com');
      expect(c?.nameAddr?.params).toEqual([['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
      expect(m.get('subject')).toBe('');
      expect(m.get('newfangledheader')).toBe('newfangled value continued newfangled value');
      expect(m.get('unknownheaderwithunusualvalue')).toBe(';;,,;;,;');
      expect(m.routes().map((r) => r?.uri)).toEqual(['sip:services.example.com;lr;unknownwith=value;unknown-no-value']);
      expect(m.headers.find((h) => h.key === 'to')?.raw).toBe('TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n');
    },
  },
  intmeth: {
    method: "!interesting-Method0123456789_*+`.%indeed'~",
    ruri: {
      scheme: 'sip',
      user: "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
      password: "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
      host: 'example.com',
    },
    via: { transport: 'TCP', host: 'host1.example.com', branch: "z9hG4bK-.!%66*_+`'~", count: 1 },
    from: { uri: 'sip:mundane@example.com', tag: "_token~1'+`*%!-." },
    to: { uri: "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com" },
    callId: `intmeth.word%ZK-!.*_+'@word\`~)(><:\\/"][?}{`,
    cseq: [139122385, "!interesting-Method0123456789_*+`.%indeed'~"],
    maxForwards: 255,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(m.cseq?.method).toBe(m.method);
      expect(na(m.to).displayName).toBe('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"');
      expect(na(m.from).displayName).toBe("token1~` token2'+_ token3*%!.-");
      expect(latin1ToUtf8(getParam(na(m.from).params, "fromparam''~+*_!.-%") as string)).toBe('"работающий"');
      expect(m.text("extensionheader-!.%*+_`'~")).toBe('\uFEFF大停電');
    },
  },
  esc01: {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'sips%3Auser%40example.com', host: 'example.net' },
    via: { transport: 'UDP', host: 'host5.example.net', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:I%20have%20spaces@example.net', tag: '938' },
    to: { uri: 'sip:%75se%72@example.com' },
    callId: 'esc01.239409asdfakjkn23onasd0-3234',
    cseq: [234234, 'INVITE'],
    maxForwards: 87,
    contentLength: 150,
    bodyLength: 150,
    more: (m) => {
      // URIs stay escaped as written; comparing unescapes (RFC 3261 §19.1.4)
      expect(unescapeUri(sip(m.requestUri).user!)).toBe('sips:user@example.com');
      expect(sip(na(m.to).parsedUri).user).toBe('%75se%72');
      expect(unescapeUri(sip(na(m.to).parsedUri).user!)).toBe('user');
      const c = m.contacts()[0]?.nameAddr;
      expect(c?.uri).toBe('sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31');
      expect(sip(c?.parsedUri).user).toBe('cal%6Cer');
      expect(getParam(sip(c?.parsedUri).params, 'n%61me')).toBe('v%61lue%25%34%31');
      expect(m.contentType).toBe('application/sdp');
    },
  },
  escnull: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', user: undefined, host: 'example.com' },
    via: { transport: 'UDP', host: 'host5.example.com', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:null-%00-null@example.com', tag: '839923423' },
    to: { uri: 'sip:null-%00-null@example.com' },
    callId: 'escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd',
    cseq: [14398234, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(m.contacts().map((c) => sip(c?.nameAddr?.parsedUri).user)).toEqual(['%00', '%00%00']);
      expect(unescapeUri(sip(na(m.to).parsedUri).user!)).toBe('null-\u0000-null');
    },
  },
  esc02: {
    method: 'RE%47IST%45R',
    ruri: { scheme: 'sip', host: 'registrar.example.com' },
    via: { transport: 'TCP', host: 'host.example.com', branch: 'z9hG4bK209%fzsnel234', count: 1 },
    from: { uri: 'sip:resource@example.com', tag: 'f232jadfj23' },
    to: { uri: 'sip:resource@example.com' },
    callId: 'esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf',
    cseq: [29344, 'RE%47IST%45R'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(na(m.to).displayName).toBe('"%Z%45"');
      // `C%6Fntact` is an unknown header, not a Contact (escapes do not apply to header names)
      expect(m.contacts().map((c) => c?.nameAddr?.uri)).toEqual(['sip:alias1@host1.example.com', 'sip:alias3@host3.example.com']);
      expect(m.get('c%6fntact')).toBe('<sip:alias2@host2.example.com>');
    },
  },
  lwsdisp: {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: 'funky.example.com', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:caller@example.com', tag: '323' },
    to: { uri: 'sip:user@example.com' },
    callId: 'lwsdisp.1234abcd@funky.example.com',
    cseq: [60, 'OPTIONS'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => expect(na(m.from).displayName).toBe('caller'),
  },
  longreq: {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'TCP', host: 'sip33.example.com', branch: undefined, count: 34 },
    from: { uri: `sip:${'amazinglylongcallername'.repeat(5)}@example.net`, tag: `1${'298'.repeat(50)}2424` },
    to: {
      uri:
        'sip:user@example.com:6000;unknownparam1=very' + 'long'.repeat(20) + 'value;longparam' + 'name'.repeat(25) +
        '=shortvalue;very' + 'long'.repeat(25) + 'ParameterNameWithNoValue',
    },
    callId: `longreq.one${'really'.repeat(20)}longcallid`,
    cseq: [3882340, 'INVITE'],
    maxForwards: 70,
    contentLength: 150,
    bodyLength: 150,
    more: (m) => {
      expect(getParam(na(m.from).params, 'unknownvaluelessparamnameparamnameparamnameparamnameparamnameparamnameparamnameparamnameparamnameparamname')).toBeNull();
      expect(na(m.to).displayName).toBe(`"I have a user name of ${'extreme'.repeat(10)} proportion"`);
      expect(sip(na(m.to).parsedUri).port).toBe(6000);
      const vs = m.vias().map(via);
      expect(vs.map((v) => v.host)).toEqual([...Array.from({ length: 33 }, (_, i) => `sip${33 - i}.example.com`), 'host.example.com']);
      expect(vs[33]?.branch).toBe(`very${'long'.repeat(50)}branchvalue`);
      expect(getParam(vs[33]!.params, 'received')).toBe('192.0.2.5');
      expect(m.contacts()[0]?.nameAddr?.uri).toBe(`sip:${'amazinglylongcallername'.repeat(5)}@host5.example.net`);
    },
  },
  dblreq: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: 'example.com' },
    via: { transport: 'UDP', host: '192.0.2.125', branch: 'z9hG4bKkdjuw23492', count: 1 },
    from: { uri: 'sip:j.user@example.com', tag: '43251j3j324' },
    to: { uri: 'sip:j.user@example.com' },
    callId: 'dblreq.0ha0isndaksdj99sdfafnl3lk233412',
    cseq: [8, 'REGISTER'],
    maxForwards: 8,
    contentLength: 0,
    bodyLength: 0,
    more: (m, bytes) => {
      // the INVITE after the first message is extra octets of the datagram, not a second request
      const out = m.toBuffer();
      expect(out.length).toBeLessThan(bytes.length);
      expect(out.includes('INVITE')).toBe(false);
      expect(bytes.subarray(out.length).toString('latin1').startsWith('\r\nINVITE sip:joe@example.com SIP/2.0\r\n')).toBe(true);
    },
  },
  semiuri: {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user;par=u%40example.net', host: 'example.com', params: [] },
    via: { transport: 'UDP', host: '192.0.2.1', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:caller@example.org', tag: '33242' },
    to: { uri: 'sip:j_user@example.com' },
    callId: 'semiuri.0ha0isndaksdj',
    cseq: [8, 'OPTIONS'],
    maxForwards: 3,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(m.get('accept')).toBe('application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, message/sipfrag');
      expect(m.list('accept')).toHaveLength(6);
    },
  },
  transports: {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: 't1.example.com', branch: 'z9hG4bKkdjuw', count: 5 },
    from: { uri: 'sip:caller@example.com', tag: '323' },
    to: { uri: 'sip:user@example.com' },
    callId: 'transports.kijh4akdnaqjkwendsasfdj',
    cseq: [60, 'OPTIONS'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => expect(m.vias().map((v) => v?.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']),
  },
  mpart01: {
    method: 'MESSAGE',
    ruri: { scheme: 'sip', user: 'kumiko', host: 'example.org' },
    via: { transport: 'UDP', host: '127.0.0.1', port: 5070, branch: 'z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-', count: 1 },
    from: { uri: 'sip:fluffy@example.com', tag: '2fb0dcc9' },
    to: { uri: 'sip:kumiko@example.org' },
    callId: '3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..',
    cseq: [1, 'MESSAGE'],
    maxForwards: 70,
    contentLength: 553,
    bodyLength: 553,
    more: (m, bytes) => {
      // the binary part of the multipart body is not touched by any text decoding
      const start = bytes.indexOf('\r\n\r\n') + 4;
      expect(m.body.equals(bytes.subarray(start, start + 553))).toBe(true);
      expect(m.body.subarray(0, 20).toString('latin1')).toBe('--7a9cbec02ceef655\r\n');
      expect(m.body.subarray(-22).toString('latin1')).toBe('--7a9cbec02ceef655--\r\n');
      expect(m.body.some((b) => b > 0x7f)).toBe(true);
      expect(m.toBuffer().subarray(-553).equals(m.body)).toBe(true);
      expect(getParam(via(m.topVia).params, 'rport')).toBeNull();
      expect(m.routes().map((r) => r?.uri)).toEqual(['sip:127.0.0.1:5080']);
    },
  },
  unreason: {
    status: 200,
    via: { transport: 'UDP', host: '192.0.2.198', branch: 'z9hG4bK1324923', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '11141343' },
    to: { uri: 'sip:user@example.edu', tag: '2229' },
    callId: 'unreason.1234ksdfak3j2erwedfsASdf',
    cseq: [35, 'INVITE'],
    contentLength: 154,
    bodyLength: 154,
    more: (m) => expect(latin1ToUtf8(m.reason)).toBe('= 2**3 * 5**2 но сто девяносто девять - простое'),
  },
  noreason: {
    status: 100,
    via: { transport: 'UDP', host: '192.0.2.105', branch: 'z9hG4bK2398ndaoe', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '39ansfi3' },
    to: { uri: 'sip:user@example.edu', tag: '902jndnke3' },
    callId: 'noreason.asndj203insdf99223ndf',
    cseq: [35, 'INVITE'],
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(m.reason).toBe('');
      expect(m.startLineRaw).toBe('SIP/2.0 100 ');
    },
  },

  // ---- RFC 4475 §3.2–3.4: well formed, answered above the parser -----------------------
  badbranch: {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: '192.0.2.1', branch: 'z9hG4bK', count: 1 },
    from: { uri: 'sip:caller@example.org', tag: '33242' },
    to: { uri: 'sip:user@example.com' },
    callId: 'badbranch.sadonfo23i420jv0as0derf3j3n',
    cseq: [8, 'OPTIONS'],
    maxForwards: 3,
    contentLength: 0,
    bodyLength: 0,
    // only the magic cookie: kept exactly, for the RFC 2543 matching fallback (RFC 3261 §17.2.3)
    more: (m) => expect(m.topVia?.branch).toBe(MAGIC_COOKIE),
  },
  unkscm: {
    method: 'OPTIONS',
    ruri: { scheme: 'nobodyknowsthisscheme', opaque: 'totallyopaquecontent' },
    via: { transport: 'TCP', host: 'host9.example.com', branch: 'z9hG4bKkdjuw39234', count: 1 },
    from: { uri: 'sip:caller@example.net', tag: '384' },
    to: { uri: 'sip:user@example.com' },
    callId: 'unkscm.nasdfasser0q239nwsdfasdkl34',
    cseq: [3923423, 'OPTIONS'],
    maxForwards: 3,
    contentLength: 0,
    bodyLength: 0,
    // parsed, not a SIP URI: the proxy answers 416
    more: (m) => expect(isSipUri(m.requestUri)).toBe(false),
  },
  novelsc: {
    method: 'OPTIONS',
    ruri: { scheme: 'soap.beep', opaque: '//192.0.2.103:3002' },
    via: { transport: 'TCP', host: 'host9.example.com', branch: 'z9hG4bKkdjuw39234', count: 1 },
    from: { uri: 'sip:caller@example.net', tag: '384' },
    to: { uri: 'sip:user@example.com' },
    callId: 'novelsc.asdfasser0q239nwsdfasdkl34',
    cseq: [3923423, 'OPTIONS'],
    maxForwards: 3,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => expect(isSipUri(m.requestUri)).toBe(false),
  },
  unksm2: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: 'example.com' },
    via: { transport: 'UDP', host: '192.0.2.21', port: 5060, branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'http://www.example.com', tag: '3234233' },
    to: { uri: 'isbn:2983792873' },
    callId: 'unksm2.daksdj@hyphenated-host.example.com',
    cseq: [234902, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(na(m.to).parsedUri).toEqual({ scheme: 'isbn', opaque: '2983792873' });
      expect(m.contacts()[0]?.nameAddr?.parsedUri).toEqual({ scheme: 'name', opaque: 'John_Smith' });
    },
  },
  bext01: {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'TLS', host: 'fold-and-staple.example.com', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:caller@example.net', tag: '242etr' },
    to: { uri: 'sip:j_user@example.com' },
    callId: 'bext01.0ha0isndaksdj',
    cseq: [8, 'OPTIONS'],
    maxForwards: 6,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(m.list('require').map((i) => i.value)).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']);
      expect(m.list('proxy-require').map((i) => i.value)).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    },
  },
  invut: {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: 'somehost.example.com', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:caller@example.net', tag: '8392034' },
    to: { uri: 'sip:j.user@example.com' },
    callId: 'invut.0ha0isndaksdjadsfij34n23d',
    cseq: [235448, 'INVITE'],
    maxForwards: 70,
    contentLength: 40,
    bodyLength: 40,
    more: (m) => expect(m.contentType).toBe('application/unknownformat'),
  },
  regaut01: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: 'example.com' },
    via: { transport: 'TCP', host: '192.0.2.253', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:j.user@example.com', tag: '87321hj23128' },
    to: { uri: 'sip:j.user@example.com' },
    callId: 'regaut01.0ha0isndaksdj',
    cseq: [9338, 'REGISTER'],
    maxForwards: 8,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => expect(m.get('authorization')).toBe('NoOneKnowsThisScheme opaque-data=here'),
  },
  bcast: {
    status: 200,
    via: { transport: 'UDP', host: '192.0.2.198', branch: 'z9hG4bK1324923', count: 2 },
    from: { uri: 'sip:user@example.com', tag: '11141343' },
    to: { uri: 'sip:user@example.edu', tag: '2229' },
    callId: 'bcast.0384840201234ksdfak3j2erwedfsASdf',
    cseq: [35, 'INVITE'],
    contentLength: 154,
    bodyLength: 154,
    // the parser keeps the broadcast address; not sending there is the transport's business
    more: (m) => expect(m.vias()[1]).toMatchObject({ host: '255.255.255.255', branch: 'z9hG4bK1saber23' }),
  },
  zeromf: {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: 'host1.example.com', branch: 'z9hG4bKkdjuw2349i', count: 1 },
    from: { uri: 'sip:caller@example.net', tag: '3ghsd41' },
    to: { uri: 'sip:user@example.com' },
    callId: 'zeromf.jfasdlfnm2o2l43r5u0asdfas',
    cseq: [39234321, 'OPTIONS'],
    maxForwards: 0,
    contentLength: 0,
    bodyLength: 0,
  },
  cparam01: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: 'example.com' },
    via: { transport: 'UDP', host: 'saturn.example.com', port: 5060, branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:watson@example.com', tag: 'DkfVgjkrtMwaerKKpe' },
    to: { uri: 'sip:watson@example.com' },
    callId: 'cparam01.70710@saturn.example.com',
    cseq: [2, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    // without <>, `;unknownparam` is a Contact header parameter
    more: (m) => {
      const c = m.contacts()[0]?.nameAddr;
      expect(c).toMatchObject({ uri: 'sip:+19725552222@gw1.example.net', bracketed: false, params: [['unknownparam', null]] });
      expect(sip(c?.parsedUri).params).toEqual([]);
    },
  },
  cparam02: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: 'example.com' },
    via: { transport: 'UDP', host: 'saturn.example.com', port: 5060, branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:watson@example.com', tag: '838293' },
    to: { uri: 'sip:watson@example.com' },
    callId: 'cparam02.70710@saturn.example.com',
    cseq: [3, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    // inside <>, `;unknownparam` is a URI parameter
    more: (m) => {
      const c = m.contacts()[0]?.nameAddr;
      expect(c).toMatchObject({ uri: 'sip:+19725552222@gw1.example.net;unknownparam', bracketed: true, params: [] });
      expect(sip(c?.parsedUri).params).toEqual([['unknownparam', null]]);
    },
  },
  regescrt: {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: 'example.com' },
    via: { transport: 'UDP', host: 'host5.example.com', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '8' },
    to: { uri: 'sip:user@example.com' },
    callId: 'regescrt.k345asrl3fdbv@192.0.2.1',
    cseq: [14398234, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => expect(sip(m.contacts()[0]?.nameAddr?.parsedUri).headers).toBe('Route=%3Csip:sip.example.com%3E'),
  },
  sdp01: {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: '192.0.2.15', branch: 'z9hG4bKkdjuw', count: 1 },
    from: { uri: 'sip:caller@example.net', tag: '234' },
    to: { uri: 'sip:j_user@example.com' },
    callId: 'sdp01.ndaksdj9342dasdd',
    cseq: [8, 'INVITE'],
    maxForwards: 5,
    contentLength: 150,
    bodyLength: 150,
    more: (m) => expect(m.get('accept')).toBe('text/nobodyKnowsThis'),
  },
  inv2543: {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'UserB', host: 'example.com' },
    via: { transport: 'UDP', host: 'iftgw.example.com', branch: undefined, count: 1 },
    from: { uri: 'sip:+13035551111@ift.client.example.net;user=phone' },
    to: { uri: 'sip:+16505552222@ss1.example.net' },
    callId: 'inv2543.1717@ift.client.example.com',
    cseq: [56, 'INVITE'],
    maxForwards: undefined,
    contentLength: undefined,
    bodyLength: 105,
    more: (m, bytes) => {
      expect(na(m.to).params).toEqual([['user', 'phone']]);
      expect(m.recordRoutes().map((r) => r?.uri)).toEqual(['sip:UserB@example.com;maddr=ss1.example.com']);
      // over a stream a message without Content-Length has no body (RFC 3261 §18.3)
      expect(parseMessage(bytes, { datagram: false }).body.length).toBe(0);
    },
  },

  // ---- RFC 5118: IPv6 ------------------------------------------------------------------
  'ipv6-good': {
    method: 'REGISTER',
    ruri: { scheme: 'sip', user: undefined, host: '2001:db8::10', ipv6: true, port: undefined },
    via: { transport: 'UDP', host: '2001:db8::9:1', ipv6: true, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.com' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [98176, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(formatUri(m.requestUri!)).toBe('sip:[2001:db8::10]');
      const c = m.contacts()[0]?.nameAddr;
      expect(c?.displayName).toBe('"Caller"');
      expect(sip(c?.parsedUri)).toMatchObject({ user: 'caller', host: '2001:db8::1', ipv6: true });
    },
  },
  'port-ambiguous': {
    method: 'REGISTER',
    // well formed; `:5070` inside the brackets is part of the address, not a port
    ruri: { scheme: 'sip', host: '2001:db8::10:5070', ipv6: true, port: undefined },
    via: { transport: 'UDP', host: '2001:db8::9:1', ipv6: true, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.com' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [98176, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
  },
  'port-unambiguous': {
    method: 'REGISTER',
    ruri: { scheme: 'sip', host: '2001:db8::10', ipv6: true, port: 5070 },
    via: { transport: 'UDP', host: '2001:db8::9:1', ipv6: true, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.com' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [98176, 'REGISTER'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
  },
  'via-received-param-with-delim': {
    method: 'BYE',
    ruri: { scheme: 'sip', host: '2001:db8::10', ipv6: true },
    via: { transport: 'UDP', host: '2001:db8::9:1', ipv6: true, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.com', tag: 'bd76ya' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [321, 'BYE'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    // RFC 5118 §4.5: accepted with or without the brackets, kept as written
    more: (m) => expect(getParam(via(m.topVia).params, 'received')).toBe('[2001:db8::9:255]'),
  },
  'via-received-param-no-delim': {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', host: '2001:db8::10', ipv6: true },
    via: { transport: 'UDP', host: '2001:db8::9:1', ipv6: true, branch: 'z9hG4bKas3', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.com' },
    callId: 'SSG95523997077@hlau_4100',
    cseq: [921, 'OPTIONS'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      expect(getParam(via(m.topVia).params, 'received')).toBe('2001:db8::9:255');
      expect(sip(m.contacts()[0]?.nameAddr?.parsedUri).host).toBe('2001:db8::9:1');
    },
  },
  'ipv6-in-sdp': {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'user', host: '2001:db8::10', ipv6: true },
    via: { transport: 'UDP', host: '2001:db8::20', ipv6: true, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@[2001:db8::10]' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [8612, 'INVITE'],
    maxForwards: 70,
    contentLength: 251,
    bodyLength: 251,
    more: (m) => expect(m.body.toString('latin1')).toContain('\r\nc=IN IP6 2001:db8::20\r\n'),
  },
  'mult-ip-in-header': {
    method: 'BYE',
    ruri: { scheme: 'sip', user: 'user', host: 'host.example.net', ipv6: false },
    via: { transport: 'UDP', host: '2001:db8::9:1', port: 6050, ipv6: true, branch: 'z9hG4bKas3-111', count: 3 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.net', tag: '9817--94' },
    callId: '997077@lau_4100',
    cseq: [89187, 'BYE'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
    more: (m) => {
      const [, v2, v3] = m.vias().map(via);
      expect(v2).toMatchObject({ transport: 'UDP', host: '192.0.2.1', ipv6: false, port: undefined, branch: 'z9hG4bKjhja8781hjuaij65144' });
      expect(v3).toMatchObject({ transport: 'TCP', host: '2001:db8::9:255', ipv6: true, branch: 'z9hG4bK451jj' });
      expect(getParam(v3!.params, 'received')).toBe('192.0.2.200');
    },
  },
  'mult-ip-in-sdp': {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'user', host: '2001:db8::10', ipv6: true },
    via: { transport: 'UDP', host: '2001:db8::9:1', ipv6: true, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '81x2' },
    to: { uri: 'sip:user@[2001:db8::10]' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [8912, 'INVITE'],
    maxForwards: 70,
    contentLength: 189,
    bodyLength: 189,
    more: (m) => {
      expect(m.body.toString('latin1')).toContain('\r\nc=IN IP4 192.0.2.1\r\n');
      expect(m.body.toString('latin1')).toContain('\r\nc=IN IP6 2001:db8::1\r\n');
    },
  },
  'ipv4-mapped-ipv6': {
    method: 'INVITE',
    ruri: { scheme: 'sip', user: 'user', host: 'example.com' },
    via: { transport: 'UDP', host: '::ffff:192.0.2.10', port: 19823, ipv6: true, branch: 'z9hG4bKbh19', count: 2 },
    from: { uri: 'sip:user@east.example.com', tag: '81x2' },
    to: { uri: 'sip:user@example.com' },
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [612, 'INVITE'],
    maxForwards: 70,
    contentLength: 245,
    bodyLength: 245,
    more: (m) => {
      expect(m.vias()[1]).toMatchObject({ host: '::ffff:192.0.2.2', ipv6: true, port: undefined, branch: 'z9hG4bKas3-111' });
      const c = m.contacts()[0]?.nameAddr;
      expect(c?.displayName).toBe('"T. desk phone"');
      expect(sip(c?.parsedUri)).toMatchObject({ user: 'ted', host: '::ffff:192.0.2.2', ipv6: true });
      expect(m.body.toString('latin1')).toContain('\r\nc=IN IP6 ::ffff:192.0.2.2\r\n');
    },
  },
  'ipv6-bug-abnf-3-colons': {
    method: 'OPTIONS',
    // RFC 5118 §4.10: tolerated (RFC 3261's ABNF allows it by mistake), kept as written
    ruri: { scheme: 'sip', user: 'user', host: '2001:db8:::192.0.2.1', ipv6: true },
    via: { transport: 'UDP', host: 'lab1.east.example.com', ipv6: false, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '810x2' },
    to: { uri: 'sip:user@[2001:db8:::192.0.2.1]' },
    callId: 'G9559905523997077@hlau_4100',
    cseq: [689, 'OPTIONS'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
  },
  'ipv6-correct-abnf-2-colons': {
    method: 'OPTIONS',
    ruri: { scheme: 'sip', user: 'user', host: '2001:db8::192.0.2.1', ipv6: true },
    via: { transport: 'UDP', host: 'lab1.east.example.com', ipv6: false, branch: 'z9hG4bKas3-111', count: 1 },
    from: { uri: 'sip:user@example.com', tag: '810x2' },
    to: { uri: 'sip:user@[2001:db8::192.0.2.1]' },
    callId: 'G9559905523997077@hlau_4100',
    cseq: [689, 'OPTIONS'],
    maxForwards: 70,
    contentLength: 0,
    bodyLength: 0,
  },
};

interface InvalidCase {
  code: ParseErrorCode;
  /** the answer: 400 / 505 for a request, 0 (discard) for a response */
  status: number;
  header?: string;
  more?: (e: SipParseError) => void;
}

const INVALID: Record<string, InvalidCase> = {
  // ---- RFC 4475 §3.1.2: invalid messages ---------------------------------------------
  badinv01: { code: 'via', status: 400, header: 'via' },
  clerr: { code: 'body-truncated', status: 400, header: 'content-length' },
  ncl: { code: 'content-length', status: 400, header: 'content-length' },
  scalar02: { code: 'cseq', status: 400, header: 'cseq' },
  scalarlg: { code: 'cseq', status: 0, header: 'cseq' },
  quotbal: { code: 'name-addr', status: 400, header: 'to' },
  ltgtruri: { code: 'start-line', status: 400 },
  lwsruri: { code: 'start-line', status: 400 },
  lwsstart: { code: 'start-line', status: 400 },
  trws: { code: 'start-line', status: 400 },
  escruri: { code: 'uri', status: 400 },
  regbadct: { code: 'name-addr', status: 400, header: 'contact' },
  badaspec: { code: 'name-addr', status: 400, header: 'to' },
  baddn: { code: 'name-addr', status: 400, header: 'from' },
  badvers: {
    code: 'version',
    status: 505,
    // the headers are read anyway, so the 505 can be addressed
    more: (e) => {
      expect(e.partial?.topVia).toMatchObject({ protocol: 'SIP/7.0', transport: 'UDP', host: 'c.example.com', branch: 'z9hG4bKkdjuw' });
      expect(e.partial?.callId).toBe('badvers.31417@c.example.com');
    },
  },
  mismatch01: { code: 'cseq-method', status: 400, header: 'cseq' },
  // RFC 4475 §3.1.2.18 prefers 501 from a proxy; the parser reports the mismatch as 400
  mismatch02: { code: 'cseq-method', status: 400, header: 'cseq', more: (e) => expect(e.partial?.method).toBe('NEWMETHOD') },
  bigcode: { code: 'status-code', status: 0 },
  // ---- RFC 4475 §3.3: the cases whose answer is 400 ------------------------------------
  insuf: {
    code: 'missing-header',
    status: 400,
    header: 'from',
    // enough is parsed to address the 400
    more: (e) => expect(e.partial?.topVia).toMatchObject({ host: '192.0.2.95', branch: 'z9hG4bKkdj.insuf' }),
  },
  multi01: { code: 'duplicate-header', status: 400, header: 'from' },
  mcl01: { code: 'content-length', status: 400, header: 'content-length' },
  // not a numbered RFC case: a request line without SIP-Version
  test: { code: 'start-line', status: 400 },
  // ---- RFC 5118 §4.2 ------------------------------------------------------------------
  'ipv6-bad': { code: 'uri', status: 400 },
};

/** RFC 4475 §3.1.2.12: a proxy may pass an invalid Date on; it must not change it. */
const ACCEPTED_INVALID = ['baddate'];

/** The bytes a valid message goes out as: its header section and body, Content-Length added when absent. */
const expectedBytes = (m: SipMessage, bytes: Buffer): Buffer => {
  let start = 0;
  while (bytes[start] === 13 || bytes[start] === 10) start++;
  const headEnd = bytes.indexOf('\r\n\r\n', start);
  const cl = m.has('content-length') ? '' : `Content-Length: ${m.body.length}\r\n`;
  return Buffer.concat([bytes.subarray(start, headEnd + 2), Buffer.from(`${cl}\r\n`, 'latin1'), m.body]);
};

describe('torture corpus', () => {
  it('has a manifest row and an expectation for every file, and nothing else', () => {
    for (const folder of ['valid', 'invalid'] as const) {
      expect(manifest.filter((r) => r.folder === folder).map((r) => r.file).sort()).toEqual(files(folder));
    }
    expect(Object.keys(VALID).sort()).toEqual(files('valid'));
    expect([...Object.keys(INVALID), ...ACCEPTED_INVALID].sort()).toEqual(files('invalid'));
    expect(manifest.filter((r) => r.section.startsWith('RFC5118'))).toHaveLength(12);
  });

  it('holds RFC 5118 messages written with CRLF line ends', () => {
    for (const r of manifest.filter((x) => x.section.startsWith('RFC5118'))) {
      const b = raw(r.folder as 'valid' | 'invalid', r.file).toString('latin1');
      expect(b.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      expect(b.indexOf('\r\n\r\n')).toBeGreaterThan(0);
    }
  });
});

describe('valid torture messages parse', () => {
  for (const name of Object.keys(VALID)) {
    it(name, () => {
      const c = VALID[name]!;
      const bytes = raw('valid', name);
      const m = parseMessage(bytes);
      if (c.method !== undefined) {
        expect(m.isRequest).toBe(true);
        expect(m.method).toBe(c.method);
        expect(m.requestUri).toMatchObject(c.ruri!);
      } else {
        expect(m.isResponse).toBe(true);
        expect(m.status).toBe(c.status);
      }
      const top = via(m.topVia);
      expect(top.transport).toBe(c.via.transport);
      expect(top.host).toBe(c.via.host);
      expect(top.port).toBe(c.via.port);
      expect(top.branch).toBe(c.via.branch);
      if (c.via.ipv6 !== undefined) expect(top.ipv6).toBe(c.via.ipv6);
      expect(m.vias()).toHaveLength(c.via.count);
      expect(m.vias().every((v) => v !== undefined)).toBe(true);
      expect(na(m.from).uri).toBe(c.from.uri);
      expect(m.fromTag).toBe(c.from.tag);
      expect(na(m.to).uri).toBe(c.to.uri);
      expect(m.toTag).toBe(c.to.tag);
      expect(m.callId).toBe(c.callId);
      expect(m.cseq).toEqual({ seq: c.cseq[0], method: c.cseq[1] });
      if (m.isRequest) expect(m.cseq?.method).toBe(m.method);
      expect(m.maxForwards).toBe(c.maxForwards);
      expect(m.get('content-length') === undefined ? undefined : Number(m.get('content-length'))).toBe(c.contentLength);
      expect(m.body.length).toBe(c.bodyLength);
      c.more?.(m, bytes);
    });
  }
});

describe('valid torture messages go out as they came in', () => {
  for (const name of Object.keys(VALID)) {
    it(name, () => {
      const bytes = raw('valid', name);
      const m = parseMessage(bytes);
      const want = expectedBytes(m, bytes);
      expect(m.toBuffer().toString('latin1')).toBe(want.toString('latin1'));
      expect(m.toBuffer().equals(want)).toBe(true);
      // the same once the header objects exist (the path every changed message takes)
      const h = parseMessage(bytes);
      expect(h.headers.length).toBeGreaterThan(0);
      expect(h.toBuffer().equals(want)).toBe(true);
      // and what goes out parses to the same message
      expect(parseMessage(want).toBuffer().equals(want)).toBe(true);
    });
  }

  it('adds a Content-Length only where there is none (inv2543)', () => {
    const without = Object.keys(VALID).filter((n) => !parseMessage(raw('valid', n)).has('content-length'));
    expect(without).toEqual(['inv2543']);
    const out = parseMessage(raw('valid', 'inv2543')).toBuffer().toString('latin1');
    expect(out).toContain('\r\nContent-Type: application/sdp\r\nContent-Length: 105\r\n\r\nv=0\r\n');
    for (const n of Object.keys(VALID).filter((x) => x !== 'inv2543')) {
      const out2 = parseMessage(raw('valid', n)).toBuffer().toString('latin1');
      expect(out2.split('\r\n').filter((l) => /^(content-length|l)\s*:/i.test(l))).toHaveLength(1);
    }
  });
});

describe('invalid torture messages are refused', () => {
  for (const name of Object.keys(INVALID)) {
    it(name, () => {
      const c = INVALID[name]!;
      const r = tryParseMessage(raw('invalid', name));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error).toBeInstanceOf(SipParseError);
      expect({ code: r.error.code, status: r.error.status }).toEqual({ code: c.code, status: c.status });
      if (c.header !== undefined) expect(r.error.header).toBe(c.header);
      expect(() => parseMessage(raw('invalid', name))).toThrow(SipParseError);
      c.more?.(r.error);
    });
  }

  it('baddate: a proxy passes the message on with the Date header byte for byte', () => {
    const bytes = raw('invalid', 'baddate');
    const m = parseMessage(bytes);
    expect(m.method).toBe('INVITE');
    expect(m.get('date')).toBe('Fri, 01 Jan 2010 16:00:00 EST');
    expect(m.headers.find((h) => h.key === 'date')?.raw).toBe('Date: Fri, 01 Jan 2010 16:00:00 EST');
    m.prepend('Via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfwd');
    expect(m.toBuffer().toString('latin1')).toContain('\r\nDate: Fri, 01 Jan 2010 16:00:00 EST\r\n');
    expect(m.toBuffer().subarray(-m.body.length).equals(bytes.subarray(-150))).toBe(true);
  });

  it('clerr over a stream: the framer waits for the body, the parser still refuses a short one', () => {
    const r = tryParseMessage(raw('invalid', 'clerr'), { datagram: false });
    expect(r.ok || r.error.code).toBe('body-truncated');
  });
});
