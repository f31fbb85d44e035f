// One call: its summary, how it ended and which hop decided it, the ladder, the whole text of
// the message picked in the ladder (credentials redacted), and the trace as pcap or text.
import { useMemo, useState } from 'preact/hooks';
import { seg, type CallDetail as CallDetailData } from '../api.js';
import { LadderDiagram } from '../components/ladder-diagram.js';
import { LoadState } from '../components/load-state.js';
import { StateBadge } from '../components/state-badge.js';
import { formatSeconds, formatTime, parseParty, toMillis } from '../format.js';
import { useAction, useConsole, useNow, useResource } from '../hooks.js';
import { describeOutcome, layoutLadder, redactMessage } from '../ladder.js';

const fileName = (callId: string, ext: string): string => `call-${callId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80)}.${ext}`;

export const CallDetail = ({ callId }: { callId: string }) => {
  const { api } = useConsole();
  const act = useAction();
  const now = useNow(1000);
  const [selected, setSelected] = useState<number | null>(null);
  const detail = useResource<CallDetailData>(`call ${callId}`, (a, signal) => a.get<CallDetailData>(`/calls/${seg(callId)}`, signal), {
    intervalMs: 5000,
    events: ['call'],
  });
  const messages = detail.data?.messages ?? [];
  const layout = useMemo(() => layoutLadder(messages), [messages]);
  const outcome = useMemo(() => describeOutcome(layout, messages), [layout, messages]);
  const call = detail.data?.call;

  const download = async (format: 'pcap' | 'text'): Promise<void> => {
    await act(`Downloading the ${format}`, async () => {
      const blob = await api.download(`/calls/${seg(callId)}?format=${format}`);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = fileName(callId, format === 'pcap' ? 'pcap' : 'txt');
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  };

  const msg = selected !== null ? messages[selected] : undefined;
  const arrow = selected !== null ? layout.arrows[selected] : undefined;
  const start = call !== undefined ? toMillis(call.startedAt) : Number.NaN;
  const end = call !== undefined ? (call.endedAt !== null ? toMillis(call.endedAt) : now) : Number.NaN;
  return (
    <>
      <p>
        <a href="#/calls">← All calls</a>
      </p>
      <LoadState what="this call" error={detail.error} loading={detail.loading} hasData={detail.data !== undefined} fetchedAt={detail.fetchedAt} onRetry={detail.reload} />
      {call !== undefined ? (
        <section class="card" aria-labelledby="call-summary-title">
          <header class="card-head">
            <h3 id="call-summary-title">
              <span class="mono">{call.from}</span> → <span class="mono">{call.to}</span>
            </h3>
            <div class="button-row">
              <button type="button" class="small" onClick={() => void download('pcap')}>
                Download pcap
              </button>
              <button type="button" class="small secondary" onClick={() => void download('text')}>
                Download text
              </button>
            </div>
          </header>
          <dl class="facts">
            <div>
              <dt>Call-ID</dt>
              <dd class="mono">{call.callId}</dd>
            </div>
            <div>
              <dt>Request-URI</dt>
              <dd class="mono">{call.ruri}</dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>{formatTime(start, now)}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{Number.isFinite(start) && Number.isFinite(end) ? formatSeconds(end - start) : '—'}</dd>
            </div>
            <div>
              <dt>State</dt>
              <dd>
                <StateBadge state={call.state} />
              </dd>
            </div>
            <div>
              <dt>Final status</dt>
              <dd>{call.status ?? '—'}</dd>
            </div>
          </dl>
          {messages.length > 0 ? (
            <div class={`outcome ${outcome.kind}`} data-outcome={outcome.kind}>
              <h4>{outcome.kind === 'failed' ? 'Why it failed' : outcome.kind === 'answered' ? 'How it was answered' : outcome.kind === 'cancelled' ? 'Cancelled' : 'In progress'}</h4>
              <p>{outcome.headline}</p>
              {outcome.attempts.length > 0 ? (
                <ol class="attempts">
                  {outcome.attempts.map((t, i) => (
                    <li key={i} class={t.finalStatus !== null && t.finalStatus < 300 ? 'ok' : t.finalStatus !== null || t.timedOut ? 'bad' : ''}>
                      <span class="mono">{t.party}</span>: {t.description}
                      {t.retransmissions > 0 ? ` (INVITE sent ${t.retransmissions + 1} times)` : ''}
                    </li>
                  ))}
                </ol>
              ) : null}
            </div>
          ) : null}
        </section>
      ) : null}
      {detail.data !== undefined ? (
        <section class="card" aria-labelledby="ladder-title">
          <h3 id="ladder-title">Ladder ({messages.length} messages)</h3>
          {messages.length === 0 ? (
            <p class="empty">No message of this call is in the trace.</p>
          ) : (
            <>
              <p class="meta" id="ladder-help">
                Click an arrow, or focus the diagram and use the arrow keys and Enter, to see the whole message.
              </p>
              <LadderDiagram layout={layout} selected={selected} onSelect={setSelected} title={`Ladder of call ${callId}`} />
            </>
          )}
        </section>
      ) : null}
      {msg !== undefined && arrow !== undefined ? (
        <section class="card" aria-labelledby="message-title" aria-live="polite">
          <h3 id="message-title">
            Message {arrow.index + 1}: {arrow.label}
          </h3>
          <p class="meta">
            {arrow.offsetLabel} · {formatTime(msg.at, now)} · {arrow.transport.toUpperCase()} {parseParty(msg.from).hostPort} → {parseParty(msg.to).hostPort}
            {arrow.retransmission ? ' · retransmission' : ''}
          </p>
          <pre class="message" tabIndex={0} aria-label="Message text">
            {msg.text !== undefined && msg.text !== '' ? redactMessage(msg.text) : `${msg.firstLine}\n(the trace holds only the first line of this message)`}
          </pre>
        </section>
      ) : null}
    </>
  );
};
