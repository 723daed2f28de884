import type { CallContext } from './context.ts';
import type { Readiness } from './endpoint.ts';

/**
 * The one contract: anything that handles a call is an async function of a request and its context.
 * HTTP and gRPC clients, balancers, retry wrappers, message handlers and publishers are all Services.
 */
export type Service<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;

/**
 * Middleware: a named function from the next service to a wrapped one. `describe()` returns live state
 * (breaker state, budget left, endpoints) for the CLI and the dashboard.
 *
 * A layer may change the request and response types seen by its caller (`In`/`Out`) from those it
 * sends on (`NextIn`/`NextOut`), e.g. a codec; most keep them.
 */
export interface Layer<In, Out, NextIn = In, NextOut = Out> {
  readonly name: string;
  wrap(next: Service<NextIn, NextOut>): Service<In, Out>;
  describe?(): Record<string, unknown>;
}

/** A type-preserving layer, the common case. */
export type AnyLayer<Req, Res> = Layer<Req, Res, Req, Res>;

/** A composed stack; its `layers` are in request order and `describe()` reports each one. */
export interface Stack<Req, Res> extends Layer<Req, Res> {
  readonly layers: readonly Layer<Req, Res>[];
}

/**
 * Composes layers. **Reading order is request order**: the first layer sees the request first and the
 * response last.
 *
 * @example
 * ```ts
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * import { bulkhead, circuitBreaker, retry, timeout } from '@meshkit/policies';
 * // timeout covers all attempts; each attempt passes the breaker, then the bulkhead.
 * const resilient = stack<HttpRequest, HttpResponse>(
 *   timeout({ timeoutMs: 2_000 }), retry({ maxAttempts: 3 }), circuitBreaker(), bulkhead(),
 * );
 * const call = resilient.wrap(httpTransport('127.0.0.1:8080'));
 * ```
 */
export function stack<Req, Res>(...layers: Layer<Req, Res>[]): Stack<Req, Res> {
  const frozen = Object.freeze([...layers]);
  return {
    name: `stack(${frozen.map((l) => l.name).join(', ')})`,
    layers: frozen,
    wrap(next: Service<Req, Res>): Service<Req, Res> {
      let service = next;
      for (let i = frozen.length - 1; i >= 0; i--) {
        const below = service;
        service = frozen[i]!.wrap(below);
        // Readiness composes through the stack once: a layer that says nothing of its own passes on
        // what the service below says (tower's `poll_ready`).
        if (service !== below && readinessFn(service) === undefined && readinessFn(below) !== undefined) {
          withReadiness(service, () => readinessOf(below));
        }
      }
      return service;
    },
    describe() {
      return { layers: frozen.map((l) => ({ name: l.name, ...(l.describe?.() ?? {}) })) };
    },
  };
}

/**
 * Applies `layer` to `service` (a two-argument form that also accepts type-changing layers).
 */
export function apply<In, Out, NextIn, NextOut>(
  layer: Layer<In, Out, NextIn, NextOut>,
  service: Service<NextIn, NextOut>,
): Service<In, Out> {
  return layer.wrap(service);
}

/** Creates a layer from a name and a wrap function. */
export function layer<Req, Res>(
  name: string,
  wrap: (next: Service<Req, Res>) => Service<Req, Res>,
  describe?: () => Record<string, unknown>,
): Layer<Req, Res> {
  return describe === undefined ? { name, wrap } : { name, wrap, describe };
}

// A registered symbol: two installed copies of core agree on it, as on the MeshError brand.
const promptCancellation: unique symbol = Symbol.for('meshkit.service.cancelsPromptly');

/**
 * Declares that `service` settles promptly once its call is cancelled: soon after its context aborts it
 * rejects, whatever it was doing (a transport that aborts its request, a wait that listens for the
 * abort). A timeout directly over such a service needs no promise of its own to reject at expiry: it
 * aborts the work, and the work's own rejection arrives at once. Layers that keep the property (the
 * guards, retry, timeouts) mark their service when the one below is marked. Returns `service`.
 *
 * Mark only what keeps the promise: a timeout over a marked service waits for the service to settle.
 */
export function markCancelsPromptly<S extends Service<never, unknown>>(service: S): S {
  Object.defineProperty(service, promptCancellation, { value: true });
  return service;
}

/** `true` when `service` was declared with {@link markCancelsPromptly}. */
export function cancelsPromptly(service: Service<never, unknown>): boolean {
  return (service as { [promptCancellation]?: boolean })[promptCancellation] === true;
}

/**
 * Marks `service` with {@link markCancelsPromptly} when `below`, the service it calls, is marked: for a
 * layer that adds no wait of its own that ignores cancellation. Returns `service`.
 */
export function inheritCancelsPromptly<S extends Service<never, unknown>>(
  below: Service<never, unknown>,
  service: S,
): S {
  return cancelsPromptly(below) ? markCancelsPromptly(service) : service;
}

/**
 * Whether a service can take a call now, without sending anything (tower's `poll_ready`): `'closed'`
 * while a circuit is open, `'busy'` while a bulkhead is full, else what the service below it says.
 * A balancer reads it before choosing an endpoint. Services that say nothing are `'ready'`.
 */
export function readinessOf(service: Service<never, unknown>): Readiness {
  const readiness = readinessFn(service);
  return readiness === undefined ? 'ready' : readiness.call(service);
}

/** Declares how `service` reports its readiness (see {@link readinessOf}); returns `service`. */
export function withReadiness<S extends Service<never, unknown>>(service: S, readiness: () => Readiness): S {
  (service as { readiness?: () => Readiness }).readiness = readiness;
  return service;
}

function readinessFn(service: Service<never, unknown>): (() => Readiness) | undefined {
  return (service as { readiness?: () => Readiness }).readiness;
}
