/**
 * Keeps dependencies pointing toward `@meshkit/core` (DESIGN.md §3):
 *  1. each package may depend only on the meshkit packages its layer allows;
 *  2. every bare import in a package's sources is declared in its package.json (dev-only imports only in
 *     tests);
 *  3. its tsconfig references exactly the meshkit packages it depends on.
 * Prints every violation and exits 1 if there is any.
 */
import { globSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const lowLevel = ['@meshkit/core'];
const transportsMayUse = [
  '@meshkit/core',
  '@meshkit/policies',
  '@meshkit/discovery',
  '@meshkit/balance',
  '@meshkit/routing',
];
/** Which meshkit packages each package may depend on at run time; `*` means any. */
const allowed: Record<string, readonly string[] | '*'> = {
  '@meshkit/core': [],
  '@meshkit/policies': lowLevel,
  '@meshkit/discovery': lowLevel,
  '@meshkit/balance': lowLevel,
  '@meshkit/routing': lowLevel,
  '@meshkit/messaging': lowLevel,
  // The subscribers read the balancer's and messaging's own channels (both depend on core alone).
  '@meshkit/observability': ['@meshkit/core', '@meshkit/balance', '@meshkit/messaging'],
  '@meshkit/client': ['@meshkit/core', '@meshkit/policies', '@meshkit/balance', '@meshkit/routing'],
  '@meshkit/http': [...transportsMayUse, '@meshkit/client'],
  '@meshkit/grpc': [...transportsMayUse, '@meshkit/client'],
  '@meshkit/messaging-sqlite': ['@meshkit/core', '@meshkit/messaging'],
  '@meshkit/messaging-amqp': ['@meshkit/core', '@meshkit/messaging'],
  '@meshkit/messaging-kafka': ['@meshkit/core', '@meshkit/messaging'],
  '@meshkit/messaging-postgres': ['@meshkit/core', '@meshkit/messaging'],
  '@meshkit/testkit': ['@meshkit/core', '@meshkit/discovery', '@meshkit/messaging'],
  meshkit: '*',
};

/**
 * Meshkit packages a package's tests may use beyond its runtime layer: the observability subscribers are
 * tested against the real publishers (HTTP servers, the embedded broker, the policies).
 */
const testsMayUse: Record<string, readonly string[]> = {
  '@meshkit/observability': [
    '@meshkit/http',
    '@meshkit/grpc',
    '@meshkit/messaging-sqlite',
    '@meshkit/policies',
  ],
};

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const problems: string[] = [];
/** Tooling shared by every package's tests (fast-check, ...) is declared once, at the workspace root. */
const rootDev =
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest).devDependencies ?? {};
const builtins = new Set(builtinModules);
const dirs = globSync(['packages/*/package.json', 'apps/*/package.json', 'bench/package.json'], {
  cwd: root,
}).map((p) => join(root, dirname(p)));

for (const dir of dirs) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
  const rel = relative(root, dir);
  const runtime = { ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies };
  const dev = pkg.devDependencies ?? {};
  const isApp = rel.startsWith('apps/') || rel === 'bench';
  const rule = isApp ? '*' : allowed[pkg.name];
  if (rule === undefined) problems.push(`${rel}: package ${pkg.name} has no entry in scripts/check-deps.ts`);

  // 1. Layering.
  if (rule !== undefined && rule !== '*') {
    for (const dep of Object.keys(runtime)) {
      if (dep.startsWith('@meshkit/') || dep === 'meshkit') {
        if (!rule.includes(dep))
          problems.push(
            `${rel}: ${pkg.name} must not depend on ${dep} (allowed: ${rule.join(', ') || 'nothing'})`,
          );
      }
    }
    for (const dep of Object.keys(dev)) {
      if (
        (dep.startsWith('@meshkit/') || dep === 'meshkit') &&
        dep !== '@meshkit/testkit' &&
        !rule.includes(dep) &&
        !(testsMayUse[pkg.name] ?? []).includes(dep)
      ) {
        problems.push(`${rel}: ${pkg.name} must not depend on ${dep}, even for tests`);
      }
    }
  }
  if (pkg.name === '@meshkit/core' && Object.keys(runtime).length > 0) {
    problems.push(`${rel}: @meshkit/core must have no runtime dependencies`);
  }

  // 2. Imports are declared.
  for (const file of globSync('src/**/*.ts', { cwd: dir })) {
    const isTest = /\.test\.ts$|(^|\/)test-support\//.test(file);
    const source = readFileSync(join(dir, file), 'utf8');
    // TypeScript's own import scanner: imports written in comments (TSDoc examples) are not imports.
    for (const { fileName: spec } of ts.preProcessFile(source, true, true).importedFiles) {
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (name === pkg.name) continue;
      if (name in runtime) continue;
      if (name in dev || `@types/${name}` in dev || (isTest && name in rootDev)) {
        if (!isTest && !isApp)
          problems.push(`${rel}/${file}: imports ${name}, which is only a devDependency`);
        continue;
      }
      problems.push(`${rel}/${file}: imports ${name}, which ${pkg.name} does not declare`);
    }
  }

  // 3. Project references match meshkit dependencies.
  const tsconfig = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as {
    references?: { path: string }[];
  };
  const referenced = new Set(
    (tsconfig.references ?? []).map((r) => {
      const target = resolve(dir, r.path);
      return (JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as Manifest).name;
    }),
  );
  const meshDeps = Object.keys({ ...runtime, ...dev }).filter(
    (d) => d.startsWith('@meshkit/') || d === 'meshkit',
  );
  for (const dep of meshDeps) {
    if (!referenced.has(dep)) problems.push(`${rel}/tsconfig.json: missing a reference to ${dep}`);
  }
  for (const ref of referenced) {
    if (!meshDeps.includes(ref))
      problems.push(`${rel}/tsconfig.json: references ${ref}, which package.json does not declare`);
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-deps: ${p}`);
  process.exit(1);
}
console.log(`check-deps: ${dirs.length} packages, dependencies point toward core`);
