import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createContext } from '@meshkit/core';
import type { Registry, ServiceInstance } from '@meshkit/discovery';
import { type CircuitBreaker, circuitBreaker } from '@meshkit/policies';
import { MeshMetrics } from './mesh-metrics.ts';

/** A small HTTP process: `/metrics` from its own prom-client registry, and what `handle` answers. */
export interface Process {
  readonly id: string;
  readonly port: number;
  readonly metrics: MeshMetrics;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/**
 * A user-service instance: `GET /users/:id` answers 200 (or 503 when `failing`), recorded in its own
 * server metrics; registered in `registry`.
 */
export async function startUserService(
  registry: Registry,
  id: string,
  version: string,
  failing: boolean,
): Promise<Process> {
  const metrics = new MeshMetrics();
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.text().then((text) => res.writeHead(200, { 'content-type': 'text/plain' }).end(text));
      return;
    }
    const started = performance.now();
    const status = failing ? 503 : 200;
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id: req.url, version }));
    metrics.serverRequest('user-service', (performance.now() - started) / 1000, status);
  });
  const port = await listen(server);
  const registration = await registry.register({
    id,
    service: 'user-service',
    version,
    address: '127.0.0.1',
    port,
  });
  return {
    id,
    port,
    metrics,
    close: async () => {
      await registration.deregister();
      await closer(server)();
    },
  };
}

/** A process that serves only `/metrics` (a notifier, a load generator), registered as `service`. */
export async function startMetricsProcess(registry: Registry, id: string, service: string): Promise<Process> {
  const metrics = new MeshMetrics();
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    void metrics.text().then((text) => res.writeHead(200, { 'content-type': 'text/plain' }).end(text));
  });
  const port = await listen(server);
  const registration = await registry.register({ id, service, address: '127.0.0.1', port });
  return {
    id,
    port,
    metrics,
    close: async () => {
      await registration.deregister();
      await closer(server)();
    },
  };
}

/**
 * A gateway that calls user-service for real: each call goes to subset v2 when `pickV2(i)` says so,
 * else v1, round robin over the subset's registered instances, through a real per-endpoint circuit
 * breaker. Every try is recorded in its client metrics with its real outcome and latency, and each
 * breaker's state is published as the breaker gauge.
 */
export class Gateway {
  readonly #breakers = new Map<string, CircuitBreaker<string, number>>();
  readonly #process: Process;
  readonly #registry: Registry;

  constructor(process: Process, registry: Registry) {
    this.#process = process;
    this.#registry = registry;
  }

  get metrics(): MeshMetrics {
    return this.#process.metrics;
  }

  async drive(calls: number, pickV2: (i: number) => boolean): Promise<void> {
    const instances = await this.#registry.lookup('user-service');
    const bySubset = new Map<string, ServiceInstance[]>();
    for (const i of instances) bySubset.set(i.version ?? '', [...(bySubset.get(i.version ?? '') ?? []), i]);
    const next = new Map<string, number>();
    for (let i = 0; i < calls; i++) {
      const subset = pickV2(i) ? 'v2' : 'v1';
      const list = bySubset.get(subset) ?? [];
      const n = next.get(subset) ?? 0;
      next.set(subset, n + 1);
      const target = list[n % list.length];
      if (target === undefined) continue;
      await this.#call(subset, target);
    }
    for (const [endpoint, breaker] of this.#breakers) {
      const state = breaker.state === 'isolated' ? 'open' : breaker.state;
      this.metrics.breaker('user-service', endpoint, state);
    }
  }

  async #call(subset: string, target: ServiceInstance): Promise<void> {
    let breaker = this.#breakers.get(target.id);
    if (breaker === undefined) {
      breaker = circuitBreaker<string, number>({ halfOpenAfterMs: 600_000, name: `breaker ${target.id}` });
      this.#breakers.set(target.id, breaker);
    }
    const send = breaker.wrap(async (url: string) => {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status >= 500) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
      return res.status;
    });
    const started = performance.now();
    let outcome: 'success' | 'error' | 'rejected' = 'success';
    let status: number | undefined = 200;
    try {
      await send(`http://127.0.0.1:${target.port}/users/42`, createContext());
    } catch (error) {
      status = (error as { status?: number }).status;
      // A call the open breaker refused sent nothing: observability's `rejected`.
      outcome = status === undefined ? 'rejected' : 'error';
    }
    this.metrics.clientTry({
      service: 'user-service',
      subset,
      endpoint: target.id,
      outcome,
      ...(status === undefined ? {} : { status }),
      seconds: (performance.now() - started) / 1000,
    });
  }
}
