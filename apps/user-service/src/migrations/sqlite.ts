import type { DatabaseSync } from 'node:sqlite';
import { checkSequence, type Migration } from './migration.ts';

/** The SQLite schema, in order. */
export const sqliteMigrations: readonly Migration[] = checkSequence([
  {
    version: 1,
    name: 'users',
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE', 'SUSPENDED')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX users_email ON users (email);
    `,
  },
]);

/**
 * Applies the migrations `db` has not seen, each in its own `BEGIN IMMEDIATE` transaction: SQLite's
 * write lock serialises processes starting at once, and a migration already recorded is skipped, so
 * running this again (or concurrently) is harmless. Resolves with the versions it applied.
 */
export function migrateSqlite(db: DatabaseSync, migrations = sqliteMigrations): number[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS user_service_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const applied: number[] = [];
  const seen = db.prepare('SELECT 1 FROM user_service_migrations WHERE version = ?');
  const record = db.prepare(
    'INSERT INTO user_service_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  );
  for (const migration of migrations) {
    db.exec('BEGIN IMMEDIATE');
    try {
      if (seen.get(migration.version) === undefined) {
        db.exec(migration.sql);
        record.run(migration.version, migration.name, Date.now());
        applied.push(migration.version);
      }
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
  return applied;
}
