import { ErrorCode, MeshError } from '@meshkit/core';

/** One finding about a routing document: an error rejects the configuration, a warning does not. */
export interface RouteIssue {
  readonly severity: 'error' | 'warning';
  /** The file the document came from, as given (or `<inline>`). */
  readonly file: string;
  /** The document's position in its file, from 1. */
  readonly document: number;
  /** The field, e.g. `spec.http[1].route`. */
  readonly path: string;
  /** What is wrong and what was expected. */
  readonly message: string;
}

/** `routes/user-service.yaml #2 spec.http[1].route: weights sum to 90, expected 100`. */
export function formatIssue(issue: RouteIssue): string {
  const where = issue.path === '' ? '' : ` ${issue.path}`;
  const prefix = issue.severity === 'warning' ? 'warning: ' : '';
  return `${prefix}${issue.file} #${issue.document}${where}: ${issue.message}`;
}

/** The candidate closest to `word` by edit distance, when it is close enough to be a likely typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 2)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** Thrown when a routing configuration has errors; `issues` holds every finding, warnings included. */
export class RouteConfigError extends MeshError {
  readonly issues: readonly RouteIssue[];
  constructor(issues: readonly RouteIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error');
    super(
      ErrorCode.INVALID_ARGUMENT,
      `invalid routing configuration:\n${errors.map(formatIssue).join('\n')}`,
      {
        details: { issues },
      },
    );
    this.name = 'RouteConfigError';
    this.issues = issues;
  }
}
