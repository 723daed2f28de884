import { balanceChannels } from '@meshkit/balance';
import {
  type ClientCallEvent,
  channels,
  exchangeChannels,
  InvalidArgumentError,
  type Metadata,
} from '@meshkit/core';
import { messagingChannels } from '@meshkit/messaging';
import { type Logger, pino } from 'pino';
import { outcomeOf } from './outcome.ts';
import { Subscriptions } from './subscriptions.ts';

/** Options of {@link logs}. */
export interface LogsOptions {
  /** The pino logger to write to. Defaults to `pino()` (JSON lines on stdout, level `info`). */
  readonly logger?: Logger;
}

/** A running log subscriber. */
export interface Logs {
  /** Unsubscribes from every channel. */
  close(): void;
}

/** Trace and request ids of a context's metadata, as log fields. */
function idsOf(metadata: Metadata | Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const traceparent = metadata?.traceparent;
  if (typeof traceparent === 'string') {
    const [, traceId, spanId] = traceparent.split('-');
    if (traceId !== undefined) out.trace_id = traceId;
    if (spanId !== undefined) out.span_id = spanId;
  }
  const requestId = metadata?.['x-request-id'];
  if (typeof requestId === 'string') out.request_id = requestId;
  return out;
}

function errorFields(error: unknown): Record<string, unknown> {
  if (error === undefined) return {};
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      err: { type: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) },
    };
  }
  return { err: { message: String(error) } };
}

/**
 * One structured pino line per notable decision: a circuit opened or closed, an endpoint ejected or
 * returned, a retry budget ran dry, a call failed after its retries, a message dead-lettered, an outbox
 * round failed. Healthy calls write nothing; refusals that can come once per call under overload
 * (bulkhead full, retry scheduled) log at `debug`. Lines carry `trace_id`, `span_id` and `request_id`
 * where the event knows them.
 *
 * @example
 * ```ts
 * import { pino } from 'pino';
 * const logging = logs({ logger: pino({ name: 'user-service' }) });
 * logging.close();
 * ```
 */
export function logs(options: LogsOptions = {}): Logs {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('logs', 'options must be an object', options);
  }
  const logger = options.logger ?? pino();
  if (typeof logger?.warn !== 'function') {
    throw new InvalidArgumentError('logs.logger', 'must be a pino logger', logger);
  }
  const subs = new Subscriptions();

  subs.on(channels.breakerState, (e) => {
    const fields = {
      event: 'breaker',
      service: e.service,
      endpoint: e.endpoint,
      layer: e.layer,
      from: e.from,
      to: e.to,
    };
    if (e.to === 'open') logger.warn(fields, 'circuit opened');
    else if (e.to === 'closed') logger.info(fields, 'circuit closed');
    else logger.debug(fields, `circuit ${e.to}`);
  });
  subs.on(channels.budgetExhausted, (e) => {
    logger.warn(
      { event: 'budget-exhausted', layer: e.layer, budget: e.budget, ...errorFields(e.error) },
      'retry budget exhausted',
    );
  });
  subs.on(channels.bulkheadRejected, (e) => {
    logger.debug(
      {
        event: 'bulkhead-rejected',
        service: e.service,
        endpoint: e.endpoint,
        active: e.active,
        queued: e.queued,
      },
      'bulkhead full',
    );
  });
  subs.on(balanceChannels.ejected, (e) => {
    logger.warn(
      {
        event: 'ejected',
        service: e.service,
        endpoint: e.endpoint,
        reason: e.reason,
        ejections: e.ejections,
      },
      'endpoint ejected',
    );
  });
  subs.on(balanceChannels.returned, (e) => {
    logger.info({ event: 'returned', service: e.service, endpoint: e.endpoint }, 'endpoint returned');
  });
  subs.on(exchangeChannels.clientCallEnd, (e: ClientCallEvent) => {
    if (e.error === undefined) return;
    const outcome = outcomeOf(e.error);
    if (outcome === 'cancelled') return;
    // Refused locally (open circuit, full bulkhead): the breaker's own line said why, once.
    const level = outcome === 'rejected' ? 'debug' : 'warn';
    logger[level](
      {
        event: 'call-failed',
        service: e.service,
        method: e.method,
        ...(e.route === undefined ? {} : { route: e.route }),
        outcome,
        duration_ms: e.durationMs,
        ...idsOf(e.ctx.metadata),
        ...errorFields(e.error),
      },
      'call failed, retries given up',
    );
  });
  subs.on(messagingChannels.retry, (e) => {
    logger.debug(
      {
        event: 'message-retry',
        group: e.group,
        topic: e.topic,
        id: e.id,
        attempt: e.attempt,
        delay_ms: e.delayMs,
      },
      'message retry scheduled',
    );
  });
  subs.on(messagingChannels.deadLetter, (e) => {
    logger.error(
      {
        event: 'dead-letter',
        group: e.group,
        topic: e.topic,
        id: e.id,
        reason: e.reason,
        dead_letter_topic: e.deadLetterTopic,
        ...errorFields(e.error),
      },
      'message dead-lettered',
    );
  });
  subs.on(messagingChannels.outboxRelayFailed, (e) => {
    logger.error(
      { event: 'outbox-relay-failed', owner: e.owner, ...errorFields(e.error) },
      'outbox relay round failed',
    );
  });

  return { close: () => subs.close() };
}
