import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeshError } from '@meshkit/core';
import { hostPort, type InstanceInit, instanceFromJson, validateInstance } from './instance.ts';

const base: InstanceInit = { id: 'a', service: 'users', address: '127.0.0.1', port: 8080 };

function field(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    assert.ok(isMeshError(err));
    return err.details.field as string;
  }
  assert.fail('expected an InvalidArgumentError');
}

describe('validateInstance', () => {
  it('fills defaults and exposes the version as a label', () => {
    const got = validateInstance({ ...base, version: 'v2', labels: { version: 'pinned' } });
    assert.deepEqual(got.protocols, ['http']);
    assert.equal(got.weight, 1);
    assert.equal(got.health, 'passing');
    assert.deepEqual(got.labels, { version: 'pinned' }, 'an explicit label wins over the version');
    assert.ok(Object.isFrozen(got) && Object.isFrozen(got.labels));
  });

  it('names the offending field for every rule', () => {
    assert.equal(
      field(() => validateInstance({ ...base, service: 'bad name' })),
      'instance.service',
    );
    assert.equal(
      field(() => validateInstance({ ...base, id: 'a/b' })),
      'instance.id',
    );
    assert.equal(
      field(() => validateInstance({ ...base, protocols: [] })),
      'instance.protocols',
    );
    assert.equal(
      field(() => validateInstance({ ...base, protocols: ['http', ''] })),
      'instance.protocols[1]',
    );
    assert.equal(
      field(() => validateInstance({ ...base, weight: 0 })),
      'instance.weight',
    );
    assert.equal(
      field(() => validateInstance({ ...base, labels: { zone: 3 as unknown as string } })),
      'instance.labels.zone',
    );
    assert.equal(
      field(() => validateInstance({ ...base, check: { type: 'http', path: 'healthz' } })),
      'instance.check.path',
    );
    assert.equal(
      field(() => validateInstance({ ...base, check: { type: 'http', path: '/h', expectedStatus: 99 } })),
      'instance.check.expectedStatus',
    );
    assert.equal(
      field(() => validateInstance({ ...base, check: { type: 'udp' } as never })),
      'instance.check.type',
    );
    assert.equal(
      field(() => validateInstance({ ...base, check: { type: 'tcp', timeoutMs: 0 } })),
      'instance.check.timeoutMs',
    );
  });

  it('round-trips through JSON unchanged', () => {
    const got = validateInstance({ ...base, check: { type: 'tcp' }, version: 'v1' });
    const { health: _, ...data } = got;
    assert.deepEqual(instanceFromJson(JSON.stringify(data), 'critical'), { ...got, health: 'critical' });
  });

  it('brackets IPv6 literals in host:port', () => {
    assert.equal(hostPort({ address: '::1', port: 80 }), '[::1]:80');
    assert.equal(hostPort({ address: 'users.local', port: 80 }), 'users.local:80');
  });
});
