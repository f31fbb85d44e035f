// The npm `sip` package (kirm/sip.js), a test peer only: it ships no types, so the few calls the
// tests and the benchmark make are typed here.
import { createRequire } from 'node:module';

export interface SipJsUri {
  schema: string;
  user?: string;
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

export interface SipJsVia {
  version: string;
  protocol: string;
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

export interface SipJsAor {
  name?: string;
  uri: string | SipJsUri;
  params: Record<string, string | null>;
}

export interface SipJsMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  version?: string;
  headers: {
    via?: SipJsVia[];
    from?: SipJsAor;
    to?: SipJsAor;
    'call-id'?: string;
    cseq?: { seq: number; method: string };
    'record-route'?: SipJsAor[];
    'max-forwards'?: string;
    [name: string]: unknown;
  };
  content?: string;
}

export interface SipJs {
  parse(data: string | Buffer): SipJsMessage | undefined;
  stringify(m: SipJsMessage): string;
  parseUri(s: string): SipJsUri | undefined;
}

export const sip = createRequire(import.meta.url)('sip') as SipJs;
