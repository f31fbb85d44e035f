// Preload for sipfront (node --import): V8's sampling heap profiler from start to exit, counting
// also what the collector has freed since (every allocation, not only what stays), written at
// exit to $SIPFRONT_ALLOC_DIR (default the temp dir) as alloc-<pid>.heapprofile. With the bench:
//
//   pnpm bench --rates 1000 --duration 20 --node-arg=--import=./scripts/alloc-sampler.mjs
//   node scripts/alloc-summary.mjs /tmp/alloc-<pid>.heapprofile <calls>
//
// <calls>: every call the process saw (warm-up included: 10 s at 500/s plus the steps).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', { samplingInterval: 2048, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
process.on('exit', () => {
  // a session on the main thread answers at once, inside post
  session.post('HeapProfiler.stopSampling', (err, r) => {
    if (err !== null && err !== undefined) {
      process.stderr.write(`alloc-sampler: ${err.message}\n`);
      return;
    }
    writeFileSync(join(process.env.SIPFRONT_ALLOC_DIR ?? tmpdir(), `alloc-${process.pid}.heapprofile`), JSON.stringify(r.profile));
  });
});
