#!/usr/bin/env node
// What a call under way keeps on sipfront's V8 heap, per call, by kind of object: sipfront (one
// process, trace capture off) between a node caller and a backend that answers INVITE with 100
// and 180 only, so every call stays ringing. Two heap snapshots (--heapsnapshot-signal), before and
// after N calls, are compared by V8 node type and constructor. All on 127.0.0.1.
//
//   node scripts/footprint.mjs [--calls 3000] [--rate 2000] [--warmup 300] [--cli FILE] [--top 25]
//
// The bench's figure of memory per call; the garbage collector's work at load grows with it
// (bench/README, "What a call under way keeps on the heap").
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({
  options: {
    calls: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    cli: { type: 'string', default: join(ROOT, 'packages', 'server', 'dist', 'cli.js') },
    top: { type: 'string', default: '25' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log('node scripts/footprint.mjs [--calls N] [--rate N] [--warmup N] [--cli FILE] [--top N]');
  process.exit(0);
}
const CALLS = Number(opt.calls);
const RATE = Number(opt.rate);
const WARMUP = Number(opt.warmup);
const NODE_OPTIONS = JSON.parse(readFileSync(join(ROOT, 'packages', 'server', 'package.json'), 'utf8')).sipfront.nodeOptions;

const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

const udp = (port = 0) =>
  new Promise((res) => {
    const s = createSocket('udp4');
    s.bind(port, '127.0.0.1', () => res(s));
  });

const headerOf = (text, name) => {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text);
  return m === null ? undefined : m[1];
};
const viasOf = (text) => text.split('\r\n').filter((l) => /^(via|v):/i.test(l));

/** the backend: 100 and 180 to an INVITE (never a final), 200 to OPTIONS */
const backend = await udp();
backend.on('message', (buf, rinfo) => {
  const text = buf.toString('latin1');
  const method = text.slice(0, text.indexOf(' '));
  if (method === 'ACK' || text.startsWith('SIP/2.0')) return;
  const head = (status, reason, tag) =>
    [
      `SIP/2.0 ${status} ${reason}`,
      ...viasOf(text),
      `From: ${headerOf(text, 'from')}`,
      `To: ${headerOf(text, 'to')}${tag ? ';tag=be1' : ''}`,
      `Call-ID: ${headerOf(text, 'call-id')}`,
      `CSeq: ${headerOf(text, 'cseq')}`,
      ...(tag ? [`Contact: <sip:be@127.0.0.1:${backend.address().port}>`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  if (method === 'INVITE') {
    backend.send(head(100, 'Trying', false), rinfo.port, rinfo.address);
    backend.send(head(180, 'Ringing', true), rinfo.port, rinfo.address);
  } else backend.send(head(200, 'OK', true), rinfo.port, rinfo.address);
});

const dir = mkdtempSync(join(tmpdir(), 'sipfront-footprint-'));
const sipPort = await freePort();
const apiPort = await freePort();
writeFileSync(
  join(dir, 'sipfront.yaml'),
  [
    'listen:',
    `  - { transport: udp, host: 127.0.0.1, port: ${sipPort} }`,
    'mode: stateful',
    `store: { kind: memory, path: ${JSON.stringify(join(dir, 'data'))} }`,
    `api: { host: 127.0.0.1, port: ${apiPort} }`,
    'security:',
    '  trusted: [127.0.0.0/8]',
    '  flood: { window: 1s, max: 1000000 }',
    'dispatcher:',
    '  probe: { interval: 60s }',
    '  sets:',
    '    - id: 1',
    '      name: footprint',
    '      algorithm: round-robin',
    '      destinations:',
    `        - { uri: "sip:127.0.0.1:${backend.address().port}" }`,
    'log: { level: warn }',
    'trace: { capture: off }',
    '',
  ].join('\n'),
);
const child = spawn(process.execPath, [...NODE_OPTIONS, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`, opt.cli, '--config', join(dir, 'sipfront.yaml')], {
  stdio: ['ignore', 'inherit', 'inherit'],
  cwd: dir,
});
const cleanup = () => {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);

const caller = await udp();
const callerPort = caller.address().port;
let ringing = 0;
/** the lowest OPTIONS CSeq whose answer counts (answers() sends from there on) */
let optionsFrom = 0;
let optionsAnswered = false;
caller.on('message', (buf) => {
  const text = buf.toString('latin1');
  if (text.startsWith('SIP/2.0 180')) ringing++;
  else if (text.startsWith('SIP/2.0 200')) {
    const m = /^CSeq:\s*(\d+) OPTIONS/im.exec(text);
    if (m !== null && Number(m[1]) >= optionsFrom) optionsAnswered = true;
  }
});

const SDP = [
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');
let seq = 0;
/** an INVITE as sipp's uac scenario writes it */
const invite = () => {
  const n = ++seq;
  return [
    `INVITE sip:service@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${callerPort};branch=z9hG4bK-fp-${n}`,
    `From: sipp <sip:sipp@127.0.0.1:${callerPort}>;tag=${n}SIPpTag00${n}`,
    `To: service <sip:service@127.0.0.1:${sipPort}>`,
    `Call-ID: ${n}-fp@127.0.0.1`,
    'CSeq: 1 INVITE',
    `Contact: sip:sipp@127.0.0.1:${callerPort}`,
    'Max-Forwards: 70',
    'Subject: Performance Test',
    'Content-Type: application/sdp',
    `Content-Length: ${SDP.length}`,
    '',
    SDP,
  ].join('\r\n');
};
const options = () =>
  [
    `OPTIONS sip:127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${callerPort};branch=z9hG4bK-fpo-${++seq}`,
    `From: <sip:fp@127.0.0.1>;tag=o${seq}`,
    `To: <sip:127.0.0.1:${sipPort}>`,
    `Call-ID: o${seq}-fp@127.0.0.1`,
    `CSeq: ${seq} OPTIONS`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

/** waits (bounded) until `ok()`, sending `poke` now and then */
const until = async (what, ok, ms, poke) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) {
      console.error(`footprint: timed out waiting for ${what}`);
      process.exit(1);
    }
    poke?.();
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** an answered OPTIONS: the process is up, and done with whatever blocked it (a snapshot) */
const answers = async (what) => {
  optionsAnswered = false;
  optionsFrom = seq + 1;
  await until(what, () => optionsAnswered, 120_000, () => caller.send(options(), sipPort, '127.0.0.1'));
};

const sendCalls = async (n) => {
  const start = ringing;
  const perTick = Math.max(1, Math.round(RATE / 100));
  for (let sent = 0; sent < n; ) {
    for (let k = 0; k < perTick && sent < n; k++, sent++) caller.send(invite(), sipPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 10));
  }
  await until(`${n} calls ringing`, () => ringing - start >= n, 30_000);
};

const snapshots = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).sort();
const snapshot = async (what) => {
  const before = snapshots().length;
  child.kill('SIGUSR2');
  await answers(what);
  await until(what, () => snapshots().length > before, 10_000);
  const file = join(dir, snapshots().at(-1));
  // the snapshot is written off the main thread's turn: complete once it ends as JSON ends
  await until(`${what} written`, () => complete(file), 60_000);
  return file;
};

const complete = (file) => {
  const st = statSync(file);
  if (st.size < 2) return false;
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(2);
  readSync(fd, b, 0, 2, st.size - 2);
  closeSync(fd);
  return b.toString() === ']}';
};

/** self size and count per `type:constructor` (strings and arrays by type) */
const summarize = (file) => {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const { node_fields: fields, node_types: types } = snap.snapshot.meta;
  const typeNames = types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const nodes = snap.nodes;
  const by = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = typeNames[nodes[i + iType]];
    const size = nodes[i + iSize];
    total += size;
    const key = type === 'object' || type === 'closure' || type === 'native' || type === 'array' ? `${type}:${snap.strings[nodes[i + iName]]}` : type;
    const e = by.get(key) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    by.set(key, e);
  }
  return { total, by };
};

await answers('sipfront to start');
await sendCalls(WARMUP);
const a = summarize(await snapshot('snapshot A'));
await sendCalls(CALLS);
const b = summarize(await snapshot('snapshot B'));

const rows = [];
for (const [k, e] of b.by) {
  const before = a.by.get(k) ?? { size: 0, count: 0 };
  rows.push({ k, size: (e.size - before.size) / CALLS, count: (e.count - before.count) / CALLS });
}
rows.sort((x, y) => y.size - x.size);
const perCall = (b.total - a.total) / CALLS;
console.log(`${CALLS} INVITEs ringing at ${RATE}/s (after ${WARMUP} of warm-up), ${opt.cli}`);
console.log(`heap ${(a.total / 1e6).toFixed(1)} -> ${(b.total / 1e6).toFixed(1)} MB; per call ${perCall.toFixed(0)} B`);
for (const r of rows.slice(0, Number(opt.top))) console.log(`${r.size.toFixed(0).padStart(7)} B/call ${r.count.toFixed(2).padStart(7)} objs/call  ${r.k}`);
caller.close();
backend.close();
process.exit(0);
