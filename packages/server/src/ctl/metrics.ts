// Reads Prometheus' text exposition format (what sipfront serves on /metrics) and condenses
// it into the short summary `sipfront ctl stats` prints.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const at = LABEL.lastIndex;
      const l = LABEL.exec(body);
      if (l === null || LABEL.lastIndex === at) break;
      labels[l[1]!] = unescape(l[2]!);
    }
    out.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return out;
}

export interface StatsSummary {
  requests: Record<string, number>;
  responses: Record<string, number>;
  transactionsActive: number | null;
  destinations: Array<{ set: string; destination: string; up: boolean }>;
  registrarContacts: number | null;
  authFailures: number | null;
  proxyAuth: Record<string, number>;
  bansActive: number | null;
  refused: Record<string, number>;
  parseErrors: number | null;
  trunks: Array<{ trunk: string; registered: boolean }>;
  process: { uptimeSeconds: number | null; residentBytes: number | null; cpuSeconds: number | null };
}

const P = 'sipfront_';

export function summarize(samples: readonly Sample[], nowMs: number): StatsSummary {
  const by = (name: string) => samples.filter((s) => s.name === P + name);
  const one = (name: string): number | null => {
    const found = by(name);
    return found.length === 0 ? null : found.reduce((a, s) => a + s.value, 0);
  };
  const sumBy = (name: string, label: string, key: (v: string) => string = (v) => v): Record<string, number> => {
    const acc: Record<string, number> = {};
    for (const s of by(name)) {
      const k = key(s.labels[label] ?? '');
      acc[k] = (acc[k] ?? 0) + s.value;
    }
    return acc;
  };
  // process metrics may carry the prefix (prom-client's `prefix` option) or not
  const proc = (name: string): number | null => {
    const s = samples.find((x) => x.name === name || x.name === P + name);
    return s === undefined ? null : s.value;
  };
  const start = proc('process_start_time_seconds');
  return {
    requests: sumBy('sip_requests_total', 'method'),
    responses: sumBy('sip_responses_total', 'code', (c) => (/^[1-6]\d\d$/.test(c) ? `${c[0]}xx` : c)),
    transactionsActive: one('transactions_active'),
    destinations: by('dispatcher_destination_up').map((s) => ({ set: s.labels['set'] ?? '', destination: s.labels['destination'] ?? '', up: s.value === 1 })),
    registrarContacts: one('registrar_contacts'),
    authFailures: one('auth_failures_total'),
    proxyAuth: sumBy('proxy_auth_total', 'result'),
    bansActive: one('security_bans_active'),
    refused: sumBy('requests_refused_total', 'reason'),
    parseErrors: one('parse_errors_total'),
    trunks: by('trunk_registered').map((s) => ({ trunk: s.labels['trunk'] ?? '', registered: s.value === 1 })),
    process: {
      uptimeSeconds: start === null ? null : Math.max(0, nowMs / 1000 - start),
      residentBytes: proc('process_resident_memory_bytes'),
      cpuSeconds: proc('process_cpu_seconds_total'),
    },
  };
}
