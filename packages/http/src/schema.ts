/**
 * The Standard Schema interface (standardschema.dev, v1), declared here so any validator that
 * implements it (zod 3.24+, valibot, arktype, ...) can check responses and request bodies without
 * meshkit depending on one.
 */

/** One problem a validator found; `path` leads to the offending field. */
export interface SchemaIssue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** The outcome of a Standard Schema validation. */
export type SchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly SchemaIssue[] };

/** A Standard Schema v1 validator producing `Output`. */
export interface StandardSchema<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
  };
}

/** A field path as a dotted string (`items.0.sku`); `(root)` for the value itself. */
export function issuePath(issue: SchemaIssue): string {
  if (issue.path === undefined || issue.path.length === 0) return '(root)';
  return issue.path
    .map((p) => String(typeof p === 'object' && p !== null && 'key' in p ? p.key : p))
    .join('.');
}

/** Validates `value`, returning either the typed value or the issues. */
export async function validate<Output>(
  schema: StandardSchema<Output>,
  value: unknown,
): Promise<SchemaResult<Output>> {
  return schema['~standard'].validate(value);
}
