/** The upstream request of a public one: which mount it goes to, its path there, and its headers. */
import type { IncomingMessage } from 'node:http';
import { addForwarded } from './forwarded.ts';
import { endToEnd } from './hop-by-hop.ts';
import type { GatewayMount } from './options.ts';

/**
 * Request headers the gateway sets itself rather than relays: the authority (the upstream's own; the
 * client's goes on as `X-Forwarded-Host`), identity and deadline (carried in the call context), and
 * `Expect` (the gateway answered `100 Continue` already).
 */
const setByGateway: ReadonlySet<string> = new Set([
  'host',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-meshkit-timeout-ms',
  'expect',
]);
/** The mount whose prefix is `path` or a parent of it, and the upstream path. */
export function matchMount<M extends { readonly mount: GatewayMount }>(
  mounts: readonly M[],
  target: string,
): { readonly mounted: M; readonly upstreamPath: string } | undefined {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  for (const mounted of mounts) {
    const { prefix, rewrite } = mounted.mount;
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      const rest = target.slice(prefix.length);
      const upstreamPath = rewrite === '/' ? (rest.startsWith('/') ? rest : `/${rest}`) : rewrite + rest;
      return { mounted, upstreamPath };
    }
  }
  return undefined;
}

/** The headers relayed upstream: end-to-end ones, plus this hop's forwarding headers. */
export function requestHeaders(raw: IncomingMessage): Record<string, string> {
  const relayed = endToEnd(raw.headers, setByGateway);
  addForwarded(relayed, {
    clientIp: raw.socket.remoteAddress,
    proto: (raw.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http',
    host: raw.headers.host,
  });
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(relayed))
    flat[name] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}
