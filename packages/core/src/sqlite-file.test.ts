import assert from 'node:assert/strict';
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
