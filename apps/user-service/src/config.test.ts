import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pageTokenKeyFor, readConfig } from './config.ts';

describe('configuration', () => {
  it('reads only its own variables; the mesh reads the rest', () => {
    assert.deepEqual(readConfig({}), {
      pageTokenKey: undefined,
      eventsTopic: undefined,
      databaseSchema: undefined,
    });
    const config = readConfig({
      PAGE_TOKEN_KEY: 'k'.repeat(16),
      EVENTS_TOPIC: 'user-events',
      DATABASE_SCHEMA: 'users',
      PORT: '1',
    });
    assert.deepEqual(config, {
      pageTokenKey: 'k'.repeat(16),
      eventsTopic: 'user-events',
      databaseSchema: 'users',
    });
  });

  it('creates one page-token key per data directory and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-service-config-'));
    try {
      const first = pageTokenKeyFor({ dataDir: dir, pageTokenKey: undefined });
      assert.ok(first.length >= 32);
      assert.equal(pageTokenKeyFor({ dataDir: dir, pageTokenKey: undefined }), first);
      assert.equal(readFileSync(join(dir, 'page-token.key'), 'utf8'), first);
      assert.equal(statSync(join(dir, 'page-token.key')).mode & 0o777, 0o600);
      assert.equal(pageTokenKeyFor({ dataDir: dir, pageTokenKey: 'given' }), 'given');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
