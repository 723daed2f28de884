import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import {
  type CallContext,
  type Clock,
  createContext,
  exchangeChannels,
  type ServerRequestEvent,
  serverRequestsObserved,
} from '@meshkit/core';
import { propagatedHeaders, wireHeaders } from '../wire.ts';

/** What observers are told of an incoming request (see core's `exchangeChannels`). */
export interface RequestObservation {
  /** The serving service's name. */
  readonly service: string;
  readonly method: string;
  /** The route template, when the server knows it. */
  readonly route: string | undefined;
  /** The response: its `close` ends the observed request with its status. */
  readonly res: ServerResponse;
}

/**
 * The request id (the caller's, or a new one) and the context a request's layers start from. While
 * anyone listens to server requests, the request is published on `meshkit:server:request:*`; a start
 * subscriber may replace the propagated metadata the context gets (a server span's `traceparent`).
 */
export function requestContext(
  headers: IncomingHttpHeaders,
  clock: Clock,
  signal: AbortSignal,
  observation?: RequestObservation,
): { readonly requestId: string; readonly ctx: CallContext } {
  const requestId = first(headers[wireHeaders.requestId]) ?? randomUUID();
  let metadata: Record<string, string> = { [wireHeaders.requestId]: requestId };
  for (const name of propagatedHeaders) {
    const value = first(headers[name]);
    if (value !== undefined && name !== wireHeaders.requestId) metadata[name] = value;
  }
  if (observation !== undefined && serverRequestsObserved()) {
    metadata = observe(observation, requestId, metadata, clock);
  }
  return { requestId, ctx: createContext({ clock, signal, metadata }) };
}

function observe(
  observation: RequestObservation,
  requestId: string,
  metadata: Record<string, string>,
  clock: Clock,
): Record<string, string> {
  const event: ServerRequestEvent = {
    protocol: 'http',
    service: observation.service,
    method: observation.method,
    route: observation.route,
    requestId,
    metadata,
    durationMs: Number.NaN,
  };
  const start = clock.now();
  if (exchangeChannels.serverRequestStart.hasSubscribers) exchangeChannels.serverRequestStart.publish(event);
  const res = observation.res;
  res.once('close', () => {
    if (!exchangeChannels.serverRequestEnd.hasSubscribers) return;
    event.durationMs = clock.now() - start;
    // A response closed before it was all written: the client went away (nginx's 499).
    event.status = res.writableFinished ? res.statusCode : 499;
    if (!res.writableFinished) event.error = new Error('the client closed the connection');
    exchangeChannels.serverRequestEnd.publish(event);
  });
  return event.metadata;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
