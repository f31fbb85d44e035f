// Drains this sipfront (POST /drain): OPTIONS and new dialogs get 503 while calls in progress
// continue, so load balancers and peers move away before a restart; `{ draining: false }` ends it.
// The API has no GET for the drain flag, so the state shown first comes from /ready.
import { useMemo, useState } from 'preact/hooks';
import { ApiFailure, createApiClient } from '../api.js';
import { useAction, useConsole, useResource } from '../hooks.js';
import { StateBadge } from './state-badge.js';

/** true / false, or null when /ready is down for another reason (starting, store down) or unknown. */
const drainingFromReady = async (get: () => Promise<unknown>): Promise<boolean | null> => {
  try {
    await get();
    return false;
  } catch (err) {
    // `not-ready` covers starting, draining, stopping and a store that is down: only the message
    // tells them apart
    if (err instanceof ApiFailure && err.status === 503) return /\bdraining\b/i.test(err.message) ? true : null;
    throw err;
  }
};

export const DrainControl = () => {
  const { api, confirm } = useConsole();
  const act = useAction();
  // /ready sits beside /api/v1, and needs no token
  const root = useMemo(() => createApiClient({ token: null, base: '' }), []);
  const ready = useResource<boolean | null>('ready', () => drainingFromReady(() => root.get('/ready')), { intervalMs: 15_000 });
  const [known, setKnown] = useState<{ draining: boolean; at: number } | null>(null);
  // what POST /drain answered wins over a /ready read from before it
  const draining = known !== null && known.at >= ready.fetchedAt ? known.draining : (ready.data ?? null);

  const set = async (on: boolean): Promise<void> => {
    if (on) {
      const ok = await confirm({
        title: 'Drain this sipfront?',
        message:
          'OPTIONS and new calls get 503 (peers and load balancers move to another instance) and /ready answers 503; calls in progress continue. End the drain here when done.',
        confirmLabel: 'Drain',
        danger: true,
      });
      if (!ok) return;
    }
    await act(
      on ? 'Draining this sipfront' : 'Ending the drain',
      async () => {
        const r = await api.send<{ draining: boolean }>('POST', '/drain', { draining: on });
        setKnown({ draining: r.draining, at: Date.now() });
      },
      on ? 'This sipfront is draining: new calls get 503.' : 'The drain has ended: this sipfront takes new calls.',
    );
    ready.reload();
  };

  const word = draining === null ? 'unknown' : draining ? 'draining' : 'active';
  return (
    <section class="card instance" aria-labelledby="instance-title" data-draining={draining === null ? 'unknown' : String(draining)}>
      <header class="card-head">
        <div>
          <h3 id="instance-title">This sipfront</h3>
          <p class="meta">
            <StateBadge state={word} label="This sipfront" />{' '}
            {draining === null ? 'drain state not known (see /ready)' : draining ? 'new calls and OPTIONS get 503; calls in progress continue' : 'taking new calls'}
          </p>
        </div>
        <div class="button-row">
          <button type="button" class="small warn" disabled={draining === true} onClick={() => void set(true)}>
            Drain this sipfront
          </button>
          <button type="button" class="small" disabled={draining === false} onClick={() => void set(false)}>
            End the drain
          </button>
        </div>
      </header>
    </section>
  );
};
