import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { pgInbox } from './pg-inbox.ts';
import { pgOutbox } from './pg-outbox.ts';

// Construction never connects, so option checks run without a server.
describe('PostgreSQL outbox and inbox options', () => {
  const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });

  it('refuse table names that are not plain identifiers, naming the field', () => {
    assert.throws(
      () => pgOutbox(pool, { table: 'outbox; DROP TABLE users' }),
      /pgOutbox.table must be a lower-case SQL identifier/,
    );
    assert.throws(() => pgOutbox(pool, { table: 'Outbox' }), /pgOutbox.table/);
    assert.throws(() => pgInbox(pool, { consumer: 'c', table: '1inbox' }), /pgInbox.table/);
  });

  it('require a consumer name for the inbox', () => {
    assert.throws(() => pgInbox(pool, { consumer: '' }), /pgInbox.consumer must be a non-empty string/);
  });

  it('accept the defaults', async () => {
    assert.ok(pgOutbox(pool));
    assert.ok(pgInbox(pool, { consumer: 'notifications' }));
    await pool.end();
  });
});
