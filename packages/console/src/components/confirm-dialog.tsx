// The confirmation asked before anything disruptive (disable, drain, remove, unregister): a
// native modal <dialog>, which keeps focus inside, closes on Escape and gives focus back.
import { useEffect, useRef } from 'preact/hooks';
import type { ConfirmRequest } from '../hooks.js';

export interface ConfirmDialogProps {
  request: ConfirmRequest | null;
  onAnswer(ok: boolean): void;
}

export const ConfirmDialog = ({ request, onAnswer }: ConfirmDialogProps) => {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d === null) return;
    if (request !== null && !d.open) {
      d.showModal();
      // the safe answer has the focus: Enter does not disable a backend by accident
      cancelRef.current?.focus();
    } else if (request === null && d.open) d.close();
  }, [request]);
  return (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-message"
      onCancel={(e) => {
        e.preventDefault();
        onAnswer(false);
      }}
    >
      {request !== null ? (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            onAnswer(true);
          }}
        >
          <h2 id="confirm-title">{request.title}</h2>
          <p id="confirm-message">{request.message}</p>
          <div class="actions">
            <button type="button" class="secondary" ref={cancelRef} onClick={() => onAnswer(false)}>
              Cancel
            </button>
            <button type="submit" class={request.danger === true ? 'danger' : 'primary'}>
              {request.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
};
