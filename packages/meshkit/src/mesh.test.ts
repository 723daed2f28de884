import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UserService } from '@meshkit/grpc';
import type { Message } from '@meshkit/messaging';
import { generateCerts } from '@meshkit/testkit';
import { createMesh, grpcService, type Mesh } from './index.ts';
import { deferred, tempDir, userService, whoAmI } from './test-support/services.ts';

const quick = { signals: false, graceMs: 0, drainTimeoutMs: 1_000 } as const;

/** Both subsets named by version; calls with `x-canary: true` go to v2, the rest to v1. */
const canaryRoutes = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: users }
spec:
  hosts: [users]
  http:
    - match:
        - headers: { x-canary: { exact: "true" } }
      route:
        - destination: { host: users, subset: v2 }
    - route:
        - destination: { host: users, subset: v1 }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: users }
spec:
  host: users
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;

describe('createMesh on its embedded defaults', () => {
  const tmp = tempDir();
  let server: Mesh;
  let caller: Mesh;

  before(async () => {
    server = await createMesh({ env: { MESH_DATA_DIR: tmp.dir } });
    caller = await createMesh({ env: { MESH_DATA_DIR: tmp.dir } });
  });
  after(async () => {
    await caller.close();
    await server.close();
    tmp.remove();
  });

  test('creates the data directory and its registry and broker files', () => {
    assert.equal(server.config.dataDir, tmp.dir);
    assert.ok(existsSync(join(tmp.dir, 'registry.db')));
    assert.ok(existsSync(join(tmp.dir, 'events.db')));
    assert.equal(server.registry.kind, 'embedded');
    assert.equal(server.broker.name, 'sqlite');
    assert.equal(server.routes, undefined);
  });

  test('the embedded path loads no RabbitMQ, Kafka or PostgreSQL client', () => {
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    assert.deepEqual(
      loaded.filter((file) => /node_modules[\\/](amqplib|@platformatic[\\/]kafka|pg)[\\/]/.test(file)),
      [],
    );
  });

  test('an HTTP and a gRPC service served by one mesh are called from another', async () => {
    const served = await server.serve({
      service: 'users',
      version: 'v1',
      http: { handler: whoAmI('v1') },
      grpc: { services: [grpcService(UserService, userService('a'))] },
      shutdown: quick,
    });
    try {
      assert.match(served.http?.address ?? '', /^127\.0\.0\.1:\d+$/);
      const instances = await caller.registry.lookup('users');
      assert.deepEqual(instances.map((i) => [i.protocols[0], i.labels.version]).sort(), [
        ['grpc', 'v1'],
        ['http', 'v1'],
      ]);

      const http = caller.http('users');
      assert.deepEqual(await http.get('/hello'), { version: 'v1', method: 'GET', path: '/hello' });
      const grpc = caller.grpc(UserService, 'users');
      const user = await grpc.getUser({ id: '42' });
      assert.equal(user.name, 'Ada from a');
      await assert.rejects(grpc.getUser({ id: '7' }), { name: 'GrpcStatusError', grpcMessage: 'no user 7' });
    } finally {
      await served.close();
    }
    assert.deepEqual(await caller.registry.lookup('users'), []);
  });

  test('an event published on one mesh reaches a subscriber on the other', async () => {
    const received = deferred<Message>();
    await caller.subscribe({
      group: 'audit',
      patterns: ['user.*'],
      handler: async (msg) => received.resolve(msg),
    });
    const receipt = await server.publisher().publish('user.created', { id: '42' }, { key: '42' });
    const msg = await received.promise;
    assert.equal(msg.id, receipt.id);
    assert.equal(msg.topic, 'user.created');
    assert.equal(msg.source, '/meshkit');
    assert.deepEqual(msg.data, { id: '42' });
  });
});

describe('createMesh with routes from a YAML file', () => {
  const tmp = tempDir();
  let mesh: Mesh;

  before(async () => {
    writeFileSync(join(tmp.dir, 'routes.yaml'), canaryRoutes);
    mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir, MESH_ROUTES: join(tmp.dir, 'routes.yaml') } });
  });
  after(async () => {
    await mesh.close();
    tmp.remove();
  });

  test('steers HTTP and gRPC calls to the subset of the version label', async () => {
    const v1 = await mesh.serve({
      service: 'users',
      version: 'v1',
      http: { handler: whoAmI('v1') },
      grpc: { services: [grpcService(UserService, userService('v1'))] },
      shutdown: quick,
    });
    const v2 = await mesh.serve({
      service: 'users',
      version: 'v2',
      http: { handler: whoAmI('v2') },
      grpc: { services: [grpcService(UserService, userService('v2'))] },
      shutdown: quick,
    });
    try {
      const http = mesh.http('users');
      const grpc = mesh.grpc(UserService, 'users');
      const plain = new Set<string>();
      const canary = new Set<string>();
      const grpcPlain = new Set<string>();
      const grpcCanary = new Set<string>();
      for (let i = 0; i < 12; i++) {
        plain.add(((await http.get('/users/42')) as { version: string }).version);
        canary.add(
          ((await http.get('/users/42', { headers: { 'x-canary': 'true' } })) as { version: string }).version,
        );
        grpcPlain.add((await grpc.getUser({ id: '42' })).name);
        grpcCanary.add((await grpc.getUser({ id: '42' }, { metadata: { 'x-canary': 'true' } })).name);
      }
      assert.deepEqual([...plain], ['v1']);
      assert.deepEqual([...canary], ['v2']);
      assert.deepEqual([...grpcPlain], ['Ada from v1']);
      assert.deepEqual([...grpcCanary], ['Ada from v2']);

      const unrouted = mesh.http('users', { route: false });
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++)
        seen.add(((await unrouted.get('/')) as { version: string }).version);
      assert.deepEqual([...seen].sort(), ['v1', 'v2']);
    } finally {
      await Promise.all([v1.close(), v2.close()]);
    }
  });

  test('rejects a routes file with errors, naming MESH_ROUTES and the finding', async () => {
    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, canaryRoutes.replace('subset: v2 }', 'subset: v3 }'));
    await assert.rejects(
      createMesh({ env: { MESH_DATA_DIR: tmp.dir, MESH_ROUTES: bad } }),
      (error: Error) => {
        assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARGUMENT');
        assert.match(error.message, /^MESH_ROUTES names invalid routes: .*bad\.yaml #1 .*subset "v3"/);
        return true;
      },
    );
  });
});

describe('mesh.serve shutdown', () => {
  test('SIGTERM deregisters, drains, closes the mesh and exits 0', async () => {
    const tmp = tempDir();
    const signals = new EventEmitter();
    const exited = deferred<number>();
    const mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir } });
    const watcher = await createMesh({ env: { MESH_DATA_DIR: tmp.dir } });
    try {
      await mesh.serve({
        service: 'users',
        http: { handler: whoAmI('v1') },
        shutdown: { signals, exit: exited.resolve, graceMs: 0 },
      });
      assert.equal((await watcher.registry.lookup('users')).length, 1);
      signals.emit('SIGTERM');
      assert.equal(await exited.promise, 0);
      assert.deepEqual(await watcher.registry.lookup('users'), []);
      assert.equal(signals.listenerCount('SIGTERM'), 0);
      await assert.rejects(mesh.publisher().publish('user.created', {}), { code: 'ERR_CLOSED' });
    } finally {
      await watcher.close();
      await mesh.close();
      tmp.remove();
    }
  });

  test('a request in flight at SIGTERM is answered before the mesh closes', async () => {
    const tmp = tempDir();
    const signals = new EventEmitter();
    const exited = deferred<number>();
    const entered = deferred<void>();
    const release = deferred<void>();
    const mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir } });
    const caller = await createMesh({ env: { MESH_DATA_DIR: tmp.dir } });
    try {
      await mesh.serve({
        service: 'slow',
        http: {
          handler: async () => {
            entered.resolve();
            await release.promise;
            return { body: 'done' };
          },
        },
        shutdown: { signals, exit: exited.resolve, graceMs: 0, drainTimeoutMs: 30_000 },
      });
      const answer = caller.http('slow').get('/');
      await entered.promise;
      signals.emit('SIGTERM');
      assert.deepEqual(await caller.registry.lookup('slow'), []);
      release.resolve();
      assert.equal(await answer, 'done');
      assert.equal(await exited.promise, 0);
    } finally {
      await caller.close();
      await mesh.close();
      tmp.remove();
    }
  });

  test('close is idempotent and leaves no handle open: the process exits by itself', async () => {
    const tmp = tempDir();
    const script = `
      import { createMesh, grpcService } from 'meshkit';
      import { UserService } from '@meshkit/grpc';
      const env = { MESH_DATA_DIR: ${JSON.stringify(tmp.dir)} };
      const a = await createMesh({ env });
      const b = await createMesh({ env });
      await a.serve({
        service: 'users',
        http: { handler: () => ({ body: 'ok' }) },
        grpc: { services: [grpcService(UserService, { getUser: async ({ id }) => ({ id }) })] },
      });
      await b.subscribe({ group: 'g', topics: ['t'], handler: async () => {} });
      await a.publisher().publish('t', 1);
      console.log(await b.http('users').get('/'), (await b.grpc(UserService, 'users').getUser({ id: '9' })).id);
      await Promise.all([a.close(), a.close()]);
      await b.close();
      await b.close();
      console.log('closed');
    `;
    try {
      const child = spawn(
        process.execPath,
        ['--conditions=@meshkit/source', '--input-type=module', '-e', script],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      // A guard against a process that never ends, not a measurement.
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
        child.on('exit', (c, s) => resolve([c, s])),
      );
      clearTimeout(guard);
      assert.equal(signal, null, 'the process had to be killed: something stayed open');
      assert.equal(code, 0);
      assert.equal(out, 'ok 9\nclosed\n');
    } finally {
      tmp.remove();
    }
  });
});

describe('mesh.serve on a wildcard host', () => {
  test('registers MESH_ADDRESS, and refuses to start without one', async () => {
    const tmp = tempDir();
    const mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir, MESH_HOST: '0.0.0.0' } });
    try {
      await assert.rejects(mesh.serve({ service: 'users', http: { handler: whoAmI('v1') } }), {
        message:
          /^MESH_ADDRESS must name the address callers reach this process at when listening on 0\.0\.0\.0/,
      });
      const served = await mesh.serve({
        service: 'users',
        address: '127.0.0.1',
        http: { handler: whoAmI('v1') },
        shutdown: quick,
      });
      assert.equal(served.http?.host, '0.0.0.0');
      const [instance] = await mesh.registry.lookup('users');
      assert.equal(instance?.address, '127.0.0.1');
      assert.deepEqual(await mesh.http('users').get('/'), { version: 'v1', method: 'GET', path: '/' });
    } finally {
      await mesh.close();
      tmp.remove();
    }
  });
});

describe('createMesh without a broker', () => {
  test('has no publisher or consumer, and says so', async () => {
    const tmp = tempDir();
    const mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir }, broker: false });
    try {
      assert.ok(!existsSync(join(tmp.dir, 'events.db')));
      assert.throws(() => mesh.broker, /createMesh\.broker is false: this mesh has no broker/);
      assert.throws(() => mesh.publisher(), { code: 'ERR_INVALID_ARGUMENT' });
      await assert.rejects(mesh.subscribe({ group: 'g', topics: ['t'], handler: async () => {} }), {
        code: 'ERR_INVALID_ARGUMENT',
      });
    } finally {
      await mesh.close();
      tmp.remove();
    }
  });
});

describe('mesh.database, mesh.outbox and mesh.inbox on SQLite (no DATABASE_URL)', () => {
  test('state and event commit together; the relay publishes; the inbox drops a duplicate', async () => {
    const tmp = tempDir();
    const mesh = await createMesh({ env: { MESH_DATA_DIR: tmp.dir, MESH_SERVICE: 'users' } });
    try {
      const database = await mesh.database();
      assert.equal(database.kind, 'sqlite');
      assert.equal(database.kind === 'sqlite' && database.path, join(tmp.dir, 'users.db'));
      assert.equal(await mesh.database(), database, 'opened once');
      const outbox = await mesh.outbox();
      assert.ok(outbox.kind === 'sqlite');
      outbox.db.exec('CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)');

      const inbox = await mesh.inbox('welcome');
      assert.ok(inbox.kind === 'sqlite');
      inbox.db.exec('CREATE TABLE welcomed (id TEXT)');
      const effects: string[] = [];
      const twice = deferred<void>();
      let deliveries = 0;
      const handle = inbox.inbox.handler<{ id: string }>((msg, db) => {
        db.prepare('INSERT INTO welcomed VALUES (?)').run(msg.data.id);
        effects.push(msg.id);
      });
      await mesh.subscribe<{ id: string }>({
        group: 'welcome',
        topics: ['user.created'],
        handler: async (msg, ctx) => {
          await handle(msg, ctx);
          await handle(msg, ctx); // a redelivery of the same event
          if (++deliveries === 1) twice.resolve();
        },
      });

      outbox.store.transaction((tx) => {
        outbox.db.prepare('INSERT INTO users VALUES (?, ?)').run('42', 'Ada');
        tx.add({ topic: 'user.created', data: { id: '42' }, key: '42' });
      });
      await twice.promise;
      assert.equal(effects.length, 1);
      assert.deepEqual(
        inbox.db
          .prepare('SELECT id FROM welcomed')
          .all()
          .map((r) => r.id),
        ['42'],
      );
    } finally {
      await mesh.close();
      tmp.remove();
    }
  });
});

describe('createMesh with TLS', () => {
  test('servers require client certificates from the CA; a mesh with the right one calls HTTP and gRPC', async () => {
    const tmp = tempDir();
    const certs = generateCerts();
    const files = {
      cert: join(tmp.dir, 'server.pem'),
      key: join(tmp.dir, 'server-key.pem'),
      ca: join(tmp.dir, 'ca.pem'),
    };
    writeFileSync(files.cert, certs.serverCert);
    writeFileSync(files.key, certs.serverKey);
    writeFileSync(files.ca, certs.ca);
    const server = await createMesh({
      env: {
        MESH_DATA_DIR: tmp.dir,
        MESH_TLS_CERT: files.cert,
        MESH_TLS_KEY: files.key,
        MESH_TLS_CA: files.ca,
      },
    });
    const caller = await createMesh({
      env: { MESH_DATA_DIR: tmp.dir },
      tls: { cert: certs.clientCert, key: certs.clientKey, ca: certs.ca },
    });
    const rogue = await createMesh({
      env: { MESH_DATA_DIR: tmp.dir },
      tls: { cert: certs.rogueCert, key: certs.rogueKey, ca: certs.ca },
    });
    try {
      await server.serve({
        service: 'users',
        version: 'v1',
        http: { handler: whoAmI('v1') },
        grpc: { services: [grpcService(UserService, userService('tls'))] },
        shutdown: quick,
      });
      assert.deepEqual(await caller.http('users').get('/secure'), {
        version: 'v1',
        method: 'GET',
        path: '/secure',
      });
      assert.equal((await caller.grpc(UserService, 'users').getUser({ id: '42' })).name, 'Ada from tls');
      const policies = { retry: false, deadlineMs: 5_000 } as const;
      await assert.rejects(rogue.http('users', { policies }).get('/secure'));
      await assert.rejects(rogue.grpc(UserService, 'users', { policies }).getUser({ id: '42' }));
    } finally {
      await Promise.all([rogue.close(), caller.close()]);
      await server.close();
      tmp.remove();
    }
  });
});
