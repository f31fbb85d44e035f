// A worker's side of `workers: N`: who it is (from the environment the primary gave it), its
// role in the server, and the commands it takes from the primary.
import cluster from 'node:cluster';
import { ENV_COUNT, ENV_INDEX, ENV_INSTANCE, ENV_SECRET, isSf, sendToPrimary } from './messages.js';
import type { WorkerRelay } from './relay.js';
import type { WorkerRpc } from './rpc.js';

export interface WorkerRole {
  /** 0 … count-1 */
  readonly index: number;
  readonly count: number;
  /** the relay the UDP listeners hand datagrams to */
  readonly relay: WorkerRelay;
  /** the same in every worker: registrations made through any worker belong to "this instance" */
  readonly instanceId: string;
  /** the primary's aggregate of every worker's metrics (the text of a scrape) */
  clusterMetrics(): Promise<string>;
  /** questions to the other workers */
  readonly rpc: WorkerRpc;
}

/** This process's place when the primary started it as a worker; undefined otherwise. */
export const workerFromEnv = (env: NodeJS.ProcessEnv = process.env): { index: number; count: number; instanceId: string; secret: string | undefined } | undefined => {
  if (!cluster.isWorker) return undefined;
  const index = Number(env[ENV_INDEX]);
  const count = Number(env[ENV_COUNT]);
  const instanceId = env[ENV_INSTANCE];
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count || instanceId === undefined) return undefined;
  return { index, count, instanceId, secret: env[ENV_SECRET] };
};

/** Messages from the primary to this worker (stop, reload), for the command's loop. */
export const onPrimaryCommand = (handler: (cmd: 'stop' | 'reload') => void): void => {
  process.on('message', (m: unknown) => {
    if (isSf(m) && (m.sf === 'stop' || m.sf === 'reload')) handler(m.sf);
  });
  // the primary is gone (killed): nothing will stop us any more, so stop now
  process.on('disconnect', () => handler('stop'));
};

export const tellPrimaryStarted = (): void => {
  sendToPrimary({ sf: 'started' });
};
