/**
 * The manifests in deploy/ parse, and what they name exists: Service selectors match Deployment
 * labels and target container ports, the DestinationRule's subsets are the Deployments' version labels,
 * the VirtualService's hosts and subsets exist, probes hit the kit's health endpoints on declared ports,
 * grace periods cover the configured drain, and the gateway reads the same routing files Istio applies.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadRoutes } from '@meshkit/routing';
import { parseAllDocuments } from 'yaml';

const deploy = fileURLToPath(new URL('../../../deploy', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML, checked field by field below.
type Doc = any;

function documents(dir: string): { file: string; doc: Doc }[] {
  const out: { file: string; doc: Doc }[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()) {
    const file = join(dir, name);
    for (const parsed of parseAllDocuments(readFileSync(file, 'utf8'))) {
      assert.deepEqual(parsed.errors, [], `${file} does not parse`);
      const doc = parsed.toJS();
      if (doc !== null) out.push({ file, doc });
    }
  }
  return out;
}

const kube = documents(join(deploy, 'kubernetes'));
const istio = documents(join(deploy, 'istio'));
const all = [...kube, ...istio];
const ofKind = (kind: string): Doc[] => all.filter((d) => d.doc.kind === kind).map((d) => d.doc);
const deployments = ofKind('Deployment');
const services = ofKind('Service');
const matches = (labels: Record<string, string>, selector: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const envOf = (container: Doc, name: string): string | undefined =>
  container.env?.find((e: Doc) => e.name === name)?.value;

/** Every manifest a kustomization names, resolved (directories through their own kustomization.yaml). */
function kustomized(dir: string): string[] {
  const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS();
  const files: string[] = [];
  for (const resource of k.resources as string[]) {
    const target = resolve(dir, resource);
    assert.ok(existsSync(target), `${dir}/kustomization.yaml lists ${resource}, which does not exist`);
    if (existsSync(join(target, 'kustomization.yaml'))) files.push(...kustomized(target));
    else files.push(target);
  }
  for (const generator of k.configMapGenerator ?? []) {
    for (const file of generator.files as string[]) {
      assert.ok(existsSync(resolve(dir, file)), `${dir}: generator ${generator.name} reads missing ${file}`);
    }
  }
  return files;
}

describe('deploy/ manifests', () => {
  it('parse, and the kustomization lists every manifest, the routing files included', () => {
    assert.ok(kube.length >= 8);
    const listed = new Set(kustomized(join(deploy, 'kubernetes')));
    for (const { file } of all) {
      if (!file.endsWith('kustomization.yaml'))
        assert.ok(listed.has(file), `${file} is not in the kustomization`);
    }
    assert.ok(listed.has(join(deploy, 'istio', 'virtual-service.yaml')));
    assert.ok(listed.has(join(deploy, 'istio', 'destination-rule.yaml')));
  });

  it('the routing files are valid for meshkit, with no error', async () => {
    const parsed = await loadRoutes(join(deploy, 'istio'));
    assert.equal(parsed.ok, true, JSON.stringify(parsed.issues));
    assert.deepEqual(
      parsed.issues.filter((i) => i.severity === 'error'),
      [],
    );
  });

  it('every Service selects pods of a Deployment and targets ports their containers declare', () => {
    for (const service of services) {
      const selected = deployments.filter((d) =>
        matches(d.spec.template.metadata.labels, service.spec.selector),
      );
      assert.ok(selected.length > 0, `Service ${service.metadata.name} selects no Deployment`);
      for (const d of selected) {
        const names = new Set(
          d.spec.template.spec.containers.flatMap((c: Doc) => c.ports.map((p: Doc) => p.name)),
        );
        const numbers = new Set(
          d.spec.template.spec.containers.flatMap((c: Doc) => c.ports.map((p: Doc) => p.containerPort)),
        );
        for (const port of service.spec.ports) {
          assert.ok(
            names.has(port.targetPort) || numbers.has(port.targetPort),
            `Service ${service.metadata.name} targets ${port.targetPort}, not a port of ${d.metadata.name}`,
          );
        }
      }
    }
  });

  it('every Deployment selects its own pods', () => {
    for (const d of deployments) {
      assert.ok(matches(d.spec.template.metadata.labels, d.spec.selector.matchLabels), d.metadata.name);
    }
  });

  it('the DestinationRule subsets are exactly the version labels of the host’s Deployments', () => {
    for (const rule of ofKind('DestinationRule')) {
      const service = services.find((s) => s.metadata.name === rule.spec.host);
      assert.ok(
        service,
        `DestinationRule ${rule.metadata.name} names host ${rule.spec.host}, which is no Service`,
      );
      const pods = deployments
        .map((d) => d.spec.template.metadata.labels)
        .filter((labels) => matches(labels, service.spec.selector));
      for (const subset of rule.spec.subsets) {
        assert.ok(
          pods.some((labels) => matches(labels, subset.labels)),
          `subset ${subset.name} selects no pod of ${rule.spec.host}`,
        );
      }
      const versions = new Set(pods.map((labels) => labels.version));
      const subsetVersions = new Set(rule.spec.subsets.map((s: Doc) => s.labels.version));
      assert.deepEqual(subsetVersions, versions);
    }
  });

  it('the VirtualService hosts and destinations are Services, its subsets defined', () => {
    const rules = ofKind('DestinationRule');
    for (const vs of ofKind('VirtualService')) {
      for (const host of vs.spec.hosts) {
        assert.ok(
          services.some((s) => s.metadata.name === host),
          `host ${host} is no Service`,
        );
      }
      for (const http of vs.spec.http) {
        for (const { destination } of http.route) {
          assert.ok(
            services.some((s) => s.metadata.name === destination.host),
            destination.host,
          );
          if (destination.subset === undefined) continue;
          const rule = rules.find((r) => r.spec.host === destination.host);
          assert.ok(
            rule?.spec.subsets.some((s: Doc) => s.name === destination.subset),
            `subset ${destination.subset} of ${destination.host} is not defined`,
          );
        }
      }
    }
  });

  it('probes hit the kit’s health endpoints on declared container ports', () => {
    for (const d of deployments) {
      for (const c of d.spec.template.spec.containers) {
        const ports = c.ports.flatMap((p: Doc) => [p.name, p.containerPort]);
        assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${d.metadata.name} readiness`);
        assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${d.metadata.name} liveness`);
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          assert.ok(
            ports.includes(probe.httpGet.port),
            `${d.metadata.name}: probe port ${probe.httpGet.port}`,
          );
        }
        assert.equal(
          String(envOf(c, 'MESH_HTTP_PORT')),
          String(c.ports.find((p: Doc) => p.name === 'http').containerPort),
        );
      }
    }
  });

  it('each grace period covers the shutdown it configures (grace, drain, consumer stop)', () => {
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      const ms = ['SHUTDOWN_GRACE_MS', 'SHUTDOWN_DRAIN_TIMEOUT_MS', 'NOTIFIER_STOP_TIMEOUT_MS']
        .map((name) => Number(envOf(c, name) ?? 0))
        .reduce((a, b) => a + b, 0);
      assert.ok(ms > 0, `${d.metadata.name} configures no drain`);
      const grace = d.spec.template.spec.terminationGracePeriodSeconds;
      assert.ok(
        grace * 1_000 > ms,
        `${d.metadata.name}: terminationGracePeriodSeconds ${grace} s < ${ms} ms of shutdown`,
      );
    }
  });

  it('env references name ConfigMaps and Secret keys that exist', () => {
    const maps = new Map(ofKind('ConfigMap').map((m) => [m.metadata.name, m]));
    const secrets = new Map(ofKind('Secret').map((s) => [s.metadata.name, s]));
    for (const d of deployments) {
      for (const c of d.spec.template.spec.containers) {
        for (const from of c.envFrom ?? []) {
          assert.ok(
            maps.has(from.configMapRef?.name),
            `${d.metadata.name}: envFrom ${from.configMapRef?.name}`,
          );
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref === undefined) continue;
          assert.ok(
            secrets.get(ref.name)?.stringData?.[ref.key] !== undefined,
            `${d.metadata.name}: ${ref.name}/${ref.key}`,
          );
        }
      }
    }
  });

  it('the gateway reads its routes from the ConfigMap generated from deploy/istio', () => {
    const gateway = deployments.find((d) => d.metadata.name === 'gateway');
    const container = gateway.spec.template.spec.containers[0];
    const routesPath = envOf(container, 'MESH_ROUTES');
    const mount = container.volumeMounts.find((m: Doc) => m.mountPath === routesPath);
    assert.ok(mount, `MESH_ROUTES ${routesPath} is not a mounted volume`);
    const volume = gateway.spec.template.spec.volumes.find((v: Doc) => v.name === mount.name);
    const istioKustomization = parseAllDocuments(
      readFileSync(join(deploy, 'istio', 'kustomization.yaml'), 'utf8'),
    )[0]!.toJS();
    const generator = istioKustomization.configMapGenerator.find(
      (g: Doc) => g.name === volume.configMap.name,
    );
    assert.ok(generator, `no generator makes ConfigMap ${volume.configMap.name}`);
    assert.deepEqual([...generator.files].sort(), [...istioKustomization.resources].sort());
    assert.equal(
      istioKustomization.generatorOptions?.disableNameSuffixHash,
      true,
      'edits must reach the mounted files',
    );
  });
});
