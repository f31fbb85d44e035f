// The console's shell: sign-in, the navigation between views, the one event stream shared by
// all views, notices (a live region) and the confirmation dialog.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { API_BASE, createApiClient } from './api.js';
import { createEventBus } from './bus.js';
import { ConfirmDialog } from './components/confirm-dialog.js';
import { ViewGuard } from './components/view-guard.js';
import { formatCountdown } from './format.js';
import { Ctx, useNow, useRoute, type ConfirmRequest, type ConsoleContext, type Notice } from './hooks.js';
import { clearSession, loadSession, saveSession, type Session } from './session.js';
import { connectEventStream, type StreamStatus } from './sse.js';
import { Backends } from './views/backends.js';
import { Bans } from './views/bans.js';
import { CallDetail } from './views/call-detail.js';
import { Calls } from './views/calls.js';
import { Directory } from './views/directory.js';
import { Registrations } from './views/registrations.js';
import { SignIn } from './views/sign-in.js';
import { Trunks } from './views/trunks.js';

const VIEWS = [
  { id: 'backends', title: 'Backends' },
  { id: 'registrations', title: 'Registrations' },
  { id: 'directory', title: 'Subscribers & domains' },
  { id: 'trunks', title: 'Trunks' },
  { id: 'bans', title: 'Bans' },
  { id: 'calls', title: 'Calls' },
] as const;

type ViewId = (typeof VIEWS)[number]['id'];

export const App = () => {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null);
  const signOut = useCallback((reason: string | null) => {
    clearSession();
    setSignedOutReason(reason);
    setSession(null);
  }, []);
  if (session === null) {
    return (
      <SignIn
        reason={signedOutReason}
        onSignedIn={(token) => {
          const s = { token };
          saveSession(s);
          setSignedOutReason(null);
          setSession(s);
        }}
      />
    );
  }
  return <Console session={session} onSignOut={signOut} />;
};

const LiveStatus = ({ status }: { status: StreamStatus }) => {
  const now = useNow(1000);
  let text: string;
  let cls: string;
  switch (status.kind) {
    case 'open':
      text = 'Live';
      cls = 'live';
      break;
    case 'connecting':
      text = 'Connecting…';
      cls = 'connecting';
      break;
    case 'waiting':
      text = `Reconnecting in ${formatCountdown(Math.max(1, (status.retryAt - now) / 1000))}`;
      cls = 'waiting';
      break;
    default:
      text = 'Offline';
      cls = 'waiting';
  }
  return (
    <span class={`live-status ${cls}`} title={status.kind === 'waiting' ? `Live updates interrupted: ${status.reason}` : 'Live updates from /api/v1/events'} data-live={status.kind}>
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
};

const Console = ({ session, onSignOut }: { session: Session; onSignOut(reason: string | null): void }) => {
  const bus = useMemo(() => createEventBus(), []);
  const api = useMemo(
    () => createApiClient({ token: session.token, onUnauthorized: () => onSignOut('The API refused the token (401): sign in again.') }),
    [session.token, onSignOut],
  );
  const [notices, setNotices] = useState<Notice[]>([]);
  const [confirmReq, setConfirmReq] = useState<ConfirmRequest | null>(null);
  const confirmResolve = useRef<((ok: boolean) => void) | null>(null);
  const [stream, setStream] = useState<StreamStatus>({ kind: 'connecting' });
  const route = useRoute();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const firstRoute = useRef(true);

  const notify = useCallback((kind: Notice['kind'], text: string) => {
    const id = Date.now() + Math.random();
    setNotices((n) => [...n.slice(-4), { id, kind, text }]);
    if (kind === 'ok') setTimeout(() => setNotices((n) => n.filter((x) => x.id !== id)), 6000);
  }, []);
  const confirm = useCallback(
    (request: ConfirmRequest) =>
      new Promise<boolean>((resolve) => {
        confirmResolve.current?.(false);
        confirmResolve.current = resolve;
        setConfirmReq(request);
      }),
    [],
  );
  const answer = useCallback((ok: boolean) => {
    confirmResolve.current?.(ok);
    confirmResolve.current = null;
    setConfirmReq(null);
  }, []);
  const ctx: ConsoleContext = useMemo(() => ({ api, bus, notify, confirm }), [api, bus, notify, confirm]);

  useEffect(() => {
    let wasOpen = false;
    const s = connectEventStream({
      url: `${API_BASE}/events`,
      token: session.token,
      onEvent: (e) => {
        let data: unknown = e.data;
        try {
          data = JSON.parse(e.data);
        } catch {
          // not JSON: pass the text on
        }
        bus.emit(e.type, data);
      },
      onStatus: (st) => {
        setStream(st);
        // events may have been missed while the stream was down: views reload (the first
        // open needs none, the views have just loaded)
        if (st.kind === 'open') {
          if (wasOpen) bus.emit('stream-open', null);
          wasOpen = true;
        }
        if (st.kind === 'unauthorized') onSignOut('The API refused the token (401): sign in again.');
      },
    });
    return () => s.close();
  }, [bus, session.token, onSignOut]);

  const viewId: ViewId = (VIEWS.find((v) => v.id === route[0])?.id ?? 'backends') as ViewId;
  const callId = viewId === 'calls' ? route[1] : undefined;
  const view = VIEWS.find((v) => v.id === viewId)!;
  const title = callId !== undefined ? 'Call' : view.title;

  useEffect(() => {
    document.title = `${title} · sipfront console`;
    // move focus to the new view's heading so screen readers announce it (not on first load)
    if (firstRoute.current) firstRoute.current = false;
    else headingRef.current?.focus();
  }, [viewId, callId, title]);

  return (
    <Ctx.Provider value={ctx}>
      <a class="skip-link" href="#main" onClick={(e) => {
        e.preventDefault();
        headingRef.current?.focus();
      }}>
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          sipfront
        </div>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map((v) => (
              <li key={v.id}>
                <a href={`#/${v.id}`} aria-current={v.id === viewId ? 'page' : undefined}>
                  {v.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="session">
          <LiveStatus status={stream} />
          <button type="button" class="secondary small" onClick={() => onSignOut(null)}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <h2 ref={headingRef} tabIndex={-1} id="view-title">
          {title}
        </h2>
        <div class="notices" role="status" aria-live="polite">
          {notices.map((n) => (
            <p key={n.id} class={`notice ${n.kind}`}>
              <span>{n.text}</span>
              <button type="button" class="link" onClick={() => setNotices((list) => list.filter((x) => x.id !== n.id))}>
                Dismiss<span class="sr-only"> notice</span>
              </button>
            </p>
          ))}
        </div>
        <ViewGuard key={`${viewId} ${callId ?? ''}`} what={title}>
          {viewId === 'backends' ? <Backends /> : null}
          {viewId === 'registrations' ? <Registrations /> : null}
          {viewId === 'directory' ? <Directory /> : null}
          {viewId === 'trunks' ? <Trunks /> : null}
          {viewId === 'bans' ? <Bans /> : null}
          {viewId === 'calls' && callId === undefined ? <Calls /> : null}
          {viewId === 'calls' && callId !== undefined ? <CallDetail callId={callId} /> : null}
        </ViewGuard>
      </main>
      <ConfirmDialog request={confirmReq} onAnswer={answer} />
    </Ctx.Provider>
  );
};
