import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { checkSequence } from './migration.ts';
import { migrateSqlite, sqliteMigrations } from './sqlite.ts';

describe('SQLite migrations', () => {
  it('apply once, record their versions, and are a no-op the second time and on another connection', () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-service-migrate-'));
    const path = join(dir, 'users.db');
    const a = new DatabaseSync(path);
    const b = new DatabaseSync(path);
    try {
      assert.deepEqual(
        migrateSqlite(a),
        sqliteMigrations.map((m) => m.version),
      );
      assert.deepEqual(migrateSqlite(a), []);
      assert.deepEqual(migrateSqlite(b), []);
      const versions = b.prepare('SELECT version FROM user_service_migrations ORDER BY version').all();
      assert.deepEqual(
        versions.map((r) => r.version),
        sqliteMigrations.map((m) => m.version),
      );
    } finally {
      a.close();
      b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('roll a failing migration back whole', () => {
    const db = new DatabaseSync(':memory:');
    const broken = [
      ...sqliteMigrations,
      {
        version: sqliteMigrations.length + 1,
        name: 'broken',
        sql: 'CREATE TABLE t (x); SELECT * FROM missing;',
      },
    ];
    assert.throws(() => migrateSqlite(db, broken));
    assert.equal(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get()?.n, 0);
    assert.equal(
      db.prepare('SELECT count(*) AS n FROM user_service_migrations').get()?.n,
      sqliteMigrations.length,
    );
    db.close();
  });

  it('must be numbered 1, 2, 3, ...', () => {
    assert.throws(() => checkSequence([{ version: 2, name: 'x', sql: '' }]), /expected 1/);
  });
});
