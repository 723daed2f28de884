import { type Clock, InvalidArgumentError, type Layer, type Stack, stack } from '@meshkit/core';
import { wireHeaders } from '../wire.ts';
import type { HttpCall, HttpReply } from './call.ts';
import { deadlineLayer } from './deadline.ts';
import { drainLayer } from './drain.ts';
import { healthLayer, type ReadinessCheck } from './health.ts';
import { type IdempotencyLayerOptions, idempotencyLayer } from './idempotency-layer.ts';
import type { Lifecycle } from './lifecycle.ts';

/** A layer a user adds to a server, after meshkit's own steps and before the handler. */
export type ServerLayer = Layer<HttpCall, HttpReply>;

/** What {@link serverStack} is built from, validated by the adapter. */
export interface ServerStackOptions {
  readonly lifecycle: Lifecycle;
  readonly clock: Clock;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  readonly checkTimeoutMs: number;
  readonly idempotency: IdempotencyLayerOptions | undefined;
  readonly layers: readonly ServerLayer[];
}

/**
 * The server pipeline both adapters run, in request order: health, drain, deadline, idempotency replay
 * (when a store is given), then the user's layers, around the handler.
 */
export function serverStack(options: ServerStackOptions): Stack<HttpCall, HttpReply> {
  const { lifecycle } = options;
  return stack<HttpCall, HttpReply>(
    healthLayer({
      checks: options.checks,
      checkTimeoutMs: options.checkTimeoutMs,
      clock: options.clock,
      draining: () => lifecycle.draining,
    }),
    drainLayer(lifecycle),
    deadlineLayer({ field: `header:${wireHeaders.timeout}` }),
    ...(options.idempotency === undefined ? [] : [idempotencyLayer(options.idempotency)]),
    ...options.layers,
  );
}

/** Checks a user's `layers` option, naming `field`. */
export function checkServerLayers(field: string, layers: readonly ServerLayer[] | undefined): ServerLayer[] {
  if (layers === undefined) return [];
  if (!Array.isArray(layers)) throw new InvalidArgumentError(field, 'must be an array of layers', layers);
  layers.forEach((layer, i) => {
    if (typeof layer?.wrap !== 'function' || typeof layer.name !== 'string') {
      throw new InvalidArgumentError(`${field}[${i}]`, 'must be a Layer (a name and a wrap function)', layer);
    }
  });
  return [...layers];
}
