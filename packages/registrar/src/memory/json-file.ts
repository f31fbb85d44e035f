// A JSON snapshot on disk, written atomically (temp file, fsync, rename, fsync of the folder)
// and debounced: many changes in a burst make one write. `flush()` writes now; writes never
// overlap, and a change made during a write schedules another.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RegistrarError } from '../errors.js';
import type { RegistrarLogger } from '../types.js';

export interface JsonFile {
  /** The parsed content, or undefined when the file does not exist. */
  load(): Promise<unknown>;
  /** Something changed: write within `delayMs`. */
  changed(): void;
  /** Writes now when something changed; resolves when it is on disk. */
  flush(): Promise<void>;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

export const writeFileAtomic = async (path: string, data: string): Promise<void> => {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // the rename itself is durable only once the folder is synced; not every platform allows it
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* best effort */
  }
};

export const createJsonFile = (path: string, snapshot: () => unknown, opts: { delayMs: number; log: RegistrarLogger }): JsonFile => {
  let dirty = false;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let closed = false;

  const writeOnce = async (): Promise<void> => {
    dirty = false;
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomic(path, JSON.stringify(snapshot()));
    } catch (err) {
      dirty = true;
      throw new RegistrarError('store-unavailable', `cannot write ${path}`, { cause: err });
    }
  };

  const flush = async (): Promise<void> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    while (writing !== undefined) await writing.catch(() => undefined);
    if (!dirty) return;
    writing = writeOnce();
    try {
      await writing;
    } finally {
      writing = undefined;
    }
  };

  const arm = (): void => {
    if (timer !== undefined || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flush().catch((err: unknown) => {
        opts.log.error({ err, path }, 'registrar: cannot persist state');
        arm();
      });
    }, opts.delayMs);
    timer.unref();
  };

  return {
    async load(): Promise<unknown> {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new RegistrarError('store-unavailable', `cannot read ${path}`, { cause: err });
      }
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new RegistrarError('store-corrupt', `${path}: not JSON`, { cause: err });
      }
    },
    changed(): void {
      dirty = true;
      arm();
    },
    flush,
    async close(): Promise<void> {
      closed = true;
      await flush();
    },
  };
};
