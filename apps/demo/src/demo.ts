/**
 * The demo: the reference system started as separate processes on one mesh (embedded registry and broker
 * by default), a scripted scenario of faults under steady load through the gateway, and a report of what
 * held. {@link runDemo} is what `npm start` and `meshkit demo` run.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMesh, type Mesh } from 'meshkit';
import { EventAudit, gatewayFigures, notificationsRecorded } from './figures.ts';
import { LoadGenerator } from './load.ts';
import { type Output, Progress } from './progress.ts';
import { runScenario } from './scenario.ts';
import { renderSummary, type Summary, summarize } from './summary.ts';
import { type AppSpec, Supervisor } from './supervisor.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const entry = (app: string) => join(root, 'apps', app, 'src', 'main.ts');

/** Options of {@link runDemo}; each may also come from the mesh variables (`MESH_BROKER`, …). */
export interface DemoOptions {
  /** Length of the scenario (the load), ms. Defaults to 60 s. */
  readonly durationMs?: number;
  /** Concurrent callers through the gateway. Defaults to 8. */
  readonly workers?: number;
  /** Leave the system running after the report, until Ctrl-C. */
  readonly keep?: boolean;
  /** Start the dashboard too. Defaults to `true`. */
  readonly dashboard?: boolean;
  /** Folder for the embedded registry, broker and databases. Defaults to a new temporary folder. */
  readonly dataDir?: string;
  /** The mesh variables the apps get (registry, broker, database); defaults to `process.env`'s. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where the live view and the report go. Defaults to stdout. */
  readonly out?: Output;
  /** Aborting stops the demo early and shuts everything down. */
  readonly signal?: AbortSignal;
  /**
   * Called once, with the running system's URLs, when every app is up and the gateway routes to
   * user-service, just before the scenario (and its load) starts; not called if the system fails to start.
   * It must not block: start any watching of your own from it (a browser on the dashboard, a metrics poll).
   * An exception it throws stops the demo, which then rejects with it. Defaults to none.
   */
  readonly onSystem?: (urls: DemoSystemUrls) => void;
}

/** The running system's base URLs (`http://127.0.0.1:port`), as {@link DemoOptions.onSystem} gets them. */
export interface DemoSystemUrls {
  readonly gateway: string;
  readonly notifier: string;
  /** The dashboard's page; `undefined` when started with `dashboard: false`. */
  readonly dashboard: string | undefined;
}

/** The variables the apps inherit from the demo's own environment. */
const passed = [
  'MESH_REGISTRY',
  'MESH_BROKER',
  'DATABASE_URL',
  'MESH_LOG_LEVEL',
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_SDK_DISABLED',
  'EVENTS_TOPIC',
];

/** Runs the demo; resolves with the report (its `failures` empty when every invariant held). */
export async function runDemo(options: DemoOptions = {}): Promise<Summary> {
  const out = options.out ?? process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const durationMs = options.durationMs ?? 60_000;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'meshkit-demo-')));
  const source = options.env ?? process.env;
  const meshEnv: Record<string, string> = {
    MESH_DATA_DIR: dataDir,
    MESH_ROUTES: source.MESH_ROUTES ?? join(root, 'deploy', 'istio'),
    MESH_HOST: '127.0.0.1',
    MESH_HTTP_PORT: '0',
    MESH_GRPC_PORT: '0',
  };
  for (const name of passed) {
    const value = source[name];
    if (value !== undefined && value !== '') meshEnv[name] = value;
  }
  // On Kafka every user event travels on the seed's one topic, keyed by user id.
  if (meshEnv.MESH_BROKER?.startsWith('kafka:') === true) meshEnv.EVENTS_TOPIC ??= 'user-events';
  const eventsTopic = meshEnv.EVENTS_TOPIC;

  say(`meshkit demo: data in ${dataDir}`);
  const mesh: Mesh = await createMesh({ env: meshEnv, name: 'demo', routes: false });
  const supervisor = new Supervisor({ env: meshEnv, execArgv: ['--conditions=@meshkit/source'] });
  const audit = new EventAudit();
  let load: LoadGenerator | undefined;
  let progress: Progress | undefined;
  const stopAll = async () => {
    progress?.stop();
    await load?.stop();
    await load?.close();
    await supervisor.stopAll();
    await audit.stop();
    await mesh.close();
  };
  const onAbort = () => void stopAll();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await audit.start(
      mesh,
      eventsTopic === undefined ? ['user.*'] : [eventsTopic],
      'dead-letter.notifications',
    );
    const apps: AppSpec[] = [
      { name: 'user-service-v1-a', entry: entry('user-service'), env: { MESH_VERSION: 'v1' } },
      { name: 'user-service-v1-b', entry: entry('user-service'), env: { MESH_VERSION: 'v1' } },
      { name: 'user-service-v2', entry: entry('user-service'), env: { MESH_VERSION: 'v2' } },
      { name: 'notifier', entry: entry('notifier') },
      { name: 'gateway', entry: entry('gateway') },
      ...(options.dashboard === false ? [] : [{ name: 'dashboard', entry: entry('dashboard') }]),
    ];
    say('starting the system (each app is its own process):');
    await Promise.all(
      apps.map(async (app) => {
        const running = await supervisor.start(app);
        say(
          `  ${app.name.padEnd(18)} pid ${String(running.pid).padEnd(7)} ${Object.values(running.urls).join('  ')}`,
        );
      }),
    );
    const gatewayUrl = supervisor.app('gateway').urls.http;
    const notifierUrl = supervisor.app('notifier').urls.http;
    if (gatewayUrl === undefined || notifierUrl === undefined)
      throw new Error('the gateway or the notifier did not report its URL');
    await waitUntilRouted(gatewayUrl);
    // A database kept from an earlier run (PostgreSQL) already holds notifications: count from here.
    const baseline = await notificationsRecorded(notifierUrl);
    options.onSystem?.({
      gateway: gatewayUrl,
      notifier: notifierUrl,
      dashboard: supervisor.apps.find((a) => a.name === 'dashboard')?.urls.http,
    });

    load = new LoadGenerator({ origin: gatewayUrl, workers: options.workers ?? 8, deadlineMs: 5_000 });
    const running = load;
    let phase = { name: 'start', endsAt: Date.now() };
    let delivered = 0;
    const poll = setInterval(() => {
      notificationsRecorded(notifierUrl).then(
        (n) => {
          delivered = n - baseline;
        },
        () => {},
      );
    }, 1_000);
    poll.unref();
    progress = new Progress(
      {
        get records() {
          return running.records;
        },
        get phase() {
          return phase.name;
        },
        get phaseEndsAt() {
          return phase.endsAt;
        },
        events: () => ({ published: audit.published.size, delivered }),
      },
      out,
    );
    say(`\nscenario: ${Math.round(durationMs / 1000)} s of load through the gateway (${gatewayUrl})`);
    running.start();
    progress.start();
    const publisher = mesh.publisher({ source: '/demo' });
    await runScenario(
      {
        supervisor,
        load: running,
        broker: mesh.config.broker,
        restart: async (app) => {
          const spec = apps.find((a) => a.name === app);
          if (spec !== undefined) await supervisor.restart(spec);
        },
        publishPoison: async () => {
          await publisher.publish(
            eventsTopic ?? 'user.created',
            { id: 'poison', type: 'USER_EXPLODED' },
            { key: 'poison' },
          );
        },
        say: (line) => progress?.say(line),
      },
      durationMs,
      (p, endsAt) => {
        phase = { name: p.name, endsAt };
        progress?.say(`▸ ${p.name}`);
      },
    );
    await running.stop();
    progress.stop();
    clearInterval(poll);
    const unknown = await running.settlePending(5);
    if (unknown > 0) say(`  ${unknown} creates still had no definite answer`);

    // Every event must end delivered or dead-lettered: wait (bounded) for the pipeline to drain.
    say('\nwaiting for every event to be delivered…');
    for (let i = 0; i < 60; i++) {
      delivered = (await notificationsRecorded(notifierUrl)) - baseline;
      if (delivered + audit.deadLettered.size >= audit.published.size && i > 2) break;
      await sleep(500);
    }
    const gateway = await gatewayFigures(gatewayUrl, 'user-service');
    const summary = summarize(
      running.records,
      {
        upstreamAttempts: gateway?.attempts,
        gatewayCalls: gateway?.calls,
        breakerTrips: gateway?.breakerTrips,
        eventsPublished: audit.published.size,
        eventsConfirmed: running.created.size + running.confirmedChanges,
        eventsDelivered: delivered,
        eventsDeadLettered: audit.deadLettered.size,
      },
      { minSuccessRate: 0.97, canaryWeight: 0.1 },
    );
    say(`\n${renderSummary(summary)}\n`);
    if (options.keep === true && options.signal?.aborted !== true) {
      say('the system keeps running (--keep); Ctrl-C stops every process');
      const dashboard = supervisor.apps.find((a) => a.name === 'dashboard');
      if (dashboard?.urls.http !== undefined) say(`dashboard: ${dashboard.urls.http}`);
      await new Promise<void>((resolve) => {
        if (options.signal === undefined) return;
        options.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return summary;
  } catch (error) {
    for (const app of supervisor.apps) {
      if (app.exit !== undefined) say(`${app.name} ${app.exit}:\n  ${app.tail.join('\n  ')}`);
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await stopAll();
  }
}

/** Waits until the gateway answers a call routed to user-service (the instances have registered). */
async function waitUntilRouted(gatewayUrl: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    try {
      const response = await fetch(new URL('/api/users?page_size=1', gatewayUrl), {
        signal: AbortSignal.timeout(2_000),
      });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  throw new Error('the gateway could not reach user-service within 15 s');
}
