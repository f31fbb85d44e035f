// Health state with hysteresis: how one probe result moves a destination between states.
// Pure; the dispatcher applies the result, emits the change and checks drains against calls.
import type { DestinationState } from './types.js';

export type ProbeOutcome = 'accepted' | 'failed' | 'draining';

/** An accepted code is alive (even 503, when listed); another 503 means draining; anything else, no answer included, is a failure. */
export function classifyProbe(code: number | null, accept: readonly number[]): ProbeOutcome {
  if (code !== null && accept.includes(code)) return 'accepted';
  if (code === 503) return 'draining';
  return 'failed';
}

export interface Health {
  state: DestinationState;
  /** who started the current drain: the backend (503 to OPTIONS) or an operator */
  drainedBy: 'remote' | 'operator' | undefined;
  /** consecutive accepted answers */
  okStreak: number;
  /** consecutive failures (no answer, or a code not accepted) */
  failStreak: number;
}

export interface Thresholds {
  readonly downAfter: number;
  readonly upAfter: number;
}

/** An operator's `disabled` or drain: probes are recorded and counted but never change the state. */
export const heldByOperator = (h: Health): boolean =>
  h.state === 'disabled' || (h.state === 'draining' && h.drainedBy === 'operator');

/**
 * Counts one probe outcome in `h` and returns the state it leads to:
 * - `active` stays active until `downAfter` consecutive failures, then `inactive`;
 * - `inactive` and `probing` become `active` after `upAfter` consecutive accepted answers
 *   (`probing` while fewer), `inactive` after `downAfter` consecutive failures;
 * - a 503 makes `active` / `probing` `draining` (`inactive` stays inactive); the first other
 *   answer ends that drain and the counting goes on as for `probing`.
 */
export function stateAfterProbe(h: Health, outcome: ProbeOutcome, t: Thresholds): DestinationState {
  if (outcome === 'accepted') {
    h.failStreak = 0;
    h.okStreak++;
  } else if (outcome === 'failed') {
    h.okStreak = 0;
    h.failStreak++;
  } else {
    // a 503 is an answer: the backend is alive but wants no new calls
    h.okStreak = 0;
    h.failStreak = 0;
  }
  if (heldByOperator(h)) return h.state;
  switch (outcome) {
    case 'draining':
      return h.state === 'inactive' ? 'inactive' : 'draining';
    case 'accepted':
      if (h.state === 'active') return 'active';
      return h.okStreak >= t.upAfter ? 'active' : 'probing';
    case 'failed':
      if (h.failStreak >= t.downAfter) return 'inactive';
      if (h.state === 'active' || h.state === 'inactive') return h.state;
      return 'probing';
  }
}
