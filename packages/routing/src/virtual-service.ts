import { nearest } from './issues.ts';
import type {
  DestinationSpec,
  FaultSpec,
  HeaderOpsSpec,
  HttpRuleSpec,
  MatchSpec,
  RedirectSpec,
  RetrySpec,
  StringMatchSpec,
  VirtualServiceSpec,
} from './model.ts';
import { type Fields, join, type Reader } from './reader.ts';
import { ignoredRetryConditions, retryConditions } from './retry-on.ts';

const notInProcess = 'applies to Istio gateways and sidecars, not to in-process routing';

/** Reads the `spec` of a `VirtualService`; problems go to `reader`. */
export function readVirtualService(
  reader: Reader,
  name: string,
  namespace: string | undefined,
  specValue: unknown,
): VirtualServiceSpec | undefined {
  const spec = reader.object('spec', specValue, ['hosts', 'http'], {
    gateways: notInProcess,
    tcp: 'TCP routes are not applied in-process',
    tls: 'TLS routes are not applied in-process',
    exportTo: 'visibility across namespaces has no in-process meaning',
  });
  if (spec === undefined) {
    reader.error('spec', 'missing');
    return undefined;
  }
  const hosts: string[] = [];
  reader.array('spec.hosts', spec.hosts).forEach((h, i) => {
    const host = reader.string(join('spec.hosts', i), h);
    if (host !== undefined && host.length > 0) hosts.push(host);
  });
  if (hosts.length === 0) reader.error('spec.hosts', 'expected at least one host');
  const http = reader.array('spec.http', spec.http).map((r, i) => readRule(reader, join('spec.http', i), r));
  return {
    kind: 'VirtualService',
    name,
    namespace,
    source: { file: reader.file, document: reader.document },
    hosts,
    http: http.filter((r): r is HttpRuleSpec => r !== undefined),
  };
}

function readRule(reader: Reader, path: string, value: unknown): HttpRuleSpec | undefined {
  const rule = reader.object(
    path,
    value,
    [
      'name',
      'match',
      'route',
      'timeout',
      'retries',
      'fault',
      'mirror',
      'mirrorPercentage',
      'mirrorPercent',
      'headers',
      'rewrite',
      'redirect',
    ],
    {
      corsPolicy: 'CORS applies to browsers at the edge, not to service-to-service calls',
      mirrors: 'only the single `mirror` is applied',
      delegate: 'delegate VirtualServices are not supported',
      directResponse: 'not supported yet',
    },
  );
  if (rule === undefined) return undefined;
  const match = reader
    .array(join(path, 'match'), rule.match)
    .map((m, i) => readMatch(reader, join(join(path, 'match'), i), m));
  const route = reader
    .array(join(path, 'route'), rule.route)
    .map((d, i) => readDestination(reader, join(join(path, 'route'), i), d, true))
    .filter((d): d is DestinationSpec => d !== undefined);
  const redirect = readRedirect(reader, join(path, 'redirect'), rule.redirect);
  if (route.length === 0 && redirect === undefined) {
    reader.error(join(path, 'route'), 'expected at least one destination (or a redirect)');
  }
  if (route.length > 0 && redirect !== undefined) {
    reader.error(join(path, 'redirect'), 'cannot be combined with route');
  }
  const weighted = applyDefaultWeights(reader, join(path, 'route'), rule.route, route);
  const headers = reader.object(join(path, 'headers'), rule.headers, ['request', 'response']);
  const mirror =
    rule.mirror === undefined ? undefined : readDestination(reader, join(path, 'mirror'), rule.mirror, false);
  let mirrorFraction = 1;
  if (rule.mirrorPercentage !== undefined)
    mirrorFraction = reader.percentage(join(path, 'mirrorPercentage'), rule.mirrorPercentage) ?? 1;
  else if (rule.mirrorPercent !== undefined) {
    reader.warn(join(path, 'mirrorPercent'), 'deprecated in Istio, use mirrorPercentage');
    mirrorFraction = (reader.integer(join(path, 'mirrorPercent'), rule.mirrorPercent, 0, 100) ?? 100) / 100;
  }
  const rewrite = reader.object(join(path, 'rewrite'), rule.rewrite, ['uri', 'authority'], {
    uriRegexRewrite: 'not supported yet',
  });
  return {
    name: reader.string(join(path, 'name'), rule.name),
    path,
    match: match.filter((m): m is MatchSpec => m !== undefined),
    route: weighted,
    timeoutMs: reader.duration(join(path, 'timeout'), rule.timeout),
    retries: readRetries(reader, join(path, 'retries'), rule.retries),
    fault: readFault(reader, join(path, 'fault'), rule.fault),
    mirror,
    mirrorFraction,
    requestHeaders: readHeaderOps(reader, join(join(path, 'headers'), 'request'), headers?.request),
    responseHeaders: readHeaderOps(reader, join(join(path, 'headers'), 'response'), headers?.response),
    rewrite:
      rewrite === undefined
        ? undefined
        : {
            uri: reader.string(join(join(path, 'rewrite'), 'uri'), rewrite.uri),
            authority: reader.string(join(join(path, 'rewrite'), 'authority'), rewrite.authority),
          },
    redirect,
  };
}

/** Istio: a lone destination without a weight takes 100; with several, the weights must sum to 100. */
function applyDefaultWeights(
  reader: Reader,
  path: string,
  raw: unknown,
  route: readonly DestinationSpec[],
): readonly DestinationSpec[] {
  if (route.length === 0) return route;
  const given = Array.isArray(raw) ? raw.map((d) => (d as Fields | null)?.weight !== undefined) : [];
  if (route.length === 1 && !given[0]) return [{ ...route[0]!, weight: 100 }];
  const sum = route.reduce((s, d) => s + d.weight, 0);
  if (sum !== 100) reader.error(path, `weights sum to ${sum}, expected 100`);
  return route;
}

function readDestination(
  reader: Reader,
  path: string,
  value: unknown,
  routed: boolean,
): DestinationSpec | undefined {
  const known = routed ? ['destination', 'weight', 'headers'] : ['host', 'subset', 'port'];
  const entry = reader.object(path, value, known);
  if (entry === undefined) return undefined;
  const destPath = routed ? join(path, 'destination') : path;
  const dest = routed ? reader.object(destPath, entry.destination, ['host', 'subset', 'port']) : entry;
  if (dest === undefined) {
    reader.error(destPath, 'missing');
    return undefined;
  }
  const host = reader.string(join(destPath, 'host'), dest.host);
  if (host === undefined || host.length === 0) {
    reader.error(join(destPath, 'host'), 'expected a host name');
    return undefined;
  }
  const port = reader.object(join(destPath, 'port'), dest.port, ['number']);
  const headers = routed
    ? reader.object(join(path, 'headers'), entry.headers, ['request', 'response'])
    : undefined;
  return {
    host,
    subset: reader.string(join(destPath, 'subset'), dest.subset),
    port:
      port === undefined
        ? undefined
        : reader.integer(join(join(destPath, 'port'), 'number'), port.number, 1, 65535),
    weight: routed ? (reader.integer(join(path, 'weight'), entry.weight, 0, 100) ?? 0) : 0,
    requestHeaders: readHeaderOps(reader, join(join(path, 'headers'), 'request'), headers?.request),
    responseHeaders: readHeaderOps(reader, join(join(path, 'headers'), 'response'), headers?.response),
  };
}

const matchFields = [
  'name',
  'uri',
  'method',
  'authority',
  'headers',
  'withoutHeaders',
  'queryParams',
  'port',
  'sourceLabels',
  'ignoreUriCase',
  'scheme',
];

function readMatch(reader: Reader, path: string, value: unknown): MatchSpec | undefined {
  const m = reader.object(path, value, matchFields, {
    gateways: notInProcess,
    sourceNamespace: 'the caller has no namespace in-process',
    statPrefix: 'Envoy statistics are not produced',
  });
  if (m === undefined) return undefined;
  if (m.scheme !== undefined) reader.warn(join(path, 'scheme'), 'ignored: the scheme is fixed by the client');
  return {
    name: reader.string(join(path, 'name'), m.name),
    uri: readStringMatch(reader, join(path, 'uri'), m.uri),
    ignoreUriCase: reader.boolean(join(path, 'ignoreUriCase'), m.ignoreUriCase) ?? false,
    method: readStringMatch(reader, join(path, 'method'), m.method),
    authority: readStringMatch(reader, join(path, 'authority'), m.authority),
    headers: readMatchMap(reader, join(path, 'headers'), m.headers, true),
    withoutHeaders: readMatchMap(reader, join(path, 'withoutHeaders'), m.withoutHeaders, true),
    queryParams: readMatchMap(reader, join(path, 'queryParams'), m.queryParams, false),
    port: reader.integer(join(path, 'port'), m.port, 1, 65535),
    sourceLabels: reader.labels(join(path, 'sourceLabels'), m.sourceLabels),
  };
}

function readMatchMap(
  reader: Reader,
  path: string,
  value: unknown,
  lowerCase: boolean,
): readonly (readonly [string, StringMatchSpec])[] {
  const map = reader.object(path, value, Object.keys((value as object | null) ?? {}));
  if (map === undefined) return [];
  const out: [string, StringMatchSpec][] = [];
  for (const [name, v] of Object.entries(map)) {
    if (lowerCase && name !== name.toLowerCase()) {
      reader.error(join(path, name), 'header names must be lower case, as in Istio');
      continue;
    }
    const sm = readStringMatch(reader, join(path, name), v ?? {});
    if (sm !== undefined) out.push([name, sm]);
  }
  return out;
}

function readStringMatch(reader: Reader, path: string, value: unknown): StringMatchSpec | undefined {
  const o = reader.object(path, value, ['exact', 'prefix', 'regex']);
  if (o === undefined) return undefined;
  const kinds = (['exact', 'prefix', 'regex'] as const).filter((k) => o[k] !== undefined);
  if (kinds.length === 0) return { kind: 'present', value: '' };
  if (kinds.length > 1) {
    reader.error(path, `expected one of exact, prefix or regex, got ${kinds.join(' and ')}`);
    return undefined;
  }
  const kind = kinds[0]!;
  const text = o[kind];
  const value2 =
    typeof text === 'number' || typeof text === 'boolean'
      ? String(text)
      : reader.string(join(path, kind), text);
  if (value2 === undefined) return undefined;
  if (kind === 'regex') {
    try {
      new RegExp(value2);
    } catch (error) {
      reader.error(join(path, 'regex'), `invalid regular expression: ${(error as Error).message}`);
      return undefined;
    }
  }
  return { kind, value: value2 };
}

function readRetries(reader: Reader, path: string, value: unknown): RetrySpec | undefined {
  const r = reader.object(path, value, ['attempts', 'perTryTimeout', 'retryOn'], {
    retryRemoteLocalities:
      'meshkit has no locality-aware balancing; retries go to any endpoint of the subset',
  });
  if (r === undefined) return undefined;
  const attempts = reader.integer(join(path, 'attempts'), r.attempts, 0, 100);
  if (attempts === undefined && r.attempts === undefined)
    reader.error(join(path, 'attempts'), 'missing (the number of retries)');
  const retryOn: string[] = [];
  const statuses: number[] = [];
  const text = reader.string(join(path, 'retryOn'), r.retryOn);
  for (const raw of text === undefined ? [] : text.split(',')) {
    const c = raw.trim();
    if (c === '') continue;
    const where = join(path, 'retryOn');
    if (/^\d{3}$/.test(c)) {
      statuses.push(Number(c));
      if (!retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
    } else if ((retryConditions as readonly string[]).includes(c)) {
      if (!retryOn.includes(c)) retryOn.push(c);
    } else if (ignoredRetryConditions[c] !== undefined) {
      reader.warn(where, `condition "${c}" ignored: ${ignoredRetryConditions[c]}`);
    } else {
      const status = /^retriable-status-(\d{3})$/.exec(c);
      const hint = nearest(c, retryConditions);
      if (status !== null) {
        reader.warn(
          where,
          `"${c}" is not an Envoy condition (did you mean "${status[1]}" or "retriable-status-codes"?); status ${status[1]} is treated as retriable`,
        );
        statuses.push(Number(status[1]));
        if (!retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
      } else {
        reader.warn(
          where,
          `unknown condition "${c}"${hint === undefined ? '' : ` (did you mean "${hint}"?)`}, ignored`,
        );
      }
    }
  }
  return {
    attempts: attempts ?? 0,
    perTryTimeoutMs: reader.duration(join(path, 'perTryTimeout'), r.perTryTimeout),
    retryOn:
      text === undefined
        ? ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']
        : retryOn,
    retriableStatuses: text === undefined ? [503] : statuses,
  };
}

function readFault(reader: Reader, path: string, value: unknown): FaultSpec | undefined {
  const f = reader.object(path, value, ['delay', 'abort']);
  if (f === undefined) return undefined;
  let delay: FaultSpec['delay'];
  const d = reader.object(join(path, 'delay'), f.delay, ['fixedDelay', 'percentage', 'percent'], {
    exponentialDelay: 'not supported by Istio either',
  });
  if (d !== undefined) {
    const fixedDelayMs = reader.duration(join(join(path, 'delay'), 'fixedDelay'), d.fixedDelay);
    if (fixedDelayMs === undefined && d.fixedDelay === undefined)
      reader.error(join(join(path, 'delay'), 'fixedDelay'), 'missing');
    delay = { fixedDelayMs: fixedDelayMs ?? 0, fraction: fraction(reader, join(path, 'delay'), d) };
  }
  let abort: FaultSpec['abort'];
  const a = reader.object(join(path, 'abort'), f.abort, ['httpStatus', 'grpcStatus', 'percentage'], {
    http2Error: 'not supported',
  });
  if (a !== undefined) {
    const httpStatus = reader.integer(join(join(path, 'abort'), 'httpStatus'), a.httpStatus, 200, 599);
    const grpcStatus = reader.string(join(join(path, 'abort'), 'grpcStatus'), a.grpcStatus);
    if (httpStatus === undefined && grpcStatus === undefined)
      reader.error(join(path, 'abort'), 'expected httpStatus or grpcStatus');
    abort = { httpStatus, grpcStatus, fraction: fraction(reader, join(path, 'abort'), a) };
  }
  if (delay === undefined && abort === undefined) reader.error(path, 'expected delay or abort');
  return { delay, abort };
}

/** Istio: a fault without `percentage` applies to every request. */
function fraction(reader: Reader, path: string, o: Fields): number {
  if (o.percentage !== undefined) return reader.percentage(join(path, 'percentage'), o.percentage) ?? 1;
  if (o.percent !== undefined) return (reader.integer(join(path, 'percent'), o.percent, 0, 100) ?? 100) / 100;
  return 1;
}

function readHeaderOps(reader: Reader, path: string, value: unknown): HeaderOpsSpec | undefined {
  const o = reader.object(path, value, ['set', 'add', 'remove']);
  if (o === undefined) return undefined;
  const lower = (m: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> =>
    Object.freeze(Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k.toLowerCase(), v])));
  return {
    set: lower(reader.labels(join(path, 'set'), o.set)),
    add: lower(reader.labels(join(path, 'add'), o.add)),
    remove: reader
      .array(join(path, 'remove'), o.remove)
      .map((h, i) => reader.string(join(join(path, 'remove'), i), h)?.toLowerCase())
      .filter((h): h is string => h !== undefined),
  };
}

function readRedirect(reader: Reader, path: string, value: unknown): RedirectSpec | undefined {
  const r = reader.object(path, value, ['uri', 'authority', 'port', 'scheme', 'redirectCode'], {
    derivePort: 'not supported',
  });
  if (r === undefined) return undefined;
  return {
    uri: reader.string(join(path, 'uri'), r.uri),
    authority: reader.string(join(path, 'authority'), r.authority),
    port: reader.integer(join(path, 'port'), r.port, 1, 65535),
    scheme: reader.string(join(path, 'scheme'), r.scheme),
    redirectCode: reader.integer(join(path, 'redirectCode'), r.redirectCode, 300, 399) ?? 301,
  };
}
