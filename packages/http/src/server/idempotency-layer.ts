import { InvalidArgumentError, type Layer } from '@meshkit/core';
import { wireHeaders } from '../wire.ts';
import { firstValue, type HttpCall, type HttpReply } from './call.ts';
import { type IdempotencyStore, requestFingerprint } from './idempotency.ts';
import { problemResponse, refusal } from './problem.ts';
import { encodeResponse } from './respond.ts';

/** Options of {@link idempotencyLayer}. */
export interface IdempotencyLayerOptions {
  readonly store: IdempotencyStore;
  /** Methods whose keys are honoured. Defaults to POST and PATCH. */
  readonly methods?: readonly string[];
}

/**
 * The server's idempotency-key step. The first request with an `Idempotency-Key` claims it before the
 * handler runs; the same key with the same method, target and body replays the stored response
 * (`idempotent-replayed: true`); the same key with another request is 409; a request still running with
 * it is 409 with `Retry-After: 1`, refused before work.
 *
 * The key is released, so a retry runs the work again, only when the handler failed (threw, or answered
 * 5xx) or streamed its body (nothing to replay). A client that disconnects while the handler runs does
 * not release it: the handler's response is stored and the client's retry gets it.
 */
export function idempotencyLayer(options: IdempotencyLayerOptions): Layer<HttpCall, HttpReply> {
  const store = options.store;
  if (typeof store?.claim !== 'function') {
    throw new InvalidArgumentError('idempotency.store', 'must be an IdempotencyStore');
  }
  const methods = new Set((options.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()));
  return {
    name: 'idempotency',
    wrap(next) {
      return async (call, ctx) => {
        const key = firstValue(call.metadata, wireHeaders.idempotencyKey);
        if (key === undefined || !methods.has(call.method)) return next(call, ctx);
        if (key.length === 0 || key.length > 255) {
          return encodeResponse(
            problemResponse({
              status: 400,
              title: 'invalid idempotency key',
              detail: 'Idempotency-Key must have 1 to 255 characters',
              field: 'header:idempotency-key',
            }),
          );
        }
        const fingerprint = requestFingerprint(call.method, call.target, await call.body());
        const claim = await store.claim(key, fingerprint);
        if (claim.kind === 'replay') {
          return {
            ...claim.response,
            headers: { ...claim.response.headers, [wireHeaders.replayed]: 'true' },
          };
        }
        if (claim.kind === 'mismatch') {
          return encodeResponse(
            problemResponse({
              status: 409,
              title: 'idempotency key reused',
              detail: 'this Idempotency-Key was used for a different request',
              field: 'header:idempotency-key',
            }),
          );
        }
        if (claim.kind === 'in-progress') {
          return encodeResponse(
            refusal(
              {
                status: 409,
                title: 'request in progress',
                detail: 'a request with this Idempotency-Key is running',
              },
              { 'retry-after': '1' },
            ),
          );
        }
        let reply: HttpReply;
        try {
          reply = await next(call, ctx);
        } catch (error) {
          await store.release(key);
          throw error;
        }
        // A failure or a stream is not remembered: the work may not have happened, so a retry runs it.
        if (reply.status >= 500 || reply.streamed === true) await store.release(key);
        else {
          const { 'content-length': _length, ...headers } = reply.headers;
          await store.complete(key, fingerprint, { status: reply.status, headers, body: reply.body });
        }
        return reply;
      };
    },
  };
}
