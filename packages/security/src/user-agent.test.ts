import { describe, expect, it } from 'vitest';
import { createUserAgentMatcher } from './user-agent.js';

describe('createUserAgentMatcher', () => {
  const m = createUserAgentMatcher(['friendly-scanner', 'SIPVicious', ' sipcli ', ''])!;

  it('matches substrings in any case', () => {
    expect(m('friendly-scanner')).toBe(true);
    expect(m('FRIENDLY-SCANNER')).toBe(true);
    expect(m('pplsip sipvicious/0.3.4')).toBe(true);
    expect(m('xx SipCli/v1.8')).toBe(true);
  });

  it('does not match near misses', () => {
    expect(m('friendly scanner')).toBe(false);
    expect(m('sipvicio')).toBe(false);
    expect(m('Linphone/5.2.0 (belle-sip/5.2.0)')).toBe(false);
    expect(m('')).toBe(false);
    expect(m('sip-cli')).toBe(false);
  });

  it('is null without patterns', () => {
    expect(createUserAgentMatcher([])).toBeNull();
    expect(createUserAgentMatcher(['  '])).toBeNull();
  });
});
