import type { OutlierDetectionOptions } from '@meshkit/balance';
import type { Layer } from '@meshkit/core';
import type { OutlierDetectionSpec, RoutingLayer, TrafficPolicySpec } from '@meshkit/routing';

/** What the client may tune when it opens an endpoint's transport. */
export interface ConnectHints {
  /**
   * How long opening a connection to the endpoint may take, in ms (a DestinationRule's
   * `connectionPool.tcp.connectTimeout` for the endpoint's subset); `undefined` keeps the transport's.
   */
  readonly connectTimeoutMs?: number | undefined;
}

/** The routing layer's per-endpoint DestinationRule policy, when `route` is a routing layer. */
export function endpointPolicyOf(
  route: Layer<unknown, unknown> | undefined,
): ((labels: Readonly<Record<string, string>>) => TrafficPolicySpec | undefined) | undefined {
  const candidate = route as Partial<RoutingLayer<unknown, unknown>> | undefined;
  return typeof candidate?.endpointPolicy === 'function'
    ? (labels) => candidate.endpointPolicy!(labels)
    : undefined;
}

const mapped = new WeakMap<OutlierDetectionSpec, OutlierDetectionOptions>();

/**
 * A DestinationRule's `outlierDetection` as the balancer's options (the same object for the same spec,
 * so the endpoints of one subset form one group): `consecutive5xxErrors` → `consecutive5xx`,
 * `consecutiveGatewayErrors` → `consecutiveGatewayFailure`, `interval` → `intervalMs`,
 * `baseEjectionTime` → `baseEjectionTimeMs`, `maxEjectionPercent` as it is. A field not given keeps the
 * client's own outlier setting.
 */
export function outlierOptionsOf(spec: OutlierDetectionSpec): OutlierDetectionOptions {
  let options = mapped.get(spec);
  if (options === undefined) {
    options = Object.freeze({
      ...(spec.consecutive5xxErrors === undefined ? {} : { consecutive5xx: spec.consecutive5xxErrors }),
      ...(spec.consecutiveGatewayErrors === undefined
        ? {}
        : { consecutiveGatewayFailure: spec.consecutiveGatewayErrors }),
      ...(spec.intervalMs === undefined ? {} : { intervalMs: spec.intervalMs }),
      ...(spec.baseEjectionTimeMs === undefined ? {} : { baseEjectionTimeMs: spec.baseEjectionTimeMs }),
      ...(spec.maxEjectionPercent === undefined ? {} : { maxEjectionPercent: spec.maxEjectionPercent }),
    });
    mapped.set(spec, options);
  }
  return options;
}

/** The connect hints of an endpoint from its DestinationRule policy. */
export function connectHintsOf(policy: TrafficPolicySpec | undefined): ConnectHints {
  const ms = policy?.connectionPool?.connectTimeoutMs;
  // Whole milliseconds, at least one: Istio allows `250us`, transports count in ms.
  return ms === undefined ? {} : { connectTimeoutMs: Math.max(1, Math.ceil(ms)) };
}
