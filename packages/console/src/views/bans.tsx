// Bans: who the security layer keeps out, why and until when; lift a ban, or ban by hand.
import { useState } from 'preact/hooks';
import { seg, type Ban } from '../api.js';
import { Countdown } from '../components/countdown.js';
import { Empty, LoadState } from '../components/load-state.js';
import { formatTime } from '../format.js';
import { useAction, useConsole, useNow, useResource } from '../hooks.js';

const DURATIONS: Array<[string, number]> = [
  ['10 minutes', 600],
  ['1 hour', 3600],
  ['1 day', 86_400],
  ['1 week', 604_800],
  ['30 days', 2_592_000],
];

export const Bans = () => {
  const { api } = useConsole();
  const act = useAction();
  const now = useNow(1000);
  const bans = useResource<Ban[]>('bans', async (a, signal) => (await a.get<{ bans: Ban[] }>('/bans', signal)).bans, { intervalMs: 15_000, events: ['ban', 'unban'] });
  const lift = async (b: Ban): Promise<void> => {
    await act(`Lifting the ban on ${b.ip}`, () => api.send('DELETE', `/bans/${seg(b.ip)}`), `${b.ip} is no longer banned.`);
    bans.reload();
  };
  return (
    <>
      <LoadState what="the bans" error={bans.error} loading={bans.loading} hasData={bans.data !== undefined} fetchedAt={bans.fetchedAt} onRetry={bans.reload} />
      {bans.data !== undefined && bans.data.length === 0 ? <Empty>No address is banned.</Empty> : null}
      {bans.data !== undefined && bans.data.length > 0 ? (
        <div class="card table-scroll">
          <table class="responsive">
            <caption class="sr-only">Banned addresses</caption>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">Reason</th>
                <th scope="col">Since</th>
                <th scope="col">Expires in</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {bans.data.map((b) => (
                <tr key={b.ip} data-ban={b.ip}>
                  <th scope="row" data-label="Address" class="mono">
                    {b.ip}
                  </th>
                  <td data-label="Reason">{b.reason}</td>
                  <td data-label="Since">{formatTime(b.createdAt, now)}</td>
                  <td data-label="Expires in">
                    <Countdown expiresIn={b.expiresIn} fetchedAt={bans.fetchedAt} now={now} />
                  </td>
                  <td data-label="Actions">
                    <button type="button" class="small" onClick={() => void lift(b)}>
                      Lift<span class="sr-only"> the ban on {b.ip}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <AddBan onAdded={bans.reload} />
    </>
  );
};

const AddBan = ({ onAdded }: { onAdded(): void }) => {
  const { api } = useConsole();
  const act = useAction();
  const [ip, setIp] = useState('');
  const [seconds, setSeconds] = useState(String(3600));
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const a = ip.trim();
    if (await act(`Banning ${a}`, () => api.send('POST', '/bans', { ip: a, seconds: Number(seconds), reason: 'manual' }), `${a} is banned.`)) {
      setIp('');
      onAdded();
    }
  };
  return (
    <section class="card" aria-labelledby="add-ban-title">
      <h3 id="add-ban-title">Ban an address</h3>
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <div class="field grow">
          <label for="ban-ip">IP address</label>
          <input id="ban-ip" required placeholder="203.0.113.7" autocomplete="off" value={ip} onInput={(e) => setIp(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="ban-for">For</label>
          <select id="ban-for" value={seconds} onChange={(e) => setSeconds(e.currentTarget.value)}>
            {DURATIONS.map(([label, s]) => (
              <option key={s} value={String(s)}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary">
          Ban
        </button>
      </form>
    </section>
  );
};
