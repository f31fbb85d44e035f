// Errors of the transport layer. Each has a stable `code` to branch on; send failures carry
// sipStatus 503, the response a client transaction reports for a transport error (RFC 3261 §8.1.3.1).

export type TransportErrorCode =
  | 'TRANSPORT_CLOSED' // the layer was closed
  | 'TRANSPORT_NO_LISTENER' // no listener of the target's transport and address family
  | 'TRANSPORT_BAD_ADDRESS' // the target is not an IP literal
  | 'TRANSPORT_CONNECT_FAILED'
  | 'TRANSPORT_CONNECT_TIMEOUT'
  | 'TRANSPORT_CONNECTION_CLOSED' // closed before the bytes were written
  | 'TRANSPORT_WRITE_QUEUE_FULL'
  | 'TRANSPORT_SEND_FAILED'
  | 'TRANSPORT_LISTEN_FAILED'
  | 'TRANSPORT_INVALID_CIDR'
  | 'TRANSPORT_SOCKET_ERROR' // a listener socket reported an error after it was bound
  | 'TRANSPORT_CALLBACK_THREW'; // onMessage / onDrop / onError of a caller threw

const SEND_CODES: ReadonlySet<TransportErrorCode> = new Set<TransportErrorCode>([
  'TRANSPORT_CLOSED',
  'TRANSPORT_NO_LISTENER',
  'TRANSPORT_BAD_ADDRESS',
  'TRANSPORT_CONNECT_FAILED',
  'TRANSPORT_CONNECT_TIMEOUT',
  'TRANSPORT_CONNECTION_CLOSED',
  'TRANSPORT_WRITE_QUEUE_FULL',
  'TRANSPORT_SEND_FAILED',
]);

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code: TransportErrorCode;
  readonly sipStatus: number | undefined;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.sipStatus = SEND_CODES.has(code) ? 503 : undefined;
  }
}
