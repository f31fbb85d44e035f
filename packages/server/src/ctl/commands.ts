// The commands of `sipfront ctl`, each a thin adapter from words on the command line to one or
// two REST calls (CONTRACT.md, REST API) and back to a table or the API's JSON.
import type { ApiClient } from './client.js';
import { CtlError } from './errors.js';
import { ago, duration, json, pairs, table, text, until } from './format.js';
import { parseMetrics, summarize, type StatsSummary } from './metrics.js';

export interface CommandContext {
  readonly client: ApiClient;
  /** print the API's JSON instead of a table */
  readonly json: boolean;
  readonly now: number;
  out(text: string): void;
}

export interface Command {
  /** the words that name it, e.g. ['dispatcher', 'set-state'] */
  readonly words: readonly string[];
  /** its arguments as the usage shows them */
  readonly args: string;
  readonly summary: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  run(ctx: CommandContext, args: readonly string[]): Promise<void>;
}

type Rec = Record<string, unknown>;
const V1 = '/api/v1';
const DEST_STATES = ['active', 'disabled', 'draining'] as const;

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const enc = encodeURIComponent;

/** The array a list endpoint returns under the resource's name (`{ "bans": [...] }`). */
function listOf(body: unknown, key: string, where: string): Rec[] {
  const list = isRec(body) ? body[key] : undefined;
  if (!Array.isArray(list)) throw new CtlError('CTL_BAD_RESPONSE', `GET ${where}: expected { "${key}": [...] } from the API`);
  return list.filter(isRec);
}

function objectOf(body: unknown, where: string): Rec {
  if (!isRec(body)) throw new CtlError('CTL_BAD_RESPONSE', `GET ${where}: expected a JSON object from the API`);
  return body;
}

/** `sip:1001@example.com` and `1001@example.com` both name the AOR `1001@example.com`. */
const aorOf = (arg: string): string => arg.replace(/^sips?:/i, '');

function requireAor(arg: string): string {
  const aor = aorOf(arg);
  if (!/^[^@\s]+@[^@\s]+$/.test(aor)) throw new CtlError('CTL_USAGE', `${arg}: an AOR is user@domain`);
  return aor;
}

// ---------------------------------------------------------------- dispatcher

function lastProbe(d: Rec, now: number): string {
  const p = d['lastProbe'];
  if (!isRec(p)) return '-';
  const code = p['timedOut'] === true || p['code'] === null ? 'timeout' : text(p['code']);
  const rtt = typeof p['rttMs'] === 'number' ? ` ${p['rttMs'] < 10 ? p['rttMs'].toFixed(1) : Math.round(p['rttMs'])}ms` : '';
  return `${code}${rtt} ${ago(p['at'], now)}`;
}

const dispatcherList: Command = {
  words: ['dispatcher', 'list'],
  args: '',
  summary: 'sets and destinations: state, last probe, active calls',
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const setsPath = `${V1}/dispatcher/sets`;
    const sets = listOf(await ctx.client.json('GET', setsPath), 'sets', setsPath);
    const full: Rec[] = [];
    for (const s of sets) {
      if (Array.isArray(s['destinations'])) {
        full.push({ ...s, destinations: (s['destinations'] as unknown[]).filter(isRec) });
        continue;
      }
      const path = `${V1}/dispatcher/sets/${enc(text(s['id']))}/destinations`;
      const destinations = listOf(await ctx.client.json('GET', path, { notFound: `set ${text(s['id'])}` }), 'destinations', path);
      full.push({ ...s, destinations });
    }
    if (ctx.json) return ctx.out(json({ sets: full }));
    if (full.length === 0) return ctx.out('no dispatcher sets\n');
    const rows: string[][] = [];
    for (const s of full) {
      const dests = s['destinations'] as Rec[];
      if (dests.length === 0) rows.push([text(s['id']), text(s['name']), text(s['algorithm']), '(none)', '', '', '', '', '', '']);
      for (const d of dests) {
        rows.push([
          text(s['id']), text(s['name']), text(s['algorithm']), text(d['uri'] ?? d['id']), text(d['state']),
          text(d['priority']), text(d['weight']), text(d['activeCalls']), text(d['selectedTotal']), lastProbe(d, ctx.now),
        ]);
      }
    }
    ctx.out(table(['SET', 'NAME', 'ALGORITHM', 'DESTINATION', 'STATE', 'PRIO', 'WEIGHT', 'CALLS', 'SELECTED', 'LAST PROBE'], rows, { right: [5, 6, 7, 8] }));
  },
};

const dispatcherSetState: Command = {
  words: ['dispatcher', 'set-state'],
  args: 'SET DEST active|disabled|draining',
  summary: "an operator's state for one destination (DEST is its URI)",
  minArgs: 3,
  maxArgs: 3,
  async run(ctx, [set, dest, state]) {
    if (!(DEST_STATES as readonly string[]).includes(state!)) {
      throw new CtlError('CTL_USAGE', `dispatcher set-state: state "${state}" is not one of ${DEST_STATES.join(', ')}`);
    }
    const path = `${V1}/dispatcher/sets/${enc(set!)}/destinations/${enc(dest!)}`;
    const body = await ctx.client.json('PATCH', path, { body: { state }, notFound: `set ${set} or its destination ${dest}` });
    if (ctx.json) return ctx.out(json(body ?? { set, destination: dest, state }));
    const now = isRec(body) && typeof body['state'] === 'string' ? body['state'] : state;
    ctx.out(`set ${set} destination ${dest}: ${now}\n`);
  },
};

const dispatcherReload: Command = {
  words: ['dispatcher', 'reload'],
  args: '',
  summary: "upsert the YAML's domains, sets, subscribers and trunks into the store",
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const path = `${V1}/dispatcher/reload`;
    const body = await ctx.client.json('POST', path, { notFound: `${path} (this sipfront has no reload endpoint: send it SIGHUP)` });
    if (ctx.json) return ctx.out(json(body ?? {}));
    const sets = isRec(body) && Array.isArray(body['sets']) ? ` (${body['sets'].length} set${body['sets'].length === 1 ? '' : 's'})` : '';
    ctx.out(`dispatcher reloaded${sets}\n`);
  },
};

// ---------------------------------------------------------------- drain

const drain: Command = {
  words: ['drain'],
  args: '',
  summary: 'this instance drains: OPTIONS and new dialogs get 503, in-dialog requests flow',
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const body = await ctx.client.json('POST', `${V1}/drain`);
    if (ctx.json) return ctx.out(json(body ?? {}));
    ctx.out(`draining ${ctx.client.baseUrl}: OPTIONS and new dialogs get 503, in-dialog requests flow\n`);
  },
};

// ---------------------------------------------------------------- ul (location service)

function contactRows(regs: readonly Rec[], detail: boolean): string[][] {
  const rows: string[][] = [];
  for (const r of regs) {
    const contacts = Array.isArray(r['contacts']) ? (r['contacts'] as unknown[]).filter(isRec) : [];
    if (contacts.length === 0) rows.push([text(r['aor']), '(none)']);
    for (const c of contacts) {
      const row = [
        text(r['aor']), text(c['uri']),
        typeof c['expiresIn'] === 'number' ? duration(c['expiresIn']) : '-',
        text(c['q']), text(c['source']), text(c['userAgent']),
      ];
      if (detail) {
        const path = c['path'];
        row.push(text(c['callId']), Array.isArray(path) ? (path.length === 0 ? '-' : path.join(',')) : text(path));
      }
      rows.push(row);
    }
  }
  return rows;
}

const UL_HEADERS = ['AOR', 'CONTACT', 'EXPIRES', 'Q', 'SOURCE', 'USER AGENT'];

const ulShow: Command = {
  words: ['ul', 'show'],
  args: '[AOR]',
  summary: 'registered contacts, of every AOR or of one (user@domain)',
  minArgs: 0,
  maxArgs: 1,
  async run(ctx, [arg]) {
    if (arg === undefined) {
      const path = `${V1}/registrations`;
      const body = await ctx.client.json('GET', path);
      const regs = listOf(body, 'registrations', path);
      if (ctx.json) return ctx.out(json(body));
      if (regs.length === 0) return ctx.out('no registrations\n');
      const contacts = regs.reduce((n, r) => n + (Array.isArray(r['contacts']) ? r['contacts'].length : 0), 0);
      ctx.out(table(UL_HEADERS, contactRows(regs, false), { right: [2] }));
      ctx.out(`${regs.length} AOR${regs.length === 1 ? '' : 's'}, ${contacts} contact${contacts === 1 ? '' : 's'}\n`);
      return;
    }
    const aor = requireAor(arg);
    const path = `${V1}/registrations/${enc(aor)}`;
    const body = await ctx.client.json('GET', path, { notFound: `no registration for ${aor}` });
    const reg = objectOf(body, path);
    if (ctx.json) return ctx.out(json(body));
    ctx.out(table([...UL_HEADERS, 'CALL-ID', 'PATH'], contactRows([reg], true), { right: [2] }));
  },
};

const ulRm: Command = {
  words: ['ul', 'rm'],
  args: 'AOR',
  summary: 'remove every contact of an AOR',
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, [arg]) {
    const aor = requireAor(arg!);
    const body = await ctx.client.json('DELETE', `${V1}/registrations/${enc(aor)}`, { notFound: `no registration for ${aor}` });
    if (ctx.json) return ctx.out(json(body ?? { aor, removed: true }));
    ctx.out(`removed the registration of ${aor}\n`);
  },
};

// ---------------------------------------------------------------- bans

const bansList: Command = {
  words: ['bans', 'list'],
  args: '',
  summary: 'banned addresses with reason and expiry',
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const path = `${V1}/bans`;
    const body = await ctx.client.json('GET', path);
    const bans = listOf(body, 'bans', path);
    if (ctx.json) return ctx.out(json(body));
    if (bans.length === 0) return ctx.out('no bans\n');
    const rows = bans.map((b) => [
      text(b['ip']), text(b['reason']),
      b['expiresAt'] !== undefined ? until(b['expiresAt'], ctx.now) : typeof b['expiresIn'] === 'number' ? duration(b['expiresIn']) : '-',
      ago(b['createdAt'], ctx.now),
    ]);
    ctx.out(table(['IP', 'REASON', 'EXPIRES IN', 'BANNED'], rows, { right: [2] }));
  },
};

const bansRm: Command = {
  words: ['bans', 'rm'],
  args: 'IP',
  summary: 'lift the ban on an address',
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, [ip]) {
    const body = await ctx.client.json('DELETE', `${V1}/bans/${enc(ip!)}`, { notFound: `no ban for ${ip}` });
    if (ctx.json) return ctx.out(json(body ?? { ip, removed: true }));
    ctx.out(`lifted the ban on ${ip}\n`);
  },
};

// ---------------------------------------------------------------- trunks

const trunksList: Command = {
  words: ['trunks', 'list'],
  args: '',
  summary: 'outbound registrations and their state',
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const path = `${V1}/trunks`;
    const body = await ctx.client.json('GET', path);
    const trunks = listOf(body, 'trunks', path);
    if (ctx.json) return ctx.out(json(body));
    if (trunks.length === 0) return ctx.out('no trunks\n');
    const rows = trunks.map((t) => {
      const last = t['lastCode'] === undefined || t['lastCode'] === null ? '-' : `${text(t['lastCode'])}${t['lastReason'] ? ` ${text(t['lastReason'])}` : ''}`;
      return [
        text(t['id']), text(t['state']), text(t['registrar']), text(t['user']),
        t['registeredUntil'] ? until(t['registeredUntil'], ctx.now) : '-', last,
        t['nextAttemptAt'] ? ago(t['nextAttemptAt'], ctx.now) : '-',
      ];
    });
    ctx.out(table(['ID', 'STATE', 'REGISTRAR', 'USER', 'EXPIRES IN', 'LAST ANSWER', 'NEXT ATTEMPT'], rows));
  },
};

// ---------------------------------------------------------------- calls

const pick = (r: Rec, ...keys: string[]): unknown => {
  for (const k of keys) if (r[k] !== undefined && r[k] !== null) return r[k];
  return undefined;
};

const calls: Command = {
  words: ['calls'],
  args: '[CALL-ID]',
  summary: "active and recent calls; with a Call-ID, that call's ladder as text",
  minArgs: 0,
  maxArgs: 1,
  async run(ctx, [callId]) {
    if (callId !== undefined) {
      const path = `${V1}/calls/${enc(callId)}`;
      const notFound = `no call with Call-ID ${callId}`;
      if (ctx.json) return ctx.out(json(await ctx.client.json('GET', path, { notFound })));
      const ladder = await ctx.client.text('GET', `${path}?format=text`, { notFound });
      return ctx.out(ladder.endsWith('\n') || ladder === '' ? ladder : `${ladder}\n`);
    }
    const path = `${V1}/calls`;
    const body = await ctx.client.json('GET', path);
    const list = listOf(body, 'calls', path);
    if (ctx.json) return ctx.out(json(body));
    if (list.length === 0) return ctx.out('no calls\n');
    const rows = list.map((c) => {
      const started = pick(c, 'startedAt', 'start', 'firstAt', 'at');
      const ended = pick(c, 'endedAt', 'end', 'lastAt');
      const messages = pick(c, 'messageCount', 'messages');
      return [
        text(pick(c, 'callId', 'id')), text(pick(c, 'from', 'fromUri', 'caller')), text(pick(c, 'to', 'toUri', 'callee', 'ruri')),
        text(pick(c, 'state', 'status')), ago(started, ctx.now),
        ended !== undefined ? ago(ended, ctx.now) : '-',
        Array.isArray(messages) ? String(messages.length) : text(messages),
      ];
    });
    ctx.out(table(['CALL-ID', 'FROM', 'TO', 'STATE', 'STARTED', 'ENDED', 'MESSAGES'], rows, { right: [6] }));
  },
};

// ---------------------------------------------------------------- stats

const fmtCounts = (counts: Record<string, number>): string => {
  const keys = Object.keys(counts).sort();
  if (keys.length === 0) return '-';
  const total = keys.reduce((a, k) => a + counts[k]!, 0);
  return `${keys.map((k) => `${k} ${counts[k]}`).join(', ')} (total ${total})`;
};

const n = (v: number | null): string => (v === null ? '-' : String(v));

function renderStats(s: StatsSummary): string {
  const up = s.destinations.filter((d) => d.up).length;
  const perSet = new Map<string, { up: number; all: number }>();
  for (const d of s.destinations) {
    const e = perSet.get(d.set) ?? { up: 0, all: 0 };
    e.all++;
    if (d.up) e.up++;
    perSet.set(d.set, e);
  }
  const sets = [...perSet].map(([id, e]) => `set ${id} ${e.up}/${e.all}`).join(', ');
  const down = s.destinations.filter((d) => !d.up).map((d) => d.destination);
  const rows: Array<[string, string]> = [
    ['requests', fmtCounts(s.requests)],
    ['responses', fmtCounts(s.responses)],
    ['transactions', `${n(s.transactionsActive)} active`],
    ['destinations', s.destinations.length === 0 ? '-' : `${up}/${s.destinations.length} up (${sets})${down.length > 0 ? `; down: ${down.join(', ')}` : ''}`],
    ['contacts', n(s.registrarContacts)],
    ['auth failures', n(s.authFailures)],
    ['proxy auth', fmtCounts(s.proxyAuth)],
    ['bans active', n(s.bansActive)],
    ['refused', fmtCounts(s.refused)],
    ['parse errors', n(s.parseErrors)],
    ['trunks', s.trunks.length === 0 ? '-' : s.trunks.map((t) => `${t.trunk} ${t.registered ? 'registered' : 'NOT registered'}`).join(', ')],
  ];
  if (s.process.uptimeSeconds !== null) rows.push(['uptime', duration(s.process.uptimeSeconds)]);
  if (s.process.cpuSeconds !== null) rows.push(['cpu', `${s.process.cpuSeconds.toFixed(1)} s`]);
  if (s.process.residentBytes !== null) rows.push(['memory', `${(s.process.residentBytes / 1048576).toFixed(1)} MB resident`]);
  return pairs(rows);
}

const stats: Command = {
  words: ['stats'],
  args: '',
  summary: 'a short summary of /metrics',
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const body = await ctx.client.text('GET', '/metrics', { notFound: '/metrics', as: 'text' });
    const samples = parseMetrics(body);
    if (!samples.some((s) => s.name.startsWith('sipfront_'))) {
      throw new CtlError('CTL_BAD_RESPONSE', `GET ${ctx.client.baseUrl}/metrics: no sipfront_ metrics in the answer (is this sipfront's API?)`);
    }
    const summary = summarize(samples, ctx.now);
    ctx.out(ctx.json ? json(summary) : renderStats(summary));
  },
};

export const COMMANDS: readonly Command[] = [
  dispatcherList, dispatcherSetState, dispatcherReload, drain, ulShow, ulRm, bansList, bansRm, trunksList, calls, stats,
];

/** The command that the positionals name (the longest match), with the rest as its arguments. */
export function findCommand(positionals: readonly string[]): { command: Command; args: string[] } | undefined {
  let best: Command | undefined;
  for (const c of COMMANDS) {
    if (c.words.every((w, i) => positionals[i] === w) && (best === undefined || c.words.length > best.words.length)) best = c;
  }
  return best === undefined ? undefined : { command: best, args: positionals.slice(best.words.length) };
}
