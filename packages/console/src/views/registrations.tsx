// Registrations: the location service, searchable by AOR; each contact with its expiry counting
// down, where it registered from (address and transport) and its User-Agent; unregister an AOR.
import { useState } from 'preact/hooks';
import { seg, type Registration } from '../api.js';
import { Countdown } from '../components/countdown.js';
import { Empty, LoadState } from '../components/load-state.js';
import { parseParty } from '../format.js';
import { useAction, useConsole, useNow, useResource } from '../hooks.js';

export const Registrations = () => {
  const { api, confirm } = useConsole();
  const act = useAction();
  const now = useNow(1000);
  const [query, setQuery] = useState('');
  const regs = useResource<Registration[]>(
    'registrations',
    async (a, signal) => (await a.get<{ registrations: Registration[] }>('/registrations', signal)).registrations,
    { intervalMs: 15_000, events: ['registration'] },
  );

  const unregister = async (aor: string, contacts: number): Promise<void> => {
    const ok = await confirm({
      title: `Unregister ${aor}?`,
      message: `All ${contacts} contact(s) of ${aor} are removed; calls to ${aor} fail until its phones register again.`,
      confirmLabel: 'Unregister',
      danger: true,
    });
    if (!ok) return;
    await act(`Unregistering ${aor}`, () => api.send('DELETE', `/registrations/${seg(aor)}`), `${aor} was unregistered.`);
    regs.reload();
  };

  const q = query.trim().toLowerCase();
  const shown = (regs.data ?? []).filter((r) => q === '' || r.aor.toLowerCase().includes(q)).sort((a, b) => a.aor.localeCompare(b.aor));
  const total = regs.data?.length ?? 0;
  return (
    <>
      <form class="inline-form search" role="search" onSubmit={(e) => e.preventDefault()}>
        <div class="field grow">
          <label for="aor-search">Search by AOR</label>
          <input id="aor-search" type="search" placeholder="1001@example.com" value={query} onInput={(e) => setQuery(e.currentTarget.value)} aria-describedby="aor-count" />
        </div>
        <p id="aor-count" class="meta" aria-live="polite">
          {regs.data !== undefined ? `${shown.length} of ${total} AOR${total === 1 ? '' : 's'}` : ''}
        </p>
      </form>
      <LoadState what="the registrations" error={regs.error} loading={regs.loading} hasData={regs.data !== undefined} fetchedAt={regs.fetchedAt} onRetry={regs.reload} />
      {regs.data !== undefined && shown.length === 0 ? <Empty>{total === 0 ? 'Nobody is registered.' : `No AOR matches “${query}”.`}</Empty> : null}
      {shown.map((r) => (
        <section key={r.aor} class="card" aria-labelledby={`aor-${r.aor}`} data-aor={r.aor}>
          <header class="card-head">
            <h3 id={`aor-${r.aor}`} class="mono">
              {r.aor}
            </h3>
            <button type="button" class="small warn" onClick={() => void unregister(r.aor, r.contacts.length)}>
              Unregister<span class="sr-only"> {r.aor}</span>
            </button>
          </header>
          <div class="table-scroll">
            <table class="responsive">
              <caption class="sr-only">Contacts of {r.aor}</caption>
              <thead>
                <tr>
                  <th scope="col">Contact</th>
                  <th scope="col">Expires in</th>
                  <th scope="col">Source</th>
                  <th scope="col">Transport</th>
                  <th scope="col">User-Agent</th>
                </tr>
              </thead>
              <tbody>
                {r.contacts.map((c) => {
                  const src = parseParty(c.source);
                  return (
                    <tr key={`${c.uri} ${c.callId}`}>
                      <th scope="row" data-label="Contact">
                        <span class="mono">{c.uri}</span>
                        {c.q !== null ? <span class="meta">q={c.q}</span> : null}
                      </th>
                      <td data-label="Expires in">
                        <Countdown expiresIn={c.expiresIn} fetchedAt={regs.fetchedAt} now={now} />
                      </td>
                      <td data-label="Source" class="mono">
                        {src.hostPort}
                      </td>
                      <td data-label="Transport">{src.transport !== '' ? src.transport.toUpperCase() : '—'}</td>
                      <td data-label="User-Agent">{c.userAgent ?? <span class="muted">none sent</span>}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      ))}
    </>
  );
};
