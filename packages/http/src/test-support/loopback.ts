import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A node:http server on 127.0.0.1 and an ephemeral port, closed by the test that started it. */
export interface Loopback {
  readonly server: Server;
  readonly address: string;
  readonly requests: IncomingMessage[];
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** Starts a loopback server running `handler`; every request is recorded. */
export async function loopback(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<Loopback> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    void handler(req, res);
  });
  const state: Loopback = {
    server,
    address: '',
    requests,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => {
    state.connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (state as { address: string }).address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function deadPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

/** Reads a request body as text. */
export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
