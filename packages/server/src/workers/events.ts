// The event feed (`GET /api/v1/events`) with workers: worker 0 serves it, the others' `call`
// events reach it over IPC — only while someone listens, since a call's start and end would
// otherwise cost two IPC messages each for nobody.
import type { EventHub } from '@sipfront/api';
import type { WorkerRpc } from './rpc.js';

/** Worker 0's hub: tells the others when the first subscriber comes and the last goes, and publishes what they send. */
export const feedEvents = (hub: EventHub, rpc: WorkerRpc): EventHub => {
  rpc.handle('events.publish', (e) => {
    const ev = e as { type?: unknown; data?: unknown } | null;
    if (typeof ev?.type === 'string') hub.publish(ev.type, ev.data);
    return true;
  });
  rpc.handle('events.feeding', () => hub.listeners() > 0);
  return {
    ...hub,
    subscribe(fn) {
      const first = hub.listeners() === 0;
      const off = hub.subscribe(fn);
      if (first) void rpc.ask('events.feed', true);
      return () => {
        off();
        if (hub.listeners() === 0) void rpc.ask('events.feed', false);
      };
    },
  };
};

/** Another worker's hub: while worker 0 has subscribers, events of these types go there. */
export const forwardEvents = (hub: EventHub, rpc: WorkerRpc, types: ReadonlySet<string>): void => {
  let off: (() => void) | undefined;
  const feed = (on: boolean): void => {
    if (on && off === undefined) {
      off = hub.subscribe((e) => {
        if (types.has(e.type)) rpc.tell(0, 'events.publish', e);
      });
    } else if (!on && off !== undefined) {
      off();
      off = undefined;
    }
  };
  rpc.handle('events.feed', (on) => {
    feed(on === true);
    return true;
  });
  // worker 0 may have had subscribers before this worker came up
  void rpc.ask('events.feeding').then((answers) => feed(answers.some((a) => a === true)));
};
