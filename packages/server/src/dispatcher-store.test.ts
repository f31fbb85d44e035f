import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileDispatcherStore, DISPATCHER_FILE, fromViews, mergeYamlSets, parseStoredSets, toSetConfigs, type StoredSet } from './dispatcher-store.js';

const stored: StoredSet[] = [
  { id: 1, name: 'old', algorithm: 'weighted', destinations: [{ uri: 'sip:a', weight: 1, priority: 0, state: 'disabled' }, { uri: 'sip:gone', weight: 1, priority: 0 }] },
  { id: 4, name: 'api', algorithm: 'random', destinations: [{ uri: 'sip:c', weight: 2, priority: 1, state: 'draining' }] },
];

describe('mergeYamlSets', () => {
  it('upserts the YAML by id: the YAML wins for what it names, operator states are kept, API sets stay', () => {
    const merged = mergeYamlSets(stored, [
      { id: 2, name: 'new', algorithm: 'round-robin', destinations: [] },
      { id: 1, name: 'yaml', algorithm: 'round-robin', destinations: [{ uri: 'sip:a', weight: 5, priority: 0 }, { uri: 'sip:b', weight: 1, priority: 0 }] },
    ]);
    expect(merged).toEqual([
      { id: 1, name: 'yaml', algorithm: 'round-robin', destinations: [{ uri: 'sip:a', weight: 5, priority: 0, state: 'disabled' }, { uri: 'sip:b', weight: 1, priority: 0 }] },
      { id: 2, name: 'new', algorithm: 'round-robin', destinations: [] },
      stored[1],
    ]);
  });

  it('starts held destinations disabled (a drain has no calls left after a restart)', () => {
    expect(toSetConfigs(stored).flatMap((s) => s.destinations.map((d) => d.state))).toEqual(['disabled', undefined, 'disabled']);
  });
});

describe('parseStoredSets', () => {
  it('keeps well-formed entries and skips damaged ones', () => {
    expect(parseStoredSets({ sets: [{ id: 'x' }, { id: 3, name: 'n', algorithm: 'priority', destinations: [{ uri: 1 }, { uri: 'sip:x', weight: 1, priority: 2, state: 'weird' }] }] })).toEqual([
      { id: 3, name: 'n', algorithm: 'priority', destinations: [{ uri: 'sip:x', weight: 1, priority: 2 }] },
    ]);
    expect(parseStoredSets([])).toBeUndefined();
  });
});

describe('fromViews', () => {
  it('stores disabled, and draining only when an operator drained', () => {
    const view = (uri: string, state: 'active' | 'draining' | 'disabled' | 'inactive') => ({ id: uri, uri, weight: 1, priority: 0, attrs: {}, state, lastProbe: null, probes: [], activeCalls: 0, selectedTotal: 0 });
    const sets = fromViews([{ id: 1, name: 's', algorithm: 'round-robin', destinations: [view('sip:a', 'disabled'), view('sip:b', 'draining'), view('sip:c', 'draining'), view('sip:d', 'inactive')] }], (_s, uri) => uri === 'sip:b');
    expect(sets[0]!.destinations.map((d) => d.state)).toEqual(['disabled', 'draining', undefined, undefined]);
  });
});

describe('the file store', () => {
  it('writes and reads the list; nothing stored yet is undefined; a damaged file is STORE_CORRUPT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipfront-dstore-'));
    const store = createFileDispatcherStore(join(dir, 'data'), 'i1');
    expect(await store.load()).toBeUndefined();
    await store.save(stored);
    expect(await store.load()).toEqual(stored);
    await store.close();
    writeFileSync(join(dir, 'data', DISPATCHER_FILE), '{nope');
    await expect(store.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });
});
