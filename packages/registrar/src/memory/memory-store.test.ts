import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ha1 } from '@sipfront/core';
import { openMemoryStores } from './index.js';
import { contactKey } from '../bindings.js';
import type { Binding } from '../types.js';
import { fakeClock } from '../test-helpers.js';

const binding = (uri: string, expiresAt: number, over: Partial<Binding> = {}): Binding => ({
  aor: '1001@example.com', uri, key: contactKey(uri), expiresAt, q: undefined, callId: 'c', cseq: 1,
  source: { transport: 'udp', address: '203.0.113.7', port: 5060 }, connectionId: undefined, instanceId: 'i1',
  listener: undefined, userAgent: 'UA', path: [], receivedAt: expiresAt - 3_600_000, ...over,
});

describe('memory stores persisted to a folder', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sipfront-registrar-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('write, close, reopen: bindings, subscribers and domains come back; expired bindings do not', async () => {
    const clock = fakeClock();
    const a = await openMemoryStores({ clock }, { path: dir, flushDelayMs: 10_000 });
    await a.domains.add('Example.COM');
    await a.subscribers.put({ user: '1001', domain: 'example.com', password: 'secret' });
    await a.subscribers.put({ user: '1002', domain: 'example.com', ha1: 'AB'.repeat(16) });
    await a.contacts.add(binding('sip:long@10.0.0.1', clock.t + 3_600_000, { q: 0.7, path: ['<sip:p;lr>'] }));
    await a.contacts.add(binding('sip:short@10.0.0.1', clock.t + 60_000));
    await a.close(); // flushes although the debounce has not fired

    const text = await readFile(join(dir, 'subscribers.json'), 'utf8');
    expect(text).not.toContain('secret');
    expect((await readdir(dir)).sort()).toEqual(['contacts.json', 'domains.json', 'subscribers.json']); // no temp files left

    clock.t += 120_000;
    const b = await openMemoryStores({ clock }, { path: dir });
    try {
      expect(await b.domains.list()).toEqual(['example.com']);
      expect(await b.domains.has('EXAMPLE.com')).toBe(true);
      const s = await b.subscribers.get('1001', 'example.com');
      expect(s?.ha1['example.com']?.MD5).toBe(ha1('MD5', '1001', 'example.com', 'secret'));
      expect(s?.ha1['example.com']?.['SHA-256']).toBe(ha1('SHA-256', '1001', 'example.com', 'secret'));
      expect((await b.subscribers.get('1002', 'example.com'))?.ha1['example.com']).toEqual({ MD5: 'ab'.repeat(16) });
      expect(await b.subscribers.hasDomain('example.com')).toBe(true);
      const bindings = await b.contacts.lookup('1001@example.com');
      expect(bindings.map((x) => [x.uri, x.q, x.path])).toEqual([['sip:long@10.0.0.1', 0.7, ['<sip:p;lr>']]]);
      expect(await b.contacts.count()).toBe(1);
    } finally {
      await b.close();
    }
  });

  test('writes are debounced and atomic', async () => {
    const clock = fakeClock();
    const s = await openMemoryStores({ clock }, { path: dir, flushDelayMs: 20 });
    await s.domains.add('a.example');
    await s.domains.add('b.example');
    await new Promise((r) => setTimeout(r, 200));
    expect(JSON.parse(await readFile(join(dir, 'domains.json'), 'utf8'))).toEqual({ version: 1, domains: ['a.example', 'b.example'] });
    await s.close();
  });

  test('a damaged file stops the start with store-corrupt; bad entries are skipped', async () => {
    await writeFile(join(dir, 'contacts.json'), '{"version":1,"bindings":[');
    await expect(openMemoryStores({}, { path: dir })).rejects.toMatchObject({ code: 'store-corrupt' });
    await writeFile(join(dir, 'contacts.json'), JSON.stringify({ version: 1, bindings: [{ nonsense: true }, binding('sip:x@y', Date.now() + 60_000)] }));
    const s = await openMemoryStores({}, { path: dir });
    expect(await s.contacts.count()).toBe(1);
    await s.close();
  });

  test('subscribers: validation, list per domain, delete', async () => {
    const s = await openMemoryStores({ realm: 'sipfront' }, {});
    await expect(s.subscribers.put({ user: '', domain: 'example.com', password: 'x' })).rejects.toMatchObject({ code: 'invalid-subscriber', field: 'user' });
    await expect(s.subscribers.put({ user: '1', domain: 'example.com' })).rejects.toMatchObject({ code: 'invalid-subscriber' });
    await expect(s.subscribers.put({ user: '1', domain: 'example.com', ha1: 'xyz' })).rejects.toMatchObject({ code: 'invalid-subscriber', field: 'ha1' });
    const sub = await s.subscribers.put({ user: '1', domain: 'example.com', password: 'x' });
    expect(Object.keys(sub.ha1)).toEqual(['sipfront']);
    await s.subscribers.put({ user: '2', domain: 'other.org', password: 'x' });
    expect((await s.subscribers.list('example.com')).map((x) => x.user)).toEqual(['1']);
    expect(await s.subscribers.list()).toHaveLength(2);
    expect(await s.subscribers.delete('1', 'EXAMPLE.COM')).toBe(true);
    expect(await s.subscribers.hasDomain('example.com')).toBe(false);
    await expect(s.domains.add('bad domain')).rejects.toMatchObject({ code: 'invalid-domain' });
    await s.close();
  });
});
