import { shortHost } from './load.ts';
import { compileMatch, type MatchInput, type RouteRequest } from './match.ts';
import type {
  DestinationRuleSpec,
  DestinationSpec,
  FaultSpec,
  HeaderOpsSpec,
  HttpRuleSpec,
  RedirectSpec,
  RewriteSpec,
  RouteConfig,
  TrafficPolicySpec,
  VirtualServiceSpec,
} from './model.ts';
import { retryPredicate } from './retry-on.ts';
import { RuleIndex } from './rule-index.ts';

/** The retry policy of a route, for the retry layer below the routing layer. */
export interface RouteRetryPolicy {
  /** Tries in total, the first included (Istio's `attempts` + 1). */
  readonly maxAttempts: number;
  /** Bound on each try, in ms; `undefined`: the route's `timeout` bounds them. */
  readonly perTryTimeoutMs: number | undefined;
  /** Whether a failure is worth another try, from `retryOn` (see {@link retryPredicate}). */
  readonly retryOn: (error: unknown) => boolean;
  /** The conditions as written (recognised ones only), for `describe()`. */
  readonly conditions: readonly string[];
  readonly retriableStatuses: readonly number[];
}

/**
 * What the routing layer decided for a call, set in the context under `routeDecision` for the layers
 * below: where to send it and with which policies. One frozen object per destination of a rule, made
 * when the table is compiled, so a call allocates none.
 */
export interface RouteDecision {
  /** `namespace/name` of the VirtualService (or just the name). */
  readonly virtualService: string;
  /** The rule's `name`, or where it was written (`spec.http[1]`). */
  readonly rule: string;
  /** The destination host (a service name for the registry). */
  readonly host: string;
  /** The subset name, when the route names one. */
  readonly subset: string | undefined;
  /**
   * The endpoint labels the subset selects: from the host's DestinationRule, or `{ version: subset }`
   * when no DestinationRule defines it.
   */
  readonly subsetLabels: Readonly<Record<string, string>> | undefined;
  /** The destination port, when the route names one. */
  readonly port: number | undefined;
  /** The whole call, retries included, in ms; `undefined`: the client's own deadline. */
  readonly timeoutMs: number | undefined;
  /** `undefined`: the client's own retry policy. */
  readonly retry: RouteRetryPolicy | undefined;
  /** The DestinationRule's traffic policy, the subset's own merged over it. */
  readonly trafficPolicy: TrafficPolicySpec | undefined;
  /** `true` on the copy a mirror sends: its outcome is dropped. */
  readonly mirror: boolean;
}

/** One compiled `http[]` rule. */
export interface CompiledRule {
  readonly virtualService: string;
  readonly name: string;
  readonly matches: (input: MatchInput) => boolean;
  /** Cumulative weights, parallel to `decisions`. */
  readonly cumulative: readonly number[];
  readonly totalWeight: number;
  readonly decisions: readonly RouteDecision[];
  readonly destinations: readonly DestinationSpec[];
  readonly fault: FaultSpec | undefined;
  readonly mirror: RouteDecision | undefined;
  readonly mirrorFraction: number;
  readonly rewrite: RewriteSpec | undefined;
  readonly redirect: RedirectSpec | undefined;
  readonly requestHeaders: HeaderOpsSpec | undefined;
  readonly responseHeaders: HeaderOpsSpec | undefined;
  /**
   * Per decision, parallel to `decisions`: how to read the consistent-hash key of a request when the
   * destination's traffic policy asks for one (header, cookie or query parameter).
   */
  readonly hashKeys: readonly (((request: RouteRequest) => string | undefined) | undefined)[];
  /** No fault, redirect, rewrite, mirror or header operation: the layer only picks a destination. */
  readonly plain: boolean;
  readonly spec: HttpRuleSpec;
}

/** The compiled rules of one host, in order, with the index that narrows them by uri and header. */
export interface HostRoutes {
  readonly rules: readonly CompiledRule[];
  readonly index: RuleIndex;
}

/** The compiled rules of every host; build it with {@link compileRoutes}. */
export class RouteTable {
  readonly #byHost: ReadonlyMap<string, HostRoutes>;
  readonly #wildcards: readonly (readonly [string, HostRoutes])[];
  readonly #config: RouteConfig;
  /** Per host: each subset's labels and merged traffic policy, then the host's own policy. */
  readonly #endpointPolicies: ReadonlyMap<
    string,
    {
      readonly subsets: readonly {
        readonly labels: Readonly<Record<string, string>>;
        readonly policy: TrafficPolicySpec | undefined;
      }[];
      readonly policy: TrafficPolicySpec | undefined;
    }
  >;

  constructor(config: RouteConfig) {
    this.#config = config;
    const rulesOf = new Map<string, DestinationRuleSpec>();
    for (const dr of config.destinationRules) rulesOf.set(shortHost(dr.host), dr);
    this.#endpointPolicies = new Map(
      [...rulesOf].map(([host, dr]) => [
        host,
        {
          subsets: dr.subsets.map((s) => ({
            labels: s.labels,
            policy: mergePolicy(dr.trafficPolicy, s.trafficPolicy),
          })),
          policy: dr.trafficPolicy,
        },
      ]),
    );
    const byHost = new Map<string, HostRoutes>();
    const wildcards: [string, HostRoutes][] = [];
    for (const vs of config.virtualServices) {
      const rules: HostRoutes = {
        rules: vs.http.map((r) => compileRule(vs, r, rulesOf)),
        index: new RuleIndex(vs.http),
      };
      for (const host of vs.hosts) {
        if (host.startsWith('*')) wildcards.push([host.slice(1), rules]);
        else if (!byHost.has(shortHost(host))) byHost.set(shortHost(host), rules);
      }
    }
    // Istio: the most specific wildcard wins.
    wildcards.sort((a, b) => b[0].length - a[0].length);
    this.#byHost = byHost;
    this.#wildcards = wildcards;
  }

  /** The configuration this table was compiled from. */
  get config(): RouteConfig {
    return this.#config;
  }

  /**
   * The traffic policy of an endpoint of `host` with `labels`: that of the first DestinationRule subset
   * whose labels it carries (merged over the rule's own), else the rule's own; `undefined` without one.
   * The same object for every endpoint of a subset, for as long as this table lives.
   */
  endpointPolicy(host: string, labels: Readonly<Record<string, string>>): TrafficPolicySpec | undefined {
    const entry = this.#endpointPolicies.get(shortHost(host));
    if (entry === undefined) return undefined;
    for (const s of entry.subsets) {
      let match = true;
      for (const key in s.labels) {
        if (labels[key] !== s.labels[key]) {
          match = false;
          break;
        }
      }
      if (match) return s.policy;
    }
    return entry.policy;
  }

  /** The rules for `host` in order, or `undefined` when no VirtualService names it. */
  rulesFor(host: string): HostRoutes | undefined {
    const exact = this.#byHost.get(shortHost(host));
    if (exact !== undefined) return exact;
    for (const [suffix, rules] of this.#wildcards) if (host.endsWith(suffix)) return rules;
    return undefined;
  }

  /** The first rule of `routes` that matches (Istio: rules are tried in order, the first match wins). */
  select(routes: HostRoutes, input: MatchInput): CompiledRule | undefined {
    const rules = routes.rules;
    if (!routes.index.useful) {
      for (let i = 0; i < rules.length; i++) if (rules[i]!.matches(input)) return rules[i];
      return undefined;
    }
    const candidates = routes.index.candidates(input.request, input.uri());
    for (let k = 0; k < candidates.length; k++) {
      const rule = rules[candidates[k]!]!;
      if (rule.matches(input)) return rule;
    }
    return undefined;
  }

  /** The active table: hosts, rules, matches, destinations with weights and subsets, policies. */
  describe(): Record<string, unknown> {
    return {
      virtualServices: this.#config.virtualServices.map((vs) => ({
        name: vs.name,
        source: `${vs.source.file} #${vs.source.document}`,
        hosts: vs.hosts,
        rules: vs.http.map((r) => ({
          name: r.name ?? r.path,
          match: r.match.length === 0 ? 'any' : r.match.map(describeMatch),
          route: r.route.map((d) => ({ host: d.host, subset: d.subset, port: d.port, weight: d.weight })),
          ...(r.timeoutMs === undefined ? {} : { timeoutMs: r.timeoutMs }),
          ...(r.retries === undefined ? {} : { retries: r.retries }),
          ...(r.fault === undefined ? {} : { fault: r.fault }),
          ...(r.mirror === undefined
            ? {}
            : { mirror: { host: r.mirror.host, subset: r.mirror.subset, fraction: r.mirrorFraction } }),
          ...(r.redirect === undefined ? {} : { redirect: r.redirect }),
          ...(r.rewrite === undefined ? {} : { rewrite: r.rewrite }),
        })),
      })),
      destinationRules: this.#config.destinationRules.map((dr) => ({
        name: dr.name,
        host: dr.host,
        subsets: dr.subsets.map((s) => ({ name: s.name, labels: s.labels })),
        ...(dr.trafficPolicy === undefined ? {} : { trafficPolicy: dr.trafficPolicy }),
      })),
    };
  }
}

/** Compiles a validated configuration (see `loadRoutes`) into a {@link RouteTable}. */
export function compileRoutes(config: RouteConfig): RouteTable {
  return new RouteTable(config);
}

function compileRule(
  vs: VirtualServiceSpec,
  spec: HttpRuleSpec,
  rulesOf: ReadonlyMap<string, DestinationRuleSpec>,
): CompiledRule {
  const vsName = vs.namespace === undefined ? vs.name : `${vs.namespace}/${vs.name}`;
  const name = spec.name ?? spec.path;
  const matchers = spec.match.map(compileMatch);
  const retry: RouteRetryPolicy | undefined =
    spec.retries === undefined
      ? undefined
      : Object.freeze({
          maxAttempts: spec.retries.attempts + 1,
          perTryTimeoutMs: spec.retries.perTryTimeoutMs,
          retryOn: retryPredicate(spec.retries.retryOn, spec.retries.retriableStatuses),
          conditions: spec.retries.retryOn,
          retriableStatuses: spec.retries.retriableStatuses,
        });
  const decide = (d: DestinationSpec, mirror: boolean): RouteDecision => {
    const dr = rulesOf.get(shortHost(d.host));
    const subset = d.subset === undefined ? undefined : dr?.subsets.find((s) => s.name === d.subset);
    return Object.freeze({
      virtualService: vsName,
      rule: name,
      host: d.host,
      subset: d.subset,
      subsetLabels:
        d.subset === undefined ? undefined : (subset?.labels ?? Object.freeze({ version: d.subset })),
      port: d.port,
      timeoutMs: mirror ? undefined : spec.timeoutMs,
      retry: mirror ? undefined : retry,
      trafficPolicy: mergePolicy(dr?.trafficPolicy, subset?.trafficPolicy),
      mirror,
    });
  };
  const routed = spec.route.filter((d) => d.weight > 0);
  const decisions = routed.map((d) => decide(d, false));
  let sum = 0;
  const cumulative = routed.map((d) => (sum += d.weight));
  return {
    virtualService: vsName,
    name,
    matches:
      matchers.length === 0
        ? () => true
        : matchers.length === 1
          ? matchers[0]!
          : (input) => {
              for (const m of matchers) if (m(input)) return true;
              return false;
            },
    cumulative,
    totalWeight: sum,
    decisions,
    hashKeys: decisions.map((d) => hashKeyReader(d.trafficPolicy)),
    destinations: routed,
    fault: spec.fault,
    mirror: spec.mirror === undefined ? undefined : decide(spec.mirror, true),
    mirrorFraction: spec.mirrorFraction,
    rewrite: spec.rewrite,
    redirect: spec.redirect,
    requestHeaders: spec.requestHeaders,
    responseHeaders: spec.responseHeaders,
    plain:
      spec.fault === undefined &&
      spec.redirect === undefined &&
      spec.rewrite === undefined &&
      spec.mirror === undefined &&
      spec.requestHeaders === undefined &&
      spec.responseHeaders === undefined &&
      routed.every((d) => d.requestHeaders === undefined && d.responseHeaders === undefined),
    spec,
  };
}

/** Reads the key `consistentHash` names; `useSourceIp` has none in-process (the caller is the source). */
function hashKeyReader(
  policy: TrafficPolicySpec | undefined,
): ((request: RouteRequest) => string | undefined) | undefined {
  const hash = policy?.loadBalancer?.consistentHash;
  if (hash === undefined) return undefined;
  const { httpHeaderName: header, httpCookie: cookie, httpQueryParameterName: param } = hash;
  if (header !== undefined) return (r) => r.headers[header];
  if (cookie !== undefined) {
    const prefix = `${cookie}=`;
    return (r) => {
      for (const part of (r.headers.cookie ?? '').split(';')) {
        const p = part.trim();
        if (p.startsWith(prefix)) return p.slice(prefix.length);
      }
      return undefined;
    };
  }
  if (param !== undefined) {
    return (r) => {
      const q = r.path.indexOf('?');
      return q < 0 ? undefined : (new URLSearchParams(r.path.slice(q + 1)).get(param) ?? undefined);
    };
  }
  return undefined;
}

function mergePolicy(
  base: TrafficPolicySpec | undefined,
  own: TrafficPolicySpec | undefined,
): TrafficPolicySpec | undefined {
  if (own === undefined) return base;
  if (base === undefined) return own;
  return {
    loadBalancer: own.loadBalancer ?? base.loadBalancer,
    connectionPool: own.connectionPool ?? base.connectionPool,
    outlierDetection: own.outlierDetection ?? base.outlierDetection,
  };
}

function describeMatch(m: HttpRuleSpec['match'][number]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.uri !== undefined)
    out.uri = { [m.uri.kind]: m.uri.value, ...(m.ignoreUriCase ? { ignoreCase: true } : {}) };
  if (m.method !== undefined) out.method = { [m.method.kind]: m.method.value };
  if (m.authority !== undefined) out.authority = { [m.authority.kind]: m.authority.value };
  if (m.headers.length > 0)
    out.headers = Object.fromEntries(m.headers.map(([k, v]) => [k, { [v.kind]: v.value }]));
  if (m.withoutHeaders.length > 0)
    out.withoutHeaders = Object.fromEntries(m.withoutHeaders.map(([k, v]) => [k, { [v.kind]: v.value }]));
  if (m.queryParams.length > 0)
    out.queryParams = Object.fromEntries(m.queryParams.map(([k, v]) => [k, { [v.kind]: v.value }]));
  if (m.port !== undefined) out.port = m.port;
  if (m.sourceLabels !== undefined) out.sourceLabels = m.sourceLabels;
  return out;
}
