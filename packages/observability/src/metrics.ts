import { balanceChannels } from '@meshkit/balance';
import {
  type ClientAttemptEvent,
  type ClientCallEvent,
  channels,
  type Endpoint,
  exchangeChannels,
  InvalidArgumentError,
  type ServerRequestEvent,
  typedChannel,
} from '@meshkit/core';
import { messagingChannels } from '@meshkit/messaging';
import { Registry } from 'prom-client';
import { LabelCap } from './cardinality.ts';
import { counter, gauge, histogram, upDownGauge } from './metric-families.ts';
import { grpcStatusOf, httpStatusOf, outcomeOf } from './outcome.ts';
import { Subscriptions } from './subscriptions.ts';

/** Options of {@link metrics}. */
export interface MetricsOptions {
  /** The registry to register on. Defaults to a new `Registry` (never prom-client's global one). */
  readonly registry?: Registry;
  /**
   * Most distinct values one label (route, endpoint, service, destination, ...) may take; later new
   * values are counted under `other`. Defaults to 100.
   */
  readonly maxLabelValues?: number;
}

/** A running metrics subscriber. */
export interface Metrics {
  /** The registry the metrics live on: serve `registry.metrics()` (see `metricsHandler`). */
  readonly registry: Registry;
  /** Unsubscribes from every channel; the metrics keep their last values. */
  close(): void;
}

/** Kafka's lag report (`meshkit:kafka:lag` from `@meshkit/messaging-kafka`), read by its channel name. */
interface LagReport {
  readonly group: string;
  readonly lag: Readonly<Record<string, number>>;
}

const seconds = (ms: number): number => ms / 1_000;

/** Most series a lookup cache keeps; past it, series are still counted, only looked up the slow way. */
const maxCachedSeries = 10_000;

/** One endpoint's series. */
interface EndpointSeries {
  readonly service: string;
  readonly picks: { inc(): void };
  readonly inFlight: { inc(): void; dec(): void };
  readonly attempts: Map<
    string,
    {
      readonly count: { inc(): void };
      readonly duration: { observe(value: number): void };
      readonly totals: { attempts: number };
    }
  >;
}

/** Series (label-bound metric children) by a key of the raw values they were made from. */
class SeriesCache {
  readonly #byKey = new Map<string, unknown>();

  get<T>(key: string, make: () => T): T {
    const found = this.#byKey.get(key);
    if (found !== undefined) return found as T;
    const made = make();
    if (this.#byKey.size < maxCachedSeries) this.#byKey.set(key, made);
    return made;
  }
}

/** The subset an endpoint belongs to: its `subset` label, else its `version` label (DestinationRule's). */
function subsetOf(endpoint: Endpoint): string {
  return endpoint.labels.subset ?? endpoint.labels.version ?? '';
}

/**
 * Prometheus metrics from meshkit's diagnostics channels, on a registry of your own: client and server
 * requests on HTTP and gRPC (first attempts apart from retries and hedges, and the retry amplification
 * ratio), retry budget, breakers, bulkheads, outlier ejections, balancer picks, messaging (publish
 * confirm latency, consumed messages and handler latency, retries, redeliveries, dead letters, Kafka
 * lag) and the outbox backlog. Names and labels follow the OpenTelemetry semantic conventions in
 * Prometheus form (`http_client_request_duration_seconds` with `http_request_method`, ...). Every label
 * with open-ended values is capped at `maxLabelValues` distinct values (the rest become `other`), and
 * routes are templates, never raw paths.
 *
 * @example
 * ```ts
 * const observed = metrics();
 * // ... later, on GET /metrics:
 * const text = await observed.registry.metrics();
 * observed.close();
 * ```
 */
export function metrics(options: MetricsOptions = {}): Metrics {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('metrics', 'options must be an object', options);
  }
  const registry = options.registry ?? new Registry();
  if (!(registry instanceof Registry)) {
    throw new InvalidArgumentError('metrics.registry', 'must be a prom-client Registry', registry);
  }
  const maxValues = options.maxLabelValues ?? 100;
  if (!Number.isInteger(maxValues) || maxValues < 1) {
    throw new InvalidArgumentError('metrics.maxLabelValues', 'must be an integer >= 1', maxValues);
  }
  const caps = new Map<string, LabelCap>();
  /** `value` bounded by the cap of the label `name`. */
  const cap = (name: string, value: string): string => {
    // An empty value means "not known" (no route template): one value, outside the cap.
    if (value === '') return value;
    let c = caps.get(name);
    if (c === undefined) {
      c = new LabelCap('metrics.maxLabelValues', maxValues);
      caps.set(name, c);
    }
    return c.bound(value);
  };

  // Client: logical calls and attempts.
  const calls = counter(
    registry,
    'meshkit_client_calls_total',
    'Logical client calls (retries and hedges included in one), by outcome.',
    ['service', 'rpc_system', 'method', 'route', 'outcome'],
  );
  const callDuration = histogram(
    registry,
    'meshkit_client_call_duration_seconds',
    'Logical client call duration, every attempt and backoff included.',
    ['service', 'rpc_system', 'method', 'route', 'outcome'],
  );
  const attempts = counter(
    registry,
    'meshkit_client_attempts_total',
    'Attempts sent to endpoints, by kind: first, retry or hedge.',
    ['service', 'rpc_system', 'attempt_kind', 'outcome'],
  );
  const httpClient = histogram(
    registry,
    'http_client_request_duration_seconds',
    'HTTP requests sent (one per attempt).',
    [
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
  );
  const rpcClient = histogram(registry, 'rpc_client_duration_seconds', 'gRPC calls sent (one per attempt).', [
    'service',
    'subset',
    'endpoint',
    'server_address',
    'rpc_system',
    'rpc_service',
    'rpc_method',
    'rpc_grpc_status_code',
    'attempt_kind',
    'outcome',
  ]);
  const picks = counter(
    registry,
    'meshkit_balancer_picks_total',
    'Endpoints the balancer chose, one per attempt.',
    ['service', 'subset', 'endpoint'],
  );
  const inFlight = upDownGauge(
    registry,
    'meshkit_client_attempts_in_flight',
    'Attempts in flight per endpoint (what its bulkhead holds).',
    ['service', 'endpoint'],
  );
  const callTotals = new Map<string, { calls: number; attempts: number }>();
  gauge(
    registry,
    'meshkit_client_retry_amplification_ratio',
    'Attempts per logical call since start (1 = no retries or hedges).',
    ['service'],
    function collect() {
      for (const [service, t] of callTotals) {
        if (t.calls > 0) this.set({ service }, t.attempts / t.calls);
      }
    },
  );
  const totalsOf = (service: string): { calls: number; attempts: number } => {
    let t = callTotals.get(service);
    if (t === undefined) {
      t = { calls: 0, attempts: 0 };
      callTotals.set(service, t);
    }
    return t;
  };

  // Servers.
  const httpServer = histogram(registry, 'http_server_request_duration_seconds', 'HTTP requests served.', [
    'service',
    'http_request_method',
    'http_route',
    'http_response_status_code',
  ]);
  const rpcServer = histogram(registry, 'rpc_server_duration_seconds', 'gRPC calls served.', [
    'service',
    'rpc_system',
    'rpc_service',
    'rpc_method',
    'rpc_grpc_status_code',
  ]);

  // Policies and the balancer.
  const budgetExhausted = counter(
    registry,
    'meshkit_retry_budget_exhausted_total',
    'Retries or hedges skipped because the retry budget was empty.',
    ['layer', 'budget'],
  );
  const breakerState = gauge(
    registry,
    'meshkit_circuit_breaker_state',
    'Circuit state per endpoint: 1 for the current state, 0 for the others.',
    ['service', 'endpoint', 'state'],
  );
  const breakerTransitions = counter(
    registry,
    'meshkit_circuit_breaker_transitions_total',
    'Circuit breaker state changes.',
    ['service', 'endpoint', 'from', 'to'],
  );
  const bulkheadRejections = counter(
    registry,
    'meshkit_bulkhead_rejections_total',
    'Calls a full bulkhead refused.',
    ['service', 'endpoint'],
  );
  const ejections = counter(
    registry,
    'meshkit_outlier_ejections_total',
    'Endpoints ejected by outlier detection.',
    ['service', 'endpoint'],
  );

  // Messaging.
  const publishDuration = histogram(
    registry,
    'messaging_client_operation_duration_seconds',
    'Publish to broker confirm, per event.',
    ['messaging_operation_name', 'messaging_destination_name', 'outcome'],
  );
  const sent = counter(registry, 'messaging_client_sent_messages_total', 'Events published, by outcome.', [
    'messaging_destination_name',
    'outcome',
  ]);
  const consumed = counter(
    registry,
    'messaging_client_consumed_messages_total',
    'Deliveries handled, by settlement.',
    ['messaging_destination_name', 'messaging_consumer_group_name', 'settlement'],
  );
  const processDuration = histogram(
    registry,
    'messaging_process_duration_seconds',
    'Handler time per delivery, retry and dead-letter decisions included.',
    ['messaging_destination_name', 'messaging_consumer_group_name', 'settlement'],
  );
  const redeliveries = counter(
    registry,
    'meshkit_messaging_redeliveries_total',
    'Deliveries the broker made again (delivery count above 1).',
    ['messaging_destination_name', 'messaging_consumer_group_name'],
  );
  const retries = counter(
    registry,
    'meshkit_messaging_retries_total',
    'Delayed retries a consumer scheduled.',
    ['messaging_destination_name', 'messaging_consumer_group_name'],
  );
  const deadLetters = counter(
    registry,
    'meshkit_messaging_dead_letters_total',
    'Messages sent to the dead-letter topic, by reason.',
    ['messaging_destination_name', 'messaging_consumer_group_name', 'reason'],
  );
  const lag = gauge(
    registry,
    'messaging_consumer_lag',
    'Records a group has not consumed yet, per partition, where the broker reports it.',
    ['messaging_consumer_group_name', 'messaging_destination_partition_id'],
  );
  const backlog = gauge(
    registry,
    'meshkit_outbox_backlog',
    'Unsent outbox rows the relay saw in its last round (up to its batch size).',
    ['owner'],
  );
  const oldest = gauge(
    registry,
    'meshkit_outbox_oldest_age_seconds',
    "Age of the oldest unsent outbox row in the relay's last round.",
    ['owner'],
  );

  const subs = new Subscriptions();
  // The hot paths (one call, its attempts) look their series up by the event's raw values, so a
  // repeated call costs one map lookup per metric instead of prom-client's label hashing.
  const series = new SeriesCache();

  subs.on(exchangeChannels.clientCallEnd, (e: ClientCallEvent) => {
    const outcome = outcomeOf(e.error);
    const key = `${e.protocol}\u0001${e.service}\u0001${e.method}\u0001${e.route ?? ''}\u0001${outcome}`;
    const s = series.get(key, () => {
      const labels = {
        service: cap('service', e.service),
        rpc_system: e.protocol,
        method: cap('method', e.method),
        route: cap('route', e.route ?? ''),
        outcome,
      };
      return {
        calls: calls.labels(labels),
        duration: callDuration.labels(labels),
        totals: totalsOf(labels.service),
      };
    });
    s.calls.inc();
    s.duration.observe(seconds(e.durationMs));
    s.totals.calls++;
  });
  /** Per endpoint: its picks and in-flight series, and its attempt series by method, route, status, kind and outcome. */
  const endpoints = new WeakMap<Endpoint, EndpointSeries>();
  const endpointSeries = (e: ClientAttemptEvent): EndpointSeries => {
    let s = endpoints.get(e.endpoint);
    if (s === undefined || s.service !== e.service) {
      const service = cap('service', e.service);
      const endpoint = cap('endpoint', e.endpoint.id);
      s = {
        service: e.service,
        picks: picks.labels({ service, subset: cap('subset', subsetOf(e.endpoint)), endpoint }),
        inFlight: inFlight.labels({ service, endpoint }),
        attempts: new Map(),
      };
      endpoints.set(e.endpoint, s);
    }
    return s;
  };
  subs.on(exchangeChannels.clientAttemptStart, (e: ClientAttemptEvent) => {
    const s = endpointSeries(e);
    s.picks.inc();
    s.inFlight.inc();
  });
  subs.on(exchangeChannels.clientAttemptEnd, (e: ClientAttemptEvent) => {
    const s = endpointSeries(e);
    s.inFlight.dec();
    const outcome = outcomeOf(e.error);
    const grpc = e.protocol === 'grpc';
    const status = grpc ? grpcStatusOf(e.error) : httpStatusOf(e.result, e.error);
    const key = `${e.protocol}\u0001${e.method}\u0001${e.route ?? ''}\u0001${status}\u0001${e.kind}\u0001${outcome}`;
    let attempt = s.attempts.get(key);
    if (attempt === undefined) {
      const service = cap('service', e.service);
      const common = {
        service,
        subset: cap('subset', subsetOf(e.endpoint)),
        endpoint: cap('endpoint', e.endpoint.id),
        server_address: cap('server_address', e.endpoint.address),
        attempt_kind: e.kind,
        outcome,
      };
      let duration: { observe(value: number): void };
      if (grpc) {
        const [rpcService = '', rpcMethod = ''] = e.method.split('/');
        duration = rpcClient.labels({
          ...common,
          rpc_system: 'grpc',
          rpc_service: cap('rpc_service', rpcService),
          rpc_method: cap('rpc_method', rpcMethod),
          rpc_grpc_status_code: String(status),
        });
      } else {
        duration = httpClient.labels({
          ...common,
          http_request_method: cap('method', e.method),
          http_route: cap('route', e.route ?? ''),
          http_response_status_code: String(status ?? ''),
        });
      }
      attempt = {
        count: attempts.labels({ service, rpc_system: e.protocol, attempt_kind: e.kind, outcome }),
        duration,
        totals: totalsOf(service),
      };
      // Bounded like every series: past the cap, new keys are built each time instead of kept.
      if (s.attempts.size < maxCachedSeries) s.attempts.set(key, attempt);
    }
    attempt.count.inc();
    attempt.duration.observe(seconds(e.durationMs));
    attempt.totals.attempts++;
  });
  subs.on(exchangeChannels.serverRequestEnd, (e: ServerRequestEvent) => {
    const key = `${e.protocol}\u0001${e.service}\u0001${e.method}\u0001${e.route ?? ''}\u0001${e.status ?? ''}`;
    const duration = series.get(key, () => {
      const service = cap('service', e.service);
      if (e.protocol === 'grpc') {
        const [rpcService = '', rpcMethod = ''] = e.method.split('/');
        return rpcServer.labels({
          service,
          rpc_system: 'grpc',
          rpc_service: cap('rpc_service', rpcService),
          rpc_method: cap('rpc_method', rpcMethod),
          rpc_grpc_status_code: String(e.status ?? ''),
        });
      }
      return httpServer.labels({
        service,
        http_request_method: cap('method', e.method),
        http_route: cap('route', e.route ?? ''),
        http_response_status_code: String(e.status ?? ''),
      });
    });
    duration.observe(seconds(e.durationMs));
  });

  subs.on(channels.budgetExhausted, (e) => {
    budgetExhausted.inc({ layer: cap('layer', e.layer), budget: cap('budget', e.budget) });
  });
  subs.on(channels.breakerState, (e) => {
    const service = cap('service', e.service ?? '');
    const endpoint = cap('endpoint', e.endpoint ?? e.layer);
    breakerTransitions.inc({ service, endpoint, from: e.from, to: e.to });
    for (const state of ['closed', 'open', 'half-open', 'isolated']) {
      breakerState.set({ service, endpoint, state }, state === e.to ? 1 : 0);
    }
  });
  subs.on(channels.bulkheadRejected, (e) => {
    bulkheadRejections.inc({
      service: cap('service', e.service ?? ''),
      endpoint: cap('endpoint', e.endpoint ?? e.layer),
    });
  });
  subs.on(balanceChannels.ejected, (e) => {
    ejections.inc({ service: cap('service', e.service), endpoint: cap('endpoint', e.endpoint) });
  });

  subs.on(messagingChannels.publishEnd, (e) => {
    const destination = cap('destination', e.topic);
    const outcome = outcomeOf(e.error);
    publishDuration.observe(
      { messaging_operation_name: 'publish', messaging_destination_name: destination, outcome },
      seconds(e.durationMs),
    );
    sent.inc({ messaging_destination_name: destination, outcome });
  });
  subs.on(messagingChannels.processEnd, (e) => {
    const labels = {
      messaging_destination_name: cap('destination', e.topic),
      messaging_consumer_group_name: cap('group', e.group),
    };
    const settlement = e.settlement ?? 'error';
    consumed.inc({ ...labels, settlement });
    processDuration.observe({ ...labels, settlement }, seconds(e.durationMs));
    if (e.deliveryCount !== undefined && e.deliveryCount > 1) redeliveries.inc(labels);
  });
  subs.on(messagingChannels.retry, (e) => {
    retries.inc({
      messaging_destination_name: cap('destination', e.topic),
      messaging_consumer_group_name: cap('group', e.group),
    });
  });
  subs.on(messagingChannels.deadLetter, (e) => {
    deadLetters.inc({
      messaging_destination_name: cap('destination', e.topic),
      messaging_consumer_group_name: cap('group', e.group),
      reason: e.reason,
    });
  });
  subs.on(typedChannel<LagReport>('meshkit:kafka:lag'), (e) => {
    const group = cap('group', e.group);
    for (const [partition, records] of Object.entries(e.lag)) {
      lag.set(
        {
          messaging_consumer_group_name: group,
          messaging_destination_partition_id: cap('partition', partition),
        },
        records,
      );
    }
  });
  subs.on(messagingChannels.outboxBacklog, (e) => {
    const owner = cap('owner', e.owner);
    backlog.set({ owner }, e.pending);
    oldest.set({ owner }, seconds(e.oldestAgeMs));
  });

  return { registry, close: () => subs.close() };
}
