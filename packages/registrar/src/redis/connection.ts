// One ioredis client for commands and one for pub/sub, shared by the three Redis stores.
// Fails fast while Redis is down (no offline queue, one retry, a command timeout), so a
// REGISTER gets 500 with Retry-After at once instead of hanging; reconnects by itself.
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { RegistrarError, isRegistrarError } from '../errors.js';
import type { RegistrarLogger } from '../types.js';
import { LUA } from './scripts.js';

export interface RedisConnectionOptions {
  /** `redis://[:password@]host:port/db` or `rediss://…` */
  url: string;
  /** prepended to every key and channel; default `sipfront:` */
  prefix?: string | undefined;
  /** default 2000 */
  connectTimeoutMs?: number;
  /** a command that gets no answer within this fails as `store-unavailable`; default 2000 */
  commandTimeoutMs?: number;
  /** more ioredis options (tests, TLS) */
  redis?: Partial<RedisOptions>;
}

/** The Lua commands defined on the client (see scripts.ts). */
export interface ScriptCommands {
  sfLocCas(...args: Array<string | number>): Promise<number>;
  sfLocPurge(...args: Array<string | number>): Promise<number>;
  sfSubDel(...args: Array<string | number>): Promise<number>;
}

export type ScriptedRedis = Redis & ScriptCommands;

export interface RedisConnection {
  readonly client: ScriptedRedis;
  readonly subscriber: Redis;
  readonly prefix: string;
  /** the channel that carries change events */
  readonly channel: string;
  /** Runs a command; any failure becomes a `RegistrarError` `store-unavailable`. */
  call<T>(what: string, fn: (c: ScriptedRedis) => Promise<T>): Promise<T>;
  isUp(): boolean;
  /** The change channel is subscribed (events from other instances arrive). */
  isSubscribed(): boolean;
  /** Resolves true once connected and subscribed, false after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** Messages on `channel`. */
  onMessage(fn: (message: string) => void): void;
  /** Called on every (re)subscription, to reload what may have been missed. */
  onResubscribed(fn: () => void): void;
  close(): Promise<void>;
}

export const openRedisConnection = (options: RedisConnectionOptions, log: RegistrarLogger): RedisConnection => {
  const prefix = options.prefix ?? 'sipfront:';
  const channel = `${prefix}events`;
  const base: RedisOptions = {
    connectTimeout: options.connectTimeoutMs ?? 2000,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    ...options.redis,
  };
  const client = new Redis(options.url, base) as ScriptedRedis;
  for (const [name, def] of Object.entries(LUA)) client.defineCommand(name, def);
  // the subscription is renewed here on every (re)connect, so we know when it is in place
  const subscriber = new Redis(options.url, { ...base, autoResubscribe: false, commandTimeout: undefined });
  let lastError = '';
  const onError = (which: string) => (err: Error): void => {
    // ioredis repeats the error on every reconnect attempt: log changes only
    if (err.message === lastError) return;
    lastError = err.message;
    log.warn({ err: err.message, which }, 'registrar: redis connection trouble');
  };
  client.on('error', onError('client'));
  subscriber.on('error', onError('subscriber'));
  client.on('ready', () => {
    if (lastError !== '') log.info({}, 'registrar: redis connected');
    lastError = '';
  });
  const messageListeners: Array<(m: string) => void> = [];
  const resubListeners: Array<() => void> = [];
  subscriber.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    for (const fn of messageListeners) {
      try {
        fn(message);
      } catch (err) {
        log.error({ err }, 'registrar: redis event listener threw');
      }
    }
  });
  let subscribed = false;
  const stateListeners: Array<() => void> = [];
  const stateChanged = (): void => {
    for (const fn of stateListeners.splice(0)) fn();
  };
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        subscribed = true;
        for (const fn of resubListeners) fn();
        stateChanged();
      },
      (err: unknown) => log.warn({ err }, 'registrar: redis subscribe failed'),
    );
  });
  subscriber.on('close', () => {
    subscribed = false;
  });
  client.on('ready', stateChanged);
  let closed = false;

  return {
    client,
    subscriber,
    prefix,
    channel,
    async call<T>(what: string, fn: (c: ScriptedRedis) => Promise<T>): Promise<T> {
      if (closed) throw new RegistrarError('closed', 'redis store closed');
      try {
        return await fn(client);
      } catch (err) {
        if (isRegistrarError(err)) throw err;
        throw new RegistrarError('store-unavailable', `redis: ${what} failed`, { cause: err });
      }
    },
    isUp: () => client.status === 'ready',
    isSubscribed: () => subscribed,
    waitReady(timeoutMs: number): Promise<boolean> {
      const ready = (): boolean => client.status === 'ready' && subscribed;
      if (ready()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(ready()), timeoutMs);
        t.unref();
        const check = (): void => {
          if (ready()) {
            clearTimeout(t);
            resolve(true);
          } else stateListeners.push(check);
        };
        stateListeners.push(check);
      });
    },
    onMessage(fn) {
      messageListeners.push(fn);
    },
    onResubscribed(fn) {
      resubListeners.push(fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      const quit = async (r: Redis): Promise<void> => {
        if (r.status === 'ready') await r.quit().catch(() => r.disconnect());
        else r.disconnect();
      };
      await Promise.all([quit(client), quit(subscriber)]);
    },
  };
};
