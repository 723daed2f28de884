/**
 * A parser for the Prometheus text exposition format (version 0.0.4), the format prom-client writes:
 * `# HELP` and `# TYPE` comments, then one sample a line, `name{label="value",...} value [timestamp]`.
 * Label values may hold the escapes `\\`, `\"` and `\n`; values may be `NaN`, `+Inf` or `-Inf`.
 */

/** The metric types a `# TYPE` line may declare. */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/** One sample line. */
export interface Sample {
  /** The sample's own name (`http_duration_seconds_bucket` for a histogram bucket). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** What one exposition holds: every sample, and the declared type of each metric family. */
export interface Exposition {
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, MetricType>;
}

/** A line the parser could not read; `line` counts from 1. */
export class ExpositionParseError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'ExpositionParseError';
    this.line = line;
  }
}

const metricTypes = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Parses a number as the format writes it (`NaN`, `+Inf`, `-Inf`, Go float syntax). */
export function parseValue(text: string): number {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number.NaN;
  return Number(text);
}

/**
 * Parses a whole exposition. A malformed line throws {@link ExpositionParseError} naming it: a scrape
 * that half-parses would show a mesh that is not there.
 */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, MetricType>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const match = /^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (match !== null) {
        const type = match[2] as MetricType;
        if (!metricTypes.has(type))
          throw new ExpositionParseError(i + 1, `unknown metric type "${match[2]}"`);
        types.set(match[1]!, type);
      }
      continue; // HELP and other comments
    }
    samples.push(parseSample(line, i + 1));
  }
  return { samples, types };
}

function parseSample(line: string, lineNo: number): Sample {
  const nameMatch = namePattern.exec(line);
  if (nameMatch === null) throw new ExpositionParseError(lineNo, 'expected a metric name');
  const name = nameMatch[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      while (line[pos] === ' ') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const labelMatch = labelNamePattern.exec(line.slice(pos));
      if (labelMatch === null)
        throw new ExpositionParseError(lineNo, `expected a label name at column ${pos + 1}`);
      const label = labelMatch[0];
      pos += label.length;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '=' || line[pos + 1] !== '"') {
        throw new ExpositionParseError(lineNo, `expected ="value" after label ${label}`);
      }
      pos += 2;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new ExpositionParseError(lineNo, `unterminated value of label ${label}`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const next = line[pos++];
          if (next === 'n') value += '\n';
          else if (next === '\\' || next === '"') value += next;
          else throw new ExpositionParseError(lineNo, `bad escape \\${next ?? ''} in label ${label}`);
        } else {
          value += c;
        }
      }
      labels[label] = value;
      while (line[pos] === ' ') pos++;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}')
        throw new ExpositionParseError(lineNo, `expected , or } after label ${label}`);
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') {
    throw new ExpositionParseError(lineNo, `expected a value after ${name}`);
  }
  const value = parseValue(rest[0]!);
  if (Number.isNaN(value) && rest[0] !== 'NaN') {
    throw new ExpositionParseError(lineNo, `"${rest[0]}" is not a number`);
  }
  if (rest[1] !== undefined && !/^-?\d+$/.test(rest[1])) {
    throw new ExpositionParseError(lineNo, `"${rest[1]}" is not a timestamp`);
  }
  return { name, labels, value };
}
