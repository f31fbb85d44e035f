// The last probes of a destination as a small inline chart: one bar per probe, oldest left,
// height by round trip; a remote answer other than 2xx is amber, a local timeout a full red bar
// with a cross. The numbers are in each bar's tooltip and in the chart's accessible name.
import type { Probe } from '../api.js';
import { formatRtt, formatTime } from '../format.js';

const W = 112;
const H = 28;
const SLOTS = 10;

export const probeText = (p: Probe): string => {
  const when = formatTime(p.at);
  if (p.timedOut || p.code === null) return `local timeout after ${formatRtt(p.rttMs)}${p.error !== undefined ? ` (${p.error})` : ''} at ${when}`;
  return `remote answered ${p.code} in ${formatRtt(p.rttMs)} at ${when}`;
};

export const probeSummary = (probes: readonly Probe[]): string => {
  if (probes.length === 0) return 'no probes yet';
  const timeouts = probes.filter((p) => p.timedOut || p.code === null).length;
  const codes = new Map<number, number>();
  for (const p of probes) if (!(p.timedOut || p.code === null)) codes.set(p.code, (codes.get(p.code) ?? 0) + 1);
  const parts = [...codes].map(([c, n]) => `${n} answered ${c}`);
  if (timeouts > 0) parts.push(`${timeouts} timed out`);
  return `last ${probes.length} probes: ${parts.join(', ')}`;
};

export const ProbeChart = ({ probes }: { probes: readonly Probe[] }) => {
  const shown = probes.slice(0, SLOTS).reverse();
  const answered = shown.filter((p) => !(p.timedOut || p.code === null));
  const max = Math.max(1, ...answered.map((p) => p.rttMs));
  const slot = W / SLOTS;
  const bar = slot - 3;
  return (
    <svg class="probe-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={probeSummary(probes)}>
      <line x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} class="axis" />
      {shown.map((p, i) => {
        const x = i * slot + 1.5;
        const timedOut = p.timedOut || p.code === null;
        const ok = !timedOut && p.code !== null && p.code >= 200 && p.code < 300;
        const h = timedOut ? H - 2 : Math.max(3, ((H - 4) * p.rttMs) / max);
        const cls = timedOut ? 'probe timeout' : ok ? 'probe ok' : 'probe answered';
        return (
          <g key={i} class={cls}>
            <title>{probeText(p)}</title>
            <rect x={x} y={H - 1 - h} width={bar} height={h} rx="1" />
            {timedOut ? <path d={`M${x + 1} ${H / 2 - 3}l${bar - 2} 6M${x + 1} ${H / 2 + 3}l${bar - 2} -6`} class="cross" /> : null}
          </g>
        );
      })}
    </svg>
  );
};
