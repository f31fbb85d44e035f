// Rules that span several keys (references, uniqueness, combinations, files on disk). They run on
// the raw document even when the schema found problems, so one run reports everything; each rule
// only looks at values of the right type and leaves the rest to the schema's messages.

import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isLoopback, parseSipUri } from './addresses.js';
import type { PathSegment, Problem } from './problems.js';
import { parseDuration as msOf } from './units.js';
import { MAX_READ_WINDOW_MS } from '@sipfront/core';

export interface SemanticContext {
  readonly cwd: string;
  /** REDIS_URL is set: the store is Redis whatever the file says. */
  readonly redisFromEnv: boolean;
  /** SIPFRONT_API_TOKEN is set: the file's token is not used. */
  readonly tokenFromEnv: boolean;
}

export interface SemanticResult {
  readonly errors: Problem[];
  readonly warnings: Problem[];
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const rec = (v: unknown): Rec => (isRec(v) ? v : {});
const items = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);

export function checkSemantics(raw: unknown, ctx: SemanticContext): SemanticResult {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const error = (path: PathSegment[], message: string) => errors.push({ path, message });
  const warn = (path: PathSegment[], message: string) => warnings.push({ path, message });
  const root = rec(raw);
  const stateless = root['mode'] === 'stateless';

  // listen
  if (Array.isArray(root['listen']) && root['listen'].length === 0) error(['listen'], 'needs at least one socket');
  const sockets = new Map<string, number>();
  items(root['listen']).forEach((entry, i) => {
    const l = rec(entry);
    const transport = str(l['transport']);
    if (transport === 'tls') {
      for (const key of ['cert', 'key'] as const) {
        const file = l[key];
        if (file === undefined) error(['listen', i, key], 'required for transport tls');
        else if (typeof file === 'string' && file !== '') {
          const problem = unreadableFile(resolve(ctx.cwd, file));
          if (problem) error(['listen', i, key], `${problem}: ${resolve(ctx.cwd, file)}`);
        }
      }
    } else if (transport !== undefined) {
      for (const key of ['cert', 'key'] as const) {
        if (l[key] !== undefined) warn(['listen', i, key], `ignored: only transport tls uses it`);
      }
    }
    const host = str(l['host']) ?? '0.0.0.0';
    const port = int(l['port']) ?? (transport === 'tls' ? 5061 : 5060);
    if (transport !== undefined && port !== 0) {
      const id = `${transport === 'udp' ? 'udp' : 'stream'} ${host} ${port}`;
      const first = sockets.get(id);
      if (first !== undefined) error(['listen', i], `same address and port as listen[${first}]`);
      else sockets.set(id, i);
    }
  });

  // store
  const store = rec(root['store']);
  if (store['kind'] === 'redis' && store['url'] === undefined && !ctx.redisFromEnv) {
    error(['store', 'url'], 'required for kind redis (or set REDIS_URL)');
  }
  const url = str(store['url']);
  if (url !== undefined && !ctx.redisFromEnv && !/^rediss?:\/\/./.test(url)) {
    error(['store', 'url'], 'not a Redis URL (redis://host:port/db or rediss://…)');
  }

  // workers: N shares the UDP sockets between processes (see docs/design-workers.md)
  const workers = root['workers'];
  if (workers === 'auto' || (typeof workers === 'number' && workers > 1)) {
    const redis = store['kind'] === 'redis' || ctx.redisFromEnv;
    if (!redis) error(['workers'], `${String(workers)} needs store.kind redis (the workers share registrations, bans and sets through it)`);
    if (root['listen'] === undefined) error(['workers'], `${String(workers)} needs listen with udp sockets only (the default listen has tcp too)`);
    items(root['listen']).forEach((entry, i) => {
      const t = str(rec(entry)['transport']);
      if (t !== undefined && t !== 'udp') error(['listen', i, 'transport'], `${t} with workers ${String(workers)}: only udp is shared between workers in this version`);
    });
  }

  // api
  const api = rec(root['api']);
  if (api['token'] === 'change-me') {
    error(['api', 'token'], 'the example token "change-me" must be replaced (or removed: without a token the API binds loopback only)');
  }
  const apiHost = str(api['host']);
  if (apiHost !== undefined && !isLoopback(apiHost) && api['token'] === undefined && !ctx.tokenFromEnv) {
    // the server refuses to open the API there (api/auth.ts): say so here, before anything starts
    error(['api', 'host'], `${apiHost} is not a loopback address and there is no api.token: set one (or SIPFRONT_API_TOKEN), or bind 127.0.0.1`);
  }

  // dispatcher
  const dispatcher = rec(root['dispatcher']);
  const probe = rec(dispatcher['probe']);
  const setIds = new Map<number, number>();
  items(dispatcher['sets']).forEach((entry, i) => {
    const set = rec(entry);
    const id = int(set['id']);
    if (id !== undefined) {
      const first = setIds.get(id);
      if (first !== undefined) error(['dispatcher', 'sets', i, 'id'], `duplicate set id ${id} (also dispatcher.sets[${first}])`);
      else setIds.set(id, i);
    }
    if (stateless && set['algorithm'] === 'least-calls') {
      warn(['dispatcher', 'sets', i, 'algorithm'], 'acts as round-robin with mode: stateless (no call is tracked)');
    }
    const uris = new Map<string, number>();
    items(set['destinations']).forEach((dest, j) => {
      const uri = str(rec(dest)['uri']);
      if (uri === undefined) return;
      const first = uris.get(uri);
      if (first !== undefined) {
        error(['dispatcher', 'sets', i, 'destinations', j, 'uri'], `duplicate destination (also destinations[${first}]); a URI is its destination's id`);
      } else uris.set(uri, j);
    });
  });
  if (stateless && dispatcher['failover'] !== undefined) {
    warn(['dispatcher', 'failover'], 'unused with mode: stateless (no failover without transactions)');
  }
  for (const key of ['interval', 'timeout'] as const) {
    if (msOf(probe[key]) === 0) error(['dispatcher', 'probe', key], 'must be more than 0');
  }

  // registrar
  const registrar = rec(root['registrar']);
  const expires = rec(registrar['expires']);
  const min = msOf(expires['min']) ?? 60_000;
  const max = msOf(expires['max']) ?? 3_600_000;
  if (min > max) error(['registrar', 'expires', 'min'], `more than registrar.expires.max`);
  const auth = rec(registrar['auth']);
  if (auth['required'] === false) {
    warn(['registrar', 'auth', 'required'], 'false: anyone can register any AOR of a served domain (labs only)');
  }
  if (Array.isArray(auth['algorithms'])) {
    if (auth['algorithms'].length === 0) error(['registrar', 'auth', 'algorithms'], 'needs at least one of MD5, SHA-256');
    if (new Set(auth['algorithms']).size !== auth['algorithms'].length) error(['registrar', 'auth', 'algorithms'], 'lists an algorithm twice');
  }
  const domains = new Set(items(root['domains']).map((d) => String(d).toLowerCase()));
  const aors = new Map<string, number>();
  items(registrar['subscribers']).forEach((entry, i) => {
    const s = rec(entry);
    if (s['password'] === undefined && s['ha1'] === undefined && s['ha1_sha256'] === undefined) {
      error(['registrar', 'subscribers', i], 'needs password, ha1 or ha1_sha256');
    }
    const user = str(s['user']);
    const domain = str(s['domain']);
    if (user === undefined || domain === undefined) return;
    const aor = `${user}@${domain.toLowerCase()}`;
    const first = aors.get(aor);
    if (first !== undefined) error(['registrar', 'subscribers', i], `duplicate subscriber ${aor} (also subscribers[${first}])`);
    else aors.set(aor, i);
    if (!domains.has(domain.toLowerCase())) {
      warn(['registrar', 'subscribers', i, 'domain'], `${domain} is not in domains (add it there or through the API)`);
    }
  });

  // security
  if (rec(root['security'])['enabled'] === false) {
    warn(['security', 'enabled'], 'false: no ban, flood or scanner screening of requests (for measuring only)');
  }

  // sip timers
  const sip = rec(root['sip']);
  for (const key of ['t1', 't2', 't4'] as const) {
    if (msOf(sip[key]) === 0) error(['sip', key], 'must be more than 0');
  }
  const t1 = msOf(sip['t1']) ?? 500;
  const t2 = msOf(sip['t2']) ?? 4000;
  if (t2 < t1) error(['sip', 't2'], 'must not be less than sip.t1');
  if (stateless && sip['timer_c'] !== undefined) warn(['sip', 'timer_c'], 'unused with mode: stateless (no Timer C without transactions)');
  if (int(sip['max_message']) === 0) error(['sip', 'max_message'], 'must be more than 0');
  const window = msOf(sip['udp_read_window']);
  if (window !== null && window > MAX_READ_WINDOW_MS) {
    error(['sip', 'udp_read_window'], `must be at most ${MAX_READ_WINDOW_MS}ms (a datagram's reading waits up to this long)`);
  }

  // trunks
  const trunks = items(root['trunks']);
  if (stateless && trunks.length > 0) {
    error(['trunks'], 'not allowed with mode: stateless: a trunk registers and answers digest challenges, which needs transactions (use mode: stateful)');
  }
  const trunkIds = new Map<string, number>();
  trunks.forEach((entry, i) => {
    const t = rec(entry);
    const id = str(t['id']);
    if (id !== undefined) {
      const first = trunkIds.get(id);
      if (first !== undefined) error(['trunks', i, 'id'], `duplicate trunk id ${id} (also trunks[${first}])`);
      else trunkIds.set(id, i);
    }
    if (t['password'] === undefined && t['ha1'] === undefined) error(['trunks', i], 'needs password or ha1');
    if (t['password'] !== undefined && t['ha1'] !== undefined) error(['trunks', i, 'ha1'], 'give password or ha1, not both');
    const routeTo = t['route_to'] === undefined ? 1 : int(t['route_to']);
    if (routeTo !== undefined && !setIds.has(routeTo)) {
      if (t['route_to'] === undefined) error(['trunks', i], 'route_to defaults to 1, and dispatcher set 1 is not in dispatcher.sets');
      else error(['trunks', i, 'route_to'], `dispatcher set ${routeTo} is not in dispatcher.sets`);
    }
    const registrarUri = str(t['registrar']);
    if (registrarUri !== undefined && parseSipUri(registrarUri)?.user) {
      warn(['trunks', i, 'registrar'], 'has a user part; the registrar URI is normally sip:host');
    }
  });

  // routes
  items(root['routes']).forEach((entry, i) => {
    const r = rec(entry);
    const to = r['to'];
    if (!isRec(to)) return;
    const targets = (['trunk', 'set', 'uri'] as const).filter((k) => to[k] !== undefined);
    if (targets.length !== 1) {
      error(['routes', i, 'to'], targets.length === 0 ? 'needs one of trunk, set, uri' : `has ${targets.join(' and ')}: give exactly one of trunk, set, uri`);
      return;
    }
    const trunk = str(to['trunk']);
    if (trunk !== undefined && !trunkIds.has(trunk)) error(['routes', i, 'to', 'trunk'], `no trunk with id ${trunk} in trunks`);
    const set = int(to['set']);
    if (set !== undefined && !setIds.has(set)) error(['routes', i, 'to', 'set'], `no dispatcher set with id ${set} in dispatcher.sets`);
    if (trunk !== undefined) {
      items(r['from']).forEach((caller, j) => {
        if (caller === 'trunk' || caller === 'any') {
          error(['routes', i, 'from', j], `${caller} is not allowed on a route to a trunk (no stranger or provider may call out through one)`);
        }
      });
    }
    if (Array.isArray(r['from']) && r['from'].length === 0) error(['routes', i, 'from'], 'empty: nobody could use this route (leave it out for the default)');
  });

  return { errors, warnings };
}

function unreadableFile(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return 'not a file';
    accessSync(path, constants.R_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'file not readable' : `cannot read file (${code ?? 'error'})`;
  }
}
