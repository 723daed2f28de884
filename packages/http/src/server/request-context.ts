import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type CallContext, type Clock, createContext } from '@meshkit/core';
import { propagatedHeaders, wireHeaders } from '../wire.ts';

/** The request id (the caller's, or a new one) and the context a request's layers start from. */
export function requestContext(
  headers: IncomingHttpHeaders,
  clock: Clock,
  signal: AbortSignal,
): { readonly requestId: string; readonly ctx: CallContext } {
  const requestId = first(headers[wireHeaders.requestId]) ?? randomUUID();
  const metadata: Record<string, string> = { [wireHeaders.requestId]: requestId };
  for (const name of propagatedHeaders) {
    const value = first(headers[name]);
    if (value !== undefined && name !== wireHeaders.requestId) metadata[name] = value;
  }
  return { requestId, ctx: createContext({ clock, signal, metadata }) };
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
