import {
  attemptKindOf,
  type CallContext,
  type ClientAttemptEvent,
  type ClientCallEvent,
  completionOf,
  type Endpoint,
  exchangeChannels,
  inheritCancelsPromptly,
  readinessOf,
  type Service,
  systemClock,
  withReadiness,
} from '@meshkit/core';

/** What observers are told of a request: its method and, when the caller named one, its route template. */
export interface CallDescription {
  /** The HTTP method, or the gRPC method as `package.Service/Method`. */
  readonly method: string;
  /** A route template (`/users/:id`), never a raw path. */
  readonly route?: string | undefined;
}

/** How a transport describes its requests to observers. */
export interface CallObservation<Req> {
  /** `'http'`, `'grpc'`, ... */
  readonly protocol: string;
  /** The method and route of a request. */
  readonly describe: (req: Req) => CallDescription;
}

const { clientCallStart, clientCallEnd, clientAttemptStart, clientAttemptEnd } = exchangeChannels;

/** What durations are measured on: `now()` in milliseconds, its origin of no matter. */
interface Stopwatch {
  now(): number;
}

/**
 * The stopwatch of a context's clock: on the system clock, the monotonic one (`performance.now()`:
 * below the millisecond, and a fraction of what `Date.now()` costs, read twice per call and per attempt);
 * any other clock (a test's fake one) as it is.
 */
function stopwatchOf(clock: CallContext['clock']): Stopwatch {
  return clock === systemClock ? performance : clock;
}

/** Publishes the end of an exchange once its result is complete (a stream with its stream). */
function finish<E extends ClientCallEvent | ClientAttemptEvent>(
  event: E,
  channel: typeof clientCallEnd | typeof clientAttemptEnd,
  clock: Stopwatch,
  start: number,
  outcome: Promise<unknown>,
): void {
  outcome.then(
    (value) => {
      const completion = completionOf(value);
      // A buffered result is complete already: no listener made for it.
      if (completion === undefined) publishEnd(event, channel, clock, start, value, undefined, false);
      else {
        completion.onDone((error) =>
          publishEnd(event, channel, clock, start, value, error, error !== undefined),
        );
      }
    },
    (error: unknown) => publishEnd(event, channel, clock, start, undefined, error, true),
  );
}

function publishEnd<E extends ClientCallEvent | ClientAttemptEvent>(
  event: E,
  channel: typeof clientCallEnd | typeof clientAttemptEnd,
  clock: Stopwatch,
  start: number,
  value: unknown,
  error: unknown,
  failed: boolean,
): void {
  event.durationMs = clock.now() - start;
  if (failed) event.error = error;
  else event.result = value;
  if (channel.hasSubscribers) (channel as { publish(e: E): void }).publish(event);
}

/**
 * The logical call as one observed exchange: published on `meshkit:client:call:*` when anyone listens,
 * else passed straight through (one property read per call).
 */
export function observedCalls<Req, Res>(
  next: Service<Req, Res>,
  service: string,
  observation: CallObservation<Req>,
): Service<Req, Res> {
  const observed: Service<Req, Res> = (req, ctx) => {
    if (!clientCallStart.hasSubscribers && !clientCallEnd.hasSubscribers) return next(req, ctx);
    const { method, route } = observation.describe(req);
    const event: ClientCallEvent = {
      protocol: observation.protocol,
      service,
      method,
      route,
      ctx,
      metadata: {},
      // Every field the end sets, from the start: one shape, no property storage grown at the end.
      durationMs: Number.NaN,
      result: undefined,
      error: undefined,
    };
    if (clientCallStart.hasSubscribers) clientCallStart.publish(event);
    const callCtx = hasKeys(event.metadata) ? ctx.withMetadata(event.metadata) : ctx;
    const clock = stopwatchOf(ctx.clock);
    const start = clock.now();
    let result: Promise<Res>;
    try {
      result = next(req, callCtx);
    } catch (error) {
      result = Promise.reject(error);
    }
    finish(event, clientCallEnd, clock, start, result);
    return result;
  };
  return inheritCancelsPromptly(next, observed);
}

/** One endpoint's transport with each attempt published on `meshkit:client:attempt:*` when anyone listens. */
export function observedAttempts<Req, Res>(
  next: Service<Req, Res>,
  service: string,
  endpoint: Endpoint,
  observation: CallObservation<Req>,
): Service<Req, Res> {
  const observed: Service<Req, Res> = (req, ctx) => {
    if (!clientAttemptStart.hasSubscribers && !clientAttemptEnd.hasSubscribers) return next(req, ctx);
    const { method, route } = observation.describe(req);
    const event: ClientAttemptEvent = {
      protocol: observation.protocol,
      service,
      method,
      route,
      attempt: ctx.attempt,
      kind: attemptKindOf(ctx),
      endpoint,
      ctx,
      metadata: {},
      durationMs: Number.NaN,
      result: undefined,
      error: undefined,
    };
    if (clientAttemptStart.hasSubscribers) clientAttemptStart.publish(event);
    const attemptCtx = hasKeys(event.metadata) ? ctx.withMetadata(event.metadata) : ctx;
    const clock = stopwatchOf(ctx.clock);
    const start = clock.now();
    let result: Promise<Res>;
    try {
      result = next(req, attemptCtx);
    } catch (error) {
      result = Promise.reject(error);
    }
    finish(event, clientAttemptEnd, clock, start, result);
    return result;
  };
  return inheritCancelsPromptly(
    next,
    withReadiness(observed, () => readinessOf(next)),
  );
}

function hasKeys(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}
