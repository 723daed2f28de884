import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Message, messagingChannels, settle } from '@meshkit/messaging';
import type { SqliteBroker } from '@meshkit/messaging-sqlite';
import { createMesh, type Mesh } from './index.ts';
import { deferred, echo, runCli, startCli, tempDir } from './test-support/services.ts';

const routesYaml = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: users }
spec:
  hosts: [users]
  http:
    - name: canary
      match:
        - headers: { x-canary: { exact: "true" } }
      route:
        - destination: { host: users, subset: v2 }
    - name: stable
      route:
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

const tmp = tempDir('meshkit-cli-');
const cwd = tmp.dir;
const routesFile = join(cwd, 'routes.yaml');
let mesh: Mesh;

before(async () => {
  writeFileSync(routesFile, routesYaml);
  // The CLI runs in `cwd` and finds the embedded files in its default data directory, var/.
  mesh = await createMesh({ cwd, env: {} });
  for (const version of ['v1', 'v2']) {
    await mesh.serve({
      service: 'users',
      version,
      http: { handler: echo(version) },
      shutdown: { signals: false, graceMs: 0 },
    });
  }
});
after(async () => {
  await mesh.close();
  tmp.remove();
});

describe('meshkit --help and bad usage', () => {
  test('--help lists the commands and the environment variables, exit 0', async () => {
    const run = await runCli(['--help'], { cwd });
    assert.equal(run.code, 0);
    for (const word of [
      'routes',
      'registry',
      'call',
      'events',
      'MESH_REGISTRY',
      'MESH_BROKER',
      'DATABASE_URL',
    ]) {
      assert.ok(run.stdout.includes(word), `help mentions ${word}`);
    }
  });
  test('an unknown command or a missing argument is a usage error, exit 2', async () => {
    const unknown = await runCli(['deploy'], { cwd });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'deploy'/);
    const missing = await runCli(['routes', 'validate'], { cwd });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'file'/);
  });
  test('a bad variable or flag is named with its value, exit 1', async () => {
    const env = await runCli(['registry', 'ls'], { cwd, env: { MESH_REGISTRY: 'consul://127.0.0.1:8500' } });
    assert.equal(env.code, 1);
    assert.match(
      env.stderr,
      /^meshkit: MESH_REGISTRY must be .* \(received "consul:\/\/127\.0\.0\.1:8500"\)/,
    );
    const flag = await runCli(['events', 'tail', 'x', '--broker', 'nats://q'], { cwd });
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /^meshkit: --broker must be sqlite:\[path\]/);
  });
});

describe('meshkit demo', () => {
  test('runs the demo of the clone, passing its flags on: a bad one is refused by the demo, exit 2', async () => {
    const run = await runCli(['demo', '--duration', '0'], { cwd });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--duration must be a positive number, got "0"/);
    assert.match(run.stderr, /usage: npm start/);
  });
});

describe('meshkit routes validate', () => {
  test('a valid file: its counts, exit 0', async () => {
    const run = await runCli(['routes', 'validate', routesFile], { cwd });
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `${routesFile}: valid, 1 VirtualService(s), 1 DestinationRule(s)\n`);
  });
  test('errors name the file, the document and the field; any invalid file fails the run', async () => {
    const bad = join(cwd, 'bad.yaml');
    writeFileSync(bad, routesYaml.replace('subset: v2 }', 'subset: v3 }').replace('timeout', 'x'));
    const run = await runCli(['routes', 'validate', routesFile, bad, join(cwd, 'absent.yaml')], { cwd });
    assert.equal(run.code, 1);
    assert.ok(run.stdout.includes(`${routesFile}: valid`));
    assert.match(run.stderr, /bad\.yaml #1 spec\.http\[0\]\.route\[0\]\.destination\.subset: subset "v3"/);
    assert.match(run.stderr, /bad\.yaml: invalid \(1 error\(s\)\)/);
    assert.match(run.stderr, /absent\.yaml #0: cannot read: ENOENT/);
  });
});

describe('meshkit registry ls', () => {
  test('every service: id, address, protocols, health, weight and labels of each instance', async () => {
    const run = await runCli(['registry', 'ls'], { cwd });
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^SERVICE\s+ID\s+ADDRESS\s+PROTOCOLS\s+HEALTH\s+WEIGHT\s+LABELS$/);
    assert.equal(rows.length, 2);
    for (const version of ['v1', 'v2']) {
      assert.ok(
        rows.some((r) =>
          new RegExp(
            `^users\\s+users-127\\.0\\.0\\.1-\\d+\\s+127\\.0\\.0\\.1:\\d+\\s+http\\s+passing\\s+1\\s+version=${version}$`,
          ).test(r),
        ),
        `a row for ${version} in\n${run.stdout}`,
      );
    }
  });
  test('one service as JSON; a service without instances says so', async () => {
    const json = await runCli(['registry', 'ls', 'users', '--json'], { cwd });
    assert.equal(json.code, 0);
    const instances = JSON.parse(json.stdout) as { labels: { version: string } }[];
    assert.deepEqual(instances.map((i) => i.labels.version).sort(), ['v1', 'v2']);
    const none = await runCli(['registry', 'ls', 'billing'], { cwd });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, 'no instances of billing\n');
  });
});

describe('meshkit call', () => {
  test('prints the status, the route and subset, the endpoint, the attempts and the body', async () => {
    const run = await runCli(
      ['--routes', routesFile, 'call', 'users', 'GET', '/users/42', '-H', 'x-canary: true'],
      {
        cwd,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const [status, route, attempt, attempts, blank, body] = run.stdout.split('\n');
    assert.equal(status, 'HTTP 200');
    assert.equal(route, 'route: users rule canary -> users subset v2');
    assert.match(attempt ?? '', /^attempt 1: users-127\.0\.0\.1-\d+ 127\.0\.0\.1:\d+ version=v2$/);
    assert.equal(attempts, 'attempts: 1');
    assert.equal(blank, '');
    assert.deepEqual(JSON.parse(body ?? ''), { version: 'v2', method: 'GET', path: '/users/42', body: '' });
  });
  test('MESH_ROUTES works as --routes does; a JSON body is sent as JSON', async () => {
    const run = await runCli(['call', 'users', 'post', '/users', '{"name":"Ada"}'], {
      cwd,
      env: { MESH_ROUTES: routesFile },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /^HTTP 200\nroute: users rule stable -> users subset v1\nattempt 1: \S+ \S+ version=v1\n/,
    );
    const body = JSON.parse(run.stdout.split('\n\n')[1] ?? '') as { method: string; body: string };
    assert.deepEqual([body.method, JSON.parse(body.body)], ['POST', { name: 'Ada' }]);
  });
  test('without routes: says so; an error status prints its body and fails', async () => {
    const run = await runCli(['call', 'users', 'GET', '/missing'], { cwd });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^HTTP 404\nroute: none \(no routing table\)\nattempt 1: .*\nattempts: 1\n\n/);
    assert.match(run.stdout, /nothing at \/missing/);
  });
  test('a service nobody serves fails with the error code', async () => {
    const run = await runCli(['call', 'billing', 'GET', '/'], { cwd });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^failed: ERR_NO_ENDPOINT: no endpoint for service "billing"/);
  });
  test('bad method, path, header or timeout are usage errors', async () => {
    for (const [args, message] of [
      [['call', 'users', 'FETCH', '/'], /unknown method "FETCH"/],
      [['call', 'users', 'GET', 'users'], /path must start with "\/"/],
      [['call', 'users', 'GET', '/', '-H', 'novalue'], /--header "novalue" must be name:value/],
      [
        ['call', 'users', 'GET', '/', '--timeout', 'soon'],
        /--timeout must be a positive integer \(received "soon"\)/,
      ],
    ] as const) {
      const run = await runCli(args, { cwd });
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, message);
    }
  });
});

describe('meshkit events tail', () => {
  test('prints matching events published from now on, then deletes its group', async () => {
    await mesh.publisher().publish('user.before', { n: 0 });
    const tail = startCli(['events', 'tail', 'user.*', '--count', '2'], { cwd, waitFor: 'tailing' });
    await tail.ready;
    const group = /\(group (meshkit-tail-[0-9a-f]+)\)/.exec(tail.stderr())?.[1];
    const events = mesh.publisher();
    await events.publish('order.placed', { n: 1 });
    await events.publish('user.created', { n: 2 }, { key: '42' });
    await events.publish('user.deleted', { n: 3 });
    const run = await tail.done;
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /^\S+ user\.created key=42 id=[0-9a-f-]+ \{"n":2\}$/);
    assert.match(lines[1] ?? '', /^\S+ user\.deleted id=[0-9a-f-]+ \{"n":3\}$/);
    // The group is gone: what is published now is kept for nobody.
    assert.ok(group !== undefined);
    await events.publish('user.after', {});
    assert.deepEqual((mesh.broker as SqliteBroker).pending(group), []);
  });
  test('--json prints one object per event; an interrupt ends it cleanly', async () => {
    const tail = startCli(['events', 'tail', 'audit.#', '--json'], { cwd, waitFor: 'tailing' });
    await tail.ready;
    const seen = deferred<void>();
    tail.child.stdout?.on('data', () => seen.resolve());
    await mesh.publisher().publish('audit.user.login', { who: 'ada' }, { key: 'ada' });
    await seen.promise;
    tail.child.kill('SIGINT');
    const run = await tail.done;
    assert.equal(run.code, 0, run.stderr);
    const event = JSON.parse(run.stdout) as {
      topic: string;
      key: string;
      data: unknown;
      headers: Record<string, string>;
    };
    assert.deepEqual([event.topic, event.key, event.data], ['audit.user.login', 'ada', { who: 'ada' }]);
    assert.equal(event.headers['ce-source'], '/meshkit');
  });
  test('a bad pattern is refused', async () => {
    const run = await runCli(['events', 'tail', 'user..x'], { cwd });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^meshkit: pattern\[0\]/);
  });
});

describe('meshkit events dlq', () => {
  const ids: string[] = [];
  const handled: string[] = [];
  const handledBoth = deferred<void>();

  before(async () => {
    const dead = deferred<void>();
    let deadLettered = 0;
    const onDead = (): void => {
      if (++deadLettered === 2) dead.resolve();
    };
    messagingChannels.deadLetter.subscribe(onDead);
    // The first handling of each event dead-letters it; a replayed one is handled.
    const seen = new Set<string>();
    await mesh.subscribe({
      group: 'notifications',
      topics: ['user.signed-up'],
      handler: async (msg: Message) => {
        if (!seen.has(msg.id)) {
          seen.add(msg.id);
          return settle.deadLetter(`no mailbox for ${(msg.data as { email: string }).email}`);
        }
        handled.push(msg.id);
        if (handled.length === 2) handledBoth.resolve();
      },
    });
    const events = mesh.publisher();
    ids.push((await events.publish('user.signed-up', { email: 'ada@example.com' }, { key: 'ada' })).id);
    ids.push((await events.publish('user.signed-up', { email: 'bob@example.com' }, { key: 'bob' })).id);
    await dead.promise;
    messagingChannels.deadLetter.unsubscribe(onDead);
  });

  test('list: id, original topic, key, reason, attempts, time and error of each', async () => {
    const run = await runCli(['events', 'dlq', 'notifications'], { cwd });
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^ID\s+TOPIC\s+KEY\s+REASON\s+ATTEMPTS\s+DEAD-LETTERED AT\s+ERROR$/);
    assert.equal(rows.length, 2);
    assert.match(
      rows[0] ?? '',
      new RegExp(
        `^${ids[0]}\\s+user\\.signed-up\\s+ada\\s+handler-rejected\\s+1\\s+\\S+\\s+no mailbox for ada@example\\.com$`,
      ),
    );
    const none = await runCli(['events', 'dlq', 'billing'], { cwd });
    assert.equal(none.stdout, 'no dead letters for group billing (dead-letter.billing)\n');
  });

  test('show: the headers and body of one; an unknown id fails', async () => {
    const run = await runCli(['events', 'dlq', 'notifications', 'show', ids[1]!], { cwd });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^id: ${ids[1]}\\n`));
    assert.match(run.stdout, /\n {2}meshkit-error: no mailbox for bob@example\.com\n/);
    assert.match(run.stdout, /\nbody:\n\{"email":"bob@example\.com"\}\n$/);
    const unknown = await runCli(['events', 'dlq', 'notifications', 'show', 'nope'], { cwd });
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /^meshkit: id names no dead letter of group notifications \(received "nope"\)/,
    );
  });

  test('replay <id>, then replay --all: handled again, gone from the list', async () => {
    const one = await runCli(['events', 'dlq', 'notifications', 'replay', ids[0]!], { cwd });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, `replayed ${ids[0]}\n`);
    const left = await runCli(['events', 'dlq', 'notifications', '--json'], { cwd });
    assert.deepEqual(
      (JSON.parse(left.stdout) as { id: string }[]).map((l) => l.id),
      [ids[1]],
    );
    const all = await runCli(['events', 'dlq', 'notifications', 'replay', '--all'], { cwd });
    assert.equal(all.stdout, `replayed ${ids[1]}\n`);
    await handledBoth.promise;
    assert.deepEqual(handled.sort(), [...ids].sort());
    assert.equal(
      (await runCli(['events', 'dlq', 'notifications'], { cwd })).stdout,
      'no dead letters for group notifications (dead-letter.notifications)\n',
    );
  });

  test('usage errors: show without id, replay without id or --all, an unknown action', async () => {
    for (const [args, message] of [
      [['events', 'dlq', 'g', 'show'], /dlq show needs the id/],
      [['events', 'dlq', 'g', 'replay'], /dlq replay needs either the id of a dead letter or --all/],
      [['events', 'dlq', 'g', 'replay', 'x', '--all'], /either the id of a dead letter or --all/],
      [['events', 'dlq', 'g', 'purge'], /unknown dlq action "purge"/],
    ] as const) {
      const run = await runCli(args, { cwd });
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, message);
    }
  });
});
