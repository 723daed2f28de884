import type { MatchSpec, RouteConfig, StringMatchSpec } from '@meshkit/routing';
import type { RouteRuleView, RouteView } from '../view-model.ts';
import { keySep } from './frame.ts';

/** A service name as metrics carry it: `user-service.ns.svc.cluster.local` is `user-service`. */
export function shortHost(host: string): string {
  const cluster = host.indexOf('.svc.');
  return cluster > 0 ? host.slice(0, host.indexOf('.')) : host;
}

/**
 * Each VirtualService host with its rules' configured weights and the split of first tries observed
 * per subset (`subsets`: `service␀subset` → first tries in the rate window).
 */
export function summarizeRoutes(
  routes: RouteConfig | undefined,
  subsets: ReadonlyMap<string, number>,
  rate: (n: number) => number,
): RouteView[] {
  if (routes === undefined) return [];
  const views: RouteView[] = [];
  for (const vs of routes.virtualServices) {
    for (const host of vs.hosts) {
      const service = shortHost(host);
      const rules: RouteRuleView[] = vs.http.map((rule, i) => ({
        name: rule.name ?? `rule ${i + 1}`,
        match: rule.match.length === 0 ? 'all requests' : rule.match.map(describeMatch).join(' or '),
        destinations: rule.route.map((d) => ({
          subset:
            shortHost(d.host) === service ? (d.subset ?? 'all') : `${shortHost(d.host)}/${d.subset ?? 'all'}`,
          weight: d.weight,
        })),
      }));
      const observed = [...subsets].filter(([key]) => key.startsWith(`${service}${keySep}`));
      const total = observed.reduce((s, [, n]) => s + n, 0);
      views.push({
        host: service,
        virtualService: vs.name,
        rules,
        observed: observed
          .map(([key, n]) => ({
            subset: key.slice(service.length + 1),
            percent: total > 0 ? (100 * n) / total : 0,
            rate: rate(n),
          }))
          .sort((a, b) => a.subset.localeCompare(b.subset)),
      });
    }
  }
  return views;
}

function describeString(m: StringMatchSpec): string {
  return m.kind === 'present' ? ' present' : m.kind === 'exact' ? `=${m.value}` : ` ${m.kind} ${m.value}`;
}

function describeMatch(m: MatchSpec): string {
  const parts: string[] = [];
  if (m.uri !== undefined) parts.push(`uri${describeString(m.uri)}`);
  if (m.method !== undefined) parts.push(`method${describeString(m.method)}`);
  if (m.authority !== undefined) parts.push(`authority${describeString(m.authority)}`);
  for (const [name, spec] of m.headers) parts.push(`header ${name}${describeString(spec)}`);
  for (const [name, spec] of m.withoutHeaders) parts.push(`no header ${name}${describeString(spec)}`);
  for (const [name, spec] of m.queryParams) parts.push(`query ${name}${describeString(spec)}`);
  if (m.port !== undefined) parts.push(`port ${m.port}`);
  if (m.sourceLabels !== undefined) {
    parts.push(
      `from ${Object.entries(m.sourceLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
  }
  return parts.length === 0 ? 'all requests' : parts.join(' and ');
}
