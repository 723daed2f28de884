#!/usr/bin/env node
/**
 * `meshkit-routes validate <file|dir>`: prints every finding, then the compiled route table, and exits
 * 1 when there is an error (2 on bad usage).
 */
import { argv, exit, stderr, stdout } from 'node:process';
import { formatIssue } from './issues.ts';
import { loadRoutes } from './load.ts';
import { compileRoutes } from './table.ts';

const [verb, path, ...rest] = argv.slice(2);
if (verb !== 'validate' || path === undefined || rest.length > 0) {
  stderr.write('usage: meshkit-routes validate <file|dir>\n');
  exit(2);
}
const parsed = await loadRoutes(path);
for (const issue of parsed.issues)
  (issue.severity === 'error' ? stderr : stdout).write(`${formatIssue(issue)}\n`);
if (!parsed.ok) {
  stderr.write(`invalid: ${parsed.issues.filter((i) => i.severity === 'error').length} error(s)\n`);
  exit(1);
}
const warnings = parsed.issues.length;
stdout.write(`valid${warnings > 0 ? ` with ${warnings} warning(s)` : ''}\n`);
stdout.write(`${JSON.stringify(compileRoutes(parsed.config).describe(), null, 2)}\n`);
