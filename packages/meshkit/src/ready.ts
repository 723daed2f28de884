/** Where a started process serves, as its supervisor's `ready` message says. */
export interface ReadyUrls {
  /** `http://host:port` of its HTTP server. */
  readonly http: string;
  /** `host:port` of its gRPC server, when it has one. */
  readonly grpc?: string;
}

/** The message a process sends its supervisor once it is serving and registered. */
export interface ReadyMessage {
  readonly type: 'ready';
  readonly urls: ReadyUrls;
}

/**
 * Tells a supervisor that started this process with an IPC channel (`stdio: [..., 'ipc']`, `fork()`)
 * that it is serving and registered: sends `{ type: 'ready', urls }`. Without a channel it does nothing.
 * Returns whether a message was sent.
 *
 * @example
 * ```ts
 * announceReady({ http: 'http://127.0.0.1:8080', grpc: '127.0.0.1:50051' });
 * ```
 */
export function announceReady(
  urls: ReadyUrls,
  channel: { send?: ((message: ReadyMessage) => unknown) | undefined; connected?: boolean } = process,
): boolean {
  if (typeof channel.send !== 'function' || channel.connected === false) return false;
  const message: ReadyMessage = {
    type: 'ready',
    urls: urls.grpc === undefined ? { http: urls.http } : { http: urls.http, grpc: urls.grpc },
  };
  channel.send(message);
  return true;
}
