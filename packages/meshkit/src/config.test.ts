import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { staticRegistry } from '@meshkit/discovery';
import { memoryBroker } from '@meshkit/messaging';
import { type MeshEnv, meshConfig, meshVariables } from './config.ts';
import { tempDir } from './test-support/services.ts';

const cwd = '/srv/app';
const read = (env: MeshEnv) => meshConfig({ env, cwd });

/** Asserts `env` is refused with an `InvalidArgumentError` whose message starts with `variable` and shows `shown`. */
function refuses(env: MeshEnv, variable: string, rule: RegExp, shown?: string): void {
  assert.throws(
    () => read(env),
    (error: Error & { code?: string; field?: string }) => {
      assert.equal(error.name, 'InvalidArgumentError');
      assert.equal(error.code, 'ERR_INVALID_ARGUMENT');
      assert.equal(error.field, variable);
      assert.ok(error.message.startsWith(`${variable} `), error.message);
      assert.match(error.message, rule);
      if (shown !== undefined)
        assert.ok(error.message.includes(shown), `${error.message} should show ${shown}`);
      return true;
    },
  );
}

describe('meshConfig defaults', () => {
  test('an empty environment gives the embedded registry and broker in var/, no routes, no database, metrics and logs on', () => {
    const config = read({});
    assert.deepEqual(config, {
      dataDir: '/srv/app/var',
      registry: { kind: 'embedded', path: '/srv/app/var/registry.db' },
      broker: { kind: 'sqlite', path: '/srv/app/var/events.db' },
      routes: undefined,
      databaseUrl: undefined,
      name: undefined,
      version: undefined,
      host: '127.0.0.1',
      address: undefined,
      httpPort: 0,
      grpcPort: 0,
      tls: undefined,
      telemetry: { metrics: true, tracing: undefined, consoleTraces: false, logLevel: 'info' },
      metricsPort: 0,
      sources: { registry: 'MESH_REGISTRY', broker: 'MESH_BROKER', routes: 'MESH_ROUTES' },
    });
  });

  test('an empty variable counts as unset', () => {
    assert.deepEqual(read({ MESH_REGISTRY: '', MESH_BROKER: '', MESH_HTTP_PORT: '' }), read({}));
  });

  test('reads process.env when no env option is given', () => {
    const saved = process.env.MESH_VERSION;
    process.env.MESH_VERSION = 'v9';
    try {
      assert.equal(meshConfig({ cwd }).version, 'v9');
      assert.equal(meshConfig({ cwd, env: {} }).version, undefined);
    } finally {
      if (saved === undefined) delete process.env.MESH_VERSION;
      else process.env.MESH_VERSION = saved;
    }
  });

  test('the table of variables names every variable the config reads', () => {
    assert.deepEqual(Object.keys(meshVariables).sort(), [
      'DATABASE_URL',
      'MESH_ADDRESS',
      'MESH_BROKER',
      'MESH_DATA_DIR',
      'MESH_GRPC_PORT',
      'MESH_HOST',
      'MESH_HTTP_PORT',
      'MESH_LOG_LEVEL',
      'MESH_METRICS',
      'MESH_METRICS_PORT',
      'MESH_REGISTRY',
      'MESH_ROUTES',
      'MESH_SERVICE',
      'MESH_TLS_CA',
      'MESH_TLS_CERT',
      'MESH_TLS_KEY',
      'MESH_VERSION',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_SDK_DISABLED',
      'OTEL_SERVICE_NAME',
      'OTEL_TRACES_EXPORTER',
    ]);
  });
});

describe('MESH_DATA_DIR', () => {
  test('moves both embedded files, relative to cwd or absolute', () => {
    assert.equal(read({ MESH_DATA_DIR: 'data' }).dataDir, '/srv/app/data');
    const config = read({ MESH_DATA_DIR: '/tmp/mesh' });
    assert.deepEqual(config.registry, { kind: 'embedded', path: '/tmp/mesh/registry.db' });
    assert.deepEqual(config.broker, { kind: 'sqlite', path: '/tmp/mesh/events.db' });
  });
  test('refuses blank', () =>
    refuses({ MESH_DATA_DIR: '  ' }, 'MESH_DATA_DIR', /must be a non-empty string/));
});

describe('MESH_REGISTRY', () => {
  test('a file path or sqlite:path is the embedded registry', () => {
    assert.deepEqual(read({ MESH_REGISTRY: 'reg.db' }).registry, {
      kind: 'embedded',
      path: '/srv/app/reg.db',
    });
    assert.deepEqual(read({ MESH_REGISTRY: 'sqlite:/x/reg.db' }).registry, {
      kind: 'embedded',
      path: '/x/reg.db',
    });
    assert.deepEqual(read({ MESH_REGISTRY: 'sqlite:' }).registry, {
      kind: 'embedded',
      path: '/srv/app/var/registry.db',
    });
  });
  test('etcd://host:port, with an optional key prefix', () => {
    assert.deepEqual(read({ MESH_REGISTRY: 'etcd://127.0.0.1:2379' }).registry, {
      kind: 'etcd',
      url: 'http://127.0.0.1:2379',
    });
    assert.deepEqual(read({ MESH_REGISTRY: 'etcd://etcd.internal:23790/team/registry' }).registry, {
      kind: 'etcd',
      url: 'http://etcd.internal:23790',
      prefix: '/team/registry/',
    });
  });
  test('refuses blank, an etcd URL without a port or with a bad one, and other schemes', () => {
    refuses({ MESH_REGISTRY: ' ' }, 'MESH_REGISTRY', /must be a file path, sqlite:\[path\] or etcd:/);
    refuses({ MESH_REGISTRY: 'etcd://127.0.0.1' }, 'MESH_REGISTRY', /must give a port/, 'etcd://127.0.0.1');
    refuses({ MESH_REGISTRY: 'etcd://127.0.0.1:0' }, 'MESH_REGISTRY', /must give a port/);
    refuses({ MESH_REGISTRY: 'etcd://:2379' }, 'MESH_REGISTRY', /must/, 'etcd://:2379');
    refuses(
      { MESH_REGISTRY: 'consul://127.0.0.1:8500' },
      'MESH_REGISTRY',
      /must be/,
      'consul://127.0.0.1:8500',
    );
  });
});

describe('MESH_BROKER', () => {
  test('sqlite:[path], amqp(s)://, kafka://host:port[,host:port]', () => {
    assert.deepEqual(read({ MESH_BROKER: 'sqlite:ev.db' }).broker, {
      kind: 'sqlite',
      path: '/srv/app/ev.db',
    });
    assert.deepEqual(read({ MESH_BROKER: 'sqlite:' }).broker, {
      kind: 'sqlite',
      path: '/srv/app/var/events.db',
    });
    assert.deepEqual(read({ MESH_BROKER: 'amqp://guest:guest@127.0.0.1:5672/vh' }).broker, {
      kind: 'amqp',
      url: 'amqp://guest:guest@127.0.0.1:5672/vh',
    });
    assert.deepEqual(read({ MESH_BROKER: 'amqps://rabbit.internal' }).broker, {
      kind: 'amqp',
      url: 'amqps://rabbit.internal',
    });
    assert.deepEqual(read({ MESH_BROKER: 'kafka://k1:9092,k2:9093' }).broker, {
      kind: 'kafka',
      brokers: ['k1:9092', 'k2:9093'],
    });
  });
  test('refuses a file path, other schemes, bad Kafka lists and bad AMQP ports; hides passwords', () => {
    refuses({ MESH_BROKER: 'events.db' }, 'MESH_BROKER', /must be sqlite:\[path\], amqp/, 'events.db');
    refuses({ MESH_BROKER: 'nats://127.0.0.1:4222' }, 'MESH_BROKER', /must be/, 'nats://127.0.0.1:4222');
    refuses({ MESH_BROKER: 'kafka://' }, 'MESH_BROKER', /kafka:\/\/host:port\[,host:port\]/);
    refuses(
      { MESH_BROKER: 'kafka://k1:9092,k2' },
      'MESH_BROKER',
      /kafka:\/\/host:port/,
      'kafka://k1:9092,k2',
    );
    refuses({ MESH_BROKER: 'kafka://k1:99999' }, 'MESH_BROKER', /port from 1 to 65535/);
    refuses({ MESH_BROKER: 'amqp://u:secret@h:0' }, 'MESH_BROKER', /port/, 'amqp://u:***@h:0');
    assert.throws(
      () => read({ MESH_BROKER: 'amqp://u:secret@h:0' }),
      (e: Error) => !e.message.includes('secret'),
    );
  });
});

describe('DATABASE_URL', () => {
  test('postgres:// and postgresql://', () => {
    assert.equal(
      read({ DATABASE_URL: 'postgres://127.0.0.1/test' }).databaseUrl,
      'postgres://127.0.0.1/test',
    );
    assert.equal(read({ DATABASE_URL: 'postgresql://u@db/x' }).databaseUrl, 'postgresql://u@db/x');
  });
  test('refuses other schemes and malformed URLs without showing the password', () => {
    refuses({ DATABASE_URL: 'mysql://u:pw@db/x' }, 'DATABASE_URL', /postgres:\/\//, 'mysql://u:***@db/x');
    refuses({ DATABASE_URL: 'postgres://' }, 'DATABASE_URL', /must/);
  });
});

describe('MESH_ROUTES', () => {
  test('a path, resolved against cwd; the routes option false turns it off', () => {
    assert.equal(read({ MESH_ROUTES: 'routes/' }).routes, '/srv/app/routes');
    assert.equal(meshConfig({ env: { MESH_ROUTES: 'routes/' }, cwd, routes: false }).routes, undefined);
  });
  test('refuses blank', () => refuses({ MESH_ROUTES: ' ' }, 'MESH_ROUTES', /non-empty path/));
});

describe('MESH_SERVICE and MESH_VERSION', () => {
  test('label values', () => {
    const config = read({ MESH_SERVICE: 'user-service', MESH_VERSION: 'v2.1' });
    assert.equal(config.name, 'user-service');
    assert.equal(config.version, 'v2.1');
  });
  test('refuse what cannot be a label value', () => {
    refuses({ MESH_SERVICE: 'user service' }, 'MESH_SERVICE', /1-63 letters/, '"user service"');
    refuses({ MESH_VERSION: '-v2' }, 'MESH_VERSION', /1-63 letters/);
    refuses({ MESH_VERSION: 'v'.repeat(64) }, 'MESH_VERSION', /1-63 letters/);
  });
});

describe('MESH_HOST, MESH_ADDRESS, MESH_HTTP_PORT, MESH_GRPC_PORT', () => {
  test('read as given', () => {
    const config = read({
      MESH_HOST: '0.0.0.0',
      MESH_ADDRESS: '10.0.0.7',
      MESH_HTTP_PORT: '8080',
      MESH_GRPC_PORT: '50051',
    });
    assert.deepEqual(
      [config.host, config.address, config.httpPort, config.grpcPort],
      ['0.0.0.0', '10.0.0.7', 8080, 50051],
    );
  });
  test('refuse ports that are not integers in 0..65535 and a blank host', () => {
    refuses({ MESH_HTTP_PORT: 'http' }, 'MESH_HTTP_PORT', /port number from 0 to 65535/, '"http"');
    refuses({ MESH_HTTP_PORT: '65536' }, 'MESH_HTTP_PORT', /port number/);
    refuses({ MESH_GRPC_PORT: '-1' }, 'MESH_GRPC_PORT', /port number/);
    refuses({ MESH_GRPC_PORT: '50051.5' }, 'MESH_GRPC_PORT', /port number/);
    refuses({ MESH_HOST: ' ' }, 'MESH_HOST', /non-empty/);
    refuses({ MESH_ADDRESS: ' ' }, 'MESH_ADDRESS', /non-empty/);
  });
});

describe('MESH_TLS_CERT, MESH_TLS_KEY, MESH_TLS_CA', () => {
  test('read the PEM files', () => {
    const tmp = tempDir();
    try {
      for (const f of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(tmp.dir, f), `pem of ${f}`);
      const tls = meshConfig({
        cwd: tmp.dir,
        env: { MESH_TLS_CERT: 'cert.pem', MESH_TLS_KEY: join(tmp.dir, 'key.pem'), MESH_TLS_CA: 'ca.pem' },
      }).tls;
      assert.equal(tls?.cert.toString(), 'pem of cert.pem');
      assert.equal(tls?.key.toString(), 'pem of key.pem');
      assert.equal(tls?.ca?.toString(), 'pem of ca.pem');
      const noCa = meshConfig({
        cwd: tmp.dir,
        env: { MESH_TLS_CERT: 'cert.pem', MESH_TLS_KEY: 'key.pem' },
      }).tls;
      assert.equal(noCa?.ca, undefined);
      refuses({ MESH_TLS_CERT: join(tmp.dir, 'cert.pem') }, 'MESH_TLS_KEY', /must be set with MESH_TLS_CERT/);
      refuses({ MESH_TLS_KEY: join(tmp.dir, 'key.pem') }, 'MESH_TLS_CERT', /must be set with MESH_TLS_KEY/);
      refuses(
        { MESH_TLS_CA: join(tmp.dir, 'ca.pem') },
        'MESH_TLS_CA',
        /needs MESH_TLS_CERT and MESH_TLS_KEY/,
      );
    } finally {
      tmp.remove();
    }
  });
  test('refuse a file that cannot be read, naming the variable, the path and the reason', () => {
    refuses(
      { MESH_TLS_CERT: '/nonexistent/cert.pem', MESH_TLS_KEY: '/nonexistent/key.pem' },
      'MESH_TLS_CERT',
      /readable PEM file: ENOENT/,
      '/nonexistent/cert.pem',
    );
  });
});

describe('options win over variables', () => {
  test('string specs, ports and names', () => {
    const config = meshConfig({
      cwd,
      env: { MESH_BROKER: 'kafka://k:9092', MESH_REGISTRY: 'etcd://e:2379', MESH_HTTP_PORT: '1' },
      broker: 'sqlite:mine.db',
      registry: 'mine-registry.db',
      httpPort: 8080,
      dataDir: 'state',
      name: 'gateway',
    });
    assert.deepEqual(config.broker, { kind: 'sqlite', path: '/srv/app/mine.db' });
    assert.deepEqual(config.registry, { kind: 'embedded', path: '/srv/app/mine-registry.db' });
    assert.equal(config.httpPort, 8080);
    assert.equal(config.dataDir, '/srv/app/state');
    assert.equal(config.name, 'gateway');
    assert.deepEqual(config.sources, {
      registry: 'createMesh.registry',
      broker: 'createMesh.broker',
      routes: 'MESH_ROUTES',
    });
  });
  test('broker false means no broker, whatever MESH_BROKER says', () => {
    const config = meshConfig({ cwd, env: { MESH_BROKER: 'nonsense' }, broker: false });
    assert.deepEqual(config.broker, { kind: 'none' });
  });
  test('a tool can name the options its own way', () => {
    assert.throws(
      () => meshConfig({ cwd, env: {}, broker: 'x' }, (option) => `--${option}`),
      /^InvalidArgumentError: --broker must be/,
    );
  });
  test('instances are kept as they are', () => {
    const registry = staticRegistry({ instances: [] });
    const broker = memoryBroker();
    const config = meshConfig({ cwd, env: {}, registry, broker });
    assert.deepEqual(config.registry, { kind: 'instance', registry });
    assert.deepEqual(config.broker, { kind: 'instance', broker });
  });
  test('bad options are named as options', () => {
    assert.throws(
      () => meshConfig({ cwd, env: {}, broker: 'x' }),
      /^InvalidArgumentError: createMesh\.broker must be/,
    );
    assert.throws(
      () => meshConfig({ cwd, env: {}, httpPort: 70_000 }),
      /createMesh\.httpPort must be a port/,
    );
    assert.throws(
      () => meshConfig({ cwd, env: {}, broker: {} as never }),
      /createMesh\.broker must be a Broker/,
    );
    assert.throws(
      () => meshConfig({ cwd, env: {}, registry: 42 as never }),
      /createMesh\.registry must be a Registry/,
    );
    assert.throws(
      () => meshConfig({ cwd, env: {}, routes: 3 as never }),
      /createMesh\.routes must be a path/,
    );
    assert.throws(
      () => meshConfig({ cwd, env: {}, tls: { cert: 'c' } as never }),
      /createMesh\.tls needs both/,
    );
    assert.throws(() => meshConfig({ cwd, env: null as never }), /createMesh\.env must be an object/);
    assert.throws(() => meshConfig(null as never), /createMesh options must be an object/);
  });
});
