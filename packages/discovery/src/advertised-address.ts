import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

/** The hosts that mean "every interface": not an address anyone can connect to. */
const wildcardHosts = new Set(['0.0.0.0', '::', '[::]', '', '::0', '0:0:0:0:0:0:0:0']);

/** `true` when `host` listens on every interface (`0.0.0.0`, `::`). */
export function isWildcardHost(host: string): boolean {
  return wildcardHosts.has(host);
}

/**
 * The address a server registers when it is given none (`instance.address` /
 * `registration.address`). A concrete listening host is used as is. For a wildcard host (`0.0.0.0`,
 * `::`), which no caller can connect to, the rule is: the first non-internal IPv4 address of this
 * machine's network interfaces, in the order `os.networkInterfaces()` lists them (reachable from other
 * hosts that share the registry); on a machine with none, the loopback address `127.0.0.1` (reachable
 * from this host only). Set the address explicitly when another one is right (a container's published
 * address, a NAT, a specific interface).
 *
 * @example
 * ```ts
 * advertisedAddress('127.0.0.1'); // '127.0.0.1'
 * advertisedAddress('0.0.0.0');   // e.g. '10.0.3.7', or '127.0.0.1' without a network
 * ```
 */
export function advertisedAddress(
  host: string,
  interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces,
): string {
  if (!isWildcardHost(host)) return host;
  for (const list of Object.values(interfaces())) {
    for (const info of list ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return '127.0.0.1';
}
