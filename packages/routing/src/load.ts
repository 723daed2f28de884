import { readdir, readFile, stat } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readDestinationRule } from './destination-rule.ts';
import { RouteConfigError, type RouteIssue } from './issues.ts';
import type { DestinationRuleSpec, RouteConfig, VirtualServiceSpec } from './model.ts';
import { Reader } from './reader.ts';
import { readVirtualService } from './virtual-service.ts';

/** A routing file larger than this is refused unread (1 MiB: far above any real routing table). */
const maxFileBytes = 1 << 20;

const apiVersions = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];

/** A configuration read from YAML, with every finding (warnings, and errors that make it unusable). */
export interface ParsedRoutes {
  readonly config: RouteConfig;
  readonly issues: readonly RouteIssue[];
  /** `true` when `issues` holds no error. */
  readonly ok: boolean;
}

/**
 * Reads the YAML documents of one file (several separated by `---`). Kinds other than `VirtualService`
 * and `DestinationRule` are skipped with a warning, so a file may also hold a Deployment or a Service.
 *
 * @param file the name used in messages.
 */
export function parseRoutes(text: string, file = '<inline>'): ParsedRoutes {
  const issues: RouteIssue[] = [];
  const virtualServices: VirtualServiceSpec[] = [];
  const destinationRules: DestinationRuleSpec[] = [];
  readDocuments(text, file, issues, virtualServices, destinationRules);
  return finish(virtualServices, destinationRules, issues);
}

/**
 * Reads a routing file, or every `.yaml`/`.yml` file of a directory (in name order, not recursive).
 * Resolves with every finding; check `ok` (or use {@link loadRoutesOrThrow}).
 */
export async function loadRoutes(path: string): Promise<ParsedRoutes> {
  const issues: RouteIssue[] = [];
  const virtualServices: VirtualServiceSpec[] = [];
  const destinationRules: DestinationRuleSpec[] = [];
  let files: string[];
  try {
    files = (await stat(path)).isDirectory()
      ? (await readdir(path))
          .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
          .sort()
          .map((f) => joinPath(path, f))
      : [path];
  } catch (error) {
    issues.push({
      severity: 'error',
      file: path,
      document: 0,
      path: '',
      message: `cannot read: ${(error as Error).message}`,
    });
    files = [];
  }
  for (const file of files) {
    let text: string;
    try {
      const size = (await stat(file)).size;
      if (size > maxFileBytes) {
        issues.push({
          severity: 'error',
          file,
          document: 0,
          path: '',
          message: `${size} bytes, more than the ${maxFileBytes} a routing file may have`,
        });
        continue;
      }
      text = await readFile(file, 'utf8');
    } catch (error) {
      issues.push({
        severity: 'error',
        file,
        document: 0,
        path: '',
        message: `cannot read: ${(error as Error).message}`,
      });
      continue;
    }
    readDocuments(text, file, issues, virtualServices, destinationRules);
  }
  if (files.length === 0 && issues.length === 0) {
    issues.push({
      severity: 'warning',
      file: path,
      document: 0,
      path: '',
      message: 'no .yaml or .yml file found',
    });
  }
  return finish(virtualServices, destinationRules, issues);
}

/** {@link loadRoutes}, rejecting with a {@link RouteConfigError} when there is any error. */
export async function loadRoutesOrThrow(path: string): Promise<ParsedRoutes> {
  const parsed = await loadRoutes(path);
  if (!parsed.ok) throw new RouteConfigError(parsed.issues);
  return parsed;
}

function readDocuments(
  text: string,
  file: string,
  issues: RouteIssue[],
  virtualServices: VirtualServiceSpec[],
  destinationRules: DestinationRuleSpec[],
): void {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.every((doc) => doc.errors.length === 0 && (doc.contents === null || doc.contents === undefined))) {
    // Most often a file caught between an editor's truncate and its write: never swap in an empty table.
    issues.push({
      severity: 'error',
      file,
      document: 0,
      path: '',
      message: 'no YAML document (an empty routing file)',
    });
    return;
  }
  list.forEach((doc, i) => {
    const reader = new Reader(file, i + 1);
    for (const e of doc.errors) reader.error('', `YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`);
    if (doc.errors.length > 0) {
      issues.push(...reader.issues);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // An alias bomb ("billion laughs") or an alias to nothing.
      reader.error('', `YAML: ${(error as Error).message}`);
      issues.push(...reader.issues);
      return;
    }
    if (value === null || value === undefined) return;
    const top = reader.object('', value, ['apiVersion', 'kind', 'metadata', 'spec'], {
      status: 'status is written by Istio',
    });
    if (top !== undefined) {
      const kind = reader.string('kind', top.kind);
      if (kind === 'VirtualService' || kind === 'DestinationRule') {
        const apiVersion = reader.string('apiVersion', top.apiVersion);
        if (apiVersion === undefined || !apiVersions.includes(apiVersion)) {
          reader.error(
            'apiVersion',
            `expected ${apiVersions.join(' or ')}, got ${JSON.stringify(apiVersion)}`,
          );
        }
        const meta = reader.object(
          'metadata',
          top.metadata,
          Object.keys((top.metadata as object | null) ?? {}),
        );
        const name = reader.string('metadata.name', meta?.name);
        if (name === undefined) reader.error('metadata.name', 'missing');
        const namespace = reader.string('metadata.namespace', meta?.namespace);
        if (kind === 'VirtualService') {
          const vs = readVirtualService(reader, name ?? '', namespace, top.spec);
          if (vs !== undefined) virtualServices.push(vs);
        } else {
          const dr = readDestinationRule(reader, name ?? '', namespace, top.spec);
          if (dr !== undefined) destinationRules.push(dr);
        }
      } else {
        reader.warn('kind', `${JSON.stringify(kind)} is not a VirtualService or DestinationRule, skipped`);
      }
    }
    issues.push(...reader.issues);
  });
}

/** Checks across documents: subsets named by a route exist in the host's DestinationRule. */
function finish(
  virtualServices: VirtualServiceSpec[],
  destinationRules: DestinationRuleSpec[],
  issues: RouteIssue[],
): ParsedRoutes {
  const rules = new Map<string, DestinationRuleSpec>();
  for (const dr of destinationRules) {
    const key = shortHost(dr.host);
    const seen = rules.get(key);
    if (seen !== undefined) {
      issues.push({
        severity: 'warning',
        ...dr.source,
        path: 'spec.host',
        message: `a DestinationRule for "${dr.host}" is already defined (${seen.source.file} #${seen.source.document}); this one is ignored`,
      });
    } else rules.set(key, dr);
  }
  const hostOwners = new Map<string, VirtualServiceSpec>();
  for (const vs of virtualServices) {
    vs.hosts.forEach((host, i) => {
      const owner = hostOwners.get(shortHost(host));
      if (owner === undefined) hostOwners.set(shortHost(host), vs);
      else
        issues.push({
          severity: 'warning',
          ...vs.source,
          path: `spec.hosts[${i}]`,
          message: `host "${host}" is already routed by VirtualService "${owner.name}" (${owner.source.file} #${owner.source.document}); this one is not used for it`,
        });
    });
    for (const rule of vs.http) {
      const dests = rule.mirror === undefined ? rule.route : [...rule.route, rule.mirror];
      dests.forEach((d) => {
        if (d.subset === undefined) return;
        const dr = rules.get(shortHost(d.host));
        const where =
          d === rule.mirror
            ? `${rule.path}.mirror.subset`
            : `${rule.path}.route[${rule.route.indexOf(d)}].destination.subset`;
        if (dr === undefined) {
          issues.push({
            severity: 'warning',
            ...vs.source,
            path: where,
            message: `no DestinationRule defines subsets of "${d.host}"; subset "${d.subset}" selects endpoints labelled version=${d.subset}`,
          });
        } else if (!dr.subsets.some((s) => s.name === d.subset)) {
          issues.push({
            severity: 'error',
            ...vs.source,
            path: where,
            message: `subset "${d.subset}" is not defined by DestinationRule "${dr.name}" (${dr.source.file} #${dr.source.document}); it has ${dr.subsets.map((s) => `"${s.name}"`).join(', ') || 'none'}`,
          });
        }
      });
    }
  }
  return {
    config: { virtualServices, destinationRules: [...rules.values()] },
    issues,
    ok: !issues.some((i) => i.severity === 'error'),
  };
}

/** `user-service.default.svc.cluster.local` and `user-service` name the same service in-process. */
export function shortHost(host: string): string {
  const dot = host.indexOf('.svc.');
  if (dot >= 0) return host.slice(0, host.indexOf('.'));
  return host;
}
