import { httpServer, type KitHandler, type MeshServer } from '@meshkit/http';

/** An HTTP kit server on 127.0.0.1, port 0; returns its address and a stop function. */
export async function startServer(
  service: string,
  handler: KitHandler,
): Promise<{ readonly address: string; readonly server: MeshServer; stop(): Promise<void> }> {
  const server = httpServer({ service, shutdown: { signals: false, exit: false }, handler });
  const { port } = await server.listen();
  return { address: `127.0.0.1:${port}`, server, stop: () => server.shutdown() };
}

/** Resolves after `count` calls of the returned listener. */
export function countdown<T>(count: number): { readonly done: Promise<void>; listener(message: T): void } {
  let left = count;
  let resolve!: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  if (left <= 0) resolve();
  return {
    done,
    listener: () => {
      left--;
      if (left === 0) resolve();
    },
  };
}
