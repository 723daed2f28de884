import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv6 } from 'node:net';

/**
 * A tiny authoritative DNS server for tests: answers A, AAAA and SRV questions from an in-memory table
 * on 127.0.0.1 (UDP, port chosen by the OS), NXDOMAIN for unknown names. Change `records` at any time.
 */

/** One answer record. */
export type TestRecord =
  | { readonly type: 'A' | 'AAAA'; readonly address: string; readonly ttl: number }
  | {
      readonly type: 'SRV';
      readonly target: string;
      readonly port: number;
      readonly priority?: number;
      readonly weight?: number;
      readonly ttl: number;
    };

const typeCodes = { A: 1, AAAA: 28, SRV: 33 } as const;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])),
    Buffer.from([0]),
  ]);
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (msg[i]! !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString());
    i += len + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not IPv6: ${address}`);
  const [head = '', tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

function rdata(record: TestRecord): Buffer {
  if (record.type !== 'SRV') {
    return record.type === 'A'
      ? Buffer.from(record.address.split('.').map(Number))
      : ipv6Bytes(record.address);
  }
  const head = Buffer.alloc(6);
  head.writeUInt16BE(record.priority ?? 0, 0);
  head.writeUInt16BE(record.weight ?? 1, 2);
  head.writeUInt16BE(record.port, 4);
  return Buffer.concat([head, encodeName(record.target)]);
}

/** A running test DNS server. */
export interface TestDnsServer {
  /** `127.0.0.1:port`, for `Resolver.setServers`. */
  readonly address: string;
  /** Records by lower-case name; edit freely. */
  readonly records: Map<string, TestRecord[]>;
  /** Questions received, as `TYPE name`. */
  readonly queries: string[];
  /** Names answered with SERVFAIL (a broken upstream), whatever `records` holds. */
  readonly failing: Set<string>;
  close(): Promise<void>;
}

/** Starts the server; stop it with `close()`. */
export async function startDnsServer(): Promise<TestDnsServer> {
  const socket: Socket = createSocket('udp4');
  const records = new Map<string, TestRecord[]>();
  const queries: string[] = [];
  const failing = new Set<string>();
  socket.on('message', (msg, peer) => {
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const typeName = (Object.keys(typeCodes) as (keyof typeof typeCodes)[]).find(
      (k) => typeCodes[k] === qtype,
    );
    queries.push(`${typeName ?? qtype} ${name}`);
    const broken = failing.has(name);
    const known = broken ? [] : records.get(name);
    const answers = (known ?? []).filter((r) => typeCodes[r.type] === qtype);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    const rcode = broken ? 2 : known === undefined ? 3 : 0; // SERVFAIL, NXDOMAIN, NOERROR
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const question = msg.subarray(12, end + 4);
    const body = answers.map((r) => {
      const data = rdata(r);
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0); // name: pointer to the question
      fixed.writeUInt16BE(typeCodes[r.type], 2);
      fixed.writeUInt16BE(1, 4);
      fixed.writeUInt32BE(r.ttl, 6);
      fixed.writeUInt16BE(data.length, 10);
      return Buffer.concat([fixed, data]);
    });
    socket.send(Buffer.concat([header, question, ...body]), peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${socket.address().port}`,
    records,
    queries,
    failing,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
