import { deadLetters } from '../dead-letters.ts';
import { openBroker } from '../open.ts';
import { CliError, type CliIo, cliConfig, type MeshFlags } from './io.ts';
import { table } from './table.ts';

/** Options of `meshkit events dlq`. */
export interface DlqFlags extends MeshFlags {
  readonly all?: boolean;
  readonly topic?: string;
  readonly json?: boolean;
}

const decoder = new TextDecoder();

/**
 * `meshkit events dlq <group> [list | show <id> | replay <id> | replay --all]`: the dead letters of a
 * consumer group on the mesh's broker (the embedded broker; others say they do not support it).
 */
export async function eventsDlq(
  io: CliIo,
  flags: DlqFlags,
  group: string,
  action = 'list',
  id: string | undefined = undefined,
): Promise<number> {
  if (action !== 'list' && action !== 'show' && action !== 'replay') {
    throw new CliError(
      `unknown dlq action "${action}" (expected list, show <id>, replay <id> or replay --all)`,
    );
  }
  if (action === 'show' && id === undefined) throw new CliError('dlq show needs the id of a dead letter');
  if (action === 'replay' && (id === undefined) === (flags.all !== true)) {
    throw new CliError('dlq replay needs either the id of a dead letter or --all');
  }
  if (action === 'list' && id !== undefined) throw new CliError(`dlq list takes no id (got "${id}")`);
  const opened = await openBroker(cliConfig(io, flags, { routes: false }));
  if (opened === undefined) return 1;
  try {
    const box = deadLetters(opened.value, group, flags.topic === undefined ? {} : { topic: flags.topic });
    if (action === 'list') {
      const letters = box.list();
      if (flags.json === true) {
        io.stdout.write(
          `${JSON.stringify(
            letters.map((l) => ({ ...l, body: decoder.decode(l.body) })),
            null,
            2,
          )}\n`,
        );
      } else if (letters.length === 0) {
        io.stdout.write(`no dead letters for group ${group} (${box.topic})\n`);
      } else {
        io.stdout.write(
          table(
            ['ID', 'TOPIC', 'KEY', 'REASON', 'ATTEMPTS', 'DEAD-LETTERED AT', 'ERROR'],
            letters.map((l) => [
              l.id,
              l.originalTopic ?? '-',
              l.key ?? '-',
              l.reason ?? '-',
              l.attempt ?? '-',
              l.deadLetteredAt ?? '-',
              l.error ?? '-',
            ]),
          ),
        );
      }
      return 0;
    }
    if (action === 'show') {
      const letter = box.show(id!);
      if (flags.json === true) {
        io.stdout.write(`${JSON.stringify({ ...letter, body: decoder.decode(letter.body) }, null, 2)}\n`);
      } else {
        const lines = [
          `id: ${letter.id}`,
          `position: ${letter.position}`,
          `key: ${letter.key ?? '-'}`,
          'headers:',
        ];
        for (const [name, value] of Object.entries(letter.headers).sort()) lines.push(`  ${name}: ${value}`);
        lines.push('body:', decoder.decode(letter.body));
        io.stdout.write(`${lines.join('\n')}\n`);
      }
      return 0;
    }
    const replayed = await box.replay(flags.all === true ? 'all' : [id!]);
    for (const r of replayed) io.stdout.write(`replayed ${r}\n`);
    if (replayed.length === 0) io.stdout.write(`no dead letters for group ${group} (${box.topic})\n`);
    return 0;
  } finally {
    await opened.close?.();
  }
}
