import type { MatchSpec, StringMatchSpec } from './model.ts';

/**
 * What the routing layer sees of a request, whatever the transport: an adapter builds it from the
 * request (see {@link RouteAdapter}). A gRPC call is `POST` to `/package.Service/Method`, its metadata
 * as headers, as Istio sees it.
 */
export interface RouteRequest {
  /** `GET`, `POST`, ... (gRPC: `POST`). */
  readonly method: string;
  /** Path with its query string, e.g. `/users/42?verbose=1` or `/user.UserService/GetUser`. */
  readonly path: string;
  /** The host the call is addressed to (HTTP `Host`, HTTP/2 `:authority`); defaults to the routed host. */
  readonly authority?: string | undefined;
  /** Headers or metadata, lower-case names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The destination port, when the caller knows it. */
  readonly port?: number | undefined;
}

/** The parts of a request a compiled match reads, split once per call. */
export interface MatchInput {
  readonly request: RouteRequest;
  readonly authority: string;
  readonly sourceLabels: Readonly<Record<string, string>>;
  /** The path without its query string. */
  uri(): string;
  /** One query parameter (first value), or `undefined`. */
  query(name: string): string | undefined;
}

type Test = (value: string) => boolean;

/** Compiles an Istio `StringMatch`; regular expressions must match the whole value, as RE2 in Envoy. */
export function compileStringMatch(spec: StringMatchSpec, ignoreCase = false): Test {
  const expected = ignoreCase ? spec.value.toLowerCase() : spec.value;
  switch (spec.kind) {
    case 'present':
      return () => true;
    case 'exact':
      return ignoreCase ? (v) => v.toLowerCase() === expected : (v) => v === expected;
    case 'prefix':
      return ignoreCase ? (v) => v.toLowerCase().startsWith(expected) : (v) => v.startsWith(expected);
    case 'regex': {
      const re = new RegExp(`^(?:${spec.value})$`, ignoreCase ? 'i' : '');
      return (v) => re.test(v);
    }
  }
}

/** Compiles one `match` entry: every field given must match. */
export function compileMatch(spec: MatchSpec): (input: MatchInput) => boolean {
  const tests: ((input: MatchInput) => boolean)[] = [];
  if (spec.uri !== undefined) {
    const t = compileStringMatch(spec.uri, spec.ignoreUriCase);
    tests.push((i) => t(i.uri()));
  }
  if (spec.method !== undefined) {
    const t = compileStringMatch(spec.method);
    tests.push((i) => t(i.request.method));
  }
  if (spec.authority !== undefined) {
    const t = compileStringMatch(spec.authority);
    tests.push((i) => t(i.authority));
  }
  for (const [name, sm] of spec.headers) {
    const t = compileStringMatch(sm);
    tests.push((i) => {
      const v = i.request.headers[name];
      return v !== undefined && t(v);
    });
  }
  for (const [name, sm] of spec.withoutHeaders) {
    const t = compileStringMatch(sm);
    tests.push((i) => {
      const v = i.request.headers[name];
      return v === undefined || !t(v);
    });
  }
  for (const [name, sm] of spec.queryParams) {
    const t = compileStringMatch(sm);
    tests.push((i) => {
      const v = i.query(name);
      return v !== undefined && t(v);
    });
  }
  if (spec.port !== undefined) {
    const port = spec.port;
    tests.push((i) => i.request.port === port);
  }
  if (spec.sourceLabels !== undefined) {
    const wanted = Object.entries(spec.sourceLabels);
    tests.push((i) => wanted.every(([k, v]) => i.sourceLabels[k] === v));
  }
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (input) => {
    for (let k = 0; k < tests.length; k++) if (!tests[k]!(input)) return false;
    return true;
  };
}

/**
 * A request split for matching: the path and query are split only if a match asks. The routing layer
 * keeps one and resets it per call (matching is synchronous), so a call allocates none.
 */
export class SplitRequest implements MatchInput {
  request: RouteRequest;
  authority: string;
  readonly sourceLabels: Readonly<Record<string, string>>;
  #uri: string | undefined = undefined;
  #params: URLSearchParams | undefined = undefined;
  constructor(request: RouteRequest, authority: string, sourceLabels: Readonly<Record<string, string>>) {
    this.request = request;
    this.authority = authority;
    this.sourceLabels = sourceLabels;
  }
  /** Points this at another request. */
  reset(request: RouteRequest, authority: string): this {
    this.request = request;
    this.authority = authority;
    this.#uri = undefined;
    this.#params = undefined;
    return this;
  }
  uri(): string {
    if (this.#uri === undefined) {
      const path = this.request.path;
      const q = path.indexOf('?');
      this.#uri = q < 0 ? path : path.slice(0, q);
    }
    return this.#uri;
  }
  query(name: string): string | undefined {
    if (this.#params === undefined) {
      const path = this.request.path;
      const q = path.indexOf('?');
      this.#params = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
    }
    return this.#params.get(name) ?? undefined;
  }
}
