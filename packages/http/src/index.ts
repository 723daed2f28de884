/**
 * `@meshkit/http`: a resilient REST client over undici and the service-side kit.
 */
export {
  defaultRetryableStatuses,
  type HttpStatusDetails,
  mapTransportError,
  statusError,
} from './errors.ts';
export { parseRetryAfter } from './retry-after.ts';
export { type TlsOptions, tlsConnectOptions } from './tls.ts';
export {
  type HttpTransport,
  type HttpTransportOptions,
  httpTransport,
  originOf,
  type ResolvedTransportOptions,
  resolveTransportOptions,
} from './transport.ts';
export {
  type HttpBody,
  type HttpHeaders,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type HttpResponseBody,
  idempotentMethods,
} from './types.ts';
export { propagatedHeaders, readDeadline, timeoutHeaderValue, wireHeaders } from './wire.ts';
