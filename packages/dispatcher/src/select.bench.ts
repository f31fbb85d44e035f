// select() is on the path of every initial request: how much each algorithm costs per call
// with four destinations up (no probes run: the timers are never reached in a bench loop).
import { bench, describe } from 'vitest';
import { createDispatcher } from './dispatcher.js';
import { ALGORITHMS } from './types.js';

const destinations = [11, 12, 13, 14].map((n, i) => ({ uri: `sip:10.0.0.${n}:5060`, weight: i + 1, priority: i % 2 }));
const dispatcher = createDispatcher(
  { prober: () => new Promise(() => {}) },
  {
    probe: { interval: 3_600_000, timeout: 1000, downAfter: 3, upAfter: 1, accept: [200] },
    sets: ALGORITHMS.map((algorithm, i) => ({ id: i + 1, name: algorithm, algorithm, destinations })),
  },
);
let n = 0;
const key = () => {
  n++;
  return { callId: `${n}-a84b4c76e66710@pc33.atlanta.example.com`, fromUri: `sip:${n % 1000}@example.com`, toUri: 'sip:1002@example.com', ruri: 'sip:1002@example.com' };
};

describe('select, 4 destinations', () => {
  ALGORITHMS.forEach((algorithm, i) => {
    bench(algorithm, () => {
      dispatcher.select(i + 1, key());
    });
  });
});
