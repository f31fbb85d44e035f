// What the primary and the workers tell each other over the cluster's IPC channel (`workers: N`).

export type ToPrimary =
  | { sf: 'relay'; port: number }
  | { sf: 'metrics'; id: number }
  | { sf: 'started' }
  /** ask the other workers (op, args); answered with 'answers' */
  | { sf: 'ask'; id: number; op: string; args: unknown }
  /** a worker's answer to the primary's 'ask' number g */
  | { sf: 'answer'; g: number; value: unknown }
  /** (op, args) for one worker, no answer wanted */
  | { sf: 'tell'; to: number; op: string; args: unknown };
export type ToWorker =
  | { sf: 'peers'; ports: number[] }
  /** a worker has stopped: what it owned is handled where it arrives */
  | { sf: 'gone'; index: number }
  | { sf: 'metrics'; id: number; text?: string; error?: string }
  | { sf: 'stop' }
  | { sf: 'reload' }
  | { sf: 'ask'; g: number; op: string; args: unknown }
  | { sf: 'answers'; id: number; values: unknown[] };

/** How long an ask waits for the other workers' answers. */
export const ASK_TIMEOUT_MS = 3000;

export const isSf = (m: unknown): m is { sf: string } => typeof m === 'object' && m !== null && typeof (m as { sf?: unknown }).sf === 'string';

export const ENV_INDEX = 'SIPFRONT_WORKER';
export const ENV_COUNT = 'SIPFRONT_WORKERS';
export const ENV_INSTANCE = 'SIPFRONT_INSTANCE';
/** a shared secret for nonces and dialog tokens when the config sets no registrar.auth.nonce_secret */
export const ENV_SECRET = 'SIPFRONT_WORKER_SECRET';

/** To the primary, while the channel is open (a send on a closed one throws asynchronously). */
export const sendToPrimary = (m: ToPrimary): void => {
  if (process.connected) process.send?.(m);
};
