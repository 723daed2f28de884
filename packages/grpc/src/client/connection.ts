import { type ClientHttp2Session, connect, type SecureClientSessionOptions } from 'node:http2';
import { InvalidArgumentError } from '@meshkit/core';

/** TLS for a client's connections. PEM strings or buffers, as `node:tls` takes them. */
export interface GrpcClientTlsOptions {
  /** Certificate authorities to trust instead of the system's. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate chain, for mutual TLS. Requires `key`. */
  readonly cert?: string | Buffer;
  /** Client private key, for mutual TLS. Requires `cert`. */
  readonly key?: string | Buffer;
  /** Server name to verify (and send as SNI) when the address is an IP or another name. */
  readonly servername?: string;
  /** Verify the server's certificate. Defaults to `true`; turning it off is for local experiments only. */
  readonly rejectUnauthorized?: boolean;
}

/**
 * One endpoint's HTTP/2 connection: opened on first use, reopened after it closed or the server sent
 * GOAWAY (calls already running on the old one finish there). Referenced only while calls run, so an idle
 * client never keeps the process alive.
 */
export class Connection {
  readonly authority: string;
  readonly #options: SecureClientSessionOptions;
  readonly #connectTimeoutMs: number;
  #session: ClientHttp2Session | undefined;
  readonly #connected = new WeakSet<ClientHttp2Session>();
  #active = 0;
  #closed = false;

  constructor(address: string, tls: GrpcClientTlsOptions | undefined, connectTimeoutMs: number) {
    this.authority = `${tls === undefined ? 'http' : 'https'}://${address}`;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#options = tls === undefined ? {} : tlsOptions(tls);
  }

  /** `true` once {@link Connection.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The session to open a stream on. */
  session(): ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = connect(this.authority, this.#options);
    this.#session = session;
    const drop = (): void => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('error', drop);
    session.on('close', drop);
    session.on('goaway', drop);
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`connect timed out after ${this.#connectTimeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
      session.destroy(error);
    }, this.#connectTimeoutMs);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      this.#connected.add(session);
    });
    session.once('close', () => clearTimeout(timer));
    if (this.#active === 0) session.unref();
    return session;
  }

  /** `true` once `session` connected: a failure before that means no request was sent on it. */
  connected(session: ClientHttp2Session): boolean {
    return this.#connected.has(session);
  }

  /** A call started: keep the process alive while it runs. */
  acquire(session: ClientHttp2Session): void {
    if (this.#active++ === 0) session.ref();
  }

  /** A call ended. */
  release(session: ClientHttp2Session): void {
    if (--this.#active === 0 && !session.destroyed) session.unref();
  }

  /** Closes the connection gracefully: running calls finish, new ones fail. */
  close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    if (session === undefined || session.closed) return Promise.resolve();
    return new Promise((resolve) => session.close(() => resolve()));
  }
}

function tlsOptions(tls: GrpcClientTlsOptions): SecureClientSessionOptions {
  if (typeof tls !== 'object' || tls === null) {
    throw new InvalidArgumentError('tls', 'must be an object', tls);
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidArgumentError('tls.cert', 'and tls.key must be given together');
  }
  return {
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ALPNProtocols: ['h2'],
    ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}
