/**
 * The Node versions meshkit needs, checked where a too-old Node would otherwise fail with an error that
 * does not say what to do (`ERR_UNKNOWN_BUILTIN_MODULE: node:sqlite`, or a dependency's own crash).
 */

/** `node:sqlite` loads without a flag from Node 22.13. */
export const NODE_SQLITE_FLOOR = '22.13.0';

/** True when `version` (`22.13.0` or `v22.13.0`) is at least `minimum`. */
export function nodeAtLeast(version: string, minimum: string): boolean {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const need = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** The one-line message for a Node older than `minimum`. */
export function nodeTooOldMessage(what: string, minimum: string, version = process.version): string {
  return `${what} needs Node >= ${minimum}; this is Node ${version}. Install a newer Node (meshkit develops on Node 24).`;
}

/** Throws a one-line error when the running Node is older than `minimum`. */
export function requireNode(what: string, minimum: string, version = process.version): void {
  if (!nodeAtLeast(version, minimum)) throw new Error(nodeTooOldMessage(what, minimum, version));
}

/**
 * `node:sqlite`, loaded when first needed rather than by a static import, so that a Node without it
 * fails with one line naming the version to install instead of `ERR_UNKNOWN_BUILTIN_MODULE`, and only
 * when SQLite is actually used.
 *
 * @param what who needs it, for the message (e.g. `sqliteBroker (@meshkit/messaging-sqlite)`).
 */
export function nodeSqlite(
  what: string,
  load: (id: 'node:sqlite') => typeof import('node:sqlite') | undefined = (id) =>
    process.getBuiltinModule(id),
): typeof import('node:sqlite') {
  const sqlite = load('node:sqlite');
  if (sqlite === undefined) throw new Error(nodeTooOldMessage(what, NODE_SQLITE_FLOOR));
  return sqlite;
}
