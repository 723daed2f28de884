/**
 * The validated form of the Istio documents meshkit reads: what {@link loadRoutes} produces and
 * {@link compileRoutes} compiles. Field names follow Istio's; durations are in milliseconds, percentages
 * are fractions from 0 to 1.
 */

/** Istio's `StringMatch`; `present` is the empty match (`{}`), true whenever the value exists. */
export interface StringMatchSpec {
  readonly kind: 'exact' | 'prefix' | 'regex' | 'present';
  readonly value: string;
}

/** One entry of `http[].match`: every field given must match (AND). */
export interface MatchSpec {
  readonly name?: string | undefined;
  readonly uri?: StringMatchSpec | undefined;
  readonly ignoreUriCase: boolean;
  readonly method?: StringMatchSpec | undefined;
  readonly authority?: StringMatchSpec | undefined;
  readonly headers: readonly (readonly [string, StringMatchSpec])[];
  readonly withoutHeaders: readonly (readonly [string, StringMatchSpec])[];
  readonly queryParams: readonly (readonly [string, StringMatchSpec])[];
  readonly port?: number | undefined;
  readonly sourceLabels?: Readonly<Record<string, string>> | undefined;
}

/** Header operations of `headers.request` / `headers.response`. */
export interface HeaderOpsSpec {
  readonly set: Readonly<Record<string, string>>;
  readonly add: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

/** One `route[]` entry (or the `mirror` destination). */
export interface DestinationSpec {
  readonly host: string;
  readonly subset?: string | undefined;
  readonly port?: number | undefined;
  /** Relative weight; Istio's default is 100 for a single destination, 0 otherwise. */
  readonly weight: number;
  readonly requestHeaders?: HeaderOpsSpec | undefined;
  readonly responseHeaders?: HeaderOpsSpec | undefined;
}

/** `retries`. */
export interface RetrySpec {
  /** Retries after the first try (Istio's `attempts` counts retries, not tries). */
  readonly attempts: number;
  readonly perTryTimeoutMs?: number | undefined;
  /** The recognised `retryOn` conditions, in the order written. */
  readonly retryOn: readonly string[];
  /** HTTP statuses made retriable by numeric `retryOn` entries (and `retriable-status-NNN`). */
  readonly retriableStatuses: readonly number[];
}

/** `fault`. */
export interface FaultSpec {
  readonly delay?: { readonly fixedDelayMs: number; readonly fraction: number } | undefined;
  readonly abort?:
    | {
        readonly httpStatus?: number | undefined;
        readonly grpcStatus?: string | undefined;
        readonly fraction: number;
      }
    | undefined;
}

/** `rewrite`. */
export interface RewriteSpec {
  readonly uri?: string | undefined;
  readonly authority?: string | undefined;
}

/** `redirect`. */
export interface RedirectSpec {
  readonly uri?: string | undefined;
  readonly authority?: string | undefined;
  readonly port?: number | undefined;
  readonly scheme?: string | undefined;
  /** Defaults to 301, as in Istio. */
  readonly redirectCode: number;
}

/** One `http[]` rule. */
export interface HttpRuleSpec {
  readonly name?: string | undefined;
  /** `spec.http[i]`: where the rule was written, for messages and `describe()`. */
  readonly path: string;
  /** Empty: the rule matches every request. */
  readonly match: readonly MatchSpec[];
  readonly route: readonly DestinationSpec[];
  readonly timeoutMs?: number | undefined;
  readonly retries?: RetrySpec | undefined;
  readonly fault?: FaultSpec | undefined;
  readonly mirror?: DestinationSpec | undefined;
  /** Defaults to 1 (every request) when a mirror is set, as in Istio. */
  readonly mirrorFraction: number;
  readonly requestHeaders?: HeaderOpsSpec | undefined;
  readonly responseHeaders?: HeaderOpsSpec | undefined;
  readonly rewrite?: RewriteSpec | undefined;
  readonly redirect?: RedirectSpec | undefined;
}

/** Where a document came from. */
export interface DocumentSource {
  readonly file: string;
  /** Position in its file, from 1. */
  readonly document: number;
}

/** A `VirtualService`. */
export interface VirtualServiceSpec {
  readonly kind: 'VirtualService';
  readonly name: string;
  readonly namespace?: string | undefined;
  readonly source: DocumentSource;
  readonly hosts: readonly string[];
  readonly http: readonly HttpRuleSpec[];
}

/** `trafficPolicy.loadBalancer`. */
export interface LoadBalancerSpec {
  readonly simple?: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH' | 'UNSPECIFIED' | undefined;
  readonly consistentHash?:
    | {
        readonly httpHeaderName?: string | undefined;
        readonly httpCookie?: string | undefined;
        readonly httpQueryParameterName?: string | undefined;
        readonly useSourceIp?: boolean | undefined;
      }
    | undefined;
}

/** `trafficPolicy.connectionPool`. */
export interface ConnectionPoolSpec {
  readonly maxConnections?: number | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly http1MaxPendingRequests?: number | undefined;
  readonly http2MaxRequests?: number | undefined;
  readonly maxRequestsPerConnection?: number | undefined;
  readonly maxRetries?: number | undefined;
  readonly idleTimeoutMs?: number | undefined;
}

/** `trafficPolicy.outlierDetection`. */
export interface OutlierDetectionSpec {
  readonly consecutive5xxErrors?: number | undefined;
  readonly consecutiveGatewayErrors?: number | undefined;
  readonly intervalMs?: number | undefined;
  readonly baseEjectionTimeMs?: number | undefined;
  readonly maxEjectionPercent?: number | undefined;
}

/** `trafficPolicy` (of a rule or of one subset). */
export interface TrafficPolicySpec {
  readonly loadBalancer?: LoadBalancerSpec | undefined;
  readonly connectionPool?: ConnectionPoolSpec | undefined;
  readonly outlierDetection?: OutlierDetectionSpec | undefined;
}

/** A `DestinationRule`. */
export interface DestinationRuleSpec {
  readonly kind: 'DestinationRule';
  readonly name: string;
  readonly namespace?: string | undefined;
  readonly source: DocumentSource;
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicySpec | undefined;
  readonly subsets: readonly {
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly trafficPolicy?: TrafficPolicySpec | undefined;
  }[];
}

/** Every document of a routing configuration. */
export interface RouteConfig {
  readonly virtualServices: readonly VirtualServiceSpec[];
  readonly destinationRules: readonly DestinationRuleSpec[];
}
