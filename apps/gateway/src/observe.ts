/**
 * The gateway's requests on `meshkit:server:request:*` (as the HTTP kit's servers publish theirs), so
 * metrics count them and tracing opens the edge's `SERVER` span that the upstream calls continue.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, exchangeChannels, type ServerRequestEvent, serverRequestsObserved } from '@meshkit/core';
import type { EdgeIdentity } from './trace.ts';

/**
 * Publishes the request's start (and its end when the response closes) while anyone listens, and returns
 * the identity the request continues with: a start subscriber's `traceparent` (the edge span) replaces
 * the one made here, and stays with the client's `tracestate` only when the client sent it.
 */
export function observeEdgeRequest(
  identity: EdgeIdentity,
  raw: IncomingMessage,
  res: ServerResponse,
  clock: Clock,
  service: string,
): EdgeIdentity {
  if (!serverRequestsObserved()) return identity;
  const fromClient = raw.headers.traceparent === identity.traceparent;
  // A trace context the edge made up is no parent: the subscriber starts the trace here instead.
  const metadata: Record<string, string> = {
    'x-request-id': identity.requestId,
    ...(fromClient ? { traceparent: identity.traceparent } : {}),
    ...(fromClient && identity.tracestate !== undefined ? { tracestate: identity.tracestate } : {}),
  };
  const event: ServerRequestEvent = {
    protocol: 'http',
    service,
    method: raw.method ?? 'GET',
    route: undefined,
    requestId: identity.requestId,
    metadata,
    durationMs: Number.NaN,
  };
  const start = clock.now();
  if (exchangeChannels.serverRequestStart.hasSubscribers) exchangeChannels.serverRequestStart.publish(event);
  res.once('close', () => {
    if (!exchangeChannels.serverRequestEnd.hasSubscribers) return;
    event.durationMs = clock.now() - start;
    event.status = res.writableFinished ? res.statusCode : 499;
    if (!res.writableFinished) event.error = new Error('the client closed the connection');
    exchangeChannels.serverRequestEnd.publish(event);
  });
  const traceparent = event.metadata.traceparent;
  if (traceparent === undefined || traceparent === identity.traceparent) return identity;
  return { ...identity, traceparent, tracestate: event.metadata.tracestate };
}
