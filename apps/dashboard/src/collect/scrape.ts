import type { ServiceInstance } from '@meshkit/discovery';
import { type Exposition, parseExposition } from './prom-text.ts';

/** The label an instance may carry to have its metrics scraped on another port than its own. */
export const metricsPortLabel = 'metrics-port';

/** The label an instance without metrics carries, `metrics=none` (the dashboard itself does). */
export const metricsLabel = 'metrics';

/**
 * Where an instance's metrics are: `http://address:port/metrics`, on the `metrics-port` label's port
 * when it has one. An instance that speaks no HTTP and names no metrics port (a gRPC-only server) has
 * none: `undefined`; so does one labelled `metrics=none`.
 */
export function metricsUrl(instance: ServiceInstance): string | undefined {
  if (instance.labels[metricsLabel] === 'none') return undefined;
  const label = instance.labels[metricsPortLabel];
  const port = label === undefined ? undefined : Number(label);
  if (port !== undefined && Number.isInteger(port) && port > 0 && port < 65536) {
    return `http://${hostOf(instance.address)}:${port}/metrics`;
  }
  if (!instance.protocols.includes('http')) return undefined;
  return `http://${hostOf(instance.address)}:${instance.port}/metrics`;
}

function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * Fetches and parses one exposition. Rejects on a non-2xx status, a body larger than `maxBytes`, a
 * timeout (`timeoutMs`) or a malformed line, with a message fit to show.
 */
export async function scrape(url: string, timeoutMs: number, maxBytes: number): Promise<Exposition> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'text/plain;version=0.0.4' },
  });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body.cancel();
    throw new Error(`${declared} bytes, more than ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error(`more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return parseExposition(Buffer.concat(chunks).toString('utf8'));
}
