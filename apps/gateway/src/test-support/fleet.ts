/**
 * Stand-ins for user-service in the gateway's tests: real kit servers on 127.0.0.1, registered in a
 * temporary embedded registry as `user-service` with a `version` label, recording what reached them.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallContext } from '@meshkit/core';
import { embeddedRegistry, type Registry } from '@meshkit/discovery';
import { httpServer, type KitResponse, type MeshServer, type ServerRequest } from '@meshkit/http';
import { defaultRoutesPath } from '../options.ts';

/** What one instance saw of a request. */
export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One stand-in instance. */
export interface Instance {
  readonly version: string;
  readonly seen: Seen[];
  readonly server: MeshServer;
}

export type Handler = (
  req: ServerRequest,
  ctx: CallContext,
  instance: Instance,
) => KitResponse | Promise<KitResponse>;

/** A temp folder with a registry and a copy of deploy/istio; `close()` removes everything. */
export interface Fleet {
  readonly dir: string;
  readonly registry: Registry;
  /** The copy of `deploy/istio` the gateway under test reads. */
  readonly routes: string;
  start(version: string, handler?: Handler): Promise<Instance>;
  close(): Promise<void>;
}

const echo: Handler = (req, _ctx, instance) => ({ body: { version: instance.version, path: req.path } });

export async function fleet(): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-gateway-'));
  const registry = embeddedRegistry({ path: join(dir, 'registry.db'), pollIntervalMs: 10 });
  const routes = join(dir, 'istio');
  cpSync(defaultRoutesPath, routes, { recursive: true });
  const instances: Instance[] = [];
  return {
    dir,
    registry,
    routes,
    async start(version, handler = echo) {
      const seen: Seen[] = [];
      const instance: Instance = {
        version,
        seen,
        server: httpServer({
          service: 'user-service',
          registry,
          instance: { id: `user-service-${version}`, labels: { version } },
          shutdown: { signals: false, exit: false, graceMs: 0, drainTimeoutMs: 1_000 },
          handler: (req, ctx) => {
            seen.push({
              method: req.method,
              path: req.raw.url ?? req.path,
              headers: req.headers,
              body: req.body,
            });
            return handler(req, ctx, instance);
          },
        }),
      };
      await instance.server.listen({ host: '127.0.0.1' });
      instances.push(instance);
      return instance;
    },
    async close() {
      await Promise.all(instances.map((i) => i.server.shutdown()));
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A response as a plain client saw it. */
export interface Received {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  json(): Record<string, unknown>;
}

/** Sends one request with node:http, headers exactly as given. */
export function send(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer } = {},
): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${path}`,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown>,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A seeded generator in [0, 1) (mulberry32), so a weighted split is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
