import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pageTokenKeyFor, readConfig } from './config.ts';

describe('configuration', () => {
  it('reads the environment, with defaults', () => {
    assert.deepEqual(readConfig({}), {
      httpPort: 8080,
      grpcPort: 50051,
      host: '127.0.0.1',
      advertiseAddress: undefined,
      version: 'v1',
      databaseUrl: undefined,
      databaseSchema: undefined,
      dataDir: '.meshkit',
      pageTokenKey: undefined,
      eventsTopic: undefined,
    });
    const config = readConfig({
      PORT: '0',
      GRPC_PORT: '50052',
      VERSION: 'v2',
      DATABASE_URL: 'postgres://x',
      EVENTS_TOPIC: 'user-events',
    });
    assert.equal(config.httpPort, 0);
    assert.equal(config.grpcPort, 50052);
    assert.equal(config.version, 'v2');
    assert.equal(config.databaseUrl, 'postgres://x');
    assert.equal(config.eventsTopic, 'user-events');
  });

  it('refuses a port that is not one, naming the variable', () => {
    assert.throws(() => readConfig({ PORT: 'eighty' }), /PORT/);
    assert.throws(() => readConfig({ GRPC_PORT: '70000' }), /GRPC_PORT/);
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
