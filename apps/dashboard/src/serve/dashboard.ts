import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import type { Registration } from '@meshkit/discovery';
import { metricsResponse } from '@meshkit/observability';
import type { Registry as PromRegistry } from 'prom-client';
import { Collector, type CollectorOptions } from '../collect/collector.ts';
import { SseHub, type SseHubOptions } from './sse-hub.ts';
import { defaultUiDir, loadStaticFiles } from './static-files.ts';

/** Options of {@link startDashboard}. */
export interface DashboardOptions extends CollectorOptions {
  /** Address to listen on. Defaults to `127.0.0.1`. */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. Defaults to 0. */
  readonly port?: number;
  /** Registers the dashboard in the registry as service `dashboard`. Defaults to `true`. */
  readonly register?: boolean;
  /** The address registered for callers. Defaults to `host` (`127.0.0.1` when that is a wildcard). */
  readonly advertisedAddress?: string;
  /**
   * Metrics to answer `GET /metrics` with (`mesh.telemetry.metrics?.registry`); the registration then
   * invites scraping. Defaults to none: registered with `metrics: none`, so the dashboard skips itself.
   */
  readonly metrics?: PromRegistry;
  /** The built page's folder. Defaults to this package's `dist/ui`. */
  readonly uiDir?: string;
  /** Limits of the live stream. */
  readonly stream?: SseHubOptions;
}

/** A running dashboard. */
export interface Dashboard {
  /** `http://host:port/`. */
  readonly url: string;
  readonly collector: Collector;
  /** Bytes waiting in stream clients' sockets, summed, and the number of streams. */
  streamStats(): { readonly clients: number; readonly bufferedBytes: number };
  /** Stops collecting, ends streams, deregisters and closes the server. */
  close(): Promise<void>;
}

/** The service name the dashboard registers under. */
export const dashboardService = 'dashboard';

/**
 * Starts the dashboard: the collector, and an HTTP server with the page (`/`), the live stream
 * (`/events`, server-sent events, one `snapshot` event per scrape) and the latest snapshot as JSON
 * (`/api/snapshot`).
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * const dashboard = await startDashboard({
 *   registry: embeddedRegistry({ path: '.meshkit/registry.db' }),
 *   services: ['gateway', 'user-service', 'notifier'],
 *   routesPath: 'deploy/istio',
 *   port: 8090,
 * });
 * console.log(dashboard.url);
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = checkString('dashboard.host', options.host ?? '127.0.0.1');
  const port = checkInteger('dashboard.port', options.port ?? 0, 0, 65535);
  if (options.register !== undefined && typeof options.register !== 'boolean') {
    throw new InvalidArgumentError('dashboard.register', 'must be a boolean', options.register);
  }
  const files = loadStaticFiles(options.uiDir ?? defaultUiDir);
  const collector = new Collector(options);
  const hub = new SseHub(options.stream);
  const unsubscribe = collector.onSnapshot((snapshot) => hub.publish('snapshot', JSON.stringify(snapshot)));
  // The first snapshot (empty) is there before the first scrape ends.
  hub.publish('snapshot', JSON.stringify(collector.latest));

  const server = createServer((req, res) => handle(req, res));
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/events') {
      hub.accept(req, res);
      return;
    }
    if (path === '/api/snapshot') {
      send(res, 200, 'application/json', JSON.stringify(collector.latest));
      return;
    }
    if (path === '/metrics' && options.metrics !== undefined) {
      void metricsResponse(options.metrics).then((r) =>
        send(res, r.status, r.headers['content-type'] ?? 'text/plain', r.body),
      );
      return;
    }
    if (path === '/healthz') {
      send(res, 200, 'text/plain', 'ok\n');
      return;
    }
    const file = files.get(path === '/' ? '/index.html' : path);
    if (file === undefined) {
      send(res, 404, 'text/plain', 'not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // streams stay open
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = options.advertisedAddress ?? host;
  const urlHost = shown.includes(':') ? `[${shown}]` : shown;
  let registration: Registration | undefined;
  if (options.register !== false) {
    registration = await options.registry.register({
      id: `${dashboardService}-${host}-${bound}`,
      service: dashboardService,
      address: options.advertisedAddress ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
      port: bound,
      ...(options.metrics === undefined ? { labels: { metrics: 'none' } } : {}),
    });
  }
  collector.start();

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${bound}/`,
    collector,
    streamStats: () => ({ clients: hub.size, bufferedBytes: hub.bufferedBytes }),
    close: () => {
      closing ??= (async () => {
        unsubscribe();
        await collector.stop();
        hub.close();
        await registration?.deregister();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
}
