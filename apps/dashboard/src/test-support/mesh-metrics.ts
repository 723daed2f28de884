import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AttemptKind, BreakerState } from '../collect/facts.ts';
import { metricNames as M } from '../collect/metric-names.ts';

/** One client try, as a process's client stack records it. */
export interface ClientTry {
  readonly service: string;
  readonly route?: string;
  readonly subset?: string;
  readonly endpoint: string;
  readonly method?: string;
  readonly status?: number;
  readonly outcome?: 'success' | 'error' | 'timeout' | 'cancelled' | 'rejected';
  readonly attempt?: AttemptKind;
  readonly seconds: number;
}

/** `@meshkit/observability`'s latency buckets, in seconds (OpenTelemetry's advisory buckets). */
export const testBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * A process's metrics with `@meshkit/observability`'s names, labels and encodings, recorded with
 * prom-client itself, so tests scrape the exposition prom-client really writes.
 */
export class MeshMetrics {
  readonly registry = new Registry();
  readonly #httpClient = new Histogram({
    name: M.httpClient,
    help: 'HTTP requests sent (one per attempt).',
    labelNames: [
      'service',
      'subset',
      'endpoint',
      'server_address',
      'http_request_method',
      'http_route',
      'http_response_status_code',
      'attempt_kind',
      'outcome',
    ],
    buckets: testBuckets,
    registers: [this.registry],
  });
  readonly #httpServer = new Histogram({
    name: M.httpServer,
    help: 'HTTP requests served.',
    labelNames: ['service', 'http_request_method', 'http_route', 'http_response_status_code'],
    buckets: testBuckets,
    registers: [this.registry],
  });
  readonly #breaker = new Gauge({
    name: M.breakerState,
    help: 'Circuit state per endpoint: 1 for the current state, 0 for the others.',
    labelNames: ['service', 'endpoint', 'state'],
    registers: [this.registry],
  });
  readonly #ejections = new Counter({
    name: M.ejections,
    help: 'Endpoints ejected by outlier detection.',
    labelNames: ['service', 'endpoint'],
    registers: [this.registry],
  });
  readonly #inFlight = new Gauge({
    name: M.attemptsInFlight,
    help: 'Attempts in flight per endpoint.',
    labelNames: ['service', 'endpoint'],
    registers: [this.registry],
  });
  readonly #bulkheadRejections = new Counter({
    name: M.bulkheadRejections,
    help: 'Calls a full bulkhead refused.',
    labelNames: ['service', 'endpoint'],
    registers: [this.registry],
  });
  readonly #budgetExhausted = new Counter({
    name: M.budgetExhausted,
    help: 'Retries or hedges skipped because the retry budget was empty.',
    labelNames: ['layer', 'budget'],
    registers: [this.registry],
  });
  readonly #sent = new Counter({
    name: M.sent,
    help: 'Events published, by outcome.',
    labelNames: ['messaging_destination_name', 'outcome'],
    registers: [this.registry],
  });
  readonly #consumed = new Counter({
    name: M.consumed,
    help: 'Deliveries handled, by settlement.',
    labelNames: ['messaging_destination_name', 'messaging_consumer_group_name', 'settlement'],
    registers: [this.registry],
  });
  readonly #dead = new Counter({
    name: M.deadLetters,
    help: 'Messages sent to the dead-letter topic, by reason.',
    labelNames: ['messaging_destination_name', 'messaging_consumer_group_name', 'reason'],
    registers: [this.registry],
  });
  readonly #lag = new Gauge({
    name: M.consumerLag,
    help: 'Records a group has not consumed yet, per partition.',
    labelNames: ['messaging_consumer_group_name', 'messaging_destination_partition_id'],
    registers: [this.registry],
  });
  readonly #outbox = new Gauge({
    name: M.outboxBacklog,
    help: 'Unsent outbox rows the relay saw in its last round.',
    labelNames: ['owner'],
    registers: [this.registry],
  });

  /** Records one client try. */
  clientTry(t: ClientTry): void {
    const outcome = t.outcome ?? 'success';
    this.#httpClient.observe(
      {
        service: t.service,
        subset: t.subset ?? '',
        endpoint: t.endpoint,
        server_address: '127.0.0.1',
        http_request_method: t.method ?? 'GET',
        http_route: t.route ?? '/users/:id',
        http_response_status_code: String(
          t.status ?? (outcome === 'success' ? 200 : outcome === 'error' ? 503 : ''),
        ),
        attempt_kind: t.attempt ?? 'first',
        outcome,
      },
      t.seconds,
    );
  }

  /** Records one request answered by this process's server (`service`). */
  serverRequest(service: string, seconds: number, status = 200, route = '/users/:id'): void {
    this.#httpServer.observe(
      { service, http_request_method: 'GET', http_route: route, http_response_status_code: String(status) },
      seconds,
    );
  }

  /** Sets the one-hot breaker gauge of `endpoint` to `state`. */
  breaker(service: string, endpoint: string, state: BreakerState | 'isolated'): void {
    for (const s of ['closed', 'open', 'half-open', 'isolated']) {
      this.#breaker.set({ service, endpoint, state: s }, s === state ? 1 : 0);
    }
  }

  ejected(service: string, endpoint: string): void {
    this.#ejections.inc({ service, endpoint });
  }

  inFlight(service: string, endpoint: string, n: number): void {
    this.#inFlight.set({ service, endpoint }, n);
  }

  bulkheadRejected(service: string, endpoint: string, n: number): void {
    this.#bulkheadRejections.inc({ service, endpoint }, n);
  }

  budgetExhausted(budget: string, n: number): void {
    this.#budgetExhausted.inc({ layer: 'retry', budget }, n);
  }

  published(topic: string, n: number, outcome: 'success' | 'error' = 'success'): void {
    this.#sent.inc({ messaging_destination_name: topic, outcome }, n);
  }

  consumed(topic: string, group: string, n: number, settlement = 'ack'): void {
    this.#consumed.inc(
      { messaging_destination_name: topic, messaging_consumer_group_name: group, settlement },
      n,
    );
  }

  deadLettered(topic: string, group: string, n: number, reason = 'handler-failed'): void {
    this.#dead.inc({ messaging_destination_name: topic, messaging_consumer_group_name: group, reason }, n);
  }

  lag(group: string, partition: string, n: number): void {
    this.#lag.set({ messaging_consumer_group_name: group, messaging_destination_partition_id: partition }, n);
  }

  outbox(owner: string, n: number): void {
    this.#outbox.set({ owner }, n);
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
