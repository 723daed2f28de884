import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync, DatabaseSyncOptions } from 'node:sqlite';
import { InvalidArgumentError } from './errors.ts';
import { nodeSqlite } from './node-floor.ts';

/**
 * Opens (creating it and its folder when missing) the SQLite file at `path`, with a 5 s busy timeout, and
 * runs `setup` on it.
 * When the file cannot be used, throws an {@link InvalidArgumentError} naming `field`, the full path and
 * why (a folder that cannot be created or written, a path that is a folder), instead of SQLite's bare
 * "unable to open database file". `:memory:` is opened as is.
 *
 * @param field the option that gave the path, e.g. `sqliteBroker.path`.
 */
export function openSqliteFile(
  field: string,
  path: string,
  setup: (db: DatabaseSync) => void = () => {},
  options: DatabaseSyncOptions = {},
): DatabaseSync {
  const { DatabaseSync } = nodeSqlite(field.split('.')[0] ?? field);
  const memory = path === ':memory:' || path === '';
  const full = memory ? path : resolve(path);
  if (!memory) {
    try {
      mkdirSync(dirname(full), { recursive: true });
    } catch (error) {
      const why =
        (error as NodeJS.ErrnoException).code === 'EEXIST'
          ? 'is a file, not a folder'
          : `cannot be created (${reason(error)})`;
      throw new InvalidArgumentError(field, `cannot be used: its folder ${dirname(full)} ${why}`, path);
    }
  }
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, options);
    // Processes that open one file at once (instances starting together) wait for each other's setup
    // (switching to WAL, creating tables) instead of failing with "database is locked". `setup` may set
    // its own timeout after this.
    db.exec('PRAGMA busy_timeout = 5000');
    setup(db);
    return db;
  } catch (error) {
    try {
      db?.close();
    } catch {
      // Already failing: the first error is the one to report.
    }
    if (memory) throw error;
    throw new InvalidArgumentError(
      field,
      `cannot be used as a SQLite file ${full}: ${diagnose(full, error)}`,
      path,
    );
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Says why the file is unusable, checking the usual causes before quoting SQLite. */
function diagnose(full: string, error: unknown): string {
  const sqlite = reason(error);
  try {
    if (statSync(full).isDirectory()) return `it is a folder (${sqlite})`;
  } catch {
    // Does not exist yet: the folder decides.
  }
  try {
    accessSync(dirname(full), constants.W_OK);
  } catch {
    return `its folder ${dirname(full)} is not writable (${sqlite})`;
  }
  try {
    accessSync(full, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EACCES') return `the file is not writable (${sqlite})`;
  }
  return sqlite;
}
