// Where `sipfront ctl` finds the API and its token: the address from --api, else the config's
// api.host/api.port; the token from SIPFRONT_API_TOKEN, else the config's api.token; the config
// from --config, else SIPFRONT_CONFIG, else config/sipfront.yaml (CONTRACT.md, CLI).
import { ConfigError, loadConfig, resolveConfigPath, type Env } from '../config/index.js';
import { CtlError } from './errors.js';

export interface ApiTarget {
  /** e.g. `http://127.0.0.1:8080`, no trailing slash */
  readonly baseUrl: string;
  readonly token: string | undefined;
  /** where the token came from, for error messages */
  readonly tokenSource: 'SIPFRONT_API_TOKEN' | 'api.token' | undefined;
  /** the config file read, if one was */
  readonly configFile: string | undefined;
}

export interface TargetOptions {
  readonly api?: string | undefined;
  readonly config?: string | undefined;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

/** `http://h:p`, `h:p`, `https://h/prefix/`, with or without a trailing `/api/v1`. */
export function normalizeApiUrl(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (err) {
    throw new CtlError('CTL_USAGE', `--api ${raw}: not a URL (try http://127.0.0.1:8080)`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CtlError('CTL_USAGE', `--api ${raw}: must be an http:// or https:// URL`);
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

/** The address to dial for a listen host: a wildcard means "this machine". */
export function dialHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return host;
}

export function resolveTarget(opts: TargetOptions, env: Env, cwd: string): ApiTarget {
  const envToken = nonEmpty(env['SIPFRONT_API_TOKEN']);
  const explicitConfig = opts.config !== undefined || nonEmpty(env['SIPFRONT_CONFIG']) !== undefined;
  const file = resolveConfigPath(opts.config, env, cwd);

  if (opts.api !== undefined) {
    const baseUrl = normalizeApiUrl(opts.api);
    if (envToken !== undefined) return { baseUrl, token: envToken, tokenSource: 'SIPFRONT_API_TOKEN', configFile: undefined };
    // --api with no token in the environment: the config may still hold one. A config nobody
    // named that cannot be read is not an error here: the API may simply have no token.
    try {
      const { config } = loadConfig(file, env, cwd);
      const token = config.api.token ?? undefined;
      return { baseUrl, token, tokenSource: token !== undefined ? 'api.token' : undefined, configFile: file };
    } catch (err) {
      if (!explicitConfig && err instanceof ConfigError) return { baseUrl, token: undefined, tokenSource: undefined, configFile: undefined };
      throw configError(file, err);
    }
  }

  let config;
  try {
    ({ config } = loadConfig(file, env, cwd));
  } catch (err) {
    throw configError(file, err);
  }
  const token = config.api.token ?? undefined;
  return {
    baseUrl: `http://${dialHost(config.api.host)}:${config.api.port}`,
    token,
    tokenSource: envToken !== undefined ? 'SIPFRONT_API_TOKEN' : token !== undefined ? 'api.token' : undefined,
    configFile: file,
  };
}

function configError(file: string, err: unknown): CtlError {
  if (!(err instanceof ConfigError)) throw err;
  const more = err.problems.length > 1 ? ` (and ${err.problems.length - 1} more: sipfront check-config ${file})` : '';
  return new CtlError('CTL_CONFIG', `${file}: ${err.problems[0] ?? 'unusable'}${more}`, { cause: err });
}
