/**
 * The edge's identity of a request: its `x-request-id` and its W3C trace context (`traceparent`,
 * `tracestate`), taken from the client when well-formed, made here otherwise.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The request id and trace context a request travels with from the edge on. */
export interface EdgeIdentity {
  readonly requestId: string;
  readonly traceparent: string;
  /** Kept only alongside the client's own valid `traceparent` (W3C Trace Context §3.3). */
  readonly tracestate: string | undefined;
}

/** A request id a client may choose: 1 to 128 visible ASCII characters. */
const requestIdShape = /^[\x21-\x7e]{1,128}$/;
/**
 * `version-traceid-parentid-flags` (W3C Trace Context §3.2): lower-case hex, version `ff` forbidden,
 * an all-zero trace id or parent id invalid. A later version may append fields after the flags.
 */
const traceparentShape = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

/** Whether `value` is a `traceparent` this hop may pass on. */
export function isValidTraceparent(value: string): boolean {
  const m = traceparentShape.exec(value);
  if (m === null) return false;
  const [, version, traceId, parentId, , rest] = m;
  if (version === 'ff') return false;
  if (version === '00' && rest !== undefined) return false;
  return !/^0+$/.test(traceId!) && !/^0+$/.test(parentId!);
}

/** A fresh `traceparent`: a random trace id and parent id, version 00, not sampled. */
export function newTraceparent(): string {
  const bytes = randomBytes(24);
  return `00-${bytes.subarray(0, 16).toString('hex')}-${bytes.subarray(16).toString('hex')}-00`;
}

/**
 * The request's identity: the client's `x-request-id` when it is a plausible id (else a new UUID), its
 * `traceparent` when valid (else a new one, and its `tracestate` dropped with it).
 */
export function edgeIdentity(headers: IncomingHttpHeaders): EdgeIdentity {
  const id = single(headers['x-request-id']);
  const requestId = id !== undefined && requestIdShape.test(id) ? id : randomUUID();
  const parent = single(headers.traceparent);
  if (parent !== undefined && isValidTraceparent(parent)) {
    const state = headers.tracestate;
    const tracestate = Array.isArray(state) ? state.join(',') : state;
    return { requestId, traceparent: parent, tracestate };
  }
  return { requestId, traceparent: newTraceparent(), tracestate: undefined };
}
