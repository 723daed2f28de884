import {
  type ClientAttemptEvent,
  type ClientCallEvent,
  type Endpoint,
  exchangeChannels,
  type ServerRequestEvent,
} from '@meshkit/core';
import { type MetricContext, seconds } from './metric-context.ts';
import { counter, gauge, histogram, upDownGauge } from './metric-families.ts';
import { grpcStatusOf, httpStatusOf, outcomeOf } from './outcome.ts';
import { SeriesIndex } from './series-index.ts';

/** Most series a lookup index keeps; past it, series are still counted, only looked up the slow way. */
const maxCachedSeries = 10_000;

/** The series of one attempt's labels. */
interface AttemptSeries {
  readonly count: { inc(): void };
  readonly duration: { observe(value: number): void };
  readonly totals: { attempts: number };
}

/** One endpoint's series, for the service and protocol it was first seen with. */
interface EndpointSeries {
  readonly service: string;
  readonly protocol: string;
  readonly picks: { inc(): void };
  readonly inFlight: { inc(): void; dec(): void };
  /** By method, route, status, attempt kind and outcome. */
  readonly attempts: SeriesIndex<AttemptSeries>;
}

/** The subset an endpoint belongs to: its `subset` label, else its `version` label (DestinationRule's). */
function subsetOf(endpoint: Endpoint): string {
  return endpoint.labels.subset ?? endpoint.labels.version ?? '';
}

/**
 * Client and server request metrics on HTTP and gRPC: logical calls, attempts by kind, the retry
 * amplification ratio, balancer picks, in-flight attempts, and the OpenTelemetry-named durations.
 */
export function exchangeMetrics({ registry, subs, cap }: MetricContext): void {
  // Client: logical calls and attempts.
  const calls = counter(
    registry,
    'meshkit_client_calls_total',
    'Logical client calls (retries and hedges included in one), by outcome.',
    ['service', 'protocol', 'method', 'route', 'outcome'],
  );
  const callDuration = histogram(
    registry,
    'meshkit_client_call_duration_seconds',
    'Logical client call duration, every attempt and backoff included.',
    ['service', 'protocol', 'method', 'route', 'outcome'],
  );
  const attempts = counter(
    registry,
    'meshkit_client_attempts_total',
    'Attempts sent to endpoints, by kind: first, retry or hedge.',
    ['service', 'protocol', 'attempt_kind', 'outcome'],
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

  // The hot paths (one call, its attempts, a request served) look their series up by the event's raw
  // values, so a repeated call costs a few map lookups instead of capping and hashing its labels.
  const callSeries = new SeriesIndex<{
    readonly calls: { inc(): void };
    readonly duration: { observe(value: number): void };
    readonly totals: { calls: number };
  }>(maxCachedSeries);

  subs.on(exchangeChannels.clientCallEnd, (e: ClientCallEvent) => {
    const outcome = outcomeOf(e.error);
    let s = callSeries.find(e.protocol, e.service, e.method, e.route, outcome);
    if (s === undefined) {
      const labels = {
        service: cap('service', e.service),
        protocol: e.protocol,
        method: cap('method', e.method),
        route: cap('route', e.route ?? ''),
        outcome,
      };
      s = {
        calls: calls.labels(labels),
        duration: callDuration.labels(labels),
        totals: totalsOf(labels.service),
      };
      callSeries.add(e.protocol, e.service, e.method, e.route, outcome, s);
    }
    s.calls.inc();
    s.duration.observe(seconds(e.durationMs));
    s.totals.calls++;
  });
  /** Per endpoint: its picks and in-flight series, and its attempt series by method, route, status, kind and outcome. */
  const endpoints = new WeakMap<Endpoint, EndpointSeries>();
  const endpointSeries = (e: ClientAttemptEvent): EndpointSeries => {
    let s = endpoints.get(e.endpoint);
    if (s === undefined || s.service !== e.service || s.protocol !== e.protocol) {
      const service = cap('service', e.service);
      const endpoint = cap('endpoint', e.endpoint.id);
      s = {
        service: e.service,
        protocol: e.protocol,
        picks: picks.labels({ service, subset: cap('subset', subsetOf(e.endpoint)), endpoint }),
        inFlight: inFlight.labels({ service, endpoint }),
        attempts: new SeriesIndex(maxCachedSeries),
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
    let attempt = s.attempts.find(e.method, e.route, status, e.kind, outcome);
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
        count: attempts.labels({ service, protocol: e.protocol, attempt_kind: e.kind, outcome }),
        duration,
        totals: totalsOf(service),
      };
      s.attempts.add(e.method, e.route, status, e.kind, outcome, attempt);
    }
    attempt.count.inc();
    attempt.duration.observe(seconds(e.durationMs));
    attempt.totals.attempts++;
  });
  const servedSeries = new SeriesIndex<{ observe(value: number): void }>(maxCachedSeries);
  /** The duration series of a request served, made from its labels. */
  const servedDuration = (e: ServerRequestEvent): { observe(value: number): void } => {
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
  };
  subs.on(exchangeChannels.serverRequestEnd, (e: ServerRequestEvent) => {
    let duration = servedSeries.find(e.protocol, e.service, e.method, e.route, e.status);
    if (duration === undefined) {
      duration = servedDuration(e);
      servedSeries.add(e.protocol, e.service, e.method, e.route, e.status, duration);
    }
    duration.observe(seconds(e.durationMs));
  });
}
