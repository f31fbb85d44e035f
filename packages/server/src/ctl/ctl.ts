// `sipfront ctl`: manages a running sipfront over its REST API, in the habit of kamcmd and
// `asterisk -rx`. Exit 0 on success; otherwise one line on stderr, "sipfront ctl: …", and the
// status of CTL_EXIT (2 usage, 3 unreachable, 4 token refused, 5 not found, 1 anything else).
import { parseArgs } from 'node:util';
import type { Env } from '../config/index.js';
import { createApiClient } from './client.js';
import { COMMANDS, findCommand } from './commands.js';
import { CTL_EXIT, CtlError } from './errors.js';
import { resolveTarget } from './target.js';

export interface CtlIo {
  readonly env: Env;
  readonly cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  /** for tests */
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

export function ctlUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.words.join(' ')} ${c.args}`.trim().length));
  const lines = COMMANDS.map((c) => `  ${`${c.words.join(' ')} ${c.args}`.trim().padEnd(width)}  ${c.summary}`);
  return [
    'usage: sipfront ctl [--config FILE | --api URL] [--json] <command>',
    '',
    'commands:',
    ...lines,
    '',
    'The API address comes from --api, else api.host/api.port of the config (--config FILE, else',
    '$SIPFRONT_CONFIG, else config/sipfront.yaml); the token from $SIPFRONT_API_TOKEN, else api.token.',
    '--json prints the API\'s JSON instead of a table.',
    `exit status: 0 ok, ${CTL_EXIT.CTL_USAGE} usage, ${CTL_EXIT.CTL_UNREACHABLE} API unreachable, ${CTL_EXIT.CTL_UNAUTHORIZED} token missing or refused, ${CTL_EXIT.CTL_NOT_FOUND} not found, 1 other errors`,
  ].join('\n') + '\n';
}

export async function runCtl(argv: readonly string[], io: CtlIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...argv],
        options: {
          config: { type: 'string', short: 'c' },
          api: { type: 'string' },
          json: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw new CtlError('CTL_USAGE', `${(err as Error).message.split('\n')[0]} (see sipfront ctl --help)`, { cause: err });
    }
    const { values, positionals } = parsed;
    if (values.help === true) {
      io.stdout(ctlUsage());
      return 0;
    }
    if (positionals.length === 0) throw new CtlError('CTL_USAGE', 'no command given (see sipfront ctl --help)');
    const found = findCommand(positionals);
    if (found === undefined) throw new CtlError('CTL_USAGE', `unknown command "${positionals.join(' ')}" (see sipfront ctl --help)`);
    const { command, args } = found;
    if (args.length < command.minArgs || args.length > command.maxArgs) {
      throw new CtlError('CTL_USAGE', `usage: sipfront ctl ${`${command.words.join(' ')} ${command.args}`.trim()}`);
    }
    const target = resolveTarget({ api: values.api, config: values.config }, io.env, io.cwd);
    const client = createApiClient(target, {
      ...(io.fetch !== undefined ? { fetch: io.fetch } : {}),
      ...(io.timeoutMs !== undefined ? { timeoutMs: io.timeoutMs } : {}),
    });
    await command.run({ client, json: values.json === true, now: (io.now ?? Date.now)(), out: (t) => io.stdout(t) }, args);
    return 0;
  } catch (err) {
    if (!(err instanceof CtlError)) throw err;
    io.stderr(`sipfront ctl: ${err.message}\n`);
    return err.exitCode;
  }
}
