// Checks of sets and probe options before anything is swapped in. The server validates the
// YAML and the API validates bodies; these checks keep the dispatcher's own invariants
// (unique ids, usable numbers) whoever calls it, and name the field that is wrong.
import { DispatcherError } from './errors.js';
import { ALGORITHMS } from './types.js';
import type { DestinationConfig, ProbeOptions, SetConfig } from './types.js';

const SIP_URI = /^sips?:[^\s]+$/i;

const fail = (field: string, message: string): never => {
  throw new DispatcherError('INVALID_SET', `${field}: ${message}`, { field });
};

const at = (prefix: string, key: string): string => (prefix === '' ? key : `${prefix}.${key}`);

export function validateDestination(d: DestinationConfig, prefix: string): void {
  if (typeof d.uri !== 'string' || !SIP_URI.test(d.uri)) fail(at(prefix, 'uri'), 'not a SIP URI');
  if (typeof d.weight !== 'number' || !Number.isFinite(d.weight) || d.weight < 0) fail(at(prefix, 'weight'), 'must be a number of at least 0');
  if (typeof d.priority !== 'number' || !Number.isFinite(d.priority)) fail(at(prefix, 'priority'), 'must be a number');
  if (d.state !== undefined && d.state !== 'active' && d.state !== 'disabled') fail(at(prefix, 'state'), 'must be active or disabled');
}

export function validateSet(s: SetConfig, prefix: string): void {
  if (!Number.isSafeInteger(s.id)) fail(at(prefix, 'id'), 'must be an integer');
  if (typeof s.name !== 'string') fail(at(prefix, 'name'), 'must be a string');
  if (!(ALGORITHMS as readonly string[]).includes(s.algorithm)) fail(at(prefix, 'algorithm'), `must be one of ${ALGORITHMS.join(', ')}`);
  const seen = new Set<string>();
  s.destinations.forEach((d, i) => {
    const p = at(prefix, `destinations[${i}]`);
    validateDestination(d, p);
    if (seen.has(d.uri)) {
      throw new DispatcherError('DUPLICATE_DESTINATION', `${p}.uri: ${d.uri} is already in set ${s.id}`, { field: `${p}.uri` });
    }
    seen.add(d.uri);
  });
}

export function validateSets(sets: readonly SetConfig[], prefix: string): void {
  const ids = new Set<number>();
  sets.forEach((s, i) => {
    const p = `${prefix}[${i}]`;
    validateSet(s, p);
    if (ids.has(s.id)) throw new DispatcherError('DUPLICATE_SET', `${p}.id: set ${s.id} appears twice`, { field: `${p}.id` });
    ids.add(s.id);
  });
}

export function validateProbeOptions(o: ProbeOptions): void {
  const bad = (field: string, message: string): never => {
    throw new DispatcherError('INVALID_OPTIONS', `probe.${field}: ${message}`, { field: `probe.${field}` });
  };
  if (!(o.interval > 0) || !Number.isFinite(o.interval)) bad('interval', 'must be more than 0 ms');
  if (!(o.timeout > 0) || !Number.isFinite(o.timeout)) bad('timeout', 'must be more than 0 ms');
  if (!Number.isSafeInteger(o.downAfter) || o.downAfter < 1) bad('downAfter', 'must be an integer of at least 1');
  if (!Number.isSafeInteger(o.upAfter) || o.upAfter < 1) bad('upAfter', 'must be an integer of at least 1');
  if (!o.accept.every((c) => Number.isInteger(c) && c >= 100 && c <= 699)) bad('accept', 'must hold SIP status codes');
}
