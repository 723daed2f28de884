import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  type AttemptKind,
  type BreakerState,
  breakerStateValue,
  metricNames as M,
} from '../collect/metric-names.ts';

/** One client try, as a process's client stack records it. */
export interface ClientTry {
  readonly service: string;
  readonly route?: string;
  readonly subset?: string;
  readonly endpoint: string;
  readonly method?: string;
  readonly outcome?: 'success' | 'error' | 'gateway' | 'local' | 'ignore';
  readonly attempt?: AttemptKind;
  readonly seconds: number;
}

/** Latency buckets, in seconds. */
export const testBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * A process's metrics in the names the dashboard reads, recorded with prom-client itself, so tests
 * scrape the exposition prom-client really writes.
 */
export class MeshMetrics {
  readonly registry = new Registry();
  readonly #clientRequests = new Counter({
    name: M.clientRequests,
    help: 'Client tries.',
    labelNames: ['service', 'route', 'subset', 'endpoint', 'method', 'outcome', 'attempt'],
    registers: [this.registry],
  });
  readonly #clientDuration = new Histogram({
    name: M.clientDuration,
    help: 'Client try duration in seconds.',
    labelNames: ['service', 'route', 'subset', 'endpoint', 'method', 'outcome'],
    buckets: testBuckets,
    registers: [this.registry],
  });
  readonly #serverRequests = new Counter({
    name: M.serverRequests,
    help: 'Requests answered.',
    labelNames: ['route', 'method', 'outcome'],
    registers: [this.registry],
  });
  readonly #serverDuration = new Histogram({
    name: M.serverDuration,
    help: 'Server duration in seconds.',
    labelNames: ['route', 'method', 'outcome'],
    buckets: testBuckets,
    registers: [this.registry],
  });
  readonly #breaker = new Gauge({
    name: M.breakerState,
    help: 'Breaker state: 0 closed, 1 open, 2 half-open.',
    labelNames: ['service', 'endpoint'],
    registers: [this.registry],
  });
  readonly #ejected = new Gauge({
    name: M.outlierEjected,
    help: '1 while ejected.',
    labelNames: ['service', 'endpoint'],
    registers: [this.registry],
  });
  readonly #budget = new Gauge({
    name: M.retryBudgetAvailable,
    help: 'Retries the budget allows.',
    labelNames: ['service'],
    registers: [this.registry],
  });
  readonly #budgetExhausted = new Counter({
    name: M.retryBudgetExhausted,
    help: 'Retries refused by the budget.',
    labelNames: ['service'],
    registers: [this.registry],
  });
  readonly #published = new Counter({
    name: M.messagesPublished,
    help: 'Published.',
    labelNames: ['topic', 'outcome'],
    registers: [this.registry],
  });
  readonly #consumed = new Counter({
    name: M.messagesConsumed,
    help: 'Consumed.',
    labelNames: ['topic', 'subscription', 'outcome'],
    registers: [this.registry],
  });
  readonly #dead = new Counter({
    name: M.deadLetters,
    help: 'Dead letters.',
    labelNames: ['topic', 'subscription'],
    registers: [this.registry],
  });
  readonly #lag = new Gauge({
    name: M.consumerLag,
    help: 'Lag.',
    labelNames: ['topic', 'subscription'],
    registers: [this.registry],
  });
  readonly #outbox = new Gauge({
    name: M.outboxBacklog,
    help: 'Outbox backlog.',
    registers: [this.registry],
  });

  /** Records one client try. */
  clientTry(t: ClientTry): void {
    const labels = {
      service: t.service,
      route: t.route ?? '/users/:id',
      subset: t.subset ?? '',
      endpoint: t.endpoint,
      method: t.method ?? 'GET',
      outcome: t.outcome ?? 'success',
    };
    this.#clientRequests.inc({ ...labels, attempt: t.attempt ?? 'first' });
    this.#clientDuration.observe(labels, t.seconds);
  }

  /** Records one request answered by this process's server. */
  serverRequest(seconds: number, outcome: 'success' | 'error' = 'success', route = '/users/:id'): void {
    this.#serverRequests.inc({ route, method: 'GET', outcome });
    this.#serverDuration.observe({ route, method: 'GET', outcome }, seconds);
  }

  breaker(service: string, endpoint: string, state: BreakerState): void {
    this.#breaker.set({ service, endpoint }, breakerStateValue(state));
  }

  ejected(service: string, endpoint: string, ejected: boolean): void {
    this.#ejected.set({ service, endpoint }, ejected ? 1 : 0);
  }

  retryBudget(service: string, available: number, exhausted = 0): void {
    this.#budget.set({ service }, available);
    if (exhausted > 0) this.#budgetExhausted.inc({ service }, exhausted);
  }

  published(topic: string, n: number, outcome: 'success' | 'error' = 'success'): void {
    this.#published.inc({ topic, outcome }, n);
  }

  consumed(topic: string, subscription: string, n: number, outcome: 'success' | 'error' = 'success'): void {
    this.#consumed.inc({ topic, subscription, outcome }, n);
  }

  deadLettered(topic: string, subscription: string, n: number): void {
    this.#dead.inc({ topic, subscription }, n);
  }

  lag(topic: string, subscription: string, n: number): void {
    this.#lag.set({ topic, subscription }, n);
  }

  outbox(n: number): void {
    this.#outbox.set(n);
  }

  /** The exposition prom-client writes. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A loopback HTTP server answering `/metrics` from `metrics`, and 404 elsewhere. */
export interface MetricsServer {
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves `metrics()` at `/metrics` on 127.0.0.1 (an ephemeral port). */
export async function serveMetrics(metrics: () => MeshMetrics | Promise<string>): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const source = metrics();
    void (source instanceof MeshMetrics ? source.text() : source).then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
