import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteUserStore } from './store-sqlite.ts';
import { userDomainSuite } from './test-support/domain-suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'user-service-sqlite-'));
const path = join(dir, 'users.db');

userDomainSuite('SQLite', {
  open: async () => openSqliteUserStore({ path }),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
