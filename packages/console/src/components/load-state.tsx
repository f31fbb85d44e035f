// What a panel says when its data is loading, failed, or empty: never a blank panel.
import type { ComponentChildren } from 'preact';
import { describeFailure } from '../api.js';
import { formatTime } from '../format.js';

export interface LoadStateProps {
  what: string;
  error: unknown;
  loading: boolean;
  hasData: boolean;
  fetchedAt: number;
  onRetry?: () => void;
}

/** The error of the last load (data from an earlier load stays shown below it). */
export const LoadState = ({ what, error, loading, hasData, fetchedAt, onRetry }: LoadStateProps): ComponentChildren => {
  if (error !== undefined) {
    return (
      <div class="panel-error" role="alert">
        <p>
          <strong>{describeFailure(error, what)}</strong>
          {hasData ? <> Showing what was loaded at {formatTime(fetchedAt)}.</> : null}
        </p>
        {onRetry !== undefined ? (
          <button type="button" class="secondary" onClick={onRetry}>
            Try again
          </button>
        ) : null}
      </div>
    );
  }
  if (loading && !hasData) return <p class="muted" aria-live="polite">Loading {what}…</p>;
  return null;
};

export const Empty = ({ children }: { children: ComponentChildren }): ComponentChildren => <p class="empty">{children}</p>;
