// Trunks: outbound registrations to providers — their state, the provider's last answer, when the
// registration runs out and when the next attempt is due; "register now" asks for one at once.
import { seg, type Trunk } from '../api.js';
import { Empty, LoadState } from '../components/load-state.js';
import { StateBadge } from '../components/state-badge.js';
import { countdownWords, formatCountdown, formatTime, toMillis } from '../format.js';
import { useAction, useConsole, useNow, useResource } from '../hooks.js';

/** `in 0:42 (12:00:42)` for a future time, the time alone for a past one. */
const until = (t: string | number | null, now: number) => {
  const ms = toMillis(t);
  if (!Number.isFinite(ms)) return <span class="muted">—</span>;
  const left = (ms - now) / 1000;
  if (left <= 0) return <span>{formatTime(ms, now)}</span>;
  return (
    <span title={countdownWords(left)}>
      in <span class="countdown">{formatCountdown(left)}</span> <span class="meta">({formatTime(ms, now)})</span>
    </span>
  );
};

export const Trunks = () => {
  const { api } = useConsole();
  const act = useAction();
  const now = useNow(1000);
  const trunks = useResource<Trunk[]>('trunks', async (a, signal) => (await a.get<{ trunks: Trunk[] }>('/trunks', signal)).trunks, {
    intervalMs: 10_000,
    events: ['trunk'],
  });
  const registerNow = async (t: Trunk): Promise<void> => {
    await act(`Registering ${t.id}`, () => api.send('POST', `/trunks/${seg(t.id)}/register`), `${t.id}: a REGISTER was sent.`);
    trunks.reload();
  };
  return (
    <>
      <LoadState what="the trunks" error={trunks.error} loading={trunks.loading} hasData={trunks.data !== undefined} fetchedAt={trunks.fetchedAt} onRetry={trunks.reload} />
      {trunks.data !== undefined && trunks.data.length === 0 ? <Empty>No trunks are configured.</Empty> : null}
      {trunks.data !== undefined && trunks.data.length > 0 ? (
        <div class="card table-scroll">
          <table class="responsive">
            <caption class="sr-only">Trunks</caption>
            <thead>
              <tr>
                <th scope="col">Trunk</th>
                <th scope="col">State</th>
                <th scope="col">Last answer</th>
                <th scope="col">Registered until</th>
                <th scope="col">Next attempt</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {trunks.data.map((t) => (
                <tr key={t.id} data-trunk={t.id}>
                  <th scope="row" data-label="Trunk">
                    {t.id}
                    <span class="meta mono">
                      {t.user} at {t.registrar}
                    </span>
                  </th>
                  <td data-label="State">
                    <StateBadge state={t.state} />
                  </td>
                  <td data-label="Last answer">{t.lastCode !== null ? `${t.lastCode} ${t.lastReason ?? ''}` : <span class="muted">none yet</span>}</td>
                  <td data-label="Registered until">{until(t.registeredUntil, now)}</td>
                  <td data-label="Next attempt">{until(t.nextAttemptAt, now)}</td>
                  <td data-label="Actions">
                    <button type="button" class="small" onClick={() => void registerNow(t)}>
                      Register now<span class="sr-only"> {t.id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
};
