/** One schema change. Versions start at 1, increase by one, and a released migration never changes. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements run in one transaction, with the version recorded in `user_service_migrations`. */
  readonly sql: string;
}

/** Checks that `migrations` are numbered 1, 2, 3, ... in order. */
export function checkSequence(migrations: readonly Migration[]): readonly Migration[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  return migrations;
}
