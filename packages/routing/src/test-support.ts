import {
  compileRoutes,
  parseRoutes,
  type RouteAdapter,
  type RouteRequest,
  type RouteTable,
} from './index.ts';

/** A plain request for tests: the view is the request itself. */
export interface TestRequest extends RouteRequest {
  readonly headers: Readonly<Record<string, string>>;
}

/** Reads the request as it is and rebuilds it with the changes. */
export const testAdapter: RouteAdapter<TestRequest, { status: number; headers: Record<string, string> }> = {
  view: (req) => req,
  withRequest: (req, change) => ({
    ...req,
    ...(change.path === undefined ? {} : { path: change.path }),
    ...(change.authority === undefined ? {} : { authority: change.authority }),
    ...(change.headers === undefined ? {} : { headers: change.headers }),
  }),
  withResponseHeaders: (res, ops) => {
    const headers = { ...res.headers, ...ops.set };
    for (const k of ops.remove) delete headers[k];
    return { ...res, headers };
  },
  redirect: (status, location) => ({ status, headers: { location } }),
};

/** `GET path` with these headers. */
export function get(
  path: string,
  headers: Record<string, string> = {},
  extra: Partial<TestRequest> = {},
): TestRequest {
  return { method: 'GET', path, headers, ...extra };
}

/** Compiles YAML text, failing the test on any error. */
export function table(yaml: string): RouteTable {
  const parsed = parseRoutes(yaml, 'test.yaml');
  if (!parsed.ok) throw new Error(parsed.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return compileRoutes(parsed.config);
}

/** A deterministic generator of numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A VirtualService for `svc` with these rules (YAML under `http:`). */
export function virtualService(rules: string, hosts = ['svc']): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: test
spec:
  hosts: [${hosts.join(', ')}]
  http:
${rules}`;
}
