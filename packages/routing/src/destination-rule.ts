import type { DestinationRuleSpec, TrafficPolicySpec } from './model.ts';
import { join, type Reader } from './reader.ts';

const simpleBalancers = [
  'ROUND_ROBIN',
  'LEAST_REQUEST',
  'RANDOM',
  'PASSTHROUGH',
  'UNSPECIFIED',
  'LEAST_CONN',
];

/** Reads the `spec` of a `DestinationRule`; problems go to `reader`. */
export function readDestinationRule(
  reader: Reader,
  name: string,
  namespace: string | undefined,
  specValue: unknown,
): DestinationRuleSpec | undefined {
  const spec = reader.object('spec', specValue, ['host', 'trafficPolicy', 'subsets'], {
    exportTo: 'visibility across namespaces has no in-process meaning',
    workloadSelector: 'applies to sidecars',
  });
  if (spec === undefined) {
    reader.error('spec', 'missing');
    return undefined;
  }
  const host = reader.string('spec.host', spec.host);
  if (host === undefined || host === '') {
    reader.error('spec.host', 'expected a host name');
    return undefined;
  }
  const names = new Set<string>();
  const subsets: DestinationRuleSpec['subsets'][number][] = [];
  reader.array('spec.subsets', spec.subsets).forEach((s, i) => {
    const path = join('spec.subsets', i);
    const o = reader.object(path, s, ['name', 'labels', 'trafficPolicy']);
    if (o === undefined) return;
    const subsetName = reader.string(join(path, 'name'), o.name);
    if (subsetName === undefined || subsetName === '') {
      reader.error(join(path, 'name'), 'expected a subset name');
      return;
    }
    if (names.has(subsetName)) {
      reader.error(join(path, 'name'), `subset "${subsetName}" is defined twice`);
      return;
    }
    names.add(subsetName);
    subsets.push({
      name: subsetName,
      labels: reader.labels(join(path, 'labels'), o.labels) ?? {},
      trafficPolicy: readTrafficPolicy(reader, join(path, 'trafficPolicy'), o.trafficPolicy),
    });
  });
  return {
    kind: 'DestinationRule',
    name,
    namespace,
    source: { file: reader.file, document: reader.document },
    host,
    trafficPolicy: readTrafficPolicy(reader, 'spec.trafficPolicy', spec.trafficPolicy),
    subsets,
  };
}

function readTrafficPolicy(reader: Reader, path: string, value: unknown): TrafficPolicySpec | undefined {
  const p = reader.object(path, value, ['loadBalancer', 'connectionPool', 'outlierDetection'], {
    tls: 'TLS is configured on the client (tls option), not from the DestinationRule',
    portLevelSettings: 'not supported yet',
    tunnel: 'not supported',
    proxyProtocol: 'not supported',
  });
  if (p === undefined) return undefined;
  const lbPath = join(path, 'loadBalancer');
  const lb = reader.object(lbPath, p.loadBalancer, ['simple', 'consistentHash'], {
    localityLbSetting: 'meshkit has no locality-aware balancing',
    warmupDurationSecs: 'not supported',
  });
  let simple = lb === undefined ? undefined : reader.string(join(lbPath, 'simple'), lb.simple);
  if (simple !== undefined && !simpleBalancers.includes(simple)) {
    reader.error(join(lbPath, 'simple'), `expected one of ${simpleBalancers.join(', ')}, got "${simple}"`);
    simple = undefined;
  }
  if (simple === 'LEAST_CONN') simple = 'LEAST_REQUEST';
  const chPath = join(lbPath, 'consistentHash');
  const ch = reader.object(
    chPath,
    lb?.consistentHash,
    ['httpHeaderName', 'httpCookie', 'httpQueryParameterName', 'useSourceIp'],
    {
      ringHash: 'the ring size is chosen by the balancer',
      maglev: 'the table size is chosen by the balancer',
      minimumRingSize: 'the ring size is chosen by the balancer',
    },
  );
  const cookie = reader.object(join(chPath, 'httpCookie'), ch?.httpCookie, ['name', 'ttl', 'path']);
  const pool = reader.object(join(path, 'connectionPool'), p.connectionPool, ['tcp', 'http']);
  const tcp = reader.object(
    join(path, 'connectionPool.tcp'),
    pool?.tcp,
    ['maxConnections', 'connectTimeout'],
    {
      tcpKeepalive: 'keep-alive is configured on the transport',
      maxConnectionDuration: 'not supported',
    },
  );
  const http = reader.object(
    join(path, 'connectionPool.http'),
    pool?.http,
    ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout'],
    {
      h2UpgradePolicy: 'the protocol is chosen by the client',
      useClientProtocol: 'the protocol is chosen by the client',
      maxConcurrentStreams: 'not supported',
    },
  );
  // Read and validated, but with nothing in-process to apply them to: said at load, not silently kept.
  const notApplied: readonly (readonly [string, string])[] = [
    [
      'maxRequestsPerConnection',
      'not applied: each endpoint keeps its connection (HTTP/2) or pool (HTTP/1.1) for as long as it lives',
    ],
    ['maxRetries', "not applied: retries are bounded by the route's retries and the client's retry budget"],
    ['idleTimeout', "not applied: idle connections follow the transport's own keep-alive settings"],
  ];
  for (const [key, note] of notApplied) {
    if (http?.[key] !== undefined) reader.warn(join(join(join(path, 'connectionPool'), 'http'), key), note);
  }
  const odPath = join(path, 'outlierDetection');
  const od = reader.object(
    odPath,
    p.outlierDetection,
    [
      'consecutive5xxErrors',
      'consecutiveGatewayErrors',
      'interval',
      'baseEjectionTime',
      'maxEjectionPercent',
    ],
    {
      consecutiveErrors: 'deprecated in Istio; use consecutive5xxErrors',
      minHealthPercent: 'use the balancer panic threshold',
      splitExternalLocalOriginErrors: 'not supported',
      consecutiveLocalOriginFailures: 'not supported',
    },
  );
  const int = (base: string, o: Readonly<Record<string, unknown>> | undefined, key: string, min = 0) =>
    o === undefined ? undefined : reader.integer(join(base, key), o[key], min);
  return {
    loadBalancer:
      lb === undefined
        ? undefined
        : {
            simple: simple as NonNullable<TrafficPolicySpec['loadBalancer']>['simple'],
            consistentHash:
              ch === undefined
                ? undefined
                : {
                    httpHeaderName: reader
                      .string(join(chPath, 'httpHeaderName'), ch.httpHeaderName)
                      ?.toLowerCase(),
                    httpCookie:
                      cookie === undefined
                        ? undefined
                        : reader.string(join(chPath, 'httpCookie.name'), cookie.name),
                    httpQueryParameterName: reader.string(
                      join(chPath, 'httpQueryParameterName'),
                      ch.httpQueryParameterName,
                    ),
                    useSourceIp: reader.boolean(join(chPath, 'useSourceIp'), ch.useSourceIp),
                  },
          },
    connectionPool:
      pool === undefined
        ? undefined
        : {
            maxConnections: int(join(path, 'connectionPool.tcp'), tcp, 'maxConnections', 1),
            connectTimeoutMs:
              tcp === undefined
                ? undefined
                : reader.duration(join(path, 'connectionPool.tcp.connectTimeout'), tcp.connectTimeout),
            http1MaxPendingRequests: int(
              join(path, 'connectionPool.http'),
              http,
              'http1MaxPendingRequests',
              1,
            ),
            http2MaxRequests: int(join(path, 'connectionPool.http'), http, 'http2MaxRequests', 1),
            maxRequestsPerConnection: int(
              join(path, 'connectionPool.http'),
              http,
              'maxRequestsPerConnection',
              0,
            ),
            maxRetries: int(join(path, 'connectionPool.http'), http, 'maxRetries', 0),
            idleTimeoutMs:
              http === undefined
                ? undefined
                : reader.duration(join(path, 'connectionPool.http.idleTimeout'), http.idleTimeout),
          },
    outlierDetection:
      od === undefined
        ? undefined
        : {
            consecutive5xxErrors: int(odPath, od, 'consecutive5xxErrors'),
            consecutiveGatewayErrors: int(odPath, od, 'consecutiveGatewayErrors'),
            intervalMs: reader.duration(join(odPath, 'interval'), od.interval),
            baseEjectionTimeMs: reader.duration(join(odPath, 'baseEjectionTime'), od.baseEjectionTime),
            maxEjectionPercent: int(odPath, od, 'maxEjectionPercent'),
          },
  };
}
