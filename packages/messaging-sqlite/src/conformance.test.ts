import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { brokerConformance } from '@meshkit/testkit';
import { type SqliteBroker, sqliteBroker } from './sqlite-broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-broker-'));
const path = join(dir, 'broker.db');
after(() => rmSync(dir, { recursive: true, force: true }));

// Each connect() is a separate connection to one file, as separate processes would be.
brokerConformance(
  'sqlite',
  async () => sqliteBroker({ path, visibilityTimeoutMs: 1_000, maxMessageBytes: 1_024 }),
  {
    oversizeBytes: 2_048,
    crash: (broker) => (broker as SqliteBroker).abandon(),
    keyOrderAcrossMembers: true,
  },
);
