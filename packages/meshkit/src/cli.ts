#!/usr/bin/env node
/**
 * The `meshkit` command: `routes validate`, `registry ls`, `call`, `events tail`, `events dlq`. Reads the
 * same environment as `createMesh()`; `meshkit --help` lists commands, flags and variables.
 */
import process from 'node:process';
import { runCli } from './cli/program.ts';

const interrupted = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});
// The command is work in progress even while it only waits on unref'd timers (discovery, backoff).
const keepAlive = setInterval(() => {}, 1 << 30);
const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  interrupted,
});
clearInterval(keepAlive);
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
process.exitCode = code;
