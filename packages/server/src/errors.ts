// Errors of the server package. Each has a stable `code`; callers branch on it, never on text.

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_UNREADABLE';

/** The config cannot be used. `problems` holds every problem found, one line each (`path: message`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  readonly problems: readonly string[];
  readonly source: string;
  /** Warnings found alongside the problems (check-config prints both). */
  readonly warnings: readonly string[];

  constructor(
    code: ConfigErrorCode,
    source: string,
    problems: readonly string[],
    options?: { cause?: unknown; warnings?: readonly string[] },
  ) {
    super(`${source}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`, options);
    this.code = code;
    this.source = source;
    this.problems = Object.freeze([...problems]);
    this.warnings = Object.freeze([...(options?.warnings ?? [])]);
  }
}

export type StoreErrorCode = 'STORE_UNAVAILABLE' | 'STORE_CORRUPT';

/** The server's own state (API-made dispatcher sets) could not be read or written. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  /** what the API answers (503: try again later) */
  readonly httpStatus: number;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.httpStatus = code === 'STORE_UNAVAILABLE' ? 503 : 500;
  }
}
