// The ban store of a single instance (`store.kind: memory`): bans in a Map, optionally kept in
// `<dir>/bans.json` so they survive a restart. Writes are debounced and atomic (a temporary file,
// fsync, rename), so a crash leaves either the old file or the new one, never half of one.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ban, BanStore } from './ban.js';
import { parseBan } from './ban.js';
import type { Clock, SecurityLogger } from './types.js';
import { errorText, silentLogger, systemClock, unrefTimer } from './types.js';

export interface MemoryBanStoreOptions {
  /** Directory of `bans.json`; absent = nothing is persisted. */
  dir?: string;
  /** Delay between a change and the write that follows it, ms. Default 500. */
  persistDelayMs?: number;
}

export const BANS_FILE = 'bans.json';

/** After a failed write, the next attempt waits at least this long. */
const RETRY_MS = 5000;

let tmpCounter = 0;

const writeAtomic = async (dir: string, file: string, data: string): Promise<void> => {
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
};

export const createMemoryBanStore = (deps: { clock?: Clock; log?: SecurityLogger } = {}, options: MemoryBanStoreOptions = {}): BanStore => {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger;
  const dir = options.dir;
  const file = dir === undefined ? undefined : join(dir, BANS_FILE);
  const delay = options.persistDelayMs ?? 500;
  const bans = new Map<string, Ban>();
  let loaded = false;
  let dirty = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<void> | undefined;
  let closed = false;

  const prune = (now: number): void => {
    for (const ban of bans.values()) if (ban.expiresAt <= now) bans.delete(ban.ip);
  };

  const write = (): Promise<void> => {
    if (dir === undefined || file === undefined) return Promise.resolve();
    dirty = false;
    prune(clock.now());
    const data = JSON.stringify({ bans: [...bans.values()] }, null, 1) + '\n';
    writing = writeAtomic(dir, file, data)
      .catch((err: unknown) => {
        dirty = true;
        log.error({ err: errorText(err), file }, 'could not write the bans file; retrying');
        if (!closed) schedule(RETRY_MS);
      })
      .finally(() => {
        writing = undefined;
        // changes made while this write ran
        if (dirty && !closed) schedule(delay);
      });
    return writing;
  };

  const schedule = (ms: number): void => {
    // never before load(): the write would replace bans on disk that were not read yet
    if (closed || file === undefined || !loaded || timer !== undefined || writing !== undefined) return;
    timer = unrefTimer(
      setTimeout(() => {
        timer = undefined;
        if (dirty) void write();
      }, ms),
    );
  };

  const changed = (): void => {
    dirty = true;
    schedule(delay);
  };

  const store: BanStore = {
    async load() {
      if (file !== undefined && !loaded) {
        let text: string | undefined;
        try {
          text = await readFile(file, 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        if (text !== undefined) {
          let list: unknown;
          try {
            list = (JSON.parse(text) as { bans?: unknown }).bans;
          } catch (err) {
            log.error({ err: errorText(err), file }, 'the bans file is not JSON; starting without its bans');
          }
          let bad = 0;
          for (const v of Array.isArray(list) ? list : []) {
            const ban = parseBan(v);
            if (ban === undefined) bad++;
            else if (!bans.has(ban.ip)) bans.set(ban.ip, ban);
          }
          if (bad > 0) log.warn({ file, skipped: bad }, 'skipped malformed entries in the bans file');
        }
      }
      loaded = true;
      prune(clock.now());
      if (dirty) schedule(delay);
      return [...bans.values()];
    },
    put(ban) {
      bans.set(ban.ip, ban);
      changed();
      return Promise.resolve();
    },
    remove(ip) {
      if (bans.delete(ip)) changed();
      return Promise.resolve();
    },
    // a single instance: nobody else changes these bans
    subscribe: () => () => {},
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (writing !== undefined) await writing;
      if (!dirty) return;
      if (!loaded) await store.load().catch(() => {});
      await write();
    },
  };
  return store;
};
