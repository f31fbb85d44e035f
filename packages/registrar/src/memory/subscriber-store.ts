// Subscribers and served domains in process memory, persisted to `<path>/subscribers.json`
// and `<path>/domains.json`.
import { join } from 'node:path';
import { RegistrarError } from '../errors.js';
import { normalizeDomain } from '../bindings.js';
import { silentLog } from '../emitter.js';
import { buildSubscriber, subscriberFromJson } from '../subscriber.js';
import { createJsonFile } from './json-file.js';
import type { DomainStore, RegistrarLogger, Subscriber, SubscriberStore } from '../types.js';

export interface MemoryFileOptions {
  path?: string | undefined;
  flushDelayMs?: number;
}

const idOf = (user: string, domain: string): string => `${user}@${normalizeDomain(domain)}`;

export const openMemorySubscriberStore = async (
  deps: { log?: RegistrarLogger; realm?: string | undefined },
  options: MemoryFileOptions = {},
): Promise<SubscriberStore> => {
  const log = deps.log ?? silentLog;
  const subs = new Map<string, Subscriber>();
  let closed = false;
  const file = options.path === undefined
    ? undefined
    : createJsonFile(join(options.path, 'subscribers.json'), () => ({ version: 1, subscribers: [...subs.values()] }), { delayMs: options.flushDelayMs ?? 500, log });
  if (file !== undefined) {
    const data = (await file.load()) as { subscribers?: unknown[] } | undefined;
    for (const raw of Array.isArray(data?.subscribers) ? data.subscribers : []) {
      const s = subscriberFromJson(raw);
      if (s !== undefined) subs.set(idOf(s.user, s.domain), s);
    }
  }
  const assertOpen = (): void => {
    if (closed) throw new RegistrarError('closed', 'subscriber store closed');
  };
  return {
    async get(user, domain) {
      assertOpen();
      return subs.get(idOf(user, domain));
    },
    async list(domain) {
      assertOpen();
      const d = domain === undefined ? undefined : normalizeDomain(domain);
      return [...subs.values()].filter((s) => d === undefined || s.domain === d);
    },
    async put(input) {
      assertOpen();
      const s = buildSubscriber(input, deps.realm);
      subs.set(idOf(s.user, s.domain), s);
      file?.changed();
      return s;
    },
    async delete(user, domain) {
      assertOpen();
      const ok = subs.delete(idOf(user, domain));
      if (ok) file?.changed();
      return ok;
    },
    async hasDomain(domain) {
      assertOpen();
      const d = normalizeDomain(domain);
      for (const s of subs.values()) if (s.domain === d) return true;
      return false;
    },
    async close() {
      if (closed) return;
      closed = true;
      await file?.close();
    },
  };
};

export const checkDomain = (domain: string): string => {
  const d = typeof domain === 'string' ? normalizeDomain(domain) : '';
  if (d.length === 0 || /[\s@/;]/.test(d)) throw new RegistrarError('invalid-domain', `not a domain: ${JSON.stringify(domain)}`, { field: 'domain' });
  return d;
};

export const openMemoryDomainStore = async (deps: { log?: RegistrarLogger }, options: MemoryFileOptions = {}): Promise<DomainStore> => {
  const log = deps.log ?? silentLog;
  const domains = new Set<string>();
  let closed = false;
  const file = options.path === undefined
    ? undefined
    : createJsonFile(join(options.path, 'domains.json'), () => ({ version: 1, domains: [...domains] }), { delayMs: options.flushDelayMs ?? 500, log });
  if (file !== undefined) {
    const data = (await file.load()) as { domains?: unknown[] } | undefined;
    for (const d of Array.isArray(data?.domains) ? data.domains : []) if (typeof d === 'string') domains.add(normalizeDomain(d));
  }
  const assertOpen = (): void => {
    if (closed) throw new RegistrarError('closed', 'domain store closed');
  };
  return {
    async list() {
      assertOpen();
      return [...domains].sort();
    },
    async has(domain) {
      assertOpen();
      return domains.has(normalizeDomain(domain));
    },
    async add(domain) {
      assertOpen();
      const d = checkDomain(domain);
      if (domains.has(d)) return false;
      domains.add(d);
      file?.changed();
      return true;
    },
    async delete(domain) {
      assertOpen();
      const ok = domains.delete(normalizeDomain(domain));
      if (ok) file?.changed();
      return ok;
    },
    async close() {
      if (closed) return;
      closed = true;
      await file?.close();
    },
  };
};
