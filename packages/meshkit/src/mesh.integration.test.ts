/**
 * createMesh and the CLI on real engines: RabbitMQ (`MESHKIT_AMQP_URL`, default 127.0.0.1:5672), Kafka
 * (`scripts/services/up-kafka.sh`, `MESHKIT_KAFKA_BROKER`), etcd (`scripts/services/up-etcd.sh`,
 * `MESHKIT_ETCD_URL`) and PostgreSQL (`MESHKIT_PG_URL`, default postgres://postgres@127.0.0.1:5432/test).
 * Without them these tests fail; they never skip.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Message } from '@meshkit/messaging';
import { createMesh, type Mesh } from './index.ts';
import { deferred, echo, runCli, startCli, tempDir } from './test-support/services.ts';

const amqpUrl = process.env.MESHKIT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const kafka = process.env.MESHKIT_KAFKA_BROKER ?? '127.0.0.1:9092';
const etcd = new URL(process.env.MESHKIT_ETCD_URL ?? 'http://127.0.0.1:23790');
const databaseUrl = process.env.MESHKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomUUID().slice(0, 8);
const tmp = tempDir('meshkit-int-');
after(() => tmp.remove());

/** Two meshes on the same environment: one publishes, the other consumes; both closed after `body`. */
async function pair(env: Record<string, string>, body: (a: Mesh, b: Mesh) => Promise<void>): Promise<void> {
  const a = await createMesh({ env: { MESH_DATA_DIR: tmp.dir, ...env } });
  try {
    const b = await createMesh({ env: { MESH_DATA_DIR: tmp.dir, ...env } });
    try {
      await body(a, b);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}

async function roundTrip(a: Mesh, b: Mesh, topic: string): Promise<void> {
  const got = deferred<Message>();
  await b.subscribe({ group: `g-${run}`, topics: [topic], handler: async (msg) => got.resolve(msg) });
  const receipt = await a.publisher().publish(topic, { run }, { key: run });
  const msg = await got.promise;
  assert.equal(msg.id, receipt.id);
  assert.deepEqual(msg.data, { run });
}

describe('MESH_BROKER=amqp://', () => {
  test('publish on one mesh, consume on another', async () => {
    await pair({ MESH_BROKER: amqpUrl }, async (a, b) => {
      assert.equal(a.broker.name, 'amqp');
      await roundTrip(a, b, `mesh.amqp.${run}`);
    });
  });
  test('meshkit events tail reads from now on; dlq says the broker does not support it', async () => {
    const env = { MESH_BROKER: amqpUrl };
    const tail = startCli(['events', 'tail', `tail.${run}.*`, '--count', '1'], {
      cwd: tmp.dir,
      env,
      waitFor: 'tailing',
    });
    await tail.ready;
    const mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir, ...env } });
    try {
      await mesh.publisher().publish(`tail.${run}.created`, { n: 1 });
    } finally {
      await mesh.close();
    }
    const done = await tail.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, new RegExp(`tail\\.${run}\\.created id=\\S+ \\{"n":1\\}`));
    const dlq = await runCli(['events', 'dlq', 'notifications'], { cwd: tmp.dir, env });
    assert.equal(dlq.code, 1);
    assert.match(
      dlq.stderr,
      /cannot list dead letters: not supported by amqp \(read the queue notifications\.dlq/,
    );
  });
  test('a broker that cannot be reached is named at start', async () => {
    await assert.rejects(createMesh({ env: { MESH_DATA_DIR: tmp.dir, MESH_BROKER: 'amqp://127.0.0.1:1' } }), {
      message: /^MESH_BROKER cannot connect: /,
    });
  });
});

describe('MESH_BROKER=kafka://', () => {
  test('publish on one mesh, consume on another', async () => {
    await pair({ MESH_BROKER: `kafka://${kafka}` }, async (a, b) => {
      assert.equal(a.broker.name, 'kafka');
      await roundTrip(a, b, `mesh-kafka-${run}`);
    });
  });
  test('meshkit events dlq says Kafka does not support it and where to look', async () => {
    const dlq = await runCli(['events', 'dlq', 'notifications'], {
      cwd: tmp.dir,
      env: { MESH_BROKER: `kafka://${kafka}` },
    });
    assert.equal(dlq.code, 1);
    assert.match(dlq.stderr, /not supported by kafka \(consume the topic dead-letter\.notifications/);
  });
});

describe('MESH_REGISTRY=etcd://', () => {
  const env = { MESH_REGISTRY: `etcd://${etcd.host}/meshkit-test-${run}` };
  test('a service served by one mesh is called from another; registry ls lists it', async () => {
    await pair(env, async (a, b) => {
      assert.equal(a.registry.kind, 'etcd');
      const served = await a.serve({
        service: 'users',
        version: 'v1',
        http: { handler: echo('v1') },
        shutdown: { signals: false, graceMs: 0 },
      });
      try {
        assert.deepEqual(await b.http('users').get('/ping'), {
          version: 'v1',
          method: 'GET',
          path: '/ping',
          body: '',
        });
        const ls = await runCli(['registry', 'ls'], { cwd: tmp.dir, env });
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(
          ls.stdout,
          /\nusers\s+users-127\.0\.0\.1-\d+\s+127\.0\.0\.1:\d+\s+http\s+passing\s+1\s+version=v1\n$/,
        );
      } finally {
        await served.close();
      }
      assert.deepEqual(await b.registry.lookup('users'), []);
    });
  });
});

describe('DATABASE_URL=postgres://', () => {
  test('mesh.outbox commits state and event together and relays it; mesh.inbox drops a duplicate', async () => {
    const table = `outbox_${run}`;
    await pair({ DATABASE_URL: databaseUrl }, async (a, b) => {
      const outbox = await a.outbox({ table });
      assert.equal(outbox.kind, 'postgres');
      const inbox = await b.inbox(`welcome-${run}`, { table: `inbox_${run}` });
      assert.ok(inbox.kind === 'postgres' && outbox.kind === 'postgres');
      const effects: string[] = [];
      const handled = deferred<void>();
      const handle = inbox.inbox.handler<{ id: string }>((msg) => {
        effects.push(msg.id);
      });
      await b.subscribe<{ id: string }>({
        group: `welcome-${run}`,
        topics: [`user.created.${run}`],
        handler: async (msg, ctx) => {
          await handle(msg, ctx);
          await handle(msg, ctx);
          handled.resolve();
        },
      });
      await outbox.store.transaction(async (client, tx) => {
        await client.query('SELECT 1');
        await tx.add({ topic: `user.created.${run}`, data: { id: '42' } });
      });
      await handled.promise;
      assert.equal(effects.length, 1);
      await outbox.pool.query(`DROP TABLE ${table}, ${table}_lease, inbox_${run}`);
    });
  });
});
