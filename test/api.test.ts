// The REST API of a running sipfront over real HTTP: auth, every endpoint's answers (happy path,
// 400 naming the field, 404, 409), dispatcher changes that reach live calls (sipp), registrations
// made by REGISTER, a manual ban, /metrics after traffic, /events, and /ready after a drain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization } from '@sipfront/core';
import { METRIC_NAMES } from '@sipfront/api';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, uniq } from './helpers/sip-text.js';
import { runSipp, startSippUas, type SippUas } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const TOKEN = `t-${uniq()}`;

interface HttpResult {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON of many shapes
  text: string;
}

const client = (base: string, token: string | undefined) =>
  async (method: string, path: string, body?: unknown, opts: { token?: string | null } = {}): Promise<HttpResult> => {
    const headers: Record<string, string> = {};
    const t = opts.token === undefined ? token : opts.token;
    if (t !== undefined && t !== null) headers['authorization'] = `Bearer ${t}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

/** The value of one sample in Prometheus text, 0 when absent. */
const sample = (text: string, name: string, labels = ''): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
};

const enc = encodeURIComponent;

describe('REST API over HTTP (memory store, token set)', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let phone: UdpPeer;
  let http: ReturnType<typeof client>;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        `api: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
        'domains: [example.com]',
        'security: { trusted: [127.0.0.1/32, 127.0.0.2/32], flood: { window: 1s, max: 100000 }, auth_failures: { max: 50, window: 60s, ban: 60s } }',
        'registrar:',
        '  subscribers:',
        '    - { user: "1001", domain: example.com, password: secret1 }',
        'dispatcher:',
        '  probe: { interval: 500ms, timeout: 400ms, down_after: 1, up_after: 1 }',
        '  sets:',
        `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
    http = client(sf.apiUrl, TOKEN);
    backend.to(port);
    phone = (await udpPeer({ host: '127.0.0.5' })).to(port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [backend, phone]) await p?.close();
  });

  it('asks for the token on /api/v1 (401 without it or with a wrong one), not on /health, /ready, /metrics, /docs', async () => {
    const none = await http('GET', '/api/v1/domains', undefined, { token: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'unauthorized', message: 'a Bearer token is required' } });
    const wrong = await http('GET', '/api/v1/domains', undefined, { token: `${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
    expect((await http('GET', '/api/v1/events', undefined, { token: null })).status).toBe(401);
    expect((await http('GET', '/api/v1/domains')).status).toBe(200);
    expect((await http('GET', '/health', undefined, { token: null })).body).toEqual({ status: 'ok' });
    expect((await http('GET', '/ready', undefined, { token: null })).body).toEqual({ ready: true });
    expect((await http('GET', '/metrics', undefined, { token: null })).status).toBe(200);
    const doc = await http('GET', '/docs/json', undefined, { token: null });
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toContain('/api/v1/dispatcher/sets/{id}/destinations/{destId}');
    // the console's files (503 with a hint when it is not built)
    expect([200, 503]).toContain((await http('GET', '/console/', undefined, { token: null })).status);
  });

  it('domains: list, add (409 twice, 400 naming the field), delete (404 twice)', async () => {
    expect((await http('GET', '/api/v1/domains')).body).toEqual({ domains: [{ domain: 'example.com' }] });
    const add = await http('POST', '/api/v1/domains', { domain: 'Lab.Example.org' });
    expect(add.status).toBe(201);
    expect(add.body).toEqual({ domain: 'lab.example.org' });
    expect(await sf.server.stores.domains.has('lab.example.org')).toBe(true);
    const dup = await http('POST', '/api/v1/domains', { domain: 'lab.example.org' });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'conflict', field: 'domain' });
    expect((await http('POST', '/api/v1/domains', {})).body.error).toMatchObject({ code: 'invalid-request', field: 'domain' });
    expect((await http('POST', '/api/v1/domains', { domain: 'a b' })).body.error).toMatchObject({ field: 'domain' });
    expect((await http('DELETE', '/api/v1/domains/lab.example.org')).status).toBe(204);
    expect((await http('DELETE', '/api/v1/domains/lab.example.org')).status).toBe(404);
  });

  it('dispatcher sets and destinations: every endpoint, with 400/404/409', async () => {
    const created = await http('POST', '/api/v1/dispatcher/sets', { id: 7, name: 'lab', algorithm: 'priority', destinations: [{ uri: 'sip:127.0.0.1:9', priority: 2 }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 7, name: 'lab', algorithm: 'priority', destinations: [{ id: 'sip:127.0.0.1:9', uri: 'sip:127.0.0.1:9', weight: 1, priority: 2, activeCalls: 0, selectedTotal: 0 }] });
    expect(sf.server.dispatch.dispatcher.hasSet(7)).toBe(true);
    expect((await http('POST', '/api/v1/dispatcher/sets', { id: 7 })).body.error).toMatchObject({ code: 'duplicate-set', field: 'id' });
    expect((await http('POST', '/api/v1/dispatcher/sets', { id: 8, destinations: [{ uri: 'mailto:x@y' }] })).body.error).toMatchObject({ code: 'invalid-request', field: 'destinations[0].uri' });
    expect((await http('POST', '/api/v1/dispatcher/sets', { id: 8, algorithm: 'fastest' })).body.error).toMatchObject({ field: 'algorithm' });
    expect((await http('POST', '/api/v1/dispatcher/sets', { name: 'x' })).body.error).toMatchObject({ field: 'id' });
    const dupDest = await http('POST', '/api/v1/dispatcher/sets', { id: 8, destinations: [{ uri: 'sip:127.0.0.1:9' }, { uri: 'sip:127.0.0.1:9' }] });
    expect(dupDest.status).toBe(409);
    expect(dupDest.body.error).toMatchObject({ code: 'duplicate-destination', field: 'destinations[1].uri' });

    expect((await http('GET', '/api/v1/dispatcher/sets')).body.sets.map((s: { id: number }) => s.id)).toEqual([1, 7]);
    expect((await http('GET', '/api/v1/dispatcher/sets/7')).body.name).toBe('lab');
    expect((await http('GET', '/api/v1/dispatcher/sets/99')).status).toBe(404);
    expect((await http('GET', '/api/v1/dispatcher/sets/abc')).body.error).toMatchObject({ code: 'invalid-request', field: 'id' });

    const put = await http('PUT', '/api/v1/dispatcher/sets/7', { name: 'lab2' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: 'lab2', algorithm: 'priority', destinations: [{ uri: 'sip:127.0.0.1:9' }] });
    expect((await http('PUT', '/api/v1/dispatcher/sets/7', { id: 6 })).body.error).toMatchObject({ field: 'id' });

    const dest = 'sip:127.0.0.1:10;transport=tcp';
    const added = await http('POST', '/api/v1/dispatcher/sets/7/destinations', { uri: dest, weight: 3 });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ id: dest, weight: 3, priority: 0 });
    expect((await http('POST', '/api/v1/dispatcher/sets/7/destinations', { uri: dest })).status).toBe(409);
    expect((await http('POST', '/api/v1/dispatcher/sets/99/destinations', { uri: dest })).status).toBe(404);
    expect((await http('POST', '/api/v1/dispatcher/sets/7/destinations', { uri: dest, weight: -1 })).body.error).toMatchObject({ field: 'weight' });
    expect((await http('GET', '/api/v1/dispatcher/sets/7/destinations')).body.destinations).toHaveLength(2);
    expect((await http('GET', '/api/v1/dispatcher/sets/99/destinations')).status).toBe(404);
    expect((await http('GET', `/api/v1/dispatcher/sets/7/destinations/${enc(dest)}`)).body).toMatchObject({ uri: dest, state: expect.any(String), probes: expect.any(Array) });
    expect((await http('GET', `/api/v1/dispatcher/sets/7/destinations/${enc('sip:127.0.0.1:11')}`)).status).toBe(404);

    const disabled = await http('PATCH', `/api/v1/dispatcher/sets/7/destinations/${enc(dest)}`, { state: 'disabled' });
    expect(disabled.status).toBe(200);
    expect(disabled.body.state).toBe('disabled');
    expect(sf.server.dispatch.dispatcher.getDestination(7, dest)?.state).toBe('disabled');
    expect((await http('PATCH', `/api/v1/dispatcher/sets/7/destinations/${enc(dest)}`, { state: 'inactive' })).body.error).toMatchObject({ code: 'invalid-request', field: 'state' });
    expect((await http('PATCH', `/api/v1/dispatcher/sets/7/destinations/${enc('sip:127.0.0.1:11')}`, { state: 'active' })).status).toBe(404);

    expect((await http('DELETE', `/api/v1/dispatcher/sets/7/destinations/${enc(dest)}`)).status).toBe(204);
    expect((await http('DELETE', `/api/v1/dispatcher/sets/7/destinations/${enc(dest)}`)).status).toBe(404);
    expect((await http('DELETE', '/api/v1/dispatcher/sets/7')).status).toBe(204);
    expect((await http('DELETE', '/api/v1/dispatcher/sets/7')).status).toBe(404);
    expect(sf.server.dispatch.dispatcher.hasSet(7)).toBe(false);
  });

  it('dispatcher reload upserts the YAML sets and keeps API-made ones', async () => {
    await http('PUT', '/api/v1/dispatcher/sets/1', { name: 'renamed' });
    await http('POST', '/api/v1/dispatcher/sets', { id: 12 });
    const r = await http('POST', '/api/v1/dispatcher/reload');
    expect(r.status).toBe(200);
    const ids = r.body.sets.map((s: { id: number; name: string }) => `${s.id}:${s.name}`);
    expect(ids).toEqual(['1:asterisk', '12:set-12']);
    expect((await http('DELETE', '/api/v1/dispatcher/sets/12')).status).toBe(204);
  });

  it('subscribers: create, read, replace, delete; credentials never returned', async () => {
    const user = `u${uniq().replace(/\W/g, '')}`;
    const id = enc(`${user}@example.com`);
    // a password no random user name can contain ('pw' did: a user u…pw… failed the check below)
    const password = 'Never-Echoed-7Qz';
    const c = await http('POST', '/api/v1/subscribers', { user, domain: 'Example.com', password });
    expect(c.status).toBe(201);
    expect(c.body).toEqual({ user, domain: 'example.com', realms: ['example.com'], algorithms: expect.arrayContaining(['MD5']) });
    expect(c.text).not.toContain(password);
    expect(c.text).not.toMatch(/"(password|ha1)"/);
    expect((await http('POST', '/api/v1/subscribers', { user, domain: 'example.com', password: 'pw' })).status).toBe(409);
    expect((await http('POST', '/api/v1/subscribers', { user: 'x', domain: 'example.com' })).body.error).toMatchObject({ field: 'password' });
    expect((await http('POST', '/api/v1/subscribers', { user: 'x', domain: 'example.com', ha1: 'zz' })).body.error).toMatchObject({ field: 'ha1' });
    expect((await http('POST', '/api/v1/subscribers', { user: 'x', domain: 'example.com', password: 'p', secret: 1 })).body.error).toMatchObject({ field: 'secret' });
    expect((await http('GET', `/api/v1/subscribers/${id}`)).body).toMatchObject({ user, domain: 'example.com' });
    expect((await http('GET', '/api/v1/subscribers?domain=example.com')).body.subscribers.map((s: { user: string }) => s.user)).toContain(user);
    const ha1 = 'ab'.repeat(16);
    const put = await http('PUT', `/api/v1/subscribers/${id}`, { ha1 });
    expect(put.status).toBe(200);
    expect(put.text).not.toContain(ha1);
    expect((await sf.server.stores.subscribers.get(user, 'example.com'))?.ha1['example.com']?.MD5).toBe(ha1);
    expect((await http('PUT', `/api/v1/subscribers/${enc(`n${user}@example.com`)}`, { password: 'x' })).status).toBe(201);
    expect((await http('PUT', `/api/v1/subscribers/${id}`, {})).status).toBe(400);
    expect((await http('GET', `/api/v1/subscribers/${enc('nobody@example.com')}`)).status).toBe(404);
    expect((await http('GET', '/api/v1/subscribers/no-at-sign')).body.error).toMatchObject({ field: 'id' });
    expect((await http('DELETE', `/api/v1/subscribers/${id}`)).status).toBe(204);
    expect((await http('DELETE', `/api/v1/subscribers/${id}`)).status).toBe(404);
  });

  const register = async (user: string, password: string): Promise<number> => {
    const callId = `reg-${uniq()}`;
    const text = (cseq: number, auth?: string) =>
      request('REGISTER', 'sip:example.com', { port: phone.port, callId, cseq, to: `<sip:${user}@example.com>`, extra: [...(auth !== undefined ? [`Authorization: ${auth}`] : []), 'Expires: 600'] })
        .replace(/^From: <sip:alice@127.0.0.1>/m, `From: <sip:${user}@example.com>`)
        .replace(/^Contact: <sip:alice@127.0.0.1:(\d+)>/m, `Contact: <sip:${user}@192.168.1.50:$1>`)
        .replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, 'Via: SIP/2.0/UDP 127.0.0.5');
    phone.send(text(1));
    const ch = await phone.next(3000, (m) => m.status >= 200 && m.callId === callId);
    expect(ch.status).toBe(401);
    const auth = buildAuthorization(ch.get('www-authenticate')!, { username: user, password }, 'REGISTER', 'sip:example.com');
    phone.send(text(2, auth));
    return (await phone.next(3000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 2)).status;
  };

  it('registrations: a REGISTER shows up, DELETE removes it', async () => {
    expect(await register('1001', 'secret1')).toBe(200);
    const list = await http('GET', '/api/v1/registrations');
    expect(list.body.registrations.map((r: { aor: string }) => r.aor)).toContain('1001@example.com');
    const one = await http('GET', `/api/v1/registrations/${enc('1001@example.com')}`);
    expect(one.status).toBe(200);
    expect(one.body.contacts[0]).toMatchObject({ uri: expect.stringMatching(/^sip:1001@192\.168\.1\.50:\d+$/), source: `udp:127.0.0.5:${phone.port}`, expiresIn: expect.any(Number), callId: expect.any(String), path: [] });
    expect(one.body.contacts[0].expiresIn).toBeGreaterThan(590);
    expect((await http('DELETE', `/api/v1/registrations/${enc('1001@EXAMPLE.com')}`)).status).toBe(204);
    expect(await sf.server.registrar.lookup('1001@example.com')).toEqual([]);
    expect((await http('GET', `/api/v1/registrations/${enc('1001@example.com')}`)).status).toBe(404);
    expect((await http('DELETE', `/api/v1/registrations/${enc('1001@example.com')}`)).status).toBe(404);
    expect((await http('GET', '/api/v1/registrations/nobody')).body.error).toMatchObject({ code: 'invalid-request', field: 'aor' });
  });

  it("bans: a manual ban drops that address's requests until lifted", async () => {
    const peer = (await udpPeer({ host: '127.0.0.9' })).to(port);
    try {
      const options = () => {
        const r = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: peer.port }).replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, 'Via: SIP/2.0/UDP 127.0.0.9');
        peer.send(r);
        return callIdOf(r);
      };
      const first = options();
      expect((await peer.next(3000, (m) => m.callId === first)).status).toBe(200);

      const ban = await http('POST', '/api/v1/bans', { ip: '127.0.0.9', seconds: 60 });
      expect(ban.status).toBe(201);
      expect(ban.body).toMatchObject({ ip: '127.0.0.9', reason: 'manual', expiresIn: 60 });
      const banned = options();
      expect(await peer.silence(700, (m) => m.callId === banned)).toBe(true);
      expect((await http('GET', '/api/v1/bans')).body.bans).toEqual([expect.objectContaining({ ip: '127.0.0.9' })]);

      expect((await http('POST', '/api/v1/bans', { ip: 'not-an-ip', seconds: 5 })).body.error).toMatchObject({ code: 'invalid-ip', field: 'ip' });
      expect((await http('POST', '/api/v1/bans', { ip: '127.0.0.8', seconds: -1 })).body.error).toMatchObject({ field: 'seconds' });
      const trusted = await http('POST', '/api/v1/bans', { ip: '127.0.0.1', seconds: 5 });
      expect(trusted.status).toBe(409);
      expect(trusted.body.error).toMatchObject({ code: 'trusted-source', field: 'ip' });

      expect((await http('DELETE', '/api/v1/bans/127.0.0.9')).status).toBe(204);
      expect((await http('DELETE', '/api/v1/bans/127.0.0.9')).status).toBe(404);
      const after = options();
      expect((await peer.next(3000, (m) => m.callId === after)).status).toBe(200);
    } finally {
      await peer.close();
    }
  });

  /** /events, read until a text appears (at most 5 s each) */
  const openEvents = async () => {
    const ctl = new AbortController();
    const res = await fetch(`${sf.apiUrl}/api/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const stream = {
      text: '',
      async until(s: string): Promise<void> {
        const deadline = Date.now() + 5000;
        while (!stream.text.includes(s)) {
          if (Date.now() > deadline) throw new Error(`no ${s} in ${stream.text}`);
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          stream.text += Buffer.from(value).toString('utf8');
        }
      },
      close: () => ctl.abort(),
    };
    return stream;
  };

  it('/events streams destination state changes', async () => {
    const events = await openEvents();
    const until = events.until;
    try {
      await until(': connected');
      await http('POST', '/api/v1/dispatcher/sets', { id: 20, destinations: [{ uri: 'sip:127.0.0.1:20' }] });
      await http('PATCH', `/api/v1/dispatcher/sets/20/destinations/${enc('sip:127.0.0.1:20')}`, { state: 'disabled' });
      await until('"to":"disabled"');
      const event = events.text.split('\n\n').find((e) => e.includes('"to":"disabled"'))!;
      expect(event).toMatch(/^id: \d+\nevent: destination\ndata: /m);
      expect(JSON.parse(event.slice(event.indexOf('data: ') + 6))).toMatchObject({ setId: 20, uri: 'sip:127.0.0.1:20', to: 'disabled', cause: 'operator' });
    } finally {
      events.close();
      await http('DELETE', '/api/v1/dispatcher/sets/20');
    }
  });

  it("/events streams a call's start and end with its parties, and /calls lists it the same", async () => {
    const stream = await openEvents();
    const until = stream.until;
    try {
      await until(': connected');
      // a stranger's INVITE: sipfront answers it itself (nothing from a stranger passes), which ends the call
      const invite = request('INVITE', 'sip:600@example.com', { port: phone.port, to: '<sip:600@example.com>' });
      const id = callIdOf(invite);
      phone.send(invite);
      const answer = await phone.next(3000, (m) => m.callId === id && m.status >= 300);
      await until(`"event":"end","callId":"${id}"`);
      const events = stream.text
        .split('\n\n')
        .filter((e) => e.includes('event: call\n') && e.includes(id))
        .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
      const parties = { callId: id, from: 'sip:alice@127.0.0.1', to: 'sip:600@example.com', ruri: 'sip:600@example.com' };
      expect(events).toEqual([
        expect.objectContaining({ event: 'start', ...parties, state: 'trying', endedAt: null }),
        expect.objectContaining({ event: 'end', ...parties, state: 'failed', status: answer.status }),
      ]);
      const listed = (await http('GET', '/api/v1/calls')).body.calls.find((c: { callId: string }) => c.callId === id);
      expect(listed).toMatchObject({ ...parties, state: 'failed', status: answer.status });
      expect(listed.messages).toBeGreaterThanOrEqual(2);
      expect(listed.endedAt).toBe(events[1].endedAt);
    } finally {
      stream.close();
    }
  });

  it('/metrics has every metric of the contract, and counts change with traffic', async () => {
    const before = (await http('GET', '/metrics', undefined, { token: null })).text;
    for (const name of METRIC_NAMES) expect(before, name).toContain(`# TYPE ${name} `);
    expect(before).toContain('process_cpu_user_seconds_total');
    const peer = (await udpPeer()).to(port);
    try {
      for (let i = 0; i < 3; i++) {
        const r = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: peer.port });
        peer.send(r);
        await peer.next(3000, (m) => m.callId === callIdOf(r));
      }
      peer.send('garbage that is not SIP\r\n\r\n');
      await waitFor(async () => {
        const after = (await http('GET', '/metrics', undefined, { token: null })).text;
        return (
          sample(after, 'sipfront_sip_requests_total', '{method="OPTIONS"}') >= sample(before, 'sipfront_sip_requests_total', '{method="OPTIONS"}') + 3 &&
          sample(after, 'sipfront_sip_responses_total', '{code="200"}') >= sample(before, 'sipfront_sip_responses_total', '{code="200"}') + 3 &&
          sample(after, 'sipfront_parse_errors_total') >= sample(before, 'sipfront_parse_errors_total') + 1 &&
          sample(after, 'sipfront_requests_refused_total', '{reason="parse"}') >= 1
        );
      }, { timeoutMs: 3000, what: 'metrics after traffic' });
      const now = (await http('GET', '/metrics', undefined, { token: null })).text;
      expect(sample(now, 'sipfront_dispatcher_destination_up', `{set="1",destination="sip:127.0.0.1:${backend.port}"}`)).toBe(1);
      expect(now).toMatch(new RegExp(`sipfront_dispatcher_probe_rtt_seconds_count\\{set="1",destination="sip:127.0.0.1:${backend.port}"\\} [1-9]`));
    } finally {
      await peer.close();
    }
  });
});

describe('REST API: a set made through the API carries sipp calls', () => {
  let sf: TestSipfront;
  let port: number;
  let http: ReturnType<typeof client>;
  const backends: SippUas[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) backends.push(await startSippUas({ scenario: 'uas.xml' }));
    port = await freeSipPort();
    // no set in the YAML: calls get 503 until set 1 is made through the API
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        `api: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
        'security: { trusted: [127.0.0.1/32, 127.0.0.2/32], flood: { window: 1s, max: 100000 } }',
        'dispatcher: { probe: { interval: 1s, timeout: 500ms } }',
      ].join('\n'),
    );
    http = client(sf.apiUrl, TOKEN);
  });
  afterAll(async () => {
    await sf?.close();
    for (const b of backends) await b.stop();
  });

  it('spreads calls over both; a disabled destination gets no new calls; a deleted one is gone; /metrics counts them', async () => {
    const [a, b] = backends as [SippUas, SippUas];
    const uriA = `sip:127.0.0.1:${a.port}`;
    const uriB = `sip:127.0.0.1:${b.port}`;
    const calls = (n: number) => runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${port}`, localHost: '127.0.0.2', calls: n, rate: 20, callDurationMs: 20 });
    const none = await runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${port}`, localHost: '127.0.0.2', calls: 1, rate: 1 });
    expect(none.failed).toBe(1);

    const created = await http('POST', '/api/v1/dispatcher/sets', { id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [{ uri: uriA }, { uri: uriB }] });
    expect(created.status).toBe(201);

    const first = await calls(10);
    expect({ successful: first.successful, failed: first.failed }).toEqual({ successful: 10, failed: 0 });
    await waitFor(async () => (await a.invites()) + (await b.invites()) === 10, { timeoutMs: 3000, what: '10 INVITEs at the backends' });
    expect([await a.invites(), await b.invites()]).toEqual([5, 5]);

    const patched = await http('PATCH', `/api/v1/dispatcher/sets/1/destinations/${enc(uriB)}`, { state: 'disabled' });
    expect(patched.body.state).toBe('disabled');
    const second = await calls(6);
    expect(second.failed).toBe(0);
    await waitFor(async () => (await a.invites()) === 11, { timeoutMs: 3000, what: '6 more INVITEs at the first backend' });
    expect(await b.invites()).toBe(5);

    // the numbers in /metrics are the calls made
    const m = (await http('GET', '/metrics', undefined, { token: null })).text;
    expect(sample(m, 'sipfront_dispatcher_selected_total', `{set="1",destination="${uriA}"}`)).toBe(11);
    expect(sample(m, 'sipfront_dispatcher_selected_total', `{set="1",destination="${uriB}"}`)).toBe(5);
    expect(sample(m, 'sipfront_dispatcher_destination_up', `{set="1",destination="${uriA}"}`)).toBe(1);
    expect(sample(m, 'sipfront_dispatcher_destination_up', `{set="1",destination="${uriB}"}`)).toBe(0);
    // requests and responses count retransmissions too
    expect(sample(m, 'sipfront_sip_requests_total', '{method="INVITE"}')).toBeGreaterThanOrEqual(17);
    expect(sample(m, 'sipfront_sip_requests_total', '{method="BYE"}')).toBeGreaterThanOrEqual(16);
    expect(sample(m, 'sipfront_sip_responses_total', '{code="503"}')).toBeGreaterThanOrEqual(1);
    expect((await http('GET', `/api/v1/dispatcher/sets/1/destinations/${enc(uriA)}`)).body.selectedTotal).toBe(11);

    expect((await http('DELETE', `/api/v1/dispatcher/sets/1/destinations/${enc(uriB)}`)).status).toBe(204);
    const set = (await http('GET', '/api/v1/dispatcher/sets/1')).body;
    expect(set.destinations.map((d: { uri: string }) => d.uri)).toEqual([uriA]);
    expect(set.destinations[0].selectedTotal).toBe(11);
    const third = await calls(2);
    expect(third.failed).toBe(0);
    await waitFor(async () => (await a.invites()) === 13, { timeoutMs: 3000, what: '2 more INVITEs at the first backend' });
    expect(await b.invites()).toBe(5);
    const after = (await http('GET', '/metrics', undefined, { token: null })).text;
    expect(after).not.toContain(`destination="${uriB}"`);
  }, 60_000);
});

describe('REST API: sets made through the API outlive a restart (memory store)', () => {
  it('keeps API sets and operator states, and the YAML wins for the sets it names', async () => {
    const yaml = ['dispatcher:', '  probe: { interval: 1h }', '  sets:', '    - { id: 1, name: yaml, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:7001" } ] }'];
    const first = await startSipfront(yaml.join('\n'));
    const dataDir = first.dataDir;
    try {
      const http = client(first.apiUrl, undefined);
      expect((await http('POST', '/api/v1/dispatcher/sets', { id: 3, name: 'api', destinations: [{ uri: 'sip:127.0.0.1:7003' }, { uri: 'sip:127.0.0.1:7004' }] })).status).toBe(201);
      expect((await http('PATCH', `/api/v1/dispatcher/sets/3/destinations/${enc('sip:127.0.0.1:7004')}`, { state: 'disabled' })).status).toBe(200);
      expect((await http('PATCH', `/api/v1/dispatcher/sets/1/destinations/${enc('sip:127.0.0.1:7001')}`, { state: 'disabled' })).status).toBe(200);
      expect((await http('PUT', '/api/v1/dispatcher/sets/1', { name: 'changed' })).status).toBe(200);
    } finally {
      await first.close();
    }
    const second = await startSipfront([...yaml, `store: { kind: memory, path: ${JSON.stringify(dataDir)} }`].join('\n'));
    try {
      const sets = (await client(second.apiUrl, undefined)('GET', '/api/v1/dispatcher/sets')).body.sets;
      expect(sets.map((s: { id: number; name: string }) => `${s.id}:${s.name}`)).toEqual(['1:yaml', '3:api']);
      const states = Object.fromEntries(sets.flatMap((s: { destinations: Array<{ uri: string; state: string }> }) => s.destinations.map((d) => [d.uri, d.state])));
      expect(states).toEqual({ 'sip:127.0.0.1:7001': 'disabled', 'sip:127.0.0.1:7003': 'active', 'sip:127.0.0.1:7004': 'disabled' });
    } finally {
      await second.close();
    }
  });
});

describe('REST API without a token', () => {
  it('serves loopback only: a non-loopback api.host without a token is a config problem naming api.host', async () => {
    await expect(startSipfront('api: { host: 0.0.0.0, port: 0 }')).rejects.toMatchObject({
      problems: [expect.stringMatching(/^api\.host: 0\.0\.0\.0 is not a loopback address and there is no api\.token/)],
    });
  });

  it('restricts /metrics to api.metrics_allow', async () => {
    const sf = await startSipfront('api: { host: 127.0.0.1, port: 0, metrics_allow: [10.0.0.0/8] }');
    try {
      const r = await client(sf.apiUrl, undefined)('GET', '/metrics');
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
    } finally {
      await sf.close();
    }
  });

  it('POST /drain: /ready answers 503, OPTIONS to sipfront get 503', async () => {
    const port = await freeSipPort();
    const sf = await startSipfront(['listen:', `  - { transport: udp, host: 127.0.0.1, port: ${port} }`].join('\n'));
    const peer = (await udpPeer()).to(port);
    try {
      const http = client(sf.apiUrl, undefined);
      expect((await http('GET', '/ready')).status).toBe(200);
      expect((await http('GET', '/api/v1/drain')).body).toEqual({ draining: false });
      expect((await http('POST', '/api/v1/drain')).body).toEqual({ draining: true });
      expect((await http('GET', '/api/v1/drain')).body).toEqual({ draining: true });
      const ready = await http('GET', '/ready');
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('5');
      expect(ready.body.error).toMatchObject({ code: 'not-ready', message: 'not ready: draining' });
      expect((await http('GET', '/health')).status).toBe(200);
      const r = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: peer.port });
      peer.send(r);
      expect((await peer.next(3000, (m) => m.callId === callIdOf(r))).status).toBe(503);
      expect((await http('POST', '/api/v1/drain', { draining: false })).body).toEqual({ draining: false });
      expect((await http('GET', '/ready')).status).toBe(200);
    } finally {
      await peer.close();
      await sf.close();
    }
  });
});
