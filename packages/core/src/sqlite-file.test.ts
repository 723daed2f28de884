import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InvalidArgumentError } from './errors.ts';
import { openSqliteFile } from './sqlite-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-sqlite-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('openSqliteFile', () => {
  it('creates the missing folders of the path', () => {
    const db = openSqliteFile('store.path', join(dir, 'var', 'deep', 'events.db'), (d) =>
      d.exec('CREATE TABLE t (x INTEGER)'),
    );
    db.close();
  });

  it('a folder that cannot be created is named with the cause', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a folder');
    const path = join(file, 'events.db');
    assert.throws(
      () => openSqliteFile('sqliteBroker.path', path),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.equal(error.field, 'sqliteBroker.path');
        assert.match(error.message, /its folder .*plain-file is a file, not a folder/);
        return true;
      },
    );
  });

  it('a path that is a folder is reported as such, not as "unable to open database file"', () => {
    assert.throws(
      () => openSqliteFile('sqliteBroker.path', dir, (d) => d.exec('PRAGMA journal_mode = WAL')),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.match(error.message, /sqliteBroker\.path cannot be used as a SQLite file .*: it is a folder/);
        return true;
      },
    );
  });
});

describe('openSqliteFile with another process holding the file', () => {
  it('waits for the lock instead of failing with "database is locked"', async () => {
    const path = join(dir, 'shared.db');
    // Another process takes the write lock, says so, and lets go a little later.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const { DatabaseSync } = require('node:sqlite');
         const db = new DatabaseSync(${JSON.stringify(path)});
         db.exec('BEGIN EXCLUSIVE');
         process.stdout.write('locked\\n');
         setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, 300);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(holder.stdout!, 'data');
    const db = openSqliteFile('test.path', path, (d) => {
      d.exec('PRAGMA journal_mode = WAL');
      d.exec('CREATE TABLE IF NOT EXISTS t (x)');
    });
    db.close();
    await once(holder, 'exit');
    assert.equal(holder.exitCode, 0);
  });
});
