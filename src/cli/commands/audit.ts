import type { AuditEvent } from '../../audit/log.ts';
import { parseCommand, UsageError } from '../args.ts';
import { withServices } from './user.ts';

const USAGE = 'usage: bastion audit tail [-n 20] [--follow] [--json]';

const line = (e: AuditEvent) =>
  [e.at, e.type, e.user_id ?? '-', e.actor_id ?? '-', e.ip ?? '-', e.details ? JSON.stringify(e.details) : ''].join('\t');

/** `audit tail`: the newest events, oldest first; --follow keeps printing new ones. */
export async function auditCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { positionals, values, config } = parseCommand(rest, {
    n: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
    json: { type: 'boolean' },
  });
  const count = Number(values['n'] ?? 20);
  if (sub !== 'tail' || positionals.length > 0 || !Number.isInteger(count) || count < 1 || count > 10_000) throw new UsageError(USAGE);
  const print = (e: AuditEvent) => console.log(values['json'] ? JSON.stringify(e) : line(e));
  await withServices(config, async ({ audit }) => {
    const seen = new Set<string>();
    const show = async (limit: number) => {
      const events = (await audit.list({ limit })).reverse();
      for (const e of events.filter((x) => !seen.has(x.id))) {
        seen.add(e.id);
        print(e);
      }
    };
    await show(count);
    if (!values['follow']) return;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      await show(100);
    }
  });
}
