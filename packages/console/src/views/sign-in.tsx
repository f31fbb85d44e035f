// Sign-in: the API token, checked against an authenticated endpoint before it is kept (for this
// tab only). An API without a token (loopback) is entered with the field left empty.
import { useRef, useState } from 'preact/hooks';
import { ApiFailure, createApiClient, describeFailure } from '../api.js';

export interface SignInProps {
  onSignedIn(token: string | null): void;
  /** why the last session ended, e.g. a refused token */
  reason: string | null;
}

export const SignIn = ({ onSignedIn, reason }: SignInProps) => {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const t = token.trim() === '' ? null : token.trim();
    try {
      await createApiClient({ token: t }).get('/dispatcher/sets');
      onSignedIn(t);
    } catch (err) {
      setError(
        err instanceof ApiFailure && err.status === 401
          ? t === null
            ? 'This sipfront needs a token: enter the API token (api.token or SIPFRONT_API_TOKEN).'
            : 'The token was refused (401): check api.token or SIPFRONT_API_TOKEN.'
          : describeFailure(err, 'the API'),
      );
      setBusy(false);
      input.current?.focus();
    }
  };

  return (
    <main id="main" class="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-describedby="sign-in-help" noValidate>
        <h1>
          <span class="logo" aria-hidden="true" />
          sipfront console
        </h1>
        {reason !== null ? (
          <p class="notice error" role="alert">
            {reason}
          </p>
        ) : null}
        <label for="token">API token</label>
        <input
          id="token"
          ref={input}
          name="token"
          type="password"
          autocomplete="current-password"
          autoFocus
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-invalid={error !== null}
          aria-errormessage={error !== null ? 'sign-in-error' : undefined}
        />
        <p id="sign-in-help" class="help">
          The token is kept for this browser tab only and is sent as <code>Authorization: Bearer</code>. Leave it empty when the API runs without a
          token (loopback only).
        </p>
        {error !== null ? (
          <p id="sign-in-error" class="notice error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
};
