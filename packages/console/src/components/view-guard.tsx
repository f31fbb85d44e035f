// Catches a view that throws while rendering: the operator sees what broke and can carry on
// with the other views, instead of a blank page.
import type { ComponentChildren } from 'preact';
import { useErrorBoundary } from 'preact/hooks';

export const ViewGuard = ({ what, children }: { what: string; children: ComponentChildren }) => {
  const [error, reset] = useErrorBoundary((err: unknown) => console.error(`console: ${what} failed`, err));
  if (error !== undefined) {
    return (
      <div class="panel-error" role="alert">
        <p>
          <strong>
            The {what} view failed: {error instanceof Error ? error.message : String(error)}
          </strong>
        </p>
        <button type="button" class="secondary" onClick={reset}>
          Try again
        </button>
      </div>
    );
  }
  return <>{children}</>;
};
