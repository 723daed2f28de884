import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, systemClock, type TimerHandle } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';

/** Options of {@link SseHub}. */
export interface SseHubOptions {
  /** Streams open at once; more are answered 503. Defaults to 64. */
  readonly maxClients?: number;
  /**
   * A client whose socket holds more than this many unsent bytes is behind: it gets no new event until
   * the socket drains, and then only the latest one. Defaults to 256 KiB.
   */
  readonly maxBufferedBytes?: number;
  /** A client behind for longer than this is disconnected, in ms. Defaults to 30,000. */
  readonly stallTimeoutMs?: number;
  /** A comment line is sent this often so dead connections are found, in ms. Defaults to 15,000. */
  readonly heartbeatMs?: number;
  readonly clock?: Clock;
}

interface Client {
  readonly res: ServerResponse;
  /** The last event written to it. */
  sent: string | undefined;
  /** When it fell behind; `undefined` while it keeps up. */
  behindSince: number | undefined;
}

/**
 * Server-sent events to many clients where only the latest event matters (a snapshot replaces the one
 * before). A slow client never makes memory grow: events are not queued per client; a client that is
 * behind skips to the latest event once its socket drains, and one that stays behind past
 * `stallTimeoutMs` is disconnected.
 */
export class SseHub {
  readonly #clients = new Set<Client>();
  readonly #maxClients: number;
  readonly #maxBufferedBytes: number;
  readonly #stallTimeoutMs: number;
  readonly #heartbeatMs: number;
  readonly #clock: Clock;
  #latest: string | undefined;
  #seq = 0;
  #heartbeat: TimerHandle | undefined;
  #closed = false;

  constructor(options: SseHubOptions = {}) {
    this.#maxClients = checkInteger('sse.maxClients', options.maxClients ?? 64, 1);
    this.#maxBufferedBytes = checkInteger('sse.maxBufferedBytes', options.maxBufferedBytes ?? 256 << 10, 1);
    this.#stallTimeoutMs = checkInteger('sse.stallTimeoutMs', options.stallTimeoutMs ?? 30_000, 1);
    this.#heartbeatMs = checkInteger('sse.heartbeatMs', options.heartbeatMs ?? 15_000, 1);
    this.#clock = options.clock ?? systemClock;
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Bytes waiting in clients' sockets, summed. */
  get bufferedBytes(): number {
    let total = 0;
    for (const c of this.#clients) total += c.res.writableLength;
    return total;
  }

  /** Answers `req` with an event stream, starting with the latest event. */
  accept(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed || this.#clients.size >= this.#maxClients) {
      res.writeHead(503, { 'retry-after': '5', 'content-type': 'text/plain' }).end('too many streams\n');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client: Client = { res, sent: undefined, behindSince: undefined };
    this.#clients.add(client);
    const remove = (): void => {
      this.#clients.delete(client);
    };
    req.on('close', remove);
    res.on('close', remove);
    res.on('error', remove);
    res.on('drain', () => {
      client.behindSince = undefined;
      if (this.#latest !== undefined && client.sent !== this.#latest) this.#write(client, this.#latest);
    });
    this.#write(client, 'retry: 2000\n\n', false);
    if (this.#latest !== undefined) this.#write(client, this.#latest);
    this.#armHeartbeat();
  }

  /** Sends `data` (one line of text, e.g. JSON) as event `event` to every client that keeps up. */
  publish(event: string, data: string): void {
    if (data.includes('\n')) throw new Error('an SSE data line must not hold a newline');
    this.#latest = `id: ${++this.#seq}\nevent: ${event}\ndata: ${data}\n\n`;
    const now = this.#clock.now();
    for (const client of this.#clients) {
      if (client.behindSince !== undefined) {
        if (now - client.behindSince > this.#stallTimeoutMs) client.res.destroy();
        continue;
      }
      this.#write(client, this.#latest);
    }
  }

  /** Ends every stream and refuses new ones. */
  close(): void {
    this.#closed = true;
    if (this.#heartbeat !== undefined) this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
    for (const client of this.#clients) client.res.end();
    this.#clients.clear();
  }

  #write(client: Client, chunk: string, isEvent = true): void {
    if (isEvent) client.sent = chunk;
    const ok = client.res.write(chunk);
    if (!ok || client.res.writableLength > this.#maxBufferedBytes) client.behindSince ??= this.#clock.now();
  }

  #armHeartbeat(): void {
    if (this.#heartbeat !== undefined || this.#closed) return;
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#heartbeat = undefined;
      const now = this.#clock.now();
      for (const client of this.#clients) {
        if (client.behindSince === undefined) client.res.write(': ping\n\n');
        else if (now - client.behindSince > this.#stallTimeoutMs) client.res.destroy();
      }
      if (this.#clients.size > 0) this.#armHeartbeat();
    }, this.#heartbeatMs);
  }
}
