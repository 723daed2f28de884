import { parseDurationMs } from './duration.ts';
import { nearest, type RouteIssue } from './issues.ts';

/** A plain object from a YAML document. */
export type Fields = Readonly<Record<string, unknown>>;

/**
 * Collects the issues of one document while its fields are read: every read names the field's path, so
 * an error says where it is and what was expected.
 */
export class Reader {
  readonly issues: RouteIssue[] = [];
  readonly file: string;
  readonly document: number;
  constructor(file: string, document: number) {
    this.file = file;
    this.document = document;
  }

  error(path: string, message: string): void {
    this.issues.push({ severity: 'error', file: this.file, document: this.document, path, message });
  }

  warn(path: string, message: string): void {
    this.issues.push({ severity: 'warning', file: this.file, document: this.document, path, message });
  }

  /** `value` as an object, or `undefined` (with an error unless it is absent). */
  object(path: string, value: unknown, known: readonly string[], ignored: Fields = {}): Fields | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.error(path, `expected an object, got ${kindOf(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const note = ignored[key];
      if (typeof note === 'string') {
        this.warn(join(path, key), `ignored: ${note}`);
        continue;
      }
      const hint = nearest(key, known);
      this.warn(
        join(path, key),
        `unknown field${hint === undefined ? '' : ` (did you mean "${hint}"?)`}, ignored`,
      );
    }
    return value as Fields;
  }

  array(path: string, value: unknown): readonly unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.error(path, `expected a list, got ${kindOf(value)}`);
      return [];
    }
    return value;
  }

  string(path: string, value: unknown): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.error(path, `expected a string, got ${kindOf(value)}`);
      return undefined;
    }
    return value;
  }

  integer(path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.error(path, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  boolean(path: string, value: unknown): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      this.error(path, `expected true or false, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A duration such as `2s` or `500ms`, in milliseconds. */
  duration(path: string, value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    const ms = typeof value === 'string' ? parseDurationMs(value) : undefined;
    if (ms === undefined) {
      this.error(path, `expected a duration such as "2s", "500ms" or "1m", got ${describe(value)}`);
      return undefined;
    }
    return ms;
  }

  /** Istio's `Percent` (`{ value: 12.5 }`), as a fraction from 0 to 1. */
  percentage(path: string, value: unknown): number | undefined {
    const o = this.object(path, value, ['value']);
    if (o === undefined) return undefined;
    const v = o.value;
    if (typeof v !== 'number' || v < 0 || v > 100) {
      this.error(join(path, 'value'), `expected a number from 0 to 100, got ${describe(v)}`);
      return undefined;
    }
    return v / 100;
  }

  /** A map of strings (labels). */
  labels(path: string, value: unknown): Readonly<Record<string, string>> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.error(path, `expected a map of strings, got ${kindOf(value)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') this.error(join(path, k), `expected a string, got ${describe(v)}`);
      else out[k] = v;
    }
    return Object.freeze(out);
  }
}

/** `spec.http` + `match` → `spec.http.match`; `spec.http` + 1 → `spec.http[1]`. */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const safe = /^[A-Za-z_][\w-]*$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? safe : `${path}.${safe}`;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${describe(value)}`;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'a list' : String(value);
}
