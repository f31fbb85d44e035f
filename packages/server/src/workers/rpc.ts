// Questions between workers, through the primary (calls, trunks, auth failures, drain), and the
// metrics aggregate the primary makes for worker 0's /metrics.
import { ASK_TIMEOUT_MS, isSf, type ToWorker, sendToPrimary } from './messages.js';

/**
 * Questions between workers, through the primary: `ask` sends (op, args) to every other worker
 * and resolves their answers (those that came within 3 s); `handle` answers one op here.
 * Values cross as JSON (a Buffer must travel as base64).
 */
export interface WorkerRpc {
  ask(op: string, args?: unknown): Promise<unknown[]>;
  /** (op, args) to worker `to` alone, no answer wanted */
  tell(to: number, op: string, args?: unknown): void;
  handle(op: string, answer: (args: unknown) => unknown): void;
}

export const createWorkerRpc = (): WorkerRpc => {
  const handlers = new Map<string, (args: unknown) => unknown>();
  const waiting = new Map<number, (values: unknown[]) => void>();
  let next = 0;
  process.on('message', (m: unknown) => {
    if (!isSf(m)) return;
    const msg = m as ToWorker;
    if (msg.sf === 'answers') {
      const w = waiting.get(msg.id);
      waiting.delete(msg.id);
      w?.(Array.isArray(msg.values) ? msg.values : []);
    } else if (msg.sf === 'ask') {
      const h = handlers.get(msg.op);
      const reply = (value: unknown): void => void sendToPrimary({ sf: 'answer', g: msg.g, value: value ?? null });
      if (h === undefined) return reply(null);
      Promise.resolve()
        .then(() => h(msg.args))
        .then(reply, () => reply(null));
    }
  });
  return {
    ask(op, args = null) {
      const id = next++;
      return new Promise<unknown[]>((resolve) => {
        // the primary answers within ASK_TIMEOUT_MS; this bound covers a primary that is gone
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve([]);
        }, ASK_TIMEOUT_MS + 1000);
        timer.unref();
        waiting.set(id, (values) => {
          clearTimeout(timer);
          resolve(values);
        });
        sendToPrimary({ sf: 'ask', id, op, args });
      });
    },
    tell(to, op, args = null) {
      sendToPrimary({ sf: 'tell', to, op, args });
    },
    handle(op, answer) {
      handlers.set(op, answer);
    },
  };
};

/** The metrics of every worker, aggregated by the primary (asked over IPC). */
export const askClusterMetrics = (() => {
  let next = 0;
  const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let listening = false;
  return (timeoutMs = 5000): Promise<string> => {
    if (!listening) {
      listening = true;
      process.on('message', (m: unknown) => {
        if (!isSf(m) || m.sf !== 'metrics') return;
        const r = m as Extract<ToWorker, { sf: 'metrics' }>;
        const w = waiting.get(r.id);
        if (w === undefined) return;
        waiting.delete(r.id);
        clearTimeout(w.timer);
        if (r.text !== undefined) w.resolve(r.text);
        else w.reject(new Error(r.error ?? 'no metrics'));
      });
    }
    const id = next++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer with the metrics'));
      }, timeoutMs);
      timer.unref();
      waiting.set(id, { resolve, reject, timer });
      sendToPrimary({ sf: 'metrics', id });
    });
  };
})();
