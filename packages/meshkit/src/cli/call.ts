import { balanceChannels, type PickedEvent } from '@meshkit/balance';
import { channels, ErrorCode, isMeshError, type RetryScheduledEvent } from '@meshkit/core';
import type { HttpMethod } from '@meshkit/http';
import { type RouteEvent, routeChannel } from '@meshkit/routing';
import { openMesh } from '../mesh.ts';
import { CliError, type CliIo, cliConfig, type MeshFlags } from './io.ts';
import { labelText } from './table.ts';

const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']);

/** Options of `meshkit call`. */
export interface CallFlags extends MeshFlags {
  readonly header?: readonly string[];
  readonly timeout?: number;
}

/**
 * `meshkit call <service> <METHOD> <path> [body]`: one HTTP call through the mesh (discovery, routes,
 * balancer, retries), printing the status, the route and subset it took, the endpoint of each attempt,
 * the number of attempts, then the body. A body that parses as JSON is sent as JSON, else as text.
 * Resolves with 0 for a 2xx/3xx answer, 1 otherwise.
 */
export async function call(
  io: CliIo,
  flags: CallFlags,
  service: string,
  method: string,
  path: string,
  body: string | undefined,
): Promise<number> {
  const verb = method.toUpperCase();
  if (!methods.has(verb))
    throw new CliError(`unknown method "${method}" (expected one of ${[...methods].join(', ')})`);
  if (!path.startsWith('/')) throw new CliError(`the path must start with "/" (got "${path}")`);
  const headers: Record<string, string> = {};
  for (const h of flags.header ?? []) {
    const at = h.indexOf(':');
    if (at <= 0) throw new CliError(`--header "${h}" must be name:value`);
    headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim();
  }

  const mesh = await openMesh(cliConfig(io, flags, { broker: false }));
  const picks: PickedEvent[] = [];
  const retries: RetryScheduledEvent[] = [];
  let route: RouteEvent | undefined;
  const onPick = (e: PickedEvent): void => {
    if (e.service === service) picks.push(e);
  };
  const onRoute = (message: unknown): void => {
    const e = message as RouteEvent;
    if (e.host === service) route = e;
  };
  const onRetry = (e: RetryScheduledEvent): void => {
    retries.push(e);
  };
  balanceChannels.picked.subscribe(onPick);
  routeChannel.subscribe(onRoute);
  channels.retryScheduled.subscribe(onRetry);
  const report = (status: string, text: string): void => {
    const lines = [status, routeLine(mesh.routes !== undefined, route)];
    picks.forEach((p, i) => {
      lines.push(`attempt ${i + 1}: ${p.endpoint} ${p.address} ${labelText(p.labels)}`);
    });
    lines.push(`attempts: ${Math.max(picks.length, retries.length + 1)}`);
    io.stdout.write(`${lines.join('\n')}\n\n${text}${text.endsWith('\n') || text === '' ? '' : '\n'}`);
  };
  try {
    const client = mesh.http(service);
    try {
      const res = await client.request(
        {
          method: verb as HttpMethod,
          path,
          ...(body === undefined ? {} : { body: requestBody(body, headers) }),
        },
        { headers, ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }) },
      );
      report(`HTTP ${res.status}`, await res.body.text());
      return 0;
    } catch (error) {
      if (isMeshError(error) && error.code === ErrorCode.HTTP_STATUS) {
        const details = error.details as { status?: number; body?: string };
        report(`HTTP ${details.status ?? '?'}`, details.body ?? '');
        return 1;
      }
      report(`failed: ${isMeshError(error) ? `${error.code}: ` : ''}${(error as Error).message}`, '');
      return 1;
    }
  } finally {
    balanceChannels.picked.unsubscribe(onPick);
    routeChannel.unsubscribe(onRoute);
    channels.retryScheduled.unsubscribe(onRetry);
    await mesh.close();
  }
}

function routeLine(routed: boolean, event: RouteEvent | undefined): string {
  if (!routed) return 'route: none (no routing table)';
  if (event === undefined) return 'route: none (no VirtualService names this host)';
  const d = event.decision;
  if (d === undefined) {
    const why =
      event.redirected === true ? 'redirected' : event.fault === 'abort' ? 'fault: abort' : 'no rule matched';
    return `route: ${event.host} (${why})`;
  }
  const fault = event.fault === undefined ? '' : `, fault: ${event.fault}`;
  return `route: ${d.virtualService} rule ${d.rule} -> ${d.host} subset ${d.subset ?? '(all)'}${fault}`;
}

/** JSON when the text parses as JSON (and no content type says otherwise), else the text as is. */
function requestBody(text: string, headers: Record<string, string>): unknown {
  if (headers['content-type'] !== undefined && !headers['content-type'].includes('json')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
