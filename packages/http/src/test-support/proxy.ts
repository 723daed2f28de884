import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that forwards to `target`, except that it "loses" the first `lose` responses:
 * once the upstream starts answering on such a connection, the client side is cut instead. The request
 * was performed; the caller never hears of it.
 */
export async function lossyProxy(
  target: string,
  lose: number,
): Promise<{ address: string; close(): Promise<void> }> {
  const [host, port] = target.split(':') as [string, string];
  let remaining = lose;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), host);
    sockets.add(client);
    sockets.add(upstream);
    const dropThis = remaining > 0;
    if (dropThis) remaining--;
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (dropThis) {
        client.destroy();
        upstream.destroy();
      } else client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
