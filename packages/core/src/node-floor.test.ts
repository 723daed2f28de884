import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeAtLeast, nodeSqlite, requireNode } from './node-floor.ts';

describe('Node version floor', () => {
  it('compares versions part by part', () => {
    assert.equal(nodeAtLeast('v22.13.0', '22.13.0'), true);
    assert.equal(nodeAtLeast('22.12.9', '22.13.0'), false);
    assert.equal(nodeAtLeast('v24.0.0', '22.22.0'), true);
    assert.equal(nodeAtLeast('v22.9.0', '22.19.0'), false, 'numerically, not as text');
  });

  it('a too-old Node gets one line naming the version it needs', () => {
    assert.throws(
      () => requireNode('@meshkit/http', '22.19.0', 'v22.12.0'),
      (error: Error) => {
        assert.equal(
          error.message,
          '@meshkit/http needs Node >= 22.19.0; this is Node v22.12.0. Install a newer Node (meshkit develops on Node 24).',
        );
        assert.equal(error.message.includes('\n'), false);
        return true;
      },
    );
    assert.doesNotThrow(() => requireNode('@meshkit/http', '22.19.0', 'v22.19.0'));
  });

  it('a Node without node:sqlite says which version is needed instead of ERR_UNKNOWN_BUILTIN_MODULE', () => {
    assert.throws(
      () => nodeSqlite('sqliteBroker', () => undefined),
      /^Error: sqliteBroker needs Node >= 22\.13\.0; this is Node v/,
    );
    assert.equal(typeof nodeSqlite('sqliteBroker').DatabaseSync, 'function');
  });
});
