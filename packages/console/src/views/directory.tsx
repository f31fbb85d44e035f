// Subscribers and domains: the served domains, and the accounts for digest auth. A password can
// be set (it goes to the API and is hashed there) but is never shown: the API never returns one.
import { useState } from 'preact/hooks';
import { seg, type Subscriber } from '../api.js';
import { Empty, LoadState } from '../components/load-state.js';
import { useAction, useConsole, useResource } from '../hooks.js';

export const Directory = () => {
  const { api, confirm } = useConsole();
  const act = useAction();
  const domains = useResource<string[]>('domains', async (a, signal) => (await a.get<{ domains: Array<{ domain: string }> }>('/domains', signal)).domains.map((d) => d.domain), {
    intervalMs: 30_000,
  });
  const [filter, setFilter] = useState('');
  const subs = useResource<Subscriber[]>(
    `subscribers ${filter}`,
    async (a, signal) => (await a.get<{ subscribers: Subscriber[] }>(`/subscribers${filter !== '' ? `?domain=${encodeURIComponent(filter)}` : ''}`, signal)).subscribers,
    { intervalMs: 30_000 },
  );

  const removeDomain = async (d: string): Promise<void> => {
    if (!(await confirm({ title: `Stop serving ${d}?`, message: `REGISTER and calls for ${d} are no longer handled by the registrar.`, confirmLabel: 'Remove domain', danger: true }))) return;
    await act(`Removing ${d}`, () => api.send('DELETE', `/domains/${seg(d)}`), `${d} is no longer served.`);
    domains.reload();
  };
  const removeSubscriber = async (s: Subscriber): Promise<void> => {
    const id = `${s.user}@${s.domain}`;
    if (!(await confirm({ title: `Remove ${id}?`, message: `${id} can no longer authenticate. Existing registrations stay until they expire.`, confirmLabel: 'Remove', danger: true }))) return;
    await act(`Removing ${id}`, () => api.send('DELETE', `/subscribers/${seg(id)}`), `${id} was removed.`);
    subs.reload();
  };

  const domainList = domains.data ?? [];
  return (
    <div class="columns">
      <section class="card" aria-labelledby="domains-title">
        <h3 id="domains-title">Domains</h3>
        <LoadState what="the domains" error={domains.error} loading={domains.loading} hasData={domains.data !== undefined} fetchedAt={domains.fetchedAt} onRetry={domains.reload} />
        {domains.data !== undefined && domainList.length === 0 ? <Empty>No domains are served.</Empty> : null}
        {domainList.length > 0 ? (
          <ul class="plain-list">
            {domainList.map((d) => (
              <li key={d}>
                <span class="mono">{d}</span>
                <button type="button" class="small secondary" onClick={() => void removeDomain(d)}>
                  Remove<span class="sr-only"> {d}</span>
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <AddDomain onAdded={domains.reload} />
      </section>
      <section class="card wide" aria-labelledby="subs-title">
        <header class="card-head">
          <h3 id="subs-title">Subscribers</h3>
          <div class="field">
            <label for="subs-domain">Filter by domain</label>
            <select id="subs-domain" value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
              <option value="">all domains</option>
              {domainList.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </div>
        </header>
        <LoadState what="the subscribers" error={subs.error} loading={subs.loading} hasData={subs.data !== undefined} fetchedAt={subs.fetchedAt} onRetry={subs.reload} />
        {subs.data !== undefined && subs.data.length === 0 ? <Empty>No subscribers{filter !== '' ? ` in ${filter}` : ''}.</Empty> : null}
        {subs.data !== undefined && subs.data.length > 0 ? (
          <div class="table-scroll">
            <table class="responsive">
              <caption class="sr-only">Subscribers</caption>
              <thead>
                <tr>
                  <th scope="col">Subscriber</th>
                  <th scope="col">Realms</th>
                  <th scope="col">Hashes held</th>
                  <th scope="col">Set a password</th>
                  <th scope="col">
                    <span class="sr-only">Remove</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {subs.data.map((s) => (
                  <tr key={`${s.user}@${s.domain}`}>
                    <th scope="row" data-label="Subscriber" class="mono">
                      {s.user}@{s.domain}
                    </th>
                    <td data-label="Realms">{s.realms.join(', ') || '—'}</td>
                    <td data-label="Hashes held">{s.algorithms.join(', ') || '—'}</td>
                    <td data-label="Set a password">
                      <SetPassword subscriber={s} />
                    </td>
                    <td data-label="Remove">
                      <button type="button" class="small secondary" onClick={() => void removeSubscriber(s)}>
                        Remove<span class="sr-only">
                          {' '}
                          {s.user}@{s.domain}
                        </span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <AddSubscriber domains={domainList} onAdded={subs.reload} />
      </section>
    </div>
  );
};

const AddDomain = ({ onAdded }: { onAdded(): void }) => {
  const { api } = useConsole();
  const act = useAction();
  const [domain, setDomain] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const d = domain.trim();
    if (await act(`Adding ${d}`, () => api.send('POST', '/domains', { domain: d }), `${d} is now served.`)) {
      setDomain('');
      onAdded();
    }
  };
  return (
    <form class="inline-form" onSubmit={(e) => void submit(e)}>
      <div class="field grow">
        <label for="new-domain">New domain</label>
        <input id="new-domain" required placeholder="example.com" value={domain} onInput={(e) => setDomain(e.currentTarget.value)} />
      </div>
      <button type="submit" class="primary">
        Add domain
      </button>
    </form>
  );
};

const SetPassword = ({ subscriber }: { subscriber: Subscriber }) => {
  const { api } = useConsole();
  const act = useAction();
  const [password, setPassword] = useState('');
  const id = `${subscriber.user}@${subscriber.domain}`;
  const fieldId = `pw-${id.replace(/[^a-z0-9]/gi, '-')}`;
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    // the field is cleared whatever happens: a password never stays on screen
    const pw = password;
    setPassword('');
    await act(`Setting the password of ${id}`, () => api.send('PUT', `/subscribers/${seg(id)}`, { password: pw }), `The password of ${id} was set.`);
  };
  return (
    <form class="password-form" onSubmit={(e) => void submit(e)}>
      <label for={fieldId} class="sr-only">
        New password for {id}
      </label>
      <input id={fieldId} type="password" autocomplete="new-password" placeholder="new password" required minLength={1} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      <button type="submit" class="small">
        Set<span class="sr-only"> the password of {id}</span>
      </button>
    </form>
  );
};

const AddSubscriber = ({ domains, onAdded }: { domains: string[]; onAdded(): void }) => {
  const { api } = useConsole();
  const act = useAction();
  const [user, setUser] = useState('');
  const [domain, setDomain] = useState('');
  const [password, setPassword] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const d = domain.trim() !== '' ? domain.trim() : (domains[0] ?? '');
    const pw = password;
    setPassword('');
    if (await act(`Adding ${user}@${d}`, () => api.send('POST', '/subscribers', { user: user.trim(), domain: d, password: pw }), `${user.trim()}@${d} was added.`)) {
      setUser('');
      onAdded();
    }
  };
  return (
    <details class="add">
      <summary>Add a subscriber</summary>
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="new-user">User</label>
          <input id="new-user" required pattern="[^\s@]+" placeholder="1001" autocomplete="off" value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="new-user-domain">Domain</label>
          <input id="new-user-domain" list="domain-options" required={domains.length === 0} placeholder={domains[0] ?? 'example.com'} value={domain} onInput={(e) => setDomain(e.currentTarget.value)} />
          <datalist id="domain-options">
            {domains.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
        </div>
        <div class="field">
          <label for="new-user-password">Password</label>
          <input id="new-user-password" type="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </div>
        <button type="submit" class="primary">
          Add subscriber
        </button>
      </form>
    </details>
  );
};
