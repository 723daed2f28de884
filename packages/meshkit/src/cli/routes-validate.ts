import { formatIssue, loadRoutes } from '@meshkit/routing';
import type { CliIo } from './io.ts';

/**
 * `meshkit routes validate <file...>`: checks each routing file (or directory) with `@meshkit/routing`,
 * printing every finding (file, document, field) and a verdict per file. Resolves with the exit code:
 * 1 when any file has an error.
 */
export async function routesValidate(io: CliIo, files: readonly string[]): Promise<number> {
  let failed = 0;
  for (const file of files) {
    const parsed = await loadRoutes(file);
    for (const issue of parsed.issues) {
      (issue.severity === 'error' ? io.stderr : io.stdout).write(`${formatIssue(issue)}\n`);
    }
    const errors = parsed.issues.filter((i) => i.severity === 'error').length;
    const warnings = parsed.issues.length - errors;
    const counts = [errors > 0 ? `${errors} error(s)` : '', warnings > 0 ? `${warnings} warning(s)` : '']
      .filter((c) => c !== '')
      .join(', ');
    const { virtualServices, destinationRules } = parsed.config;
    if (errors > 0) {
      failed++;
      io.stderr.write(`${file}: invalid (${counts})\n`);
    } else {
      io.stdout.write(
        `${file}: valid, ${virtualServices.length} VirtualService(s), ${destinationRules.length} DestinationRule(s)` +
          `${counts === '' ? '' : ` (${counts})`}\n`,
      );
    }
  }
  return failed > 0 ? 1 : 0;
}
