/**
 * Type-checks every code example users read, so the docs cannot drift from the API:
 *  - each `@example` in a TSDoc comment under `packages/<name>/src` (test files excepted), and
 *  - each ```ts / ```typescript block in `docs/**\/*.md`, the root README.md and the READMEs of
 *    packages, apps and bench.
 * Each example becomes a real ES module in `.cache/check-examples/<pid>/`, checked by the TypeScript compiler
 * against the workspace packages (their sources, through the `@meshkit/source` condition). Every error
 * is printed at the file and line of the example's source; the exit code is 1 if there is any.
 *
 * Conventions an example may use:
 *  - Everything it needs from another package is imported, as a user would (`import { stack } from
 *    '@meshkit/core'`). What it assumes exists (a registry, a request) is declared with
 *    `declare const registry: Registry;`.
 *  - A TSDoc example may use the exports of its own package (and of its own file) without importing them:
 *    the checker imports the ones it names, from `@meshkit/<name>` when public, else from the file.
 *  - A Markdown block may be preceded by a hidden context, placed directly above its fence:
 *        <!-- example-context
 *        import type { Registry } from '@meshkit/discovery';
 *        declare const registry: Registry;
 *        -->
 *    which is prepended to the block (not shown on the rendered page). Blocks in other languages
 *    (```sh, ```yaml, ```text) are not checked.
 *  - A line that shows what does not compile, on purpose, carries `// @ts-expect-error` above it: the
 *    check then fails if it does compile.
 *
 *   node scripts/check-examples.ts [path-filter...] [--root=DIR]
 */
import { globSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** The workspace: its compiler options and installed packages check every example. */
const workspace = join(import.meta.dirname, '..');
// One folder per run, so two runs (lint and the checker's tests) never share one.
const scratch = join(workspace, '.cache', 'check-examples', String(process.pid));
const args = process.argv.slice(2);
/** Where the examples are looked for (`--root=DIR`, for the checker's own tests); the workspace by default. */
const root = resolve(args.find((a) => a.startsWith('--root='))?.slice('--root='.length) ?? workspace);
const filters = args.filter((a) => !a.startsWith('--'));

/** Where a line of a generated module came from. */
interface Origin {
  readonly file: string;
  readonly line: number;
}

interface Example {
  readonly origin: Origin;
  /** The package directory (`packages/http`) for a TSDoc example: its exports may be used unimported. */
  readonly packageDir?: string;
  /** The context lines (Markdown) and their origins, then the block's lines and theirs. */
  readonly lines: readonly string[];
  readonly origins: readonly Origin[];
}

const problems: string[] = [];
const matches = (file: string) => filters.length === 0 || filters.some((f) => file.includes(f));
const ignoreDirs = (name: string) => name === 'node_modules' || name === 'dist';

// ---- extraction --------------------------------------------------------------------------------

/** The `@example` blocks of one source file. */
function tsdocExamples(file: string): Example[] {
  const text = readFileSync(join(root, file), 'utf8').split('\n');
  const examples: Example[] = [];
  const packageDir = file.split('/').slice(0, 2).join('/');
  for (let i = 0; i < text.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(text[i]!)) continue;
    const start = i + 1;
    // The fence follows in the same comment, before the next tag or the end of the comment.
    let open = -1;
    for (let j = start; j < text.length; j++) {
      const line = text[j]!;
      if (/^\s*\*\s*```/.test(line)) {
        open = j;
        break;
      }
      if (/\*\//.test(line) || /^\s*\*\s*@\w/.test(line)) break;
    }
    if (open < 0) {
      problems.push(`${file}:${i + 1}: @example without a \`\`\`ts fence: it cannot be checked`);
      continue;
    }
    const lang = text[open]!.replace(/^\s*\*\s*```/, '')
      .trim()
      .split(/\s+/)[0];
    if (lang !== 'ts' && lang !== 'typescript') {
      problems.push(`${file}:${open + 1}: @example fence must be \`\`\`ts (found "${lang}")`);
      continue;
    }
    const lines: string[] = [];
    const origins: Origin[] = [];
    let j = open + 1;
    for (; j < text.length; j++) {
      const line = text[j]!;
      if (/^\s*\*\s*```/.test(line)) break;
      if (/\*\//.test(line)) {
        j = text.length;
        break;
      }
      lines.push(line.replace(/^\s*\* ?/, ''));
      origins.push({ file, line: j + 1 });
    }
    if (j >= text.length) {
      problems.push(`${file}:${open + 1}: @example fence is not closed inside its comment`);
      continue;
    }
    examples.push({ origin: { file, line: open + 2 }, packageDir, lines, origins });
    i = j;
  }
  return examples;
}

/** The TypeScript blocks of one Markdown file, each with the hidden context above its fence. */
function markdownExamples(file: string): Example[] {
  const text = readFileSync(join(root, file), 'utf8').split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < text.length; i++) {
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(text[i]!);
    if (fence === null) continue;
    const [, indent = '', marker = '```', lang] = fence;
    let close = i + 1;
    while (close < text.length && !text[close]!.trimStart().startsWith(marker)) close++;
    if (lang === 'ts' || lang === 'typescript') {
      const lines: string[] = [];
      const origins: Origin[] = [];
      // A hidden context ends on the line directly above the fence.
      if (text[i - 1]?.trim() === '-->') {
        let begin = i - 2;
        while (begin >= 0 && !text[begin]!.includes('<!--')) begin--;
        if (begin >= 0 && /<!--\s*example-context\s*$/.test(text[begin]!)) {
          for (let k = begin + 1; k < i - 1; k++) {
            lines.push(text[k]!);
            origins.push({ file, line: k + 1 });
          }
        }
      }
      for (let k = i + 1; k < close; k++) {
        lines.push(text[k]!.startsWith(indent) ? text[k]!.slice(indent.length) : text[k]!);
        origins.push({ file, line: k + 1 });
      }
      examples.push({ origin: { file, line: i + 2 }, lines, origins });
    }
    i = close;
  }
  return examples;
}

const sourceFiles = globSync(['packages/*/src/**/*.ts'], { cwd: root, exclude: ignoreDirs })
  .filter((f) => !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
  .filter(matches)
  .sort();
const markdownFiles = globSync(
  ['docs/**/*.md', 'README.md', 'packages/*/README.md', 'apps/*/README.md', 'bench/README.md'],
  { cwd: root, exclude: ignoreDirs },
)
  .filter(matches)
  .sort();
const examples = [...sourceFiles.flatMap(tsdocExamples), ...markdownFiles.flatMap(markdownExamples)];

// ---- the compiler --------------------------------------------------------------------------------

const base = ts.readConfigFile(join(workspace, 'tsconfig.base.json'), ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(base.config, ts.sys, workspace);
const options: ts.CompilerOptions = {
  ...parsed.options,
  noEmit: true,
  composite: false,
  declaration: false,
  declarationMap: false,
  sourceMap: false,
  incremental: false,
  tsBuildInfoFile: undefined,
};

/** The exports of each package entry and each source file that holds an example: name -> is a value. */
type Exports = Map<string, boolean>;

function exportsOf(program: ts.Program, file: string): Exports {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const result: Exports = new Map();
  const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
  if (symbol === undefined) return result;
  for (const exported of checker.getExportsOfModule(symbol)) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    result.set(exported.name, (target.flags & ts.SymbolFlags.Value) !== 0);
  }
  return result;
}

interface PackageInfo {
  readonly name: string;
  readonly entry: string;
}

function packageInfo(dir: string): PackageInfo | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: { '.'?: { '@meshkit/source'?: string } };
    };
    const entry = manifest.exports?.['.']?.['@meshkit/source'];
    return entry === undefined ? undefined : { name: manifest.name, entry: resolve(root, dir, entry) };
  } catch {
    return undefined;
  }
}

const packages = new Map<string, PackageInfo>();
for (const example of examples) {
  if (example.packageDir !== undefined && !packages.has(example.packageDir)) {
    const info = packageInfo(example.packageDir);
    if (info !== undefined) packages.set(example.packageDir, info);
  }
}
const host = ts.createCompilerHost(options);
const exportProgram = ts.createProgram({
  rootNames: [...[...packages.values()].map((p) => p.entry), ...sourceFiles.map((f) => join(root, f))],
  options,
  host,
});

/** Names a block uses, and names it declares or imports at its top level. */
function namesIn(code: string): { used: Set<string>; declared: Set<string> } {
  const sf = ts.createSourceFile('example.ts', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const used = new Set<string>();
  const declared = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) {
      const parent = node.parent;
      // `x.name` and `{ name: value }` keys are not references to `name`.
      const isMember =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isPropertyAssignment(parent) && parent.name === node) ||
        (ts.isQualifiedName(parent) && parent.right === node);
      if (!isMember) used.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const bind = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) declared.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bind(element.name);
  };
  for (const statement of sf.statements) {
    if (ts.isVariableStatement(statement))
      for (const d of statement.declarationList.declarations) bind(d.name);
    else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name !== undefined
    )
      declared.add(statement.name.text);
    else if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (clause?.name !== undefined) declared.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings !== undefined) {
        if (ts.isNamespaceImport(bindings)) declared.add(bindings.name.text);
        else for (const s of bindings.elements) declared.add(s.name.text);
      }
    }
  }
  return { used, declared };
}

/** `import { a, type B } from 'x';` for the names a TSDoc example uses from its package or file. */
function autoImports(example: Example, modulePath: string): string {
  if (example.packageDir === undefined) return '';
  const { used, declared } = namesIn(example.lines.join('\n'));
  const wanted = [...used].filter((n) => !declared.has(n));
  const info = packages.get(example.packageDir);
  const fromPackage = info === undefined ? new Map<string, boolean>() : exportsOf(exportProgram, info.entry);
  const fromFile = exportsOf(exportProgram, join(root, example.origin.file));
  const spec = (name: string, isValue: boolean) => (isValue ? name : `type ${name}`);
  const publicNames: string[] = [];
  const fileNames: string[] = [];
  for (const name of wanted.sort()) {
    const publicValue = fromPackage.get(name);
    const fileValue = fromFile.get(name);
    if (publicValue !== undefined) publicNames.push(spec(name, publicValue));
    else if (fileValue !== undefined) fileNames.push(spec(name, fileValue));
  }
  const parts: string[] = [];
  if (publicNames.length > 0 && info !== undefined)
    parts.push(`import { ${publicNames.join(', ')} } from '${info.name}';`);
  if (fileNames.length > 0) {
    let path = relative(dirname(modulePath), join(root, example.origin.file)).replaceAll('\\', '/');
    if (!path.startsWith('.')) path = `./${path}`;
    parts.push(`import { ${fileNames.join(', ')} } from '${path}';`);
  }
  return parts.join(' ');
}

// ---- generate and check ----------------------------------------------------------------------------

rmSync(scratch, { recursive: true, force: true });
mkdirSync(scratch, { recursive: true });
/** For each generated module, the origin of each of its lines (index 0 = line 1). */
const lineOrigins = new Map<string, readonly Origin[]>();
for (const example of examples) {
  const name = `${example.origin.file.replaceAll(/[/\\.]/g, '_')}_L${example.origin.line}.ts`;
  const modulePath = join(scratch, name);
  // Line 1 holds the automatic imports, so the example's own lines keep a fixed offset.
  const text = [autoImports(example, modulePath), ...example.lines, 'export {};', ''].join('\n');
  writeFileSync(modulePath, text);
  lineOrigins.set(resolve(modulePath), [example.origin, ...example.origins, example.origin]);
}

const program = ts.createProgram({
  rootNames: [...lineOrigins.keys()],
  options,
  host,
  oldProgram: exportProgram,
});
const errors: string[] = [];
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
  const file = diagnostic.file;
  const origins = file === undefined ? undefined : lineOrigins.get(resolve(file.fileName));
  if (file === undefined || origins === undefined) {
    // An error outside the examples (options, a package source): show it where it is.
    const where =
      file === undefined
        ? ''
        : `${relative(workspace, file.fileName)}:${file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}: `;
    errors.push(`${where}error TS${diagnostic.code}: ${message}`);
    continue;
  }
  const { line, character } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
  const origin = origins[line] ?? origins[0]!;
  const column = line === 0 ? '' : `:${character + 1}`;
  errors.push(`${origin.file}:${origin.line}${column}: error TS${diagnostic.code}: ${message}`);
}

rmSync(scratch, { recursive: true, force: true });
// In source order: by file, then line (numbers compared as numbers).
const report = [...problems, ...errors].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
for (const line of report) console.log(line);
const count = problems.length + errors.length;
const from = new Set(examples.map((e) => e.origin.file)).size;
console.log(
  `check-examples: ${examples.length} examples from ${from} files, ${count} ${count === 1 ? 'error' : 'errors'}`,
);
process.exit(count === 0 ? 0 : 1);
