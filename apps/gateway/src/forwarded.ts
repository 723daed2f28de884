/**
 * The forwarding headers a proxy adds: `Forwarded` (RFC 7239) and the de-facto `X-Forwarded-For`,
 * `X-Forwarded-Proto` and `X-Forwarded-Host`.
 */
import { isIPv6 } from 'node:net';

/** Who sent the request to the gateway, as its socket saw it. */
export interface ForwardedFrom {
  /** The peer's IP address (`undefined` when the socket is already gone). */
  readonly clientIp: string | undefined;
  readonly proto: 'http' | 'https';
  /** The `Host` the client asked for. */
  readonly host: string | undefined;
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A `Forwarded` parameter value: a token as is, anything else quoted (RFC 7239 §4). */
function paramValue(value: string): string {
  return token.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** The `for=` node of `ip`: IPv6 in brackets (and therefore quoted), `unknown` when not known. */
function node(ip: string | undefined): string {
  if (ip === undefined) return 'unknown';
  return paramValue(isIPv6(ip) ? `[${ip}]` : ip);
}

/** Appends `value` to an existing comma-separated list header, or starts it. */
function append(existing: string | string[] | undefined, value: string): string {
  const prior = Array.isArray(existing) ? existing.join(', ') : existing;
  return prior === undefined || prior.trim() === '' ? value : `${prior}, ${value}`;
}

/**
 * Adds this hop to `headers` (mutated): appends to `Forwarded` and `X-Forwarded-For` (earlier proxies'
 * entries are kept), and sets `X-Forwarded-Proto` and `X-Forwarded-Host` to what the client used.
 */
export function addForwarded(headers: Record<string, string | string[]>, from: ForwardedFrom): void {
  const element = [`for=${node(from.clientIp)}`];
  if (from.host !== undefined) element.push(`host=${paramValue(from.host)}`);
  element.push(`proto=${from.proto}`);
  headers.forwarded = append(headers.forwarded, element.join(';'));
  headers['x-forwarded-for'] = append(headers['x-forwarded-for'], from.clientIp ?? 'unknown');
  headers['x-forwarded-proto'] = from.proto;
  if (from.host !== undefined) headers['x-forwarded-host'] = from.host;
}
