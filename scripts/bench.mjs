#!/usr/bin/env node
// `pnpm bench`: the load benchmark. A sipp caller → the proxy (sipfront, and with --vs kamailio
// Kamailio 5.6 too) → two sipp backends, all on 127.0.0.1, dispatcher set 1 round-robin,
// Record-Route; a call is INVITE/100/180/200/ACK/BYE/200. The rate steps up in bounded runs,
// after a warm-up; with --vs kamailio both proxies run side by side and take turns at each step.
// With --overhead trace|security two sipfronts run side by side, the feature on and off, and take
// the calls in turns of a few seconds; three runs per rate (windows of those turns) give the
// feature's cost in CPU per 1000 calls.
// Figures come from sipp's own files (-trace_stat, -trace_counts) and from /proc (CPU of the
// proxy's whole process tree, peak RSS/PSS from smaps_rollup). Plain Node ESM, no build step.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const KAMAILIO_CFG = join(ROOT, 'bench', 'kamailio.cfg');
const UAC_XML = join(ROOT, 'test', 'sipp', 'uac.xml');
const UAS_XML = join(ROOT, 'test', 'sipp', 'uas.xml');
const DEFAULT_SIPFRONT_CLI = join(ROOT, 'packages', 'server', 'dist', 'cli.js');
/** node's options sipfront is run with (bin/sipfront, the image, pnpm start): packages/server/package.json */
const SERVER_NODE_OPTIONS = JSON.parse(readFileSync(join(ROOT, 'packages', 'server', 'package.json'), 'utf8')).sipfront.nodeOptions;

const USAGE = `usage: pnpm bench [options]
  --rates 500,1000,...   call rates to step through (calls/s); default 500,1000,1500,2000,2500,3000
                         (1000 with --overhead)
  --duration S           seconds per step (default 10; 20 per run with --overhead and the A/B options)
  --warmup S             warm-up seconds per proxy before the steps (default 10; 0 = none)
  --warmup-rate R        warm-up rate (default: the lower of 500 and the first step)
  --vs kamailio          run Kamailio 5.6 (bench/kamailio.cfg) too, alternating at each step
  --overhead NAME        trace or security (repeatable, or a comma list): sipfront with the feature
                         on and off side by side, three alternating runs each per rate; reports
                         CPU per 1000 calls on vs off (contract: ≤ 5%). The two take the calls in
                         turns of --slice seconds (on off off on …) from a 90 s warm-up to the last
                         run, a run being 20 s of each one's calls (--duration) and each one's CPU
                         read at the run's edges. Not with --vs, --cpu-prof
  --slice S              the turns of --overhead and the A/B options (default 5); 0: whole runs
                         instead (10 s by default), each on a quiet pair (earlier runs'
                         transactions ended) after 3 s of calls not measured
  --one-pair             sliced runs of two sipfronts on one pair for all runs ("on" started first);
                         by default each run has a new pair, warmed up anew, on and off started
                         first in turn (whichever started first came out slower here)
  --two-process          --overhead trace as the others: two sipfronts, one with trace: { capture: off }
                         (by default one sipfront takes both sides, its capture switched by PUT
                         /api/v1/trace at each turn and its CPU read around each turn)
  --stateless            sipfront mode: stateless; Kamailio forward() instead of t_relay()
  --tcp                  caller, proxy and backends over TCP (the caller binds 127.0.0.2)
  --hold MS              call length between ACK and BYE (sipp -d; default 0)
  --ring MS              the backends ring this long between 180 and 200 (default 0; below 4000):
                         every call stays in its INVITE transactions meanwhile, as calls a person
                         answers do (rate × ring calls ringing at once)
  --workers N|auto       sipfront's workers: setting (default: its own default)
  --sipfront-cli FILE    the sipfront CLI to run (default packages/server/dist/cli.js): A/B another build
  --sipfront-yaml TEXT   YAML appended to sipfront's generated config (experiments: 'trace: { capture: off }')
  --kamailio-children N  Kamailio children= and tcp_children= (default 4)
  --cpu-prof             run sipfront under node --cpu-prof and print its top self-time functions
  --node-arg ARG         an extra node option for sipfront (repeatable), e.g. --node-arg=--trace-gc;
                         every sipfront runs with packages/server/package.json sipfront.nodeOptions
                         first (as bin/sipfront does), so a later option of the same name wins
  --ab-node-arg ARG      A/B of node options (repeatable): two sipfronts side by side, one with these
                         options, one without, three alternating runs each per rate (as --overhead);
                         reports CPU per 1000 calls and peak PSS of each, e.g.
                         --ab-node-arg=--max-semi-space-size=4
  --ab-cli FILE          A/B of two builds, the same way: "on" runs this sipfront CLI (a copy of an
                         earlier dist, say), "off" the one under test (--sipfront-cli or the default)
  --ab-yaml TEXT         A/B of a config setting, the same way: "on" has TEXT appended to sipfront's
                         config (after --sipfront-yaml), "off" not, e.g. --ab-yaml 'sip: { udp_read_window: 0 }'
  --own-session          each proxy in a session of its own: with the kernel's sched_autogroup the
                         proxy then shares the CPUs with the sipp processes group against group (as a
                         service in its own cgroup), not thread against thread (the default)
  --keep-going           keep stepping a proxy after a step with failures
  --pin                  the sipp processes on CPU 0, the proxies on the others (taskset): the
                         scheduler then cannot put a proxy and a sipp on one core in one run and
                         apart in the next (one cause of the spread between an A/B's runs)
  --rounds N             step through the rates N times (default 1), the proxies alternating; a rate
                         counts as clean for the headline when a majority of its runs were, and the
                         ratios are the medians of each round's pair: a slow moment of the machine
                         then decides one run, not the comparison. With --overhead and the A/B
                         options: N ≥ 3 alternating runs each (default 3); the mean decides, the
                         median of the rounds' pairs is printed beside it
  --json FILE            also write the results there (bench/results/latest.json is always written)
  --quiet-wait S         wait up to S seconds for other processes to leave the CPUs idle (default 120)
  --keep                 keep the run directory (configs, logs, sipp files)
  --no-build             do not run tsc -b first

environment: BENCH_REDIS_URL (the Redis of --workers > 1, default redis://127.0.0.1:6379/0);
  SIPFRONT_LOG_LEVEL (sipfront's log level, default warn; info adds the load shedder's episodes,
  with --keep in <run dir>/sipfront/sipfront.log)`;

// --- options ------------------------------------------------------------------------------------

const { values: opt } = parseArgs({
  options: {
    rates: { type: 'string' },
    duration: { type: 'string' },
    slice: { type: 'string' },
    'one-pair': { type: 'boolean', default: false },
    'two-process': { type: 'boolean', default: false },
    warmup: { type: 'string', default: '10' },
    'warmup-rate': { type: 'string' },
    vs: { type: 'string' },
    overhead: { type: 'string', multiple: true, default: [] },
    stateless: { type: 'boolean', default: false },
    tcp: { type: 'boolean', default: false },
    hold: { type: 'string', default: '0' },
    ring: { type: 'string', default: '0' },
    workers: { type: 'string' },
    'sipfront-yaml': { type: 'string' },
    'sipfront-cli': { type: 'string' },
    'kamailio-children': { type: 'string', default: '4' },
    'cpu-prof': { type: 'boolean', default: false },
    'node-arg': { type: 'string', multiple: true, default: [] },
    'own-session': { type: 'boolean', default: false },
    'ab-node-arg': { type: 'string', multiple: true, default: [] },
    'ab-cli': { type: 'string' },
    'ab-yaml': { type: 'string' },
    'keep-going': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'quiet-wait': { type: 'string', default: '120' },
    'no-build': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

// --overhead: what each feature's off switch adds to sipfront's generated config.
const OVERHEAD_OFF = {
  trace: { yaml: 'trace: { capture: off }' },
  security: { securityEnabled: false },
};
const OVERHEADS = [...new Set(opt.overhead.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== ''))];
for (const o of OVERHEADS) if (!Object.hasOwn(OVERHEAD_OFF, o)) fail(`--overhead: trace or security, got ${o}`);
if (opt.overhead.length > 0 && OVERHEADS.length === 0) fail('--overhead: name trace or security');
// A preload named by a relative path (--node-arg=--import=./scripts/alloc-sampler.mjs) is
// resolved here: sipfront runs in its own directory of the run, where that path names nothing.
const absolutePreload = (arg) => arg.replace(/^(--(?:import|require|loader|experimental-loader)=)(\.\.?\/.*)$/, (_, flag, path) => flag + resolve(path));
opt['node-arg'] = opt['node-arg'].map(absolutePreload);
opt['ab-node-arg'] = opt['ab-node-arg'].map(absolutePreload);
// --ab-node-arg: the same harness; "on" is sipfront with the options, "off" without
const AB_NODE_ARGS = opt['ab-node-arg'];
if (AB_NODE_ARGS.length > 0) {
  if (OVERHEADS.length > 0) fail('--ab-node-arg cannot be combined with --overhead');
  OVERHEAD_OFF['node-arg'] = {};
  OVERHEADS.push('node-arg');
}
// --ab-cli: "on" is the other build
const AB_CLI = opt['ab-cli'] !== undefined ? resolve(opt['ab-cli']) : undefined;
if (AB_CLI !== undefined) {
  if (OVERHEADS.length > 0) fail('--ab-cli cannot be combined with --overhead or --ab-node-arg');
  OVERHEAD_OFF.cli = {};
  OVERHEADS.push('cli');
}
// --ab-yaml: "on" has the text in its config
const AB_YAML = opt['ab-yaml'];
if (AB_YAML !== undefined) {
  if (OVERHEADS.length > 0) fail('--ab-yaml cannot be combined with --overhead, --ab-node-arg or --ab-cli');
  if (AB_YAML.trim() === '') fail('--ab-yaml: give the YAML that "on" adds to the config');
  OVERHEAD_OFF.yaml = {};
  OVERHEADS.push('yaml');
}
if (OVERHEADS.length > 0 && opt.vs !== undefined) fail('--overhead cannot be combined with --vs kamailio');
if (OVERHEADS.length > 0 && opt['cpu-prof']) fail('--overhead cannot be combined with --cpu-prof');
if (OVERHEADS.includes('trace') && /^trace:/m.test(opt['sipfront-yaml'] ?? '')) fail('--overhead trace: --sipfront-yaml must not set trace:');

const RATES_TEXT = opt.rates ?? (OVERHEADS.length > 0 ? '1000' : '500,1000,1500,2000,2500,3000');
const RATES = RATES_TEXT.split(',').map((s) => Number(s.trim()));
if (RATES.length === 0 || RATES.some((r) => !Number.isInteger(r) || r <= 0)) fail(`--rates: whole numbers > 0, got ${RATES_TEXT}`);
const ROUNDS = Number(opt.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) fail(`--rounds: a whole number ≥ 1, got ${opt.rounds}`);
const AB_MODE = OVERHEADS.length > 0 || opt['ab-node-arg'].length > 0 || opt['ab-cli'] !== undefined || opt['ab-yaml'] !== undefined;
/** --slice: seconds of calls a proxy takes before the other takes its turn (the A/B modes); 0 = whole runs, each after a drain */
const SLICE_S = opt.slice !== undefined ? Number(opt.slice) : AB_MODE ? 5 : 0;
if (opt.slice !== undefined && !AB_MODE) fail('--slice goes with --overhead, --ab-node-arg, --ab-cli or --ab-yaml');
if (!(SLICE_S >= 0)) fail('--slice must be ≥ 0');
const SLICED = AB_MODE && SLICE_S > 0;
/**
 * Sliced runs of two sipfronts take a new pair each run, warmed up anew, on and off started first
 * in turn (--one-pair: one pair for all runs, on started first). Two processes of one build and
 * config differ by a few percent for as long as they live, and the one started first came out
 * slower here: security +3.54 % (pairs +4.0, +3.2, +3.4) with "on" started first in every pair,
 * +0.46 % (0.0, −2.1, +3.8) with the order alternating, the same build.
 */
const FRESH = SLICED && !opt['one-pair'];
if (opt['one-pair'] && !SLICED) fail('--one-pair goes with sliced runs (--overhead or an A/B option, --slice > 0)');
/**
 * --overhead trace, sliced: on and off are one sipfront whose capture is switched (PUT
 * /api/v1/trace, as an operator does) at each turn, its CPU read around each turn: the same
 * process, the same compiled code and heap on both sides. Two processes of one build and config
 * differed here by up to ~8 % for as long as they lived (security measured +8.3 % in one run
 * where its work per call is a few hundred nanoseconds), more than the trace costs.
 * --two-process: two sipfronts instead, as for the other features.
 */
const TRACE_SAME_PROCESS = SLICED && !opt['two-process'];
// sliced runs: 20 s of calls each (four slices of 5 s), else 10
const DURATION = Number(opt.duration ?? (SLICED ? 20 : 10));
if (SLICED && !(Number.isInteger(DURATION / (2 * SLICE_S)) && DURATION > 0)) fail(`--duration with --slice ${SLICE_S}: a multiple of ${2 * SLICE_S} s (each proxy's slices of a run come in on-off-off-on pairs)`);
if (AB_MODE && opt.rounds !== '1' && ROUNDS < 3) fail('--rounds with --overhead, --ab-node-arg, --ab-cli or --ab-yaml: at least 3 (their default)');
const WARMUP = Number(opt.warmup);
const WARMUP_RATE = opt['warmup-rate'] !== undefined ? Number(opt['warmup-rate']) : Math.min(500, RATES[0]);
const HOLD_MS = Number(opt.hold);
const KAMAILIO_CHILDREN = Number(opt['kamailio-children']);
if (!(DURATION > 0)) fail('--duration must be > 0');
if (!(WARMUP >= 0) || !(WARMUP_RATE > 0)) fail('--warmup / --warmup-rate must be numbers');
if (!(HOLD_MS >= 0)) fail('--hold must be ≥ 0');
const RING_MS = Number(opt.ring);
// the caller gives up on a 200 after CALLER_RECV_TIMEOUT_MS
if (!(RING_MS >= 0 && RING_MS < 4000)) fail('--ring must be ≥ 0 and below 4000');
if (opt.vs !== undefined && opt.vs !== 'kamailio') fail(`--vs: only kamailio is known, got ${opt.vs}`);
if (opt.workers !== undefined && opt.workers !== 'auto' && !(Number(opt.workers) >= 1)) fail('--workers: N ≥ 1 or auto');
// workers > 1 shares UDP sockets only and needs the Redis store (check-config says so too)
const MULTI_WORKER = opt.workers === 'auto' || Number(opt.workers) > 1;
if (MULTI_WORKER && opt.tcp) fail('--workers > 1: sipfront shares only UDP sockets between workers (no --tcp)');
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
/** key prefixes of the Redis stores this run used, deleted at the end */
const redisPrefixes = [];
if (!(KAMAILIO_CHILDREN >= 1)) fail('--kamailio-children must be ≥ 1');

const SIPFRONT_CLI = opt['sipfront-cli'] !== undefined ? resolve(opt['sipfront-cli']) : DEFAULT_SIPFRONT_CLI;
const MODE = opt.stateless ? 'stateless' : 'stateful';
const TRANSPORT = opt.tcp ? 'tcp' : 'udp';
const SIPP_T = opt.tcp ? 't1' : 'u1';
// Over TCP any source port of a destination's address counts as that destination: keep the caller apart.
const CALLER_IP = opt.tcp ? '127.0.0.2' : '127.0.0.1';
const CALLER_RECV_TIMEOUT_MS = 5000;
const BACKEND_RECV_TIMEOUT_MS = 10_000;
// A step is clean with no failed call and retransmissions under 1% of its calls; it must also have
// carried the load (a proxy that answers slowly but never fails has not sustained the rate).
const CLEAN_RETRANS_PCT = 1;
const QUIET_WAIT_S = Number(opt['quiet-wait']);
const CLEAN_MIN_ACHIEVED = 0.9;
// Cores that other processes may use during a step before its figures are marked doubtful.
const BUSY_CORES = 0.2;
/**
 * How long, at most, a proxy may take after a step to go quiet before the next step starts (it
 * returns as soon as the proxy's CPU falls under 5 % of a core). A clean step's transactions rest
 * for 64·T1 = 32 s after its last call, and ending them is work (timers, GC): with a 10 s bound
 * the next run, often the other proxy's, shared the CPU with it. Measured at 4,500 calls/s: in
 * three A/Bs (on, off, off, on, on, off) every run that followed the other sipfront's run had
 * calls refused, and runs 1 and 5 never did.
 */
const SETTLE_MS = 40_000;
/** drain(): transactions a quiet sipfront may still hold (OPTIONS probes of the backends), and how long to wait at most (64·T1 and a margin) */
const DRAIN_FLOOR = 16;
const DRAIN_MAX_MS = 50_000;
/**
 * --own-session: each proxy leads a session of its own (setsid), as a service does (systemd gives
 * each its own cgroup). Where the kernel schedules a session's threads as one group
 * (sched_autogroup, on here), the proxy and the three sipp processes of the load then share the
 * CPUs group against group: under contention each group gets half of a two-CPU machine, whatever
 * its number of threads. By default the proxies stay in the bench's session, thread against
 * thread, as every run before this option: four busy Kamailio processes then take more than one
 * CPU beside the sipp processes, one busy sipfront thread about half of one. Neither is a machine
 * of the proxy's own; the option tells how much of a comparison is the scheduler's split.
 */
const OWN_SESSION = opt['own-session'];
// --pin: sipp on CPU 0, the proxies (and every thread and child they start) on the rest
const PIN = opt.pin;
if (PIN && os.availableParallelism() < 2) fail('--pin: needs at least two CPUs');
if (PIN && spawnSync('taskset', ['-c', '0', 'true']).status !== 0) fail('--pin: taskset (util-linux) is missing or refuses');
const PROXY_CPUS = `1-${os.availableParallelism() - 1}`;
/** cmd and args, under taskset when --pin: `role` says which CPUs */
const pinned = (role, cmd, args) => (PIN ? ['taskset', ['-c', role === 'sipp' ? '0' : PROXY_CPUS, cmd, ...args]] : [cmd, args]);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

// --- small helpers ------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => process.stdout.write(`${line}\n`);
const now = () => performance.now() / 1000;

function bindAndRelease(kind, port, host = '127.0.0.1') {
  return new Promise((resolveP, reject) => {
    if (kind === 'udp') {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.bind(port, host, () => {
        const p = s.address().port;
        s.close(() => resolveP(p));
      });
    } else {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(port, host, () => {
        const p = srv.address().port;
        srv.close(() => resolveP(p));
      });
    }
  });
}

/** A port free for UDP and TCP on 127.0.0.1, not handed out before in this run. */
const handedOut = new Set();
async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await bindAndRelease('tcp', 0);
    if (handedOut.has(port)) continue;
    try {
      await bindAndRelease('udp', port);
      handedOut.add(port);
      return port;
    } catch {
      // taken for UDP
    }
  }
  throw new Error('no free port');
}

/** Is something bound to this local port (UDP or TCP listening)? From /proc/net. */
function isBound(transport, port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const files = transport === 'udp' ? ['/proc/net/udp'] : ['/proc/net/tcp'];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      if (!cols[1].endsWith(`:${hex}`)) continue;
      if (transport === 'tcp' && cols[3] !== '0A') continue; // LISTEN
      return true;
    }
  }
  return false;
}

async function waitFor(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function commandVersion(cmd, args, pattern) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    const m = `${r.stdout}${r.stderr}`.match(pattern);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

// --- /proc: CPU and memory of a process tree ----------------------------------------------------

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17.
    return {
      ppid: Number(fields[1]),
      user: Number(fields[11]) + Number(fields[13]),
      system: Number(fields[12]) + Number(fields[14]),
    };
  } catch {
    return null;
  }
}

/** rootPid and every live descendant. */
function processTree(rootPid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift();
    out.push(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return out;
}

/**
 * Times the tree's threads went to sleep (voluntary context switches, every thread of every
 * process): each one is a wake later, and on a VM a wake costs far more than the work it brings
 * (~17–28 µs of CPU here), so wakes per call tell a layout of processes that sleeps and wakes
 * often from one that keeps busy.
 */
function treeSleeps(pids) {
  let n = 0;
  eachThread(pids, (dir) => {
    const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`${dir}/status`, 'utf8'));
    if (m) n += Number(m[1]);
  });
  return n;
}

/** Calls fn with each live thread's /proc directory (and its "pid/tid"); a thread that ends meanwhile is skipped. */
function eachThread(pids, fn) {
  for (const pid of pids) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        fn(`/proc/${pid}/task/${t}`, `${pid}/${t}`);
      } catch {
        // the thread ended
      }
    }
  }
}

/**
 * CPU ticks of every thread of the tree, by "pid/tid", with the thread's name: the busiest thread
 * over a step is the ceiling of a process whose work cannot spread (one JavaScript thread).
 */
function threadTicks(pids) {
  const out = new Map();
  eachThread(pids, (dir, id) => {
    const text = readFileSync(`${dir}/stat`, 'utf8');
    const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // schedstat: ns on a CPU, ns runnable but waiting for one, timeslices
    let waitedNs = 0;
    try {
      waitedNs = Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[1]) || 0;
    } catch {
      // no schedstats in this kernel
    }
    out.set(id, { name, ticks: Number(fields[11]) + Number(fields[12]), waitedNs });
  });
  return out;
}

/** The thread that used the most CPU between two threadTicks snapshots: its name and cores. */
function busiestThread(before, after, wall) {
  let best = null;
  for (const [id, a] of after) {
    const used = (a.ticks - (before.get(id)?.ticks ?? 0)) / CLK_TCK;
    const waited = (a.waitedNs - (before.get(id)?.waitedNs ?? 0)) / 1e9;
    if (best === null || used > best.seconds) best = { name: a.name, seconds: used, waited };
  }
  // waited: the share of the step it was runnable but had no CPU (other threads had them)
  return best === null ? null : { name: best.name, cores: round(best.seconds / wall, 2), waited: round(best.waited / wall, 2) };
}

/** CPU seconds (user and system, children reaped included) of the tree. */
function treeCpu(pids) {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const st = readStat(pid);
    if (st === null) continue;
    user += st.user;
    system += st.system;
  }
  return { user: user / CLK_TCK, system: system / CLK_TCK, total: (user + system) / CLK_TCK };
}
const treeCpuSeconds = (pids) => treeCpu(pids).total;

/** CPU seconds the whole machine spent busy so far (all cores; idle and iowait excluded). */
function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / CLK_TCK;
}

/**
 * Pages of files (node's own code among them) read again after the kernel dropped them: on a VM
 * whose host pages out cold memory (DAMON's pageout scheme, kdamond) a step that meets many runs
 * slower for it, whichever proxy it measures.
 */
function fileRefaults() {
  const m = /^workingset_refault_file (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

/** CPU used by everything but this bench and what it started (proxies, sipp), in cores, over ms. */
async function otherLoad(ms) {
  const m0 = machineBusySeconds();
  const o0 = treeCpuSeconds(processTree(process.pid));
  await sleep(ms);
  return (machineBusySeconds() - m0 - (treeCpuSeconds(processTree(process.pid)) - o0)) / (ms / 1000);
}

/** Datagrams the kernel dropped for a full receive buffer, machine-wide (Udp RcvbufErrors). */
function udpRcvbufErrors() {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const head = lines[0].split(/\s+/);
    const vals = lines[1].split(/\s+/);
    return Number(vals[head.indexOf('RcvbufErrors')] ?? 0);
  } catch {
    return 0;
  }
}

/** Per UDP socket bound to `port` on any address: datagrams dropped so far and bytes queued now. */
function udpSocket(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  let rxQueue = 0;
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13 || !cols[1].endsWith(hex)) continue;
      rxQueue += parseInt(cols[4].split(':')[1], 16);
      drops += Number(cols[12]);
    }
  } catch {
    // no /proc/net/udp
  }
  return { drops, rxQueue };
}

/** RSS and PSS of the tree in MB (PSS shares shared pages out fairly; RSS counts them per process). */
function treeMemoryMB(pids) {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      rss += Number(text.match(/^Rss:\s+(\d+)/m)?.[1] ?? 0);
      pss += Number(text.match(/^Pss:\s+(\d+)/m)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}

// --- processes ----------------------------------------------------------------------------------

const started = new Map();
/** group: the child leads a session of its own (a proxy), and its whole process group goes with it */
function track(child, group = false) {
  started.set(child, group);
  child.once('exit', () => started.delete(child));
  return child;
}
function killAll() {
  for (const [c, group] of started) {
    try {
      if (group && c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`\nbench: ${sig}, stopping`);
    killAll();
    process.exit(130);
  });
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

/** Spawns a tracked child whose stdout and stderr go to `logFile`; `gone()` turns true when it exits. */
function spawnLogged(cmd, args, options, logFile) {
  const out = createWriteStream(logFile);
  const child = track(spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] }), options.detached === true);
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  child.once('close', () => out.end());
  let exitedYet = false;
  void exited(child).then(() => {
    exitedYet = true;
  });
  return { child, gone: () => exitedYet };
}

/** Asks politely, then firmly: signal, wait graceMs, SIGKILL. */
async function stopChild(child, signal, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return exited(child);
  child.kill(signal);
  const done = exited(child);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const r = await done;
  clearTimeout(t);
  return r;
}

// --- sipp's files -------------------------------------------------------------------------------

function readLastRow(dir, suffix) {
  let names = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(suffix));
  } catch {
    return {};
  }
  if (names.length === 0) return {};
  const lines = readFileSync(join(dir, names[0]), 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const head = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const row = {};
  head.forEach((h, i) => {
    if (h) row[h] = last[i];
  });
  return row;
}

function numericRow(row) {
  const out = {};
  for (const [k, v] of Object.entries(row)) {
    const n = Number(v);
    if (Number.isFinite(n)) out[k] = n;
  }
  return out;
}

const readCounts = (dir) => numericRow(readLastRow(dir, '_counts.csv'));
const readStats = (dir) => readLastRow(dir, 'stat.csv');

function sumColumns(counts, test) {
  let n = 0;
  for (const [k, v] of Object.entries(counts)) if (test(k)) n += v;
  return n;
}
const retransOf = (counts) => sumColumns(counts, (k) => k.endsWith('_Retrans'));
const unexpOf = (counts) => sumColumns(counts, (k) => k.endsWith('_Unexp'));
const invitesOf = (counts) => sumColumns(counts, (k) => /^\d+_INVITE_Recv$/.test(k));

/** sipp's "HH:MM:SS:usec" durations, in ms. */
function sippDurationMs(text) {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(text ?? '');
  if (!m) return null;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

// --- the backends ---------------------------------------------------------------------------------

/** uas.xml, or with --ring a copy in the run directory that pauses between 180 and 200 */
function uasScenario(runDir) {
  if (RING_MS === 0) return UAS_XML;
  const file = join(runDir, 'uas-ring.xml');
  const xml = readFileSync(UAS_XML, 'utf8');
  const at = xml.indexOf('<send retrans="500">');
  if (at === -1) throw new Error(`${UAS_XML}: no 200 to ring before`);
  writeFileSync(file, `${xml.slice(0, at)}<pause milliseconds="${RING_MS}"/>\n\n  ${xml.slice(at)}`);
  return file;
}

/** One sipp backend for the whole run (uas.xml answers INVITE and OPTIONS); figures are deltas. */
async function startBackend(runDir, name, port, totalSeconds) {
  const dir = join(runDir, name);
  mkdirSync(dir, { recursive: true });
  const args = [
    '-sf', uasScenario(runDir),
    '-i', '127.0.0.1', '-p', String(port), '-t', SIPP_T,
    '-nostdin', '-buff_size', '2097152',
    '-m', String(100_000_000),
    '-timeout', `${Math.ceil(totalSeconds)}s`,
    '-recv_timeout', String(BACKEND_RECV_TIMEOUT_MS),
    '-trace_stat', '-stf', 'stat.csv', '-trace_counts', '-fd', '1',
  ];
  const { child, gone } = spawnLogged(...pinned('sipp', 'sipp', args), { cwd: dir }, join(dir, 'sipp.out'));
  await waitFor(() => gone() || isBound(TRANSPORT, port), 5000, `sipp backend ${name} on ${TRANSPORT} ${port}`);
  if (gone()) throw new Error(`sipp backend ${name} exited at start: see ${dir}/sipp.out`);
  return { name, port, dir, child, counts: () => readCounts(dir), stats: () => readStats(dir) };
}

// --- the caller ---------------------------------------------------------------------------------------

/** One bounded caller run; resolves with sipp's final figures. */
async function runCaller(runDir, label, proxyPort, rate, seconds) {
  const calls = Math.max(1, Math.round(rate * seconds));
  const dir = join(runDir, label);
  mkdirSync(dir, { recursive: true });
  const timeoutS = Math.ceil(seconds + (HOLD_MS + RING_MS) / 1000 + CALLER_RECV_TIMEOUT_MS / 1000 + 20);
  for (let attempt = 1; ; attempt++) {
    const localPort = await freePort();
    const args = [
      `127.0.0.1:${proxyPort}`,
      '-sf', UAC_XML,
      '-i', CALLER_IP, '-p', String(localPort), '-t', SIPP_T,
      '-nostdin', '-buff_size', '2097152',
      '-r', String(rate), '-rp', '1000',
      '-m', String(calls),
      '-d', String(HOLD_MS),
      '-timeout', `${timeoutS}s`, '-timeout_error',
      '-recv_timeout', String(CALLER_RECV_TIMEOUT_MS),
      '-trace_stat', '-stf', 'stat.csv', '-trace_counts', '-fd', '1',
    ];
    const t0 = now();
    const { child } = spawnLogged(...pinned('sipp', 'sipp', args), { cwd: dir }, join(dir, 'sipp.out'));
    const killer = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 15) * 1000);
    const { code } = await exited(child);
    clearTimeout(killer);
    const wall = now() - t0;
    if (code === 254 && attempt < 3) continue; // could not bind: another port
    const stats = readStats(dir);
    const counts = readCounts(dir);
    return {
      code,
      calls,
      wall,
      attempted: Number(stats['OutgoingCall(C)'] ?? 0),
      succeeded: Number(stats['SuccessfulCall(C)'] ?? 0),
      failed: Number(stats['FailedCall(C)'] ?? 0),
      callLengthMs: sippDurationMs(stats['CallLength(C)']),
      inviteTo200Ms: sippDurationMs(stats['ResponseTime1(C)']),
      counts,
      dir,
    };
  }
}

// --- the proxies --------------------------------------------------------------------------------

/** A fresh Redis key prefix for one sipfront of this run. */
function redisPrefix() {
  const p = `sfbench-${process.pid}-${redisPrefixes.length}:`;
  redisPrefixes.push(p);
  return p;
}

/** The Redis keys this run's sipfronts made go (workers > 1 only). */
function dropRedisKeys() {
  for (const p of redisPrefixes) {
    const r = spawnSync('sh', ['-c', `redis-cli -u ${REDIS_URL} --scan --pattern '${p}*' | xargs -r redis-cli -u ${REDIS_URL} del >/dev/null`], { stdio: 'ignore' });
    if (r.status !== 0) log(`could not delete the Redis keys ${p}* (redis-cli)`);
  }
}

/** variant (--overhead): { securityEnabled: false } turns the security layer off, yaml is appended; nodeArgs (--ab-node-arg) go to node. */
function sipfrontConfig(port, apiPort, backends, dataDir, variant = {}) {
  const tp = opt.tcp ? ';transport=tcp' : '';
  const lines = [
    '# Written by scripts/bench.mjs for one bench run.',
    'listen:',
    `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
    ...(MULTI_WORKER ? [] : [`  - { transport: tcp, host: 127.0.0.1, port: ${port} }`]),
    `mode: ${MODE}`,
    MULTI_WORKER ? `store: { kind: redis, url: ${JSON.stringify(REDIS_URL)}, prefix: ${JSON.stringify(redisPrefix())} }` : `store: { kind: memory, path: ${JSON.stringify(dataDir)} }`,
    `api: { host: 127.0.0.1, port: ${apiPort} }`,
    'security:',
    ...(variant.securityEnabled === false ? ['  enabled: false'] : []),
    '  trusted: [127.0.0.0/8]',
    '  flood: { window: 1s, max: 1000000 }',
    'dispatcher:',
    '  probe: { interval: 5s }',
    '  sets:',
    '    - id: 1',
    '      name: bench',
    '      algorithm: round-robin',
    '      destinations:',
    ...backends.map((b) => `        - { uri: "sip:127.0.0.1:${b.port}${tp}" }`),
    'log: { level: warn }',
  ];
  if (opt.workers !== undefined) lines.push(`workers: ${opt.workers}`);
  if (opt['sipfront-yaml'] !== undefined) lines.push(opt['sipfront-yaml']);
  if (variant.yaml !== undefined) lines.push(variant.yaml);
  return `${lines.join('\n')}\n`;
}

async function probeOptions(port) {
  // An OPTIONS to the proxy itself; any answer means it is up and routing.
  return new Promise((resolveP) => {
    const s = createSocket('udp4');
    const done = (ok) => {
      clearTimeout(t);
      try {
        s.close();
      } catch {
        // closed
      }
      resolveP(ok);
    };
    const t = setTimeout(() => done(false), 500);
    s.on('message', (m) => done(m.toString('latin1').startsWith('SIP/2.0 ')));
    s.on('error', () => done(false));
    s.bind(0, '127.0.0.1', () => {
      const lport = s.address().port;
      const branch = `z9hG4bK-bench-${Math.random().toString(36).slice(2)}`;
      const msg = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${lport};branch=${branch};rport`,
        `From: <sip:bench@127.0.0.1>;tag=${branch.slice(-8)}`,
        `To: <sip:127.0.0.1:${port}>`,
        `Call-ID: ${branch}@bench`,
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      s.send(Buffer.from(msg), port, '127.0.0.1');
    });
  });
}

/** name: the proxy's name in the steps and its directory; variant: see sipfrontConfig. */
async function startSipfront(runDir, backends, name = 'sipfront', variant = {}) {
  const dir = join(runDir, name);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const apiPort = await freePort();
  const configFile = join(dir, 'sipfront.yaml');
  writeFileSync(configFile, sipfrontConfig(port, apiPort, backends, dataDir, variant));
  const profDir = join(dir, 'prof');
  const nodeArgs = [...SERVER_NODE_OPTIONS, ...(opt['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), ...opt['node-arg'], ...(variant.nodeArgs ?? [])];
  const { child, gone } = spawnLogged(
    ...pinned('proxy', process.execPath, [...nodeArgs, variant.cli ?? SIPFRONT_CLI, '--config', configFile]),
    { cwd: dir, detached: OWN_SESSION, env: { ...process.env, SIPFRONT_LOG_LEVEL: process.env.SIPFRONT_LOG_LEVEL ?? 'warn' } },
    join(dir, 'sipfront.log'),
  );
  await waitFor(() => gone() || probeOptions(port), 20_000, `sipfront answering OPTIONS on udp ${port}`).catch(() => {});
  if (gone() || child.exitCode !== null) throw new Error(`sipfront exited at start: see ${dir}/sipfront.log`);
  if (!(await probeOptions(port))) throw new Error(`sipfront does not answer OPTIONS on ${port}: see ${dir}/sipfront.log`);
  return {
    name,
    port,
    apiPort,
    pid: child.pid,
    child,
    dir,
    profDir,
    stop: () => stopChild(child, 'SIGTERM', 15_000),
  };
}

function ensureKamailio() {
  if (spawnSync('kamailio', ['-v'], { encoding: 'utf8' }).status === 0) return;
  if (process.getuid?.() !== 0) fail('kamailio is not installed; install the Debian package kamailio (apt-get install kamailio) or run as root');
  log('bench: installing kamailio (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'kamailio'], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'kamailio'], { stdio: 'inherit', env });
  }
  if (r.status !== 0) fail('apt-get install kamailio failed');
}

async function startKamailio(runDir, backends) {
  // Pid file and ctl socket live in /tmp (a short path: unix socket names are limited).
  const dir = join(runDir, 'kamailio');
  mkdirSync(dir, { recursive: true });
  const tmp = mkdtempSync('/tmp/bench-kam-');
  const port = await freePort();
  const tp = opt.tcp ? ';transport=tcp' : '';
  const listFile = join(dir, 'dispatcher.list');
  writeFileSync(listFile, backends.map((b) => `1 sip:127.0.0.1:${b.port}${tp} 0 0\n`).join(''));
  const args = [
    '-f', KAMAILIO_CFG, '-DD', '-E',
    '-m', '1024',
    '-P', join(tmp, 'kamailio.pid'),
    '-l', `udp:127.0.0.1:${port}`, '-l', `tcp:127.0.0.1:${port}`,
    '-A', `DSLIST="${listFile}"`,
    '-A', `CTLSOCK="unix:${join(tmp, 'kamailio.ctl')}"`,
    '-A', `CHILDREN=${KAMAILIO_CHILDREN}`,
    '-w', dir,
  ];
  if (opt.stateless) args.push('-A', 'STATELESS');
  const check = spawnSync('kamailio', ['-c', ...args.filter((a) => a !== '-DD' && a !== '-E')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`kamailio -c rejects bench/kamailio.cfg:\n${check.stderr}`);
  const { child, gone } = spawnLogged(...pinned('proxy', 'kamailio', args), { cwd: dir, detached: OWN_SESSION }, join(dir, 'kamailio.log'));
  await waitFor(() => gone() || probeOptions(port), 20_000, `kamailio answering OPTIONS on udp ${port}`).catch(() => {});
  if (gone()) throw new Error(`kamailio exited at start: see ${dir}/kamailio.log`);
  if (!(await probeOptions(port))) throw new Error(`kamailio does not answer OPTIONS on ${port}: see ${dir}/kamailio.log`);
  return {
    name: 'kamailio',
    port,
    pid: child.pid,
    child,
    dir,
    stop: async () => {
      const r = await stopChild(child, 'SIGTERM', 10_000);
      rmSync(tmp, { recursive: true, force: true });
      return r;
    },
  };
}

// --- one measured run ---------------------------------------------------------------------------

/** Waits until the proxy is idle (under 5% of a core over 0.5 s), at most maxMs. */
async function settle(proxy, maxMs) {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    const pids = processTree(proxy.pid);
    const a = treeCpuSeconds(pids);
    await sleep(500);
    if (treeCpuSeconds(pids) - a < 0.025) return;
  }
}

/** A sipfront's /metrics text, null when its API does not answer (no API port, a token, down). */
async function metricsText(proxy) {
  if (proxy.apiPort === undefined) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${proxy.apiPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/** The transactions a sipfront holds now (its `sipfront_transactions_active`), null when its API does not say. */
async function activeTransactions(proxy) {
  const text = await metricsText(proxy);
  const m = text === null ? null : /^sipfront_transactions_active(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/m.exec(text);
  return m === null ? null : Number(m[1]);
}

/** Switches a sipfront's trace capture (PUT /api/v1/trace); a refusal ends the bench. */
async function setCapture(proxy, capture) {
  const res = await fetch(`http://127.0.0.1:${proxy.apiPort}/api/v1/trace`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ capture }),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`PUT /api/v1/trace { capture: ${capture} }: HTTP ${res.status} ${await res.text()}`);
}

/** A sipfront's collector pauses so far, seconds by kind (`nodejs_gc_duration_seconds_sum` of its /metrics), null when its API does not say. */
async function gcSeconds(proxy) {
  const text = await metricsText(proxy);
  if (text === null) return null;
  const out = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) out[m[1]] = Number(m[2]);
  return Object.keys(out).length === 0 ? null : out;
}

/**
 * Waits until a sipfront's transactions have ended (at most the dispatcher's probes' few are left)
 * and it has gone quiet. A stateful call's transactions rest 64·T1 = 32 s after it and ending them
 * is work (timers, collection): a run that starts sooner meets some of an earlier run's endings,
 * in its own figures or beside them, by how the runs happen to be spaced. Returns the ms waited.
 */
async function drain(proxy) {
  const t0 = Date.now();
  const until = t0 + DRAIN_MAX_MS;
  while (Date.now() < until) {
    const n = await activeTransactions(proxy);
    if (n === null && !proxy.drainUnread) {
      // (an API with a token, say): the runs then start when the proxy is quiet, as before
      proxy.drainUnread = true;
      log(`bench: ${proxy.name}: sipfront_transactions_active not readable from its /metrics; runs wait only for it to go quiet`);
    }
    if (n === null || n <= DRAIN_FLOOR) break;
    await sleep(500);
  }
  await settle(proxy, Math.max(1000, until - Date.now()));
  return Date.now() - t0;
}

async function measure(runDir, proxy, backends, rate, seconds, label) {
  const before = backends.map((b) => b.counts());
  const pids = processTree(proxy.pid);
  const cpu0 = treeCpu(pids);
  const sleeps0 = treeSleeps(pids);
  const threads0 = threadTicks(pids);
  const machine0 = machineBusySeconds();
  const refaults0 = fileRefaults();
  const ours0 = treeCpuSeconds(processTree(process.pid));
  const drops0 = udpRcvbufErrors();
  const proxyDrops0 = udpSocket(proxy.port).drops;
  let peakRxQueue = 0;
  let peakRss = 0;
  let peakPss = 0;
  let sampling = true;
  // PSS once a second, to see whether memory levels off (it should, after 64·T1) or keeps growing.
  const pssTimeline = [];
  const t0 = now();
  const sampler = (async () => {
    while (sampling) {
      const m = treeMemoryMB(processTree(proxy.pid));
      peakRss = Math.max(peakRss, m.rss);
      peakPss = Math.max(peakPss, m.pss);
      if (now() - t0 >= pssTimeline.length) pssTimeline.push(round(m.pss, 0));
      peakRxQueue = Math.max(peakRxQueue, udpSocket(proxy.port).rxQueue);
      await sleep(250);
    }
  })();
  const caller = await runCaller(runDir, label, proxy.port, rate, seconds);
  const cpu1 = treeCpu(processTree(proxy.pid));
  const sleeps1 = treeSleeps(processTree(proxy.pid));
  const topThread = busiestThread(threads0, threadTicks(processTree(proxy.pid)), Math.max(caller.wall, seconds));
  // Other work on the machine during the step (other tests, builds): it skews every figure.
  const otherCores = (machineBusySeconds() - machine0 - (treeCpuSeconds(processTree(process.pid)) - ours0)) / caller.wall;
  const udpDrops = udpRcvbufErrors() - drops0;
  const proxyDrops = udpSocket(proxy.port).drops - proxyDrops0;
  // The backends write their counters once a second: wait for a row written after the last call.
  await sleep(1300);
  sampling = false;
  await sampler;
  const endMem = treeMemoryMB(processTree(proxy.pid));
  const after = backends.map((b) => b.counts());
  const split = backends.map((b, i) => invitesOf(after[i]) - invitesOf(before[i]));
  const backendRetrans = backends.reduce((n, _b, i) => n + retransOf(after[i]) - retransOf(before[i]), 0);
  const backendUnexp = backends.reduce((n, _b, i) => n + unexpOf(after[i]) - unexpOf(before[i]), 0);
  const retransmissions = retransOf(caller.counts) + backendRetrans;
  const attempted = caller.attempted;
  const cpuSeconds = cpu1.total - cpu0.total;
  // Calls/s over the time sipp took to place them and see them end (at least the nominal duration).
  // the last call starts at `seconds` and lasts its ringing and holding: not part of the rate
  const achieved = caller.succeeded / Math.max(caller.wall - (HOLD_MS + RING_MS) / 1000, seconds);
  const retransPct = attempted > 0 ? (100 * retransmissions) / attempted : 0;
  const step = {
    proxy: proxy.name,
    mode: MODE,
    transport: TRANSPORT,
    rate,
    seconds,
    attempted,
    succeeded: caller.succeeded,
    // Every call that did not succeed, including any sipp never placed or left open at its timeout.
    failed: Math.max(caller.failed, caller.calls - caller.succeeded),
    retransmissions,
    retransPct: round(retransPct, 2),
    unexpected: unexpOf(caller.counts) + backendUnexp,
    achievedCps: round(achieved, 1),
    wallSeconds: round(caller.wall, 2),
    inviteTo200Ms: caller.inviteTo200Ms === null ? null : round(caller.inviteTo200Ms, 1),
    cpuSeconds: round(cpuSeconds, 2),
    cpuPer1000: attempted > 0 ? round((1000 * cpuSeconds) / attempted, 3) : null,
    cpuCores: round(cpuSeconds / Math.max(caller.wall, seconds), 2),
    cpuUserSeconds: round(cpu1.user - cpu0.user, 2),
    cpuSystemSeconds: round(cpu1.system - cpu0.system, 2),
    sleepsPerCall: attempted > 0 ? round((sleeps1 - sleeps0) / attempted, 2) : null,
    // the busiest thread's share of a core (sipfront's JavaScript thread is "node" or "sipfront")
    topThreadCores: topThread?.cores ?? null,
    topThreadName: topThread?.name ?? null,
    topThreadWaited: topThread?.waited ?? null,
    otherCores: round(Math.max(0, otherCores), 2),
    fileRefaults: fileRefaults() - refaults0,
    udpRcvbufDrops: udpDrops,
    proxyUdpDrops: proxyDrops,
    proxyPeakRxQueueKB: round(peakRxQueue / 1024, 0),
    peakRssMB: round(peakRss, 1),
    peakPssMB: round(peakPss, 1),
    endPssMB: round(endMem.pss, 1),
    split,
    sippExit: caller.code,
    pssTimelineMB: pssTimeline,
  };
  step.clean = step.failed === 0 && attempted > 0 && retransPct < CLEAN_RETRANS_PCT && achieved >= CLEAN_MIN_ACHIEVED * rate;
  return step;
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// --- report -------------------------------------------------------------------------------------

function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.title.length, ...rows.map((r) => String(c.get(r) ?? '-').length)));
  const fmt = (cells) => cells.map((cell, i) => (columns[i].left ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  const lines = [fmt(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) lines.push(fmt(columns.map((c) => String(c.get(r) ?? '-'))));
  return lines.join('\n');
}

const STEP_COLUMNS = [
  { title: 'proxy', get: (s) => s.proxy, left: true },
  { title: 'rate', get: (s) => s.rate },
  { title: 'attempted', get: (s) => s.attempted },
  { title: 'ok', get: (s) => s.succeeded },
  { title: 'failed', get: (s) => s.failed },
  { title: 'retrans', get: (s) => `${s.retransmissions} (${s.retransPct}%)` },
  { title: 'calls/s', get: (s) => s.achievedCps },
  { title: 'INV→200 ms', get: (s) => s.inviteTo200Ms },
  { title: 'CPU s/1000', get: (s) => s.cpuPer1000?.toFixed(3) },
  { title: 'cores', get: (s) => s.cpuCores },
  { title: 'sys%', get: (s) => (s.cpuSeconds > 0 ? Math.round((100 * s.cpuSystemSeconds) / s.cpuSeconds) : '-') },
  { title: 'sleeps/call', get: (s) => s.sleepsPerCall ?? '-' },
  { title: 'top thread', get: (s) => (s.topThreadCores === null || s.topThreadCores === undefined ? '-' : `${s.topThreadCores} ${s.topThreadName}`) },
  { title: 'waited', get: (s) => s.topThreadWaited ?? '-' },
  { title: 'UDP drops', get: (s) => (s.transport === 'udp' ? `${s.proxyUdpDrops}/${s.udpRcvbufDrops}` : '-') },
  { title: 'rxq KB', get: (s) => (s.transport === 'udp' ? s.proxyPeakRxQueueKB : '-') },
  { title: 'RSS MB', get: (s) => s.peakRssMB },
  { title: 'PSS MB', get: (s) => s.peakPssMB },
  { title: 'split', get: (s) => s.split.join('/') },
  { title: 'clean', get: (s) => (s.clean ? 'yes' : 'NO') },
  { title: 'other', get: (s) => `${s.otherCores}${s.otherCores > BUSY_CORES ? '!' : ''}` },
  { title: 'refaults', get: (s) => s.fileRefaults },
];

/** the item whose `get` is the median (the lower middle of an even count); items where it is null are left out */
const middleBy = (items, get) => {
  const v = items.filter((x) => get(x) !== null && get(x) !== undefined).sort((a, b) => get(a) - get(b));
  return v.length === 0 ? undefined : v[(v.length - 1) >> 1];
};

/**
 * The highest rate clean in a majority of its runs (one run: that run); its figures are those of
 * the clean run with the median CPU per 1000 calls, and the highest PSS of its clean runs.
 */
function headline(steps, proxy) {
  const byRate = new Map();
  for (const s of steps) {
    if (s.proxy !== proxy) continue;
    if (!byRate.has(s.rate)) byRate.set(s.rate, []);
    byRate.get(s.rate).push(s);
  }
  let best = null;
  for (const [rate, runs] of byRate) {
    const clean = runs.filter((s) => s.clean);
    if (clean.length * 2 > runs.length && (best === null || rate > best.rate)) best = { rate, runs, clean };
  }
  if (best === null) return null;
  const mid = middleBy(best.clean, (s) => s.cpuPer1000) ?? best.clean[0];
  return {
    proxy,
    rate: best.rate,
    cleanRuns: `${best.clean.length}/${best.runs.length}`,
    achievedCps: mid.achievedCps,
    cpuPer1000: mid.cpuPer1000,
    peakPssMB: Math.max(...best.clean.map((s) => s.peakPssMB)),
    peakRssMB: Math.max(...best.clean.map((s) => s.peakRssMB)),
  };
}

// --- CPU profile summary ------------------------------------------------------------------------------

function summariseProfile(file, top = 25) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const sampled = new Map();
  const deltas = prof.timeDeltas ?? [];
  for (let i = 0; i < prof.samples.length; i++) sampled.set(prof.samples[i], (sampled.get(prof.samples[i]) ?? 0) + (deltas[i] ?? 0));
  const label = (n) => {
    const cf = n.callFrame;
    const url = cf.url.replace(`file://${ROOT}/`, '').replace(/^file:\/\//, '').replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '');
    return `${cf.functionName || '(anonymous)'}${url ? `  ${url}:${cf.lineNumber + 1}` : ''}`;
  };
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of sampled) {
    total += us;
    const n = byId.get(id);
    if (n.callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    self.set(label(n), (self.get(label(n)) ?? 0) + us);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = label(byId.get(cur));
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const topOf = (m, n, keep = () => true) => [...m.entries()].filter(([k]) => keep(k)).sort((x, y) => y[1] - x[1]).slice(0, n);
  return [
    `${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy; percentages are of busy time`,
    'top self time:',
    ...topOf(self, top).map(([k, us]) => `  ${pct(us)}  ${k}`),
    'top inclusive time in sipfront code:',
    ...topOf(inclusive, 20, (k) => k.includes('packages/')).map(([k, us]) => `  ${pct(us)}  ${k}`),
  ].join('\n');
}

/** One line naming the run, for files written beside the JSON. */
function result0Header() {
  return `pnpm bench ${process.argv.slice(2).join(' ')}  (${new Date().toISOString()}, ${os.cpus().length} cores, node ${process.version})`;
}

// --- the phases of a run -----------------------------------------------------------------------------

/** A few calls each, to prove the path before loading it (destinations up, routes right). */
async function preflight(runDir, proxies) {
  for (const p of proxies) {
    let ok = false;
    for (let i = 0; i < 10 && !ok; i++) {
      const r = await runCaller(runDir, `preflight-${p.name}-${i}`, p.port, 5, 1);
      ok = r.succeeded === r.calls;
      if (!ok) await sleep(1000);
    }
    if (!ok) throw new Error(`${p.name}: test calls fail before the bench starts (see ${runDir})`);
  }
}

/** Other sessions' tests and builds share these cores: wait (bounded) for them to calm down. */
async function waitForQuiet() {
  const quietUntil = Date.now() + QUIET_WAIT_S * 1000;
  let other = await otherLoad(2000);
  while (other > BUSY_CORES && Date.now() < quietUntil) {
    log(`bench: the machine is busy (${other.toFixed(2)} cores used by other processes); waiting up to ${QUIET_WAIT_S} s`);
    other = await otherLoad(5000);
  }
  if (other > BUSY_CORES) log(`bench: still busy (${other.toFixed(2)} cores); measuring anyway — see the 'other' column`);
}

async function warmUp(runDir, proxies, backends, warmups) {
  if (WARMUP <= 0) return;
  for (const p of proxies) {
    log(`bench: warm-up ${p.name}: ${WARMUP} s at ${WARMUP_RATE} calls/s`);
    const w = await measure(runDir, p, backends, WARMUP_RATE, WARMUP, `warmup-${p.name}`);
    warmups.push(w);
    await settle(p, 10_000);
  }
}

function logStep(p, rate, step, nameWidth = 8) {
  log(`  ${p.name.padEnd(nameWidth)} ${String(rate).padStart(5)}/s: ${step.succeeded}/${step.attempted} ok, ${step.failed} failed, ` +
    `${step.retransmissions} retrans (${step.retransPct}%), ${step.achievedCps} calls/s, ` +
    `${step.cpuPer1000 ?? '-'} CPU s/1000, PSS ${step.peakPssMB} MB${step.split.length > 0 ? `, split ${step.split.join('/')}` : ''}${step.clean ? '' : '  [not clean]'}`);
}

// --- overheads (--overhead) ---------------------------------------------------------------------------

/**
 * Seconds of calls at the run's rate just before each overhead run, not measured (their
 * transactions end 64·T1 later, after the run: with DURATION above ~25 s they would end in it,
 * and the runs' figures would carry them alike, on and off). A sipfront left idle
 * for a minute (the other's runs) loses much of its optimized code: once its last transactions
 * have ended, a major collection frees the hidden classes that code was specialised for ("marking
 * dependent code for deoptimization, reason: weak objects" under --trace-deopt, 59–73 functions at
 * once here), and the next run begins by compiling them again, about twice the CPU for its first
 * two or three seconds. Whether such a collection fell in the idle time decided a run: in three
 * of four A/A and on/off runs of 1,000 calls/s before this, the first run after the warm-up and
 * the last run (both after the longest idle) were their proxy's highest of three (up to 20 %
 * above the others), whichever sipfront they measured.
 */
const PREWARM_S = 3;
/** Runs of each state per rate (the contract's three; more with --rounds); the contract's limit on a feature's CPU per 1000 calls. */
const OVERHEAD_ROUNDS = opt.rounds === '1' ? 3 : ROUNDS;
const OVERHEAD_MAX_PCT = 5;

/** what the "on" sipfront of a feature or an A/B option runs with (see startSipfront) */
const onVariantOf = (name) => (name === 'node-arg' ? { nodeArgs: AB_NODE_ARGS } : name === 'cli' ? { cli: AB_CLI } : name === 'yaml' ? { yaml: AB_YAML } : {});

/**
 * One feature: sipfront with it on (the generated config) and off, side by side, three rounds per
 * rate whose order alternates (on off, off on, on off) so that drift cancels out. Before each run
 * both wait for their transactions to end (drain), then the run's proxy takes PREWARM_S of calls:
 * each run measures its own calls alone, on warm code. Steps carry `overhead: { name, state,
 * round }` and `drainMs` (the wait before the run).
 */
async function runOverhead(runDir, backends, name, proxies, steps, warmups) {
  const onVariant = onVariantOf(name);
  const on = await startSipfront(runDir, backends, `${name}-on`, onVariant);
  proxies.push(on);
  const off = await startSipfront(runDir, backends, `${name}-off`, OVERHEAD_OFF[name]);
  proxies.push(off);
  const pair = [on, off];
  await preflight(runDir, pair);
  await waitForQuiet();
  await warmUp(runDir, pair, backends, warmups);
  let turn = 0;
  for (const rate of RATES) {
    for (let round = 1; round <= OVERHEAD_ROUNDS; round++) {
      const order = turn++ % 2 === 0 ? pair : [off, on];
      for (const p of order) {
        // each run begins on a quiet pair (no transaction of an earlier run left to end during it,
        // see drain) and on a warm proxy: a few seconds of the same calls just before, not measured,
        // whose own transactions end after the run (PREWARM_S)
        const t0 = Date.now();
        for (const q of pair) await drain(q);
        const drainMs = Date.now() - t0;
        await measure(runDir, p, backends, rate, PREWARM_S, `overhead-${rate}-${round}-${p.name}-prewarm`);
        const step = await measure(runDir, p, backends, rate, DURATION, `overhead-${rate}-${round}-${p.name}`);
        step.overhead = { name, state: p === on ? 'on' : 'off', round };
        step.drainMs = drainMs;
        steps.push(step);
        logStep(p, rate, step, 12);
      }
    }
  }
  for (const p of pair) await p.stop().catch(() => undefined);
}

/**
 * Seconds of alternating slices before the sliced runs: a stateful call's transactions rest 64·T1 =
 * 32 s, so each proxy must end as many as it starts; and after 40 s (20 s of each one's calls) the
 * first run was still each proxy's highest of three by 5–25 % in two runs here, the second and
 * third within a few percent of each other.
 */
const SLICED_WARMUP_S = 90;

/**
 * One feature, sliced (the default): the two sipfronts take the calls in turns of SLICE_S seconds
 * (on off off on, on off off on, …) without a pause from the warm-up to the last run, and each run
 * is a window of that sequence holding DURATION seconds of each proxy's calls; a proxy's CPU is
 * read at the window's edges, so it holds all the proxy did in it: its calls, the endings of its
 * earlier calls' transactions, its timers and collections. Neither is ever idle long: in whole
 * runs each one waited a minute or more while the other ran, and came back to recompile its code
 * (see PREWARM_S); and what the machine does differs from one minute to the next, where on and
 * off now meet it within seconds of each other. Steps carry `overhead: { name, state, round }`,
 * `slices` and `windowSeconds`.
 */
async function runOverheadSliced(runDir, backends, name, proxies, steps, warmups) {
  const onVariant = onVariantOf(name);
  const same = name === 'trace' && TRACE_SAME_PROCESS;
  // one process stands for both sides: nothing of two processes to spread over the runs
  const fresh = FRESH && !same;
  let on;
  let off;
  let pair = [];
  /** the processes under the pair (one when `same`) */
  let procs = [];
  let pairsStarted = 0;
  // `same`: each side stands for the one proxy (its port, pid, API) with its capture and the CPU
  // and collector pauses of its own turns, summed
  const side = (proxy, state, capture) => Object.assign(Object.create(proxy), { name: `${name}-${state}`, capture, acc: { total: 0, user: 0, system: 0 }, accGc: {} });
  const startPair = async () => {
    if (same) {
      const proxy = await startSipfront(runDir, backends, name, {});
      proxies.push(proxy);
      procs = [proxy];
      on = side(proxy, 'on', 'all');
      off = side(proxy, 'off', 'off');
    } else {
      // a new pair each run (fresh): on and off started first in turn
      const offFirst = fresh && pairsStarted % 2 === 1;
      if (offFirst) off = await startSipfront(runDir, backends, `${name}-off`, OVERHEAD_OFF[name]);
      on = await startSipfront(runDir, backends, `${name}-on`, onVariant);
      if (!offFirst) off = await startSipfront(runDir, backends, `${name}-off`, OVERHEAD_OFF[name]);
      proxies.push(on, off);
      procs = [on, off];
    }
    pairsStarted++;
    pair = [on, off];
    await preflight(runDir, procs);
    await waitForQuiet();
  };
  const stopPair = async () => {
    for (const p of procs) await p.stop().catch(() => undefined);
  };
  /** what a side has used so far: its process's, or (`same`) its turns' */
  const cpuOf = (p) => (same ? { ...p.acc } : treeCpu(processTree(p.pid)));
  const gcOf = async (p) => (same ? { ...p.accGc } : gcSeconds(p));
  let k = 0;
  // on off off on: each proxy's slices of a run sit as often early as late in it
  const next = () => (k++ % 4 === 0 || (k - 1) % 4 === 3 ? on : off);
  const slice = async (rate, label) => {
    const p = next();
    if (!same) return { p, caller: await runCaller(runDir, `${label}-${k}-${p.name}`, p.port, rate, SLICE_S) };
    const g0 = await gcSeconds(p);
    const c0 = treeCpu(processTree(p.pid));
    await setCapture(p, p.capture);
    const caller = await runCaller(runDir, `${label}-${k}-${p.name}`, p.port, rate, SLICE_S);
    const c1 = treeCpu(processTree(p.pid));
    const g1 = await gcSeconds(p);
    p.acc.total += c1.total - c0.total;
    p.acc.user += c1.user - c0.user;
    p.acc.system += c1.system - c0.system;
    if (g0 !== null && g1 !== null) for (const kind of Object.keys(g1)) p.accGc[kind] = (p.accGc[kind] ?? 0) + g1[kind] - (g0[kind] ?? 0);
    return { p, caller };
  };
  const warmUpSliced = async (rate) => {
    const warmSlices = 4 * Math.ceil(Math.max(SLICED_WARMUP_S, 2 * WARMUP) / (4 * SLICE_S));
    log(`bench: warm-up ${name}: ${warmSlices} slices of ${SLICE_S} s at ${rate} calls/s, on and off in turns`);
    const wu = [];
    for (let i = 0; i < warmSlices; i++) wu.push(await slice(rate, `overhead-${rate}-warmup`));
    for (const p of pair) {
      const mine = wu.filter((w) => w.p === p).map((w) => w.caller);
      warmups.push({ proxy: p.name, rate, seconds: mine.length * SLICE_S, attempted: sum(mine, 'attempted'), succeeded: sum(mine, 'succeeded'), failed: sum(mine, 'failed') });
    }
  };
  if (!fresh) await startPair();
  for (const rate of RATES) {
    if (!fresh) await warmUpSliced(rate);
    const perRun = 2 * (DURATION / SLICE_S);
    for (let r = 1; r <= OVERHEAD_ROUNDS; r++) {
      if (fresh) {
        // a new pair each run (FRESH, above)
        await startPair();
        await warmUpSliced(rate);
      }
      const pidsOf = (p) => processTree(p.pid);
      const gc0 = await Promise.all(pair.map(gcOf));
      const cpu0 = pair.map(cpuOf);
      const back0 = backends.map((b) => b.counts());
      const machine0 = machineBusySeconds();
      const ours0 = treeCpuSeconds(processTree(process.pid));
      const refaults0 = fileRefaults();
      const drops0 = udpRcvbufErrors();
      const proxyDrops0 = pair.map((p) => udpSocket(p.port).drops);
      const peak = pair.map(() => ({ rss: 0, pss: 0 }));
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          pair.forEach((p, i) => {
            const m = treeMemoryMB(pidsOf(p));
            peak[i].rss = Math.max(peak[i].rss, m.rss);
            peak[i].pss = Math.max(peak[i].pss, m.pss);
          });
          await sleep(1000);
        }
      })();
      const t0 = now();
      const done = [];
      for (let i = 0; i < perRun; i++) done.push(await slice(rate, `overhead-${rate}-${r}`));
      const wall = now() - t0;
      const cpu1 = pair.map(cpuOf);
      const gc1 = await Promise.all(pair.map(gcOf));
      const otherCores = (machineBusySeconds() - machine0 - (treeCpuSeconds(processTree(process.pid)) - ours0)) / wall;
      sampling = false;
      await sampler;
      // the backends write their counters once a second: their retransmissions and unexpected
      // messages in the window are both proxies' (they serve both), counted against each
      const back1 = backends.map((b) => b.counts());
      const backendRetrans = backends.reduce((n, _b, i) => n + retransOf(back1[i]) - retransOf(back0[i]), 0);
      const backendUnexp = backends.reduce((n, _b, i) => n + unexpOf(back1[i]) - unexpOf(back0[i]), 0);
      pair.forEach((p, i) => {
        const callers = done.filter((d) => d.p === p).map((d) => d.caller);
        const attempted = sum(callers, 'attempted');
        const succeeded = sum(callers, 'succeeded');
        const callerRetrans = callers.reduce((n, c) => n + retransOf(c.counts), 0);
        const retransmissions = callerRetrans + backendRetrans;
        const retransPct = attempted > 0 ? (100 * retransmissions) / attempted : 0;
        const busy = callers.reduce((t, c) => t + Math.max(c.wall - (HOLD_MS + RING_MS) / 1000, SLICE_S), 0);
        const achieved = succeeded / busy;
        const cpuSeconds = cpu1[i].total - cpu0[i].total;
        const step = {
          proxy: p.name,
          mode: MODE,
          transport: TRANSPORT,
          rate,
          seconds: callers.length * SLICE_S,
          slices: callers.length,
          windowSeconds: round(wall, 2),
          attempted,
          succeeded,
          failed: callers.reduce((n, c) => n + Math.max(c.failed, c.calls - c.succeeded), 0),
          retransmissions,
          retransPct: round(retransPct, 2),
          unexpected: callers.reduce((n, c) => n + unexpOf(c.counts), 0) + backendUnexp,
          achievedCps: round(achieved, 1),
          wallSeconds: round(sum(callers, 'wall'), 2),
          cpuSeconds: round(cpuSeconds, 2),
          cpuPer1000: attempted > 0 ? round((1000 * cpuSeconds) / attempted, 4) : null,
          // over the whole window, the other proxy's slices included
          cpuCores: round(cpuSeconds / wall, 2),
          cpuUserSeconds: round(cpu1[i].user - cpu0[i].user, 2),
          cpuSystemSeconds: round(cpu1[i].system - cpu0[i].system, 2),
          // the collector's pauses in the window, seconds by kind (major, minor, incremental, weakcb)
          gcSeconds: gc0[i] === null || gc1[i] === null || Object.keys(gc1[i]).length === 0 ? null : Object.fromEntries(Object.keys(gc1[i]).map((kind) => [kind, round(gc1[i][kind] - (gc0[i][kind] ?? 0), 3)])),
          otherCores: round(Math.max(0, otherCores), 2),
          fileRefaults: fileRefaults() - refaults0,
          udpRcvbufDrops: udpRcvbufErrors() - drops0,
          proxyUdpDrops: udpSocket(p.port).drops - proxyDrops0[i],
          peakRssMB: round(peak[i].rss, 1),
          peakPssMB: round(peak[i].pss, 1),
          // the backends serve both proxies: their INVITEs per backend are not told apart here
          split: [],
          sippExit: callers.find((c) => c.code !== 0)?.code ?? 0,
          overhead: { name, state: p === on ? 'on' : 'off', round: r },
        };
        step.clean = step.failed === 0 && attempted > 0 && retransPct < CLEAN_RETRANS_PCT && achieved >= CLEAN_MIN_ACHIEVED * rate;
        steps.push(step);
        logStep(p, rate, step, 12);
      });
      if (fresh) await stopPair();
    }
  }
  if (!fresh) await stopPair();
}

const sum = (xs, key) => xs.reduce((n, x) => n + x[key], 0);

/** Mean CPU s per 1000 calls on vs off at one rate, and the overhead in percent of off. */
function overheadResult(steps, name, rate) {
  const runs = steps.filter((s) => s.overhead?.name === name && s.rate === rate);
  const cpuOf = (state) => runs.filter((s) => s.overhead.state === state).map((s) => s.cpuPer1000);
  const mean = (xs) => {
    const v = xs.filter((x) => x !== null);
    return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
  };
  const on = cpuOf('on');
  const off = cpuOf('off');
  const pssOf = (state) => runs.filter((s) => s.overhead.state === state).map((s) => s.peakPssMB);
  const meanOn = mean(on);
  const meanOff = mean(off);
  const pct = meanOn !== null && meanOff !== null && meanOff > 0 ? (meanOn / meanOff - 1) * 100 : null;
  // each round's pair (the runs next to each other): one slow moment of the machine moves one pair
  const pairs = [];
  for (let r = 1; r <= OVERHEAD_ROUNDS; r++) {
    const a = runs.find((s) => s.overhead.round === r && s.overhead.state === 'on')?.cpuPer1000;
    const b = runs.find((s) => s.overhead.round === r && s.overhead.state === 'off')?.cpuPer1000;
    if (a != null && b != null && b > 0) pairs.push(round((a / b - 1) * 100, 2));
  }
  // the median as the --vs kamailio ratios take it (the lower middle of an even count)
  const medianPair = middleBy(pairs, (x) => x) ?? null;
  return {
    name,
    rate,
    on,
    off,
    meanOn: meanOn === null ? null : round(meanOn, 4),
    meanOff: meanOff === null ? null : round(meanOff, 4),
    overheadPct: pct === null ? null : round(pct, 2),
    pairPcts: pairs,
    medianPairPct: medianPair,
    meanPssOnMB: mean(pssOf('on')) === null ? null : round(mean(pssOf('on')), 1),
    meanPssOffMB: mean(pssOf('off')) === null ? null : round(mean(pssOf('off')), 1),
    withinContract: pct === null ? null : pct <= OVERHEAD_MAX_PCT,
    // every run clean and the machine quiet: otherwise the figures are doubtful
    allClean: runs.every((s) => s.clean),
    quiet: runs.every((s) => s.otherCores <= BUSY_CORES),
  };
}

const OVERHEAD_COLUMNS = [
  { title: 'rate', get: (s) => s.rate },
  { title: 'round', get: (s) => s.overhead.round },
  { title: 'state', get: (s) => s.overhead.state, left: true },
  { title: 'attempted', get: (s) => s.attempted },
  { title: 'ok', get: (s) => s.succeeded },
  { title: 'failed', get: (s) => s.failed },
  { title: 'retrans', get: (s) => `${s.retransmissions} (${s.retransPct}%)` },
  { title: 'calls/s', get: (s) => s.achievedCps },
  { title: 'CPU s/1000', get: (s) => s.cpuPer1000?.toFixed(3) },
  { title: 'cores', get: (s) => s.cpuCores },
  // the collector's pauses per 1000 calls, sliced runs only (their windows read them from /metrics)
  { title: 'GC s/1000', get: (s) => (s.gcSeconds == null || !(s.attempted > 0) ? '-' : ((1000 * Object.values(s.gcSeconds).reduce((a, b) => a + b, 0)) / s.attempted).toFixed(4)) },
  { title: 'PSS MB', get: (s) => s.peakPssMB },
  { title: 'clean', get: (s) => (s.clean ? 'yes' : 'NO') },
  { title: 'other', get: (s) => `${s.otherCores}${s.otherCores > BUSY_CORES ? '!' : ''}` },
  { title: 'refaults', get: (s) => s.fileRefaults },
];

function overheadLine(o) {
  if (o.overheadPct === null) return `  ${o.rate}/s: no CPU figures`;
  const verdict = o.withinContract ? `within the contract (≤ ${OVERHEAD_MAX_PCT}%)` : `OVER the contract's ${OVERHEAD_MAX_PCT}%`;
  const doubt = [!o.allClean && 'not every run clean', !o.quiet && 'the machine was busy'].filter(Boolean).join(', ');
  const pss = o.meanPssOnMB === null || o.meanPssOffMB === null ? '' : `; mean peak PSS on ${o.meanPssOnMB} MB, off ${o.meanPssOffMB} MB`;
  const sign = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
  const pairs = o.pairPcts.length === 0 ? '' : `; round by round ${o.pairPcts.map(sign).join(', ')} (median ${sign(o.medianPairPct)})`;
  return `  ${o.rate}/s: mean CPU s/1000 on ${o.meanOn.toFixed(4)}, off ${o.meanOff.toFixed(4)}: overhead ` +
    `${o.overheadPct >= 0 ? '+' : ''}${o.overheadPct.toFixed(2)}%${o.name === 'node-arg' || o.name === 'cli' || o.name === 'yaml' ? '' : `, ${verdict}`}${pairs}${pss}${doubt ? ` (doubtful: ${doubt})` : ''}`;
}

// --- main ---------------------------------------------------------------------------------------------

async function main() {
  if (spawnSync('sipp', ['-v'], { encoding: 'utf8' }).error) fail('sipp is not installed (Debian package sip-tester)');
  if (!opt['no-build'] && SIPFRONT_CLI === DEFAULT_SIPFRONT_CLI) {
    const r = spawnSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) fail('tsc -b failed (use --no-build to bench the existing dist/)');
  }
  if (!existsSync(SIPFRONT_CLI)) fail(`${SIPFRONT_CLI} is missing: build first (npx tsc -b)`);
  if (AB_CLI !== undefined && !existsSync(AB_CLI)) fail(`--ab-cli: ${AB_CLI} is missing`);
  const vsKamailio = opt.vs === 'kamailio';
  if (vsKamailio) ensureKamailio();

  mkdirSync(RESULTS_DIR, { recursive: true });
  const runDir = mkdtempSync(join(os.tmpdir(), 'sipfront-bench-'));
  const nProxies = vsKamailio ? 2 : 1;
  const perRun = DURATION + 6;
  // a slice takes sipp's start and its last calls' end besides its seconds: ~0.4 s
  const sliceWall = SLICE_S + 0.4;
  const estimate = OVERHEADS.length > 0 && SLICED
    ? OVERHEADS.reduce((t, name) => {
      const fresh = FRESH && !(name === 'trace' && TRACE_SAME_PROCESS);
      return t + RATES.length * (fresh ? OVERHEAD_ROUNDS : 1) * (12 + (Math.ceil(Math.max(SLICED_WARMUP_S, 2 * WARMUP) / SLICE_S) + (fresh ? 1 : OVERHEAD_ROUNDS) * 2 * (DURATION / SLICE_S)) * sliceWall);
    }, 0) + 30
    : OVERHEADS.length > 0
    ? OVERHEADS.length * 2 * (WARMUP + 6 + RATES.length * OVERHEAD_ROUNDS * (perRun + PREWARM_S + 6 + (MODE === 'stateful' ? 34 : 0))) + 30
    : nProxies * (WARMUP + 6 + ROUNDS * RATES.length * perRun) + 30;
  // each run may wait up to SETTLE_MS after it for its proxy to go quiet: at low rates that ends
  // at once, at the top rates it adds up to SETTLE_MS a run
  // (overhead runs drain instead: counted in the estimate)
  const settleRuns = OVERHEADS.length > 0 ? 0 : nProxies * ROUNDS * RATES.length;
  const settleS = (settleRuns * SETTLE_MS) / 1000;
  const overheadText = OVERHEADS.length > 0 ? `, overhead of ${OVERHEADS.join(' and ')}: on vs off, ${OVERHEAD_ROUNDS} alternating runs each${SLICED ? ` (turns of ${SLICE_S} s)` : ''}` : '';
  log(`bench: ${MODE} ${TRANSPORT}, rates ${RATES.join(', ')} calls/s, ${DURATION} s each, warm-up ${SLICED ? `${Math.max(SLICED_WARMUP_S, 2 * WARMUP)} s in turns at the rate` : `${WARMUP} s at ${WARMUP_RATE}/s`}` +
    `${RING_MS > 0 ? `, backends ring ${RING_MS} ms` : ''}${HOLD_MS > 0 ? `, calls held ${HOLD_MS} ms` : ''}${vsKamailio ? ', vs Kamailio (alternating)' : ''}${ROUNDS > 1 ? `, ${ROUNDS} rounds` : ''}${overheadText}; about ${Math.ceil(estimate / 60)} min${settleS > 0 ? ` (up to ${Math.ceil((estimate + settleS) / 60)} with the settle after each step)` : ''}; files in ${runDir}`);

  const backends = [];
  const proxies = [];
  const steps = [];
  const warmups = [];
  let profileSummary = null;
  try {
    // Backends live for the whole run (bounded by -timeout); each step reads deltas of their counters.
    // (their lifetime counts every run's settle)
    const lifetime = estimate * 2 + settleS + 120;
    for (const name of ['backend-a', 'backend-b']) backends.push(await startBackend(runDir, name, await freePort(), lifetime));
    if (OVERHEADS.length > 0) {
      // --overhead: one feature after the other, each with its own pair of sipfronts.
      for (const name of OVERHEADS) await (SLICED ? runOverheadSliced : runOverhead)(runDir, backends, name, proxies, steps, warmups);
    } else {
      proxies.push(await startSipfront(runDir, backends));
      if (vsKamailio) proxies.push(await startKamailio(runDir, backends));
      await preflight(runDir, proxies);
      await waitForQuiet();
      await warmUp(runDir, proxies, backends, warmups);

      const stopped = new Set();
      // every rate once a round
      const schedule = [];
      for (let round = 1; round <= ROUNDS; round++) for (const rate of RATES) schedule.push({ round, rate });
      for (let n = 0; n < schedule.length; n++) {
        const { round: r, rate } = schedule[n];
        // a proxy that could not carry a rate stops for the rest of that round only: each round
        // steps up from the first rate again (before, the first round's failure ended the run)
        if (n > 0 && schedule[n - 1].round !== r) stopped.clear();
        // Alternate who goes first, so neither always runs on a machine warmed by the other.
        const order = n % 2 === 0 ? proxies : [...proxies].reverse();
        for (const p of order) {
          if (stopped.has(p.name)) continue;
          const step = await measure(runDir, p, backends, rate, DURATION, `step-${rate}-${p.name}${ROUNDS > 1 ? `-r${r}` : ''}`);
          step.round = r;
          steps.push(step);
          logStep(p, rate, step);
          if (!step.clean && !opt['keep-going'] && (step.failed > 0.01 * step.attempted || step.achievedCps < 0.8 * rate)) {
            stopped.add(p.name);
            log(`  ${p.name}: stops stepping${ROUNDS > 1 ? ` in round ${r}` : ''} (failed or could not carry ${rate}/s)`);
          }
          // Let transactions and timers of the last step run out (a collapsed step can leave many).
          await settle(p, SETTLE_MS);
        }
        if (stopped.size === proxies.length) {
          // both stopped: on to the next round's first rate
          while (n + 1 < schedule.length && schedule[n + 1].round === r) n++;
        }
      }
    }
  } finally {
    for (const p of proxies) await p.stop().catch(() => undefined);
    for (const b of backends) await stopChild(b.child, 'SIGUSR1', 5000);
    dropRedisKeys();
  }

  const sipfront = proxies.find((p) => p.name === 'sipfront');
  if (opt['cpu-prof'] && sipfront) {
    const files = existsSync(sipfront.profDir) ? readdirSync(sipfront.profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (files.length === 0) {
      log(`bench: no .cpuprofile in ${sipfront.profDir}`);
    } else {
      profileSummary = files.map((f, i) => `bench/results/prof/sipfront${i === 0 ? '' : `-${i}`}.cpuprofile\n${summariseProfile(join(sipfront.profDir, f))}`).join('\n\n');
      // The latest profile only (open it in Chrome DevTools or speedscope); the summary beside it.
      const dest = join(RESULTS_DIR, 'prof');
      mkdirSync(dest, { recursive: true });
      for (const old of readdirSync(dest)) if (old.endsWith('.cpuprofile')) rmSync(join(dest, old));
      files.forEach((f, i) => writeFileSync(join(dest, `sipfront${i === 0 ? '' : `-${i}`}.cpuprofile`), readFileSync(join(sipfront.profDir, f))));
      writeFileSync(join(dest, 'summary.txt'), `${result0Header()}\n${profileSummary}\n`);
    }
  }

  // --- report ---
  log('');
  log(`steps (${MODE}, ${TRANSPORT}; CPU = the proxy's processes, user+system; PSS/RSS = peak during the step; split = INVITEs per backend;\n UDP drops = at the proxy's socket / on the machine; rxq = peak bytes waiting in the proxy's UDP socket):`);
  log(table(steps, STEP_COLUMNS));
  const heads = proxies.map((p) => headline(steps, p.name) ?? { proxy: p.name, rate: null });
  log('');
  const busySteps = steps.filter((s) => s.otherCores > BUSY_CORES);
  if (busySteps.length > 0) {
    log(`warning: other processes used more than ${BUSY_CORES} cores during ${busySteps.length} step(s) (column 'other', marked !): those figures are doubtful`);
  }
  log(`headline: the highest step with 0 failed calls, < ${CLEAN_RETRANS_PCT}% retransmissions and ≥ ${CLEAN_MIN_ACHIEVED * 100}% of the rate carried${ROUNDS > 1 ? ', in a majority of its runs' : ''}`);
  for (const h of heads) {
    log(h.rate === null
      ? `  ${h.proxy}: no clean step`
      : `  ${h.proxy}: ${h.rate} calls/s clean${h.cleanRuns === '1/1' ? '' : ` in ${h.cleanRuns} runs`} (${h.achievedCps} achieved), ${h.cpuPer1000} CPU s per 1000 calls, peak PSS ${h.peakPssMB} MB (RSS ${h.peakRssMB} MB)`);
  }
  const overheads = OVERHEADS.flatMap((name) => RATES.map((rate) => overheadResult(steps, name, rate)));
  for (const name of OVERHEADS) {
    log('');
    const offText = { trace: TRACE_SAME_PROCESS ? 'the same sipfront, its capture switched to off by PUT /api/v1/trace for its turns' : 'trace: { capture: off }', security: 'security: { enabled: false }', 'node-arg': 'without them', cli: SIPFRONT_CLI, yaml: 'the generated config' }[name];
    const title = name === 'node-arg' ? `A/B of node ${AB_NODE_ARGS.join(' ')}` : name === 'cli' ? 'A/B of two builds' : name === 'yaml' ? 'A/B of a config setting' : `overhead of ${name}`;
    const onText = name === 'node-arg' ? 'with the options' : name === 'cli' ? AB_CLI : name === 'yaml' ? `the generated config and ${AB_YAML}` : 'the generated config';
    log(`${title} (${name}-on: ${onText}; ${name}-off: ${offText}),` +
      ` CPU s per 1000 calls of the proxy's processes${name === 'trace' && TRACE_SAME_PROCESS ? ' in their turns' : ''}, runs in the order they ran:`);
    log(table(steps.filter((s) => s.overhead?.name === name), OVERHEAD_COLUMNS));
    for (const o of overheads.filter((x) => x.name === name)) log(overheadLine(o));
  }
  let ratios = [];
  if (vsKamailio) {
    // a rate's runs paired in the order they ran (one pair a round); the medians of the pairs
    ratios = [...new Set(RATES)].map((rate) => {
      const ss = steps.filter((x) => x.proxy === 'sipfront' && x.rate === rate);
      const ks = steps.filter((x) => x.proxy === 'kamailio' && x.rate === rate);
      const pairs = Math.min(ss.length, ks.length);
      if (pairs === 0) return null;
      const each = [];
      for (let j = 0; j < pairs; j++) {
        const s = ss[j];
        const k = ks[j];
        each.push({
          cps: k.achievedCps > 0 ? s.achievedCps / k.achievedCps : null,
          cpu: k.cpuPer1000 > 0 && s.cpuPer1000 !== null ? s.cpuPer1000 / k.cpuPer1000 : null,
          pss: k.peakPssMB > 0 ? s.peakPssMB / k.peakPssMB : null,
          both: s.clean && k.clean,
        });
      }
      const med = (key) => {
        const m = middleBy(each, (e) => e[key]);
        return m === undefined ? null : round(m[key], 2);
      };
      const both = each.filter((e) => e.both).length;
      return { rate, pairs, cpsRatio: med('cps'), cpuRatio: med('cpu'), pssRatio: med('pss'), bothClean: both * 2 > pairs, bothCleanRuns: `${both}/${pairs}` };
    }).filter(Boolean);
    log('');
    log(`sipfront ÷ kamailio per step${ROUNDS > 1 ? `, medians of the ${ROUNDS} rounds` : ''} (calls/s higher is better; CPU per 1000 calls and PSS lower is better):`);
    log(table(ratios, [
      { title: 'rate', get: (r) => r.rate },
      { title: 'calls/s ratio', get: (r) => r.cpsRatio },
      { title: 'CPU/1000 ratio', get: (r) => r.cpuRatio },
      { title: 'PSS ratio', get: (r) => r.pssRatio },
      { title: 'both clean', get: (r) => (r.pairs === 1 ? (r.bothClean ? 'yes' : 'no') : r.bothCleanRuns) },
    ]));
  }
  if (profileSummary) {
    log('');
    log(`sipfront CPU profile (whole run, warm-up included; files in bench/results/prof/):\n${profileSummary}`);
  }

  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  const result = {
    date: new Date().toISOString(),
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      memoryGB: round(os.totalmem() / 2 ** 30, 1),
      kernel: os.release(),
      node: process.version,
      sipp: commandVersion('sipp', ['-v'], /SIPp (v[\w.-]*\w)/),
      kamailio: vsKamailio ? commandVersion('kamailio', ['-v'], /version: kamailio ([\d.]+)/) : null,
    },
    git: { commit: git(['rev-parse', 'HEAD']), dirty: (git(['status', '--porcelain']) ?? '') !== '' },
    options: {
      mode: MODE,
      transport: TRANSPORT,
      rates: RATES,
      durationSeconds: DURATION,
      rounds: ROUNDS,
      warmupSeconds: WARMUP,
      warmupRate: WARMUP_RATE,
      holdMs: HOLD_MS,
      ringMs: RING_MS,
      workers: opt.workers ?? null,
      proxySessions: OWN_SESSION ? 'own' : 'shared',
      sipfrontYaml: opt['sipfront-yaml'] ?? null,
      sipfrontCli: SIPFRONT_CLI === DEFAULT_SIPFRONT_CLI ? null : SIPFRONT_CLI,
      kamailioChildren: vsKamailio ? KAMAILIO_CHILDREN : null,
      overheads: OVERHEADS,
      cpuProfile: opt['cpu-prof'],
      serverNodeOptions: SERVER_NODE_OPTIONS,
      nodeArgs: opt['node-arg'],
      abNodeArgs: AB_NODE_ARGS,
      abCli: AB_CLI ?? null,
      abYaml: AB_YAML ?? null,
      clean: { failed: 0, retransPctBelow: CLEAN_RETRANS_PCT, achievedAtLeast: CLEAN_MIN_ACHIEVED },
    },
    headline: heads,
    ratios,
    overheads,
    warmups,
    steps,
  };
  const text = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(RESULTS_DIR, 'latest.json'), text);
  if (opt.json) writeFileSync(resolve(process.cwd(), opt.json), text);
  log('');
  log(`results: bench/results/latest.json${opt.json ? ` and ${opt.json}` : ''}`);
  if (!opt.keep) rmSync(runDir, { recursive: true, force: true });
  else log(`run files kept in ${runDir}`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
});
