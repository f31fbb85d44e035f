// Reads the YAML config once, at start-up: parse (with positions), schema, cross-field rules and
// environment overrides all report into one list, so an operator sees every problem in one run;
// then the typed, deeply frozen `Config`. Only this package reads process.env.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { deepFreeze, DEFAULT_REDIS_PREFIX, normalize } from './normalize.js';
import { LineFinder, renderProblems, type PathSegment, type Problem } from './problems.js';
import { LOG_LEVELS, RawConfigSchema, type RawConfig } from './schema.js';
import { checkSemantics } from './semantics.js';
import type { Config, LogLevel } from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadedConfig {
  readonly config: Config;
  /** One line each, like problems; printed, never fatal. */
  readonly warnings: readonly string[];
}

export interface ParseOptions {
  /** Environment for the overrides (REDIS_URL, SIPFRONT_API_TOKEN, SIPFRONT_LOG_LEVEL); default none. */
  readonly env?: Env;
  /** Relative paths resolve against it; default process.cwd(). */
  readonly cwd?: string;
  /** Names the source in errors and `config.source`; default `<config>`. */
  readonly sourceName?: string;
}

/** The file sipfront runs with: --config, else SIPFRONT_CONFIG, else config/sipfront.yaml. */
/** Run from elsewhere than the repo root without either, the embedded default is used. */
export function resolveConfigPath(flag: string | undefined, env: Env, cwd: string = process.cwd()): string {
  const chosen = flag ?? nonEmpty(env['SIPFRONT_CONFIG']);
  if (chosen !== undefined) return resolve(cwd, chosen);
  const local = resolve(cwd, 'config/sipfront.yaml');
  return existsSync(local) ? local : EMBEDDED_CONFIG_PATH;
}

/** The embedded default config shipped with sipfront (repo's config/sipfront.yaml). */
export const EMBEDDED_CONFIG_PATH = fileURLToPath(new URL('../../../../config/sipfront.yaml', import.meta.url));

export function loadConfig(path: string, env: Env = process.env, cwd: string = process.cwd()): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'a directory, not a file' : `cannot read (${code ?? String(err)})`;
    throw new ConfigError('CONFIG_UNREADABLE', path, [why], { cause: err });
  }
  return parseConfigText(text, { env, cwd, sourceName: resolve(cwd, path) });
}

const compiled = TypeCompiler.Compile(RawConfigSchema);

export function parseConfigText(text: string, options: ParseOptions = {}): LoadedConfig {
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  const source = options.sourceName ?? '<config>';

  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const atLine = (pos: readonly [number, number]) => ` (line ${lines.linePos(pos[0]).line})`;
  const yamlWarnings = doc.warnings.map((w) => `yaml: ${firstLine(w.message)}${atLine(w.pos)}`);
  if (doc.errors.length > 0) {
    throw new ConfigError('CONFIG_INVALID', source, doc.errors.map((e) => `yaml: ${firstLine(e.message)}${atLine(e.pos)}`));
  }
  const finder = new LineFinder(doc, lines);

  // An empty value (`token:`, or a section whose keys are all commented out) means "the default".
  let raw: unknown;
  try {
    raw = dropNulls(doc.toJS({ maxAliasCount: 100 }) ?? {});
  } catch (err) {
    throw new ConfigError('CONFIG_INVALID', source, [`yaml: ${firstLine(String((err as Error).message))}`], { cause: err });
  }

  const errors: Problem[] = schemaProblems(raw);
  const redisUrl = nonEmpty(env['REDIS_URL']);
  const envToken = nonEmpty(env['SIPFRONT_API_TOKEN']);
  const envLevel = nonEmpty(env['SIPFRONT_LOG_LEVEL']);
  const semantic = checkSemantics(raw, { cwd, redisFromEnv: redisUrl !== undefined, tokenFromEnv: envToken !== undefined });
  errors.push(...semantic.errors);
  if (redisUrl !== undefined && !/^rediss?:\/\/./.test(redisUrl)) {
    errors.push({ path: 'REDIS_URL (environment)', message: 'not a Redis URL (redis://host:port/db or rediss://…)' });
  }
  if (envToken === 'change-me') {
    errors.push({ path: 'SIPFRONT_API_TOKEN (environment)', message: 'the example token "change-me" must be replaced' });
  }
  if (envLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(envLevel)) {
    errors.push({ path: 'SIPFRONT_LOG_LEVEL (environment)', message: `must be one of: ${LOG_LEVELS.join(', ')}` });
  }
  const warnings = [...yamlWarnings, ...renderProblems(semantic.warnings, finder)];
  if (errors.length > 0) throw new ConfigError('CONFIG_INVALID', source, renderProblems(errors, finder), { warnings });

  const config = normalize(raw as RawConfig, { cwd, source });
  const overridden: Config = {
    ...config,
    store: redisUrl !== undefined
      ? { kind: 'redis', url: redisUrl, prefix: config.store.kind === 'redis' ? config.store.prefix : DEFAULT_REDIS_PREFIX }
      : config.store,
    api: envToken !== undefined ? { ...config.api, token: envToken } : config.api,
    log: envLevel !== undefined ? { level: envLevel as LogLevel } : config.log,
  };
  return { config: deepFreeze(overridden), warnings };
}

function schemaProblems(raw: unknown): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of compiled.Errors(raw)) {
    const path = pointerToPath(error.path, raw);
    const key = JSON.stringify(path);
    // The first complaint about a value is the useful one (a missing key also fails its type).
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path, message: schemaMessage(error) });
  }
  return problems;
}

function schemaMessage(error: ValueError): string {
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys((error.schema as { properties?: object }).properties ?? {});
      const name = error.path.slice(error.path.lastIndexOf('/') + 1).replace(/~1/g, '/').replace(/~0/g, '~');
      const near = closest(name, known);
      return near ? `unknown key (did you mean ${near}?)` : `unknown key (known here: ${known.join(', ')})`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return 'missing (required)';
    case ValueErrorType.Object:
      return 'expected a mapping (key: value)';
    default: {
      const custom = (error.schema as { errorMessage?: unknown }).errorMessage;
      return typeof custom === 'string' ? custom : error.message.charAt(0).toLowerCase() + error.message.slice(1);
    }
  }
}

/** `/dispatcher/sets/1/uri` → ['dispatcher', 'sets', 1, 'uri'], indices where the value is a list. */
function pointerToPath(pointer: string, raw: unknown): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = raw;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^[0-9]+$/.test(key)) {
      path.push(Number(key));
      node = node[Number(key)];
    } else {
      path.push(key);
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}

function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v);
    return out;
  }
  return value;
}

/** The known key within edit distance 2 of a typo, if any. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
