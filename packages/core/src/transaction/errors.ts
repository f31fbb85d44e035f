// Typed errors of the transaction layer. Code branches on `code`, never on message text.

export type TransactionErrorCode =
  | 'no-branch' // a client request without a Via branch: it cannot be matched to its responses
  | 'duplicate-branch' // a client transaction with this branch and method already exists
  | 'ack-has-no-transaction' // ACK is never sent through a client transaction (§17.1.1.3, §13.2.2.4)
  | 'bad-timer' // a timer value that is not a finite, non-negative number of ms
  | 'closed'; // the layer was closed

export class TransactionError extends Error {
  readonly code: TransactionErrorCode;

  constructor(code: TransactionErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransactionError';
    this.code = code;
  }
}

export const isTransactionError = (e: unknown): e is TransactionError => e instanceof TransactionError;
