// A state as a colour AND a word: the colour is never the only signal.
export interface StateBadgeProps {
  state: string;
  /** extra words for screen readers, e.g. the destination */
  label?: string;
}

export const StateBadge = ({ state, label }: StateBadgeProps) => (
  <span class={`badge state-${state.replace(/[^a-z0-9-]/gi, '')}`} data-state={state} {...(label !== undefined ? { 'aria-label': `${label}: ${state}` } : {})}>
    <span class="dot" aria-hidden="true" />
    {state}
  </span>
);
