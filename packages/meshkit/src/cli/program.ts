import { isMeshError } from '@meshkit/core';
import { Command, CommanderError, Option } from 'commander';
import { meshVariables } from '../config.ts';
import { call } from './call.ts';
import { demo } from './demo.ts';
import { eventsDlq } from './events-dlq.ts';
import { eventsTail } from './events-tail.ts';
import { CliError, type CliIo, intFlag, type MeshFlags } from './io.ts';
import { registryLs } from './registry-ls.ts';
import { routesValidate } from './routes-validate.ts';

const environmentHelp = `
Environment (a flag wins over its variable):
${Object.entries(meshVariables)
  .map(([name, meaning]) => `  ${name.padEnd(15)} ${meaning.replaceAll('`', '')}`)
  .join('\n')}
`;

/** The `meshkit` command tree; each action resolves with its exit code through `done`. */
export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('meshkit')
    .description('Inspect and call a meshkit mesh: routes, registry, HTTP calls, events.')
    .addOption(new Option('--registry <spec>', 'registry: file path, sqlite:[path] or etcd://host:port'))
    .addOption(new Option('--broker <spec>', 'broker: sqlite:[path], amqp://… or kafka://host:port[,…]'))
    .addOption(new Option('--routes <path>', 'Istio YAML file or directory applied to calls'))
    .addOption(new Option('--data-dir <dir>', 'directory of the embedded files (default var)'))
    .addHelpText('after', environmentHelp)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();
  const flags = (command: Command): MeshFlags => command.optsWithGlobals<MeshFlags>();

  const routes = program
    .command('routes')
    .description('routing files (Istio VirtualService, DestinationRule)');
  routes
    .command('validate')
    .description('check routing files; prints every finding with its file, document and field')
    .argument('<file...>', 'YAML files or directories of them')
    .action(async (files: string[]) => done(await routesValidate(io, files)));

  const registry = program.command('registry').description('the service registry');
  registry
    .command('ls')
    .description('list instances: id, address, protocols, health, weight, labels')
    .argument('[service]', 'only this service (default: every service the registry can list)')
    .option('--json', 'print JSON')
    .action(async (service: string | undefined, _options: unknown, command: Command) =>
      done(await registryLs(io, flags(command), service)),
    );

  program
    .command('call')
    .description('one HTTP call through the mesh: prints status, route, subset, endpoints, attempts, body')
    .argument('<service>', 'service name in the registry')
    .argument('<method>', 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS')
    .argument('<path>', 'path with its query, e.g. /users/42?verbose=1')
    .argument('[body]', 'request body: JSON is sent as JSON, anything else as text')
    .option(
      '-H, --header <name:value>',
      'a request header (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--timeout <ms>', 'deadline of the whole call, in ms')
    .action(
      async (
        service: string,
        method: string,
        path: string,
        body: string | undefined,
        _o,
        command: Command,
      ) => {
        const { timeout: timeoutText, ...options } = flags(command) as MeshFlags & {
          header: string[];
          timeout?: string;
        };
        const timeout = intFlag('--timeout', timeoutText);
        done(
          await call(
            io,
            { ...options, ...(timeout === undefined ? {} : { timeout }) },
            service,
            method,
            path,
            body,
          ),
        );
      },
    );

  const events = program.command('events').description('events on the mesh broker');
  events
    .command('tail')
    .description('print events as they arrive, from now on (a throwaway group, deleted on exit)')
    .argument('<pattern...>', 'topics or patterns: user.* (one word), user.# (any words)')
    .option('--count <n>', 'stop after n events')
    .option('--json', 'print one JSON object per event')
    .action(async (patterns: string[], _o, command: Command) => {
      const { count: countText, ...options } = flags(command) as MeshFlags & {
        count?: string;
        json?: boolean;
      };
      const count = intFlag('--count', countText);
      done(
        await eventsTail(
          io,
          { ...options, ...(count === undefined ? {} : { count }), json: options.json === true },
          patterns,
        ),
      );
    });
  events
    .command('dlq')
    .description("a consumer group's dead letters: list, show <id>, replay <id>, replay --all")
    .argument('<group>', 'the consumer group')
    .argument('[action]', 'list (default), show or replay')
    .argument('[id]', 'event id (ce-id) of a dead letter')
    .option('--all', 'replay every dead letter')
    .option('--topic <topic>', "the group's dead-letter topic (default dead-letter.<group>)")
    .option('--json', 'print JSON')
    .action(async (group: string, action: string | undefined, id: string | undefined, _o, command: Command) =>
      done(await eventsDlq(io, flags(command), group, action, id)),
    );
  program
    .command('demo')
    .description('run the reference system and its fault scenario (from a clone of the repository)')
    .option('--duration <seconds>', 'length of the scenario (default 60)')
    .option('--keep', 'leave the system running after the report, until Ctrl-C')
    .option('--no-dashboard', 'do not start the dashboard')
    .action(async (options: { duration?: string; keep?: boolean; dashboard?: boolean }, command: Command) =>
      done(
        await demo(io, flags(command), [
          ...(options.duration === undefined ? [] : ['--duration', options.duration]),
          ...(options.keep === true ? ['--keep'] : []),
          ...(options.dashboard === false ? ['--no-dashboard'] : []),
        ]),
      ),
    );
  return program;
}

/**
 * Runs `meshkit` with `argv` (without `node` and the script) and resolves with the exit code: 0 on
 * success, 1 when the command or its configuration failed (message on stderr), 2 on bad usage.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; everything else commander refuses is bad usage.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      io.stderr.write(`meshkit: ${error.message}\n`);
      return 2;
    }
    if (isMeshError(error)) {
      io.stderr.write(`meshkit: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`meshkit: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}
