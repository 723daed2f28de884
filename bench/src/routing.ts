/**
 * Route selection cost at 1, 10 and 100 rules, the matching rule last: `select` rules each have a uri
 * prefix and a header match, `select-header` rules only a header match (a tenant table); and HTTP throughput through `httpClient` with the routing layer
 * (the seed's canary VirtualService) against the same client without it, over one local server.
 *
 *   npm run bench -- routing [--json]
 *
 * --json prints one object per line: { name, rules, nsPerOp } for selection, { name, reqPerSec } for
 * throughput; the table adds the ratio of the routed client to the plain one.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createContext } from '@meshkit/core';
import { httpClient, httpRouteAdapter } from '@meshkit/http';
import { compileRoutes, parseRoutes, type RouteAdapter, type RouteRequest, routing } from '@meshkit/routing';

const adapter: RouteAdapter<RouteRequest, unknown> = { view: (req) => req };

function table(rules: number, byHeaderOnly: boolean) {
  const http = Array.from(
    { length: rules },
    (_, i) => `  - name: r${i}
    match:
    - ${byHeaderOnly ? '' : `uri: { prefix: /api/${i}/ }\n      `}headers: { x-tenant: { exact: t${i} } }
    route:
    - { destination: { host: svc, subset: v1 }, weight: 90 }
    - { destination: { host: svc, subset: v2 }, weight: 10 }`,
  ).join('\n');
  const parsed = parseRoutes(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: svc }
spec:
  hosts: [svc]
  http:
${http}
`);
  if (!parsed.ok) throw new Error('bench table is invalid');
  return compileRoutes(parsed.config);
}

function selection(rules: number, byHeaderOnly: boolean): number {
  const layer = routing({ routes: table(rules, byHeaderOnly), host: 'svc', adapter });
  const last = rules - 1;
  const req: RouteRequest = {
    method: 'GET',
    path: `/api/${last}/users/42`,
    headers: { 'x-tenant': `t${last}` },
  };
  const ctx = createContext();
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += layer.decide(req, ctx) === undefined ? 0 : 1;
  const n = rules >= 100 ? 200_000 : 1_000_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += layer.decide(req, ctx) === undefined ? 0 : 1;
  const ns = Number(process.hrtime.bigint() - start) / n;
  if (sink === 0) throw new Error('nothing matched');
  return ns;
}

const seed = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: user-service
spec:
  hosts:
  - user-service
  http:
  - match:
    - headers:
        x-canary:
          exact: "true"
    route:
    - destination:
        host: user-service
        subset: v2
      weight: 100
  - route:
    - destination:
        host: user-service
        subset: v1
      weight: 90
    - destination:
        host: user-service
        subset: v2
      weight: 10
`;

async function throughput(
  address: string,
  routed: boolean,
  calls: number,
  concurrency: number,
): Promise<number> {
  const endpoints = [
    { id: 'v1', address, labels: { version: 'v1' } },
    { id: 'v2', address, labels: { version: 'v2' } },
  ];
  const route = routed
    ? routing({
        routes: compileRoutes(parseRoutes(seed).config),
        host: 'user-service',
        adapter: httpRouteAdapter,
      })
    : undefined;
  const client = httpClient({
    service: 'user-service',
    endpoints,
    ...(route === undefined ? {} : { route }),
  });
  let next = 0;
  const worker = async () => {
    while (next++ < calls) await client.get('/users/42');
  };
  await Promise.all(Array.from({ length: concurrency }, worker)); // warm-up round
  next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await client.close();
  return calls / seconds;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  for (const byHeaderOnly of [false, true]) {
    const name = byHeaderOnly ? 'select-header' : 'select';
    for (const rules of [1, 10, 100]) {
      const nsPerOp = selection(rules, byHeaderOnly);
      if (json) console.log(JSON.stringify({ name, rules, nsPerOp: Math.round(nsPerOp) }));
      else
        console.log(
          `${name.padEnd(13)} ${String(rules).padStart(3)} rules  ${nsPerOp.toFixed(0).padStart(6)} ns/op`,
        );
    }
  }
  const server = createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rounds: Record<string, number[]> = { plain: [], routed: [] };
  const ratios: number[] = [];
  // Pairs of rounds, the order flipped each time, so a disturbance of the shared machine falls on both;
  // the ratio is taken within each pair.
  for (let round = 0; round < 7; round++) {
    const first = round % 2 === 0;
    const a = await throughput(address, !first, 4_000, 16);
    const b = await throughput(address, first, 4_000, 16);
    const [plain, routed] = first ? [a, b] : [b, a];
    rounds.plain!.push(plain);
    rounds.routed!.push(routed);
    ratios.push(routed / plain);
  }
  server.close();
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  for (const [name, xs] of Object.entries(rounds)) {
    if (json) console.log(JSON.stringify({ name: `http-${name}`, reqPerSec: Math.round(median(xs)) }));
    else console.log(`http ${name.padEnd(6)}  ${median(xs).toFixed(0).padStart(7)} req/s (median of 7)`);
  }
  const ratio = median(ratios);
  if (json) console.log(JSON.stringify({ name: 'http-routed/plain', ratio: Number(ratio.toFixed(3)) }));
  else console.log(`routed / plain: ${ratio.toFixed(3)} (median of 7 paired rounds)`);
}
