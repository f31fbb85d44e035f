// Draws a laid-out ladder as SVG: a lifeline per party, an arrow per message with its first line
// and time offset. Arrows are buttons: click, or Enter/Space, shows the message; Up/Down, Home and
// End move between arrows (one tab stop for the whole diagram).
import type { TargetedKeyboardEvent } from 'preact';
import type { LadderArrow, LadderLayout } from '../ladder.js';

export interface LadderDiagramProps {
  layout: LadderLayout;
  selected: number | null;
  onSelect(index: number): void;
  /** a label for the whole diagram */
  title: string;
}

const CHAR_PX = 6.8;

const fit = (s: string, px: number): string => {
  const max = Math.max(6, Math.floor(px / CHAR_PX));
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
};

const arrowClass = (a: LadderArrow, selected: boolean): string => {
  const parts = ['arrow', a.kind];
  if (a.kind === 'response') parts.push(a.status < 200 ? 'provisional' : a.status < 300 ? 'success' : 'failure');
  if (a.retransmission) parts.push('retransmission');
  if (selected) parts.push('selected');
  return parts.join(' ');
};

const ROLE_NAMES = { caller: 'caller', sipfront: 'proxy', 'next-hop': 'next hop' } as const;

export const LadderDiagram = ({ layout, selected, onSelect, title }: LadderDiagramProps) => {
  const { columns, arrows, width, height } = layout;
  const focusable = selected ?? 0;
  const top = columns.length > 0 ? 56 : 0;
  const onKey = (e: TargetedKeyboardEvent<SVGGElement>, index: number): void => {
    let next: number | null = null;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      onSelect(index);
      return;
    }
    if (e.key === 'ArrowDown') next = Math.min(arrows.length - 1, index + 1);
    else if (e.key === 'ArrowUp') next = Math.max(0, index - 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = arrows.length - 1;
    if (next === null) return;
    e.preventDefault();
    const svg = e.currentTarget.ownerSVGElement;
    const el = svg?.querySelector<SVGGElement>(`[data-index="${next}"]`);
    if (el !== null && el !== undefined) {
      for (const g of svg!.querySelectorAll<SVGGElement>('g.arrow')) g.setAttribute('tabindex', '-1');
      el.setAttribute('tabindex', '0');
      el.focus();
    }
  };
  return (
    <div class="ladder-scroll">
      <svg class="ladder" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="group" aria-label={title} data-arrows={arrows.length}>
        {columns.map((c) => (
          <g key={c.key} class={`column ${c.role}`}>
            <text x={c.x} y={16} text-anchor="middle" class="column-role">
              {ROLE_NAMES[c.role]}
            </text>
            <text x={c.x} y={32} text-anchor="middle" class="column-label">
              {c.label}
            </text>
            {c.transports !== '' ? (
              <text x={c.x} y={46} text-anchor="middle" class="column-transport">
                {c.transports}
              </text>
            ) : null}
            <line x1={c.x} y1={top} x2={c.x} y2={height - 8} class="lifeline" />
          </g>
        ))}
        {arrows.map((a) => {
          const isSelected = selected === a.index;
          const dir = a.x2 >= a.x1 ? 1 : -1;
          const self = a.from === a.to;
          const span = self ? 120 : Math.abs(a.x2 - a.x1);
          const mid = self ? a.x1 + 60 : (a.x1 + a.x2) / 2;
          const label = `${a.label}${a.retransmission ? ' (retransmission)' : ''}`;
          const fromName = columns[a.from]?.label ?? '';
          const toName = columns[a.to]?.label ?? '';
          const tip = self ? a.x1 : a.x2;
          return (
            <g
              key={a.index}
              class={arrowClass(a, isSelected)}
              data-index={a.index}
              role="button"
              tabindex={a.index === focusable ? 0 : -1}
              aria-pressed={isSelected}
              aria-label={`${a.offsetLabel}: ${label}, ${fromName} to ${toName}${a.cseq !== '' ? `, CSeq ${a.cseq}` : ''}`}
              onClick={() => onSelect(a.index)}
              onKeyDown={(e) => onKey(e, a.index)}
            >
              <title>{`${a.offsetLabel}  ${label}\n${fromName} → ${toName}${a.transport !== '' ? ` (${a.transport})` : ''}${a.cseq !== '' ? `\nCSeq: ${a.cseq}` : ''}`}</title>
              <rect class="hit" x={0} y={a.y - 20} width={width} height={40} />
              <text x={8} y={a.y + 4} class="offset">
                {a.offsetLabel}
              </text>
              {self ? (
                <path d={`M${a.x1} ${a.y - 6}h40v12h-34`} class="line" fill="none" />
              ) : (
                <line x1={a.x1} y1={a.y} x2={a.x2 - dir * 7} y2={a.y} class="line" />
              )}
              <path d={self ? `M${tip} ${a.y + 6}l8 -4v8z` : `M${tip} ${a.y}l${-dir * 9} -5v10z`} class="head" />
              <text x={mid} y={a.y - 7} text-anchor="middle" class="label">
                {fit(a.label, span - 12)}
              </text>
              {a.retransmission ? (
                <text x={mid} y={a.y + 15} text-anchor="middle" class="note">
                  retransmission
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
    </div>
  );
};
