import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';

/**
 * What a {@link faultServer} does with every request it reads (the head only: bodies are ignored):
 *
 * - `ok`: answers 200 with `body` at once.
 * - `slow-headers`: waits `delayMs` before the status line.
 * - `slow-body`: sends the headers, then `body` one byte per `intervalMs`.
 * - `stalled-body`: sends the headers (chunked) and `first`, then nothing, holding the connection open.
 * - `reset-mid-response`: sends the headers and half of a declared 1,000-byte body, then an RST.
 * - `oversize-body`: sends `bytes` bytes of body, declared in `content-length` or (without
 *   `declareLength`) chunked; stops writing once the client closes.
 */
export type HttpFault =
  | { readonly kind: 'ok'; readonly body?: string }
  | { readonly kind: 'slow-headers'; readonly delayMs: number }
  | { readonly kind: 'slow-body'; readonly body: string; readonly intervalMs: number }
  | { readonly kind: 'stalled-body'; readonly first?: string }
  | { readonly kind: 'reset-mid-response' }
  | { readonly kind: 'oversize-body'; readonly bytes: number; readonly declareLength: boolean };

/** Options of {@link faultServer}. */
export interface FaultServerOptions {
  /**
   * Serves TLS with this certificate and key and requires a client certificate signed by `ca`: a client
   * without one, or with one of another CA, is refused during the handshake (the refused-TLS fault).
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** A running {@link faultServer}. */
export interface FaultServer {
  /** `127.0.0.1:port`. */
  readonly address: string;
  /** Request heads read so far. */
  readonly requests: () => number;
  /** Connections accepted so far (for TLS, handshakes completed). */
  readonly connections: () => number;
  /** Connections that have closed, whoever closed them. */
  readonly closedConnections: () => number;
  /** TLS handshakes the server refused. */
  readonly refusedHandshakes: () => number;
  /** Closes every connection and the listener. */
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 server on 127.0.0.1 that misbehaves the same way on every request, written on raw sockets
 * so each fault is exact: the client-side half of meshkit's fault tests (the server kits get the other
 * half, the faulty clients `slowRequest`, `oversizeUpload` and `resetMidRequest`).
 *
 * @example
 * ```ts
 * const upstream = await faultServer({ kind: 'stalled-body', first: 'partial' });
 * // ... point a client at upstream.address and check how it ends the call ...
 * await upstream.close();
 * ```
 */
export async function faultServer(fault: HttpFault, options: FaultServerOptions = {}): Promise<FaultServer> {
  let requests = 0;
  let connections = 0;
  let closed = 0;
  let refused = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const onConnection = (socket: Socket): void => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      closed++;
      sockets.delete(socket);
    });
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let end = pending.indexOf('\r\n\r\n');
      while (end !== -1) {
        pending = pending.slice(end + 4);
        requests++;
        answer(socket, fault, timers);
        end = pending.indexOf('\r\n\r\n');
      }
    });
  };
  let server: Server;
  if (options.tls === undefined) {
    server = createTcpServer(onConnection);
  } else {
    const tlsServer = createTlsServer(
      { ...options.tls, requestCert: true, rejectUnauthorized: true },
      (socket: TLSSocket) => onConnection(socket),
    );
    tlsServer.on('tlsClientError', () => {
      refused++;
    });
    server = tlsServer;
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    requests: () => requests,
    connections: () => connections,
    closedConnections: () => closed,
    refusedHandshakes: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function answer(socket: Socket, fault: HttpFault, timers: Set<NodeJS.Timeout>): void {
  /** Runs `run` after `ms` unless the connection is gone by then; `close()` clears what is pending. */
  const later = (ms: number, run: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!socket.destroyed) run();
    }, ms);
    timers.add(timer);
  };
  switch (fault.kind) {
    case 'ok': {
      const body = fault.body ?? 'ok';
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    case 'slow-headers':
      later(fault.delayMs, () => answer(socket, { kind: 'ok' }, timers));
      return;
    case 'slow-body': {
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(fault.body)}\r\n\r\n`,
      );
      const bytes = Buffer.from(fault.body);
      let i = 0;
      const trickle = (): void => {
        socket.write(bytes.subarray(i, ++i));
        if (i < bytes.length) later(fault.intervalMs, trickle);
      };
      later(fault.intervalMs, trickle);
      return;
    }
    case 'stalled-body': {
      const first = fault.first ?? 'first;';
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n`);
      socket.write(`${Buffer.byteLength(first).toString(16)}\r\n${first}\r\n`);
      return;
    }
    case 'reset-mid-response':
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n');
      socket.write(Buffer.alloc(500, 0x61), () => socket.resetAndDestroy());
      return;
    case 'oversize-body':
      sendOversize(socket, fault.bytes, fault.declareLength);
      return;
  }
}

function sendOversize(socket: Socket, bytes: number, declareLength: boolean): void {
  socket.write(
    `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n${
      declareLength ? `content-length: ${bytes}` : 'transfer-encoding: chunked'
    }\r\n\r\n`,
  );
  const chunk = Buffer.alloc(65_536, 0x61);
  const frame = (part: Buffer): Buffer =>
    declareLength
      ? part
      : Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]);
  let sent = 0;
  const pump = (): void => {
    while (!socket.destroyed && sent < bytes) {
      const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += part.length;
      if (!socket.write(frame(part))) {
        socket.once('drain', pump);
        return;
      }
    }
    if (!socket.destroyed && !declareLength) socket.write('0\r\n\r\n');
  };
  pump();
}
