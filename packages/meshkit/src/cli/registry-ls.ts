import type { ServiceInstance } from '@meshkit/discovery';
import { openRegistry } from '../open.ts';
import { CliError, type CliIo, cliConfig, type MeshFlags } from './io.ts';
import { labelText, table } from './table.ts';

/**
 * `meshkit registry ls [service]`: the instances of one service, or of every service the registry can
 * list, with address, protocols, labels and health (unhealthy ones included). `--json` prints them as JSON.
 */
export async function registryLs(
  io: CliIo,
  flags: MeshFlags & { readonly json?: boolean },
  service: string | undefined,
): Promise<number> {
  const config = cliConfig(io, flags, { broker: false, routes: false });
  const registry = await openRegistry(config);
  try {
    let services: readonly string[];
    if (service !== undefined) services = [service];
    else if (registry.value.services !== undefined) services = await registry.value.services();
    else {
      throw new CliError(
        `the ${registry.value.kind} registry cannot list its services: name one (registry ls <service>)`,
      );
    }
    const instances: ServiceInstance[] = [];
    for (const name of services)
      instances.push(...(await registry.value.lookup(name, { healthyOnly: false })));
    if (flags.json === true) {
      io.stdout.write(`${JSON.stringify(instances, null, 2)}\n`);
      return 0;
    }
    if (instances.length === 0) {
      io.stdout.write(service === undefined ? 'no services registered\n' : `no instances of ${service}\n`);
      return 0;
    }
    io.stdout.write(
      table(
        ['SERVICE', 'ID', 'ADDRESS', 'PROTOCOLS', 'HEALTH', 'WEIGHT', 'LABELS'],
        instances.map((i) => [
          i.service,
          i.id,
          i.address.includes(':') ? `[${i.address}]:${i.port}` : `${i.address}:${i.port}`,
          i.protocols.join(','),
          i.health,
          String(i.weight),
          labelText(i.labels),
        ]),
      ),
    );
    return 0;
  } finally {
    await registry.close?.();
  }
}
