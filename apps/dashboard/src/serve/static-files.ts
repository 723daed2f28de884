import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

/** One file of the page, held in memory. */
export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/** Where `npm run build:ui` writes the page: `dist/ui` of this package. */
export const defaultUiDir = join(import.meta.dirname, '..', '..', 'dist', 'ui');

/**
 * Reads the built page (`index.html`, `app.js`, `app.css`) into memory. Throws with the command to run
 * when it was not built.
 */
export function loadStaticFiles(dir: string): ReadonlyMap<string, StaticFile> {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`the dashboard page is not built in ${dir}: run npm run build:ui -w @meshkit/dashboard`);
  }
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(dir)) {
    const type = types[extname(name)];
    if (type === undefined) continue;
    files.set(`/${name}`, { body: readFileSync(join(dir, name)), type });
  }
  return files;
}
