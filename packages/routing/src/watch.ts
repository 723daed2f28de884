import diagnostics from 'node:diagnostics_channel';
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { checkNumber } from '@meshkit/core/internal';
import { RouteConfigError, type RouteIssue } from './issues.ts';
import type { RouteSource } from './layer.ts';
import { loadRoutes, type ParsedRoutes } from './load.ts';
import { compileRoutes, type RouteTable } from './table.ts';

/** What a reload reports on the `meshkit:routing:reload` diagnostics channel and to `onReload`. */
export interface RouteReloadEvent {
  readonly path: string;
  /** `true` when the new table was swapped in; `false` when it was rejected and the old one kept. */
  readonly applied: boolean;
  readonly issues: readonly RouteIssue[];
}

/** The diagnostics channel reload outcomes are published on. */
export const routeReloadChannel = diagnostics.channel('meshkit:routing:reload');

/** Options of {@link watchRoutes}. */
export interface WatchRoutesOptions {
  /** Called after every reload attempt, applied or rejected. */
  readonly onReload?: (event: RouteReloadEvent) => void;
  /** Waits this long after the last change event before reading, in ms (editors write in steps). Defaults to 50. */
  readonly debounceMs?: number;
}

/** A {@link RouteSource} that follows a file or directory. */
export interface RouteWatcher extends RouteSource {
  /** The table in force: the last configuration that loaded without errors. */
  readonly table: RouteTable;
  /** The findings of the last reload attempt (warnings of the table in force, or the rejected errors). */
  readonly issues: readonly RouteIssue[];
  /** Reads the files now; swaps the table in when they are valid. Resolves with what was read. */
  reload(): Promise<ParsedRoutes>;
  /** Stops watching. */
  close(): void;
}

/**
 * Loads a routing file or directory and watches it: a valid change is compiled and swapped in at once
 * (calls in flight keep the table they started with; the next call sees the new one); an invalid change
 * is rejected with its issues reported, and the last good table keeps serving. Rejects with a
 * {@link RouteConfigError} when the first load has errors.
 *
 * @example
 * ```ts
 * const routes = await watchRoutes('routes/', { onReload: (e) => e.applied || console.error(e.issues) });
 * ```
 */
export async function watchRoutes(path: string, options: WatchRoutesOptions = {}): Promise<RouteWatcher> {
  const debounceMs = checkNumber('watchRoutes.debounceMs', options.debounceMs ?? 50, 0);
  const first = await loadRoutes(path);
  if (!first.ok) throw new RouteConfigError(first.issues);
  let table = compileRoutes(first.config);
  let issues = first.issues;
  let loading: Promise<ParsedRoutes> | undefined;
  let again = false;

  const report = (event: RouteReloadEvent): void => {
    if (routeReloadChannel.hasSubscribers) routeReloadChannel.publish(event);
    options.onReload?.(event);
  };
  const loadOnce = async (): Promise<ParsedRoutes> => {
    const parsed = await loadRoutes(path);
    issues = parsed.issues;
    if (parsed.ok) table = compileRoutes(parsed.config);
    report({ path, applied: parsed.ok, issues: parsed.issues });
    return parsed;
  };
  // One read at a time; a change during a read triggers one more read after it.
  const reload = (): Promise<ParsedRoutes> => {
    if (loading !== undefined) {
      again = true;
      return loading;
    }
    loading = loadOnce().finally(() => {
      loading = undefined;
      if (again) {
        again = false;
        void reload();
      }
    });
    return loading;
  };

  const isDirectory = (await stat(path)).isDirectory();
  const watched = isDirectory ? path : dirname(path);
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  // The directory is watched even for one file: editors replace a file by renaming over it, which ends a
  // watch on the file itself.
  const watcher: FSWatcher = watch(watched, { persistent: false }, (_event, changed) => {
    if (!isDirectory && changed !== null && changed !== name) return;
    // A Kubernetes ConfigMap volume changes by swapping its `..data` link to a new folder: the files'
    // own names (links through `..data`) see no event.
    if (isDirectory && changed !== null && !/\.ya?ml$/.test(changed) && !changed.startsWith('..data')) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  });
  watcher.on('error', (error) =>
    report({
      path,
      applied: false,
      issues: [
        { severity: 'error', file: path, document: 0, path: '', message: `watch failed: ${error.message}` },
      ],
    }),
  );

  return {
    get table() {
      return table;
    },
    get issues() {
      return issues;
    },
    reload,
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
