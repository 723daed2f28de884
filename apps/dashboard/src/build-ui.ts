/**
 * Bundles the page (`src/ui`) with esbuild into `dist/ui`: `index.html`, `app.js` (with uPlot) and
 * `app.css`. Nothing is fetched at run time; the server serves these files.
 *
 *   node --conditions=@meshkit/source apps/dashboard/src/build-ui.ts [outDir]
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { defaultUiDir } from './serve/static-files.ts';

/** Builds the page into `outDir` (default this package's `dist/ui`) and resolves with the folder. */
export async function buildUi(outDir = defaultUiDir): Promise<string> {
  const ui = join(import.meta.dirname, 'ui');
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(ui, 'main.ts') },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    outdir: outDir,
    logLevel: 'warning',
  });
  await build({
    entryPoints: { app: join(ui, 'styles.css') },
    bundle: true,
    minify: true,
    outdir: outDir,
    logLevel: 'warning',
  });
  await copyFile(join(ui, 'index.html'), join(outDir, 'index.html'));
  return outDir;
}

if (import.meta.main) {
  const dir = await buildUi(process.argv[2]);
  console.log(`dashboard page built in ${dir}`);
}
