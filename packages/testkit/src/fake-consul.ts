import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock, type TimerHandle } from '@meshkit/core';

/**
 * An HTTP server that answers the part of Consul's agent and health API a registry uses, with the request
 * and response shapes of Consul's API documentation: `PUT /v1/agent/service/register`,
 * `PUT /v1/agent/service/deregister/:id`, `GET /v1/agent/service/:id`, `PUT /v1/agent/check/{pass,fail}/:id`,
 * and `GET /v1/health/service/:name` with `passing` and blocking queries (`index`, `wait`,
 * `X-Consul-Index`). TTL checks turn critical when not refreshed; a service whose checks stay critical
 * longer than its `DeregisterCriticalServiceAfter` is removed; both run on the given clock, so a test
 * drives them with a `FakeClock`. Script checks (HTTP, TCP, gRPC) start critical, as in Consul, until
 * the test sets them with `setCheck`. Binds 127.0.0.1 on an OS-chosen port.
 *
 * It is a model of the documented API, not Consul: it keeps no catalog of nodes, no ACLs, no anti-entropy.
 */

interface Check {
  readonly id: string;
  readonly definition: Record<string, unknown>;
  status: 'passing' | 'warning' | 'critical';
  /** TTL checks: epoch ms after which the check is critical. */
  ttlDeadline: number | undefined;
  readonly ttlMs: number | undefined;
  criticalSince: number | undefined;
  readonly deregisterAfterMs: number | undefined;
}

interface ServiceEntry {
  readonly definition: {
    ID: string;
    Name: string;
    Address: string;
    Port: number;
    Tags: string[];
    Meta: Record<string, string>;
    Weights: { Passing: number; Warning: number };
  };
  readonly checks: Check[];
}

/** A running fake agent. */
export interface FakeConsul {
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  /** Every request as `METHOD path?query`. */
  readonly requests: string[];
  /** The last body each path received (JSON-parsed). */
  readonly bodies: Map<string, unknown>;
  /** Emits `request` with `METHOD path?query` after each request is handled. */
  readonly events: EventEmitter;
  /** Sets a check's status, as the agent would after running it. */
  setCheck(checkId: string, status: 'passing' | 'warning' | 'critical'): void;
  close(): Promise<void>;
}

const durationPattern = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/;
const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

function parseDuration(value: unknown, field: string): number {
  const match = typeof value === 'string' ? durationPattern.exec(value) : null;
  if (match === null) throw new BadRequest(`${field}: invalid duration ${JSON.stringify(value)}`);
  return Number(match[1]) * unitMs[match[2]!]!;
}

class BadRequest extends Error {}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('Request decode failed: invalid JSON');
  }
}

function parseCheck(raw: unknown, serviceId: string, i: number, now: number): Check {
  if (typeof raw !== 'object' || raw === null) throw new BadRequest(`Checks[${i}]: must be an object`);
  const c = raw as Record<string, unknown>;
  const kinds = ['HTTP', 'TCP', 'GRPC', 'TTL'].filter((k) => c[k] !== undefined);
  if (kinds.length !== 1)
    throw new BadRequest(`Checks[${i}]: exactly one of HTTP, TCP, GRPC, TTL is required`);
  const kind = kinds[0]!;
  if (kind !== 'TTL') {
    if (typeof c[kind] !== 'string') throw new BadRequest(`Checks[${i}].${kind}: must be a string`);
    parseDuration(c.Interval, `Checks[${i}].Interval`);
    if (c.Timeout !== undefined) parseDuration(c.Timeout, `Checks[${i}].Timeout`);
  }
  const ttlMs = kind === 'TTL' ? parseDuration(c.TTL, `Checks[${i}].TTL`) : undefined;
  const deregisterAfterMs =
    c.DeregisterCriticalServiceAfter === undefined
      ? undefined
      : parseDuration(c.DeregisterCriticalServiceAfter, `Checks[${i}].DeregisterCriticalServiceAfter`);
  const status = c.Status ?? 'critical';
  if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
    throw new BadRequest(`Checks[${i}].Status: invalid ${JSON.stringify(status)}`);
  }
  return {
    id: typeof c.CheckID === 'string' ? c.CheckID : `service:${serviceId}${i > 0 ? `:${i + 1}` : ''}`,
    definition: c,
    status,
    ttlMs,
    ttlDeadline: ttlMs === undefined ? undefined : now + ttlMs,
    criticalSince: status === 'critical' ? now : undefined,
    deregisterAfterMs,
  };
}

function parseService(body: unknown, now: number): ServiceEntry {
  if (typeof body !== 'object' || body === null)
    throw new BadRequest('Request decode failed: body must be an object');
  const b = body as Record<string, unknown>;
  if (typeof b.Name !== 'string' || b.Name === '') throw new BadRequest('Missing service name');
  const id = typeof b.ID === 'string' && b.ID !== '' ? b.ID : b.Name;
  if (b.Port !== undefined && (!Number.isInteger(b.Port) || (b.Port as number) < 0))
    throw new BadRequest('Invalid Port');
  if (b.Meta !== undefined) {
    for (const [k, v] of Object.entries(b.Meta as object)) {
      if (typeof v !== 'string') throw new BadRequest(`Invalid Meta: ${k} must be a string`);
    }
  }
  const weights = (b.Weights ?? { Passing: 1, Warning: 1 }) as { Passing: number; Warning: number };
  if (!Number.isInteger(weights.Passing) || weights.Passing < 1)
    throw new BadRequest('Passing must be greater than 0');
  const rawChecks = [
    ...(b.Check === undefined ? [] : [b.Check]),
    ...((b.Checks as unknown[] | undefined) ?? []),
  ];
  return {
    definition: {
      ID: id,
      Name: b.Name,
      Address: typeof b.Address === 'string' ? b.Address : '',
      Port: (b.Port as number | undefined) ?? 0,
      Tags: (b.Tags as string[] | undefined) ?? [],
      Meta: (b.Meta as Record<string, string> | undefined) ?? {},
      Weights: weights,
    },
    checks: rawChecks.map((c, i) => parseCheck(c, id, i, now)),
  };
}

/** Options for {@link startFakeConsul}. */
export interface FakeConsulOptions {
  /** The agent's clock for TTLs, reaping and blocking-query waits. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Starts a fake Consul agent on 127.0.0.1. */
export async function startFakeConsul(options: FakeConsulOptions = {}): Promise<FakeConsul> {
  const clock = options.clock ?? systemClock;
  const events = new EventEmitter();
  const services = new Map<string, ServiceEntry>();
  const requests: string[] = [];
  const bodies = new Map<string, unknown>();
  let index = 1;
  let waiters: (() => void)[] = [];
  const bump = (): void => {
    index += 1;
    const woken = waiters;
    waiters = [];
    for (const w of woken) w();
  };
  const findCheck = (checkId: string): Check | undefined => {
    for (const s of services.values()) for (const c of s.checks) if (c.id === checkId) return c;
    return undefined;
  };
  const setStatus = (check: Check, status: Check['status'], now: number): boolean => {
    if (check.status === status) return false;
    check.status = status;
    check.criticalSince = status === 'critical' ? now : undefined;
    return true;
  };
  // The agent's own timers: TTLs run out, long-critical services are reaped.
  let tick: TimerHandle | undefined;
  const sweep = (): void => {
    const now = clock.now();
    let changed = false;
    for (const [id, s] of services) {
      for (const c of s.checks) {
        if (c.ttlDeadline !== undefined && now > c.ttlDeadline)
          changed = setStatus(c, 'critical', now) || changed;
      }
      const reap = s.checks.some(
        (c) =>
          c.criticalSince !== undefined &&
          c.deregisterAfterMs !== undefined &&
          now - c.criticalSince > c.deregisterAfterMs,
      );
      if (reap) {
        services.delete(id);
        changed = true;
      }
    }
    if (changed) bump();
    if (tick !== undefined) tick = clock.setTimeout(sweep, 50);
  };
  tick = clock.setTimeout(sweep, 50);

  const send = (res: ServerResponse, status: number, body?: unknown): void => {
    res.statusCode = status;
    res.setHeader('x-consul-index', String(index));
    if (body === undefined) {
      res.end();
      return;
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.setHeader('content-type', typeof body === 'string' ? 'text/plain' : 'application/json');
    res.end(text);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://consul');
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      const path = url.pathname;
      const now = clock.now();
      const wants = (method: string) => {
        if (req.method !== method)
          throw Object.assign(new BadRequest(`method ${req.method} not allowed`), { status: 405 });
      };
      const deregisterPath = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(path);
      const servicePath = /^\/v1\/agent\/service\/(.+)$/.exec(path);
      const checkPath = /^\/v1\/agent\/check\/(pass|fail|warn)\/(.+)$/.exec(path);
      const healthPath = /^\/v1\/health\/service\/(.+)$/.exec(path);
      if (path === '/v1/agent/service/register') {
        wants('PUT');
        const body = await readJson(req);
        bodies.set(path, body);
        const entry = parseService(body, now);
        services.set(entry.definition.ID, entry);
        bump();
        send(res, 200);
      } else if (deregisterPath !== null) {
        wants('PUT');
        const id = decodeURIComponent(deregisterPath[1]!);
        if (!services.delete(id))
          return send(
            res,
            404,
            `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`,
          );
        bump();
        send(res, 200);
      } else if (servicePath !== null) {
        wants('GET');
        const s = services.get(decodeURIComponent(servicePath[1]!));
        if (s === undefined) return send(res, 404, 'unknown service ID');
        send(res, 200, { ...s.definition, Service: s.definition.Name });
      } else if (checkPath !== null) {
        wants('PUT');
        const check = findCheck(decodeURIComponent(checkPath[2]!));
        if (check === undefined) return send(res, 404, `Unknown check ID "${checkPath[2]}"`);
        if (check.ttlMs === undefined) return send(res, 500, 'CheckID is not a TTL check');
        check.ttlDeadline = now + check.ttlMs;
        const status = checkPath[1] === 'pass' ? 'passing' : checkPath[1] === 'fail' ? 'critical' : 'warning';
        if (setStatus(check, status, now)) bump();
        send(res, 200);
      } else if (healthPath !== null) {
        wants('GET');
        const name = decodeURIComponent(healthPath[1]!);
        const wanted = url.searchParams.get('index');
        if (wanted !== null && Number(wanted) >= index) {
          const waitMs = Math.min(parseDuration(url.searchParams.get('wait') ?? '300s', 'wait'), 600_000);
          await new Promise<void>((resolve) => {
            const timer = clock.setTimeout(resolve, waitMs);
            waiters.push(() => {
              clock.clearTimeout(timer);
              resolve();
            });
            req.once('close', () => clock.clearTimeout(timer));
          });
        }
        const passingOnly = url.searchParams.has('passing') && url.searchParams.get('passing') !== 'false';
        const entries = [...services.values()]
          .filter((s) => s.definition.Name === name)
          .map((s) => ({
            Node: { ID: 'fake-node', Node: 'fake', Address: '127.0.0.1', Datacenter: 'dc1' },
            Service: { ...s.definition, Service: s.definition.Name },
            Checks: [
              {
                Node: 'fake',
                CheckID: 'serfHealth',
                Name: 'Serf Health Status',
                Status: 'passing',
                ServiceID: '',
              },
              ...s.checks.map((c) => ({
                Node: 'fake',
                CheckID: c.id,
                Name: String(c.definition.Name ?? c.id),
                Status: c.status,
                ServiceID: s.definition.ID,
                ServiceName: s.definition.Name,
              })),
            ],
          }))
          .filter((e) => !passingOnly || e.Checks.every((c) => c.Status === 'passing'));
        send(res, 200, entries);
      } else {
        send(res, 404, `no handler for ${req.method} ${path}`);
      }
    })()
      .catch((err: unknown) => {
        const status = (err as { status?: number }).status ?? (err instanceof BadRequest ? 400 : 500);
        if (!res.headersSent) send(res, status, (err as Error).message);
      })
      .finally(() => events.emit('request', `${req.method} ${req.url}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    bodies,
    events,
    setCheck(checkId, status) {
      const check = findCheck(checkId);
      if (check === undefined) throw new Error(`fake consul: no check ${checkId}`);
      if (setStatus(check, status, clock.now())) bump();
    },
    close: async () => {
      if (tick !== undefined) clock.clearTimeout(tick);
      tick = undefined;
      for (const w of waiters) w();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
