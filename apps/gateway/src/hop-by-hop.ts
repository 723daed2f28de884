/**
 * What a proxy must not forward (RFC 9110 §7.6.1): the connection-specific fields, in both directions.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Header fields that describe one connection, never the message: dropped on every hop. */
const connectionFields: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  // The fields announced as trailers: trailers are not relayed, so the announcement goes too.
  'trailer',
]);

/** A header block as node:http and undici hand it over: lower-case names, repeated fields as arrays. */
export type HeaderBlock = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The names `Connection` lists (`Connection: close, x-trace` names `x-trace` as hop-by-hop too),
 * lower-cased, from every `Connection` line.
 */
export function namedByConnection(headers: HeaderBlock): Set<string> {
  const named = new Set<string>();
  const value = headers.connection;
  const lines = value === undefined ? [] : typeof value === 'string' ? [value] : value;
  for (const line of lines) {
    for (const token of line.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') named.add(name);
    }
  }
  return named;
}

/** Whether `name` (lower-case) is hop-by-hop in a message whose `Connection` names `named`. */
export function isHopByHop(name: string, named: ReadonlySet<string>): boolean {
  return connectionFields.has(name) || name.startsWith('proxy-') || named.has(name);
}

/**
 * The end-to-end headers of a message: every field except the hop-by-hop ones and those in `drop`
 * (lower-case names the proxy sets itself). Repeated fields stay arrays.
 */
export function endToEnd(
  headers: HeaderBlock | IncomingHttpHeaders,
  drop: ReadonlySet<string> = new Set(),
): Record<string, string | string[]> {
  const named = namedByConnection(headers as HeaderBlock);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || drop.has(name) || isHopByHop(name, named)) continue;
    out[name] = typeof value === 'string' ? value : [...value];
  }
  return out;
}
