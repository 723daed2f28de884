import { ErrorCode, MeshError } from '@meshkit/core';
import type { PublishResult } from '@meshkit/messaging';
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { amqpChannels } from './channels.ts';

/**
 * Publishing on one confirm channel with a bounded window of unconfirmed messages. A message counts as
 * published only on the broker's `basic.ack`; a `basic.nack`, a `basic.return` (mandatory flag, no
 * queue bound) or the channel closed by a broker error refuses it. When the connection is lost, the
 * messages still awaiting their confirm and those not yet sent wait for the next channel and are sent
 * again (at least once: the inbox absorbs the duplicates), each until its `giveUpAt`; past it the
 * message fails with a retryable error, so nothing vanishes.
 */

/** One message to send. */
export interface Outbound {
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Buffer;
  readonly options: Options.Publish;
  /** Epoch ms after which a message that cannot be sent (no connection) fails instead of waiting. */
  readonly giveUpAt: number;
}

interface Entry {
  readonly out: Outbound;
  readonly resolve: (result: PublishResult) => void;
  /** Sent at least once, so a failure leaves its outcome unknown. */
  sent: boolean;
}

/** The channel in use and the broker error that closed it, if one did. */
interface Lane {
  readonly channel: ConfirmChannel;
  error: Error | undefined;
  open: boolean;
}

/** Sends messages and resolves each on its confirm. */
export class ConfirmPublisher {
  readonly #maxUnconfirmed: number;
  readonly #reopen: () => void;
  #lane: Lane | undefined;
  #queue: Entry[] = [];
  #head = 0;
  /** Messages whose confirm was lost with their channel; sent again before anything new. */
  #resend: Entry[] = [];
  #unconfirmed = 0;
  #draining = false;
  #closed = false;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #idle: (() => void)[] = [];
  /** Returned (unroutable) messages not yet matched with their confirm, by exchange, key and id. */
  readonly #returned = new Map<string, number>();

  /**
   * @param maxUnconfirmed most messages awaiting their confirm at once
   * @param reopen asks for a new channel after a broker error closed the current one
   */
  constructor(maxUnconfirmed: number, reopen: () => void) {
    this.#maxUnconfirmed = maxUnconfirmed;
    this.#reopen = reopen;
  }

  /** Messages not yet sent plus messages awaiting their confirm. */
  get pending(): number {
    return this.#queue.length - this.#head + this.#resend.length + this.#unconfirmed;
  }

  /** Messages sent and awaiting their confirm (at most the window). */
  get unconfirmed(): number {
    return this.#unconfirmed;
  }

  /** `true` while a channel is open to send on. */
  get connected(): boolean {
    return this.#lane?.open === true;
  }

  /** Starts sending on `channel` (a fresh one after a reconnect or a channel error). */
  attach(channel: ConfirmChannel): void {
    const previous = this.#lane;
    const lane: Lane = { channel, error: undefined, open: true };
    this.#lane = lane;
    if (previous?.open) void previous.channel.close().catch(() => {});
    channel.on('error', (error: Error) => {
      lane.error = error;
      if (amqpChannels.channelError.hasSubscribers) {
        amqpChannels.channelError.publish({ role: 'publish', group: undefined, error });
      }
    });
    channel.on('return', (message: Message) => {
      const key = returnKey(message.fields.exchange, message.fields.routingKey, message.properties.messageId);
      this.#returned.set(key, (this.#returned.get(key) ?? 0) + 1);
    });
    channel.on('close', () => {
      lane.open = false;
      if (this.#lane === lane) this.#lane = undefined;
      this.#draining = false;
      this.#sweep();
      if (lane.error !== undefined && !this.#closed) this.#reopen();
    });
    this.#pump();
  }

  /** Sends one message; resolves with its outcome, never rejects. */
  send(out: Outbound): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve) => this.enqueue(out, resolve));
  }

  /** Sends one message and calls `resolve` once with its outcome (no promise per message for batches). */
  enqueue(out: Outbound, resolve: (result: PublishResult) => void): void {
    if (this.#closed) {
      resolve({ ok: false, error: closedError() });
      return;
    }
    this.#queue.push({ out, resolve, sent: false });
    this.#pump();
  }

  /** Resolves once nothing is waiting or unconfirmed, or after `ms`. */
  whenIdle(ms: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Fails whatever is still waiting and stops sending. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#resend) entry.resolve({ ok: false, error: closedError() });
    for (let i = this.#head; i < this.#queue.length; i++)
      this.#queue[i]!.resolve({ ok: false, error: closedError() });
    this.#resend = [];
    this.#queue = [];
    this.#head = 0;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#checkIdle();
  }

  #pump(): void {
    const lane = this.#lane;
    while (lane?.open && !this.#draining && this.#unconfirmed < this.#maxUnconfirmed) {
      let entry: Entry;
      if (this.#resend.length > 0) {
        entry = this.#resend.shift()!;
      } else if (this.#head < this.#queue.length) {
        entry = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined as unknown as Entry;
      } else {
        break;
      }
      this.#publish(lane, entry);
    }
    if (this.#head > 1_024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#lane === undefined) this.#sweep();
    this.#checkIdle();
  }

  #publish(lane: Lane, entry: Entry): void {
    const { exchange, routingKey, body, options } = entry.out;
    this.#unconfirmed++;
    entry.sent = true;
    let flowing: boolean;
    try {
      flowing = lane.channel.publish(exchange, routingKey, body, options, (error: unknown) =>
        this.#confirmed(lane, entry, error),
      );
    } catch (error) {
      // amqplib throws before registering the confirm callback (channel closing, headers table too large).
      this.#unconfirmed--;
      // amqplib refuses with IllegalOperationError once the channel is closing (its close callbacks run
      // before ours learn of it): the message was not sent and goes out on the next channel.
      if ((error as { name?: unknown }).name === 'IllegalOperationError') lane.open = false;
      if (!lane.open) this.#requeue(entry);
      else
        entry.resolve({
          ok: false,
          error: rejected(`cannot publish to ${routingKey}: ${text(error)}`, error),
        });
      return;
    }
    if (!flowing) {
      this.#draining = true;
      lane.channel.once('drain', () => {
        this.#draining = false;
        this.#pump();
      });
    }
  }

  #confirmed(lane: Lane, entry: Entry, error: unknown): void {
    this.#unconfirmed--;
    const { exchange, routingKey, options } = entry.out;
    if (error === null || error === undefined) {
      const returns =
        this.#returned.size === 0
          ? undefined
          : this.#returned.get(returnKey(exchange, routingKey, options.messageId));
      if (returns === undefined) {
        entry.resolve({ ok: true });
      } else {
        const key = returnKey(exchange, routingKey, options.messageId);
        if (returns <= 1) this.#returned.delete(key);
        else this.#returned.set(key, returns - 1);
        const where = exchange === '' ? 'the default exchange' : `exchange "${exchange}"`;
        entry.resolve({
          ok: false,
          error: rejected(`unroutable: no queue is bound to routing key "${routingKey}" on ${where}`),
        });
      }
    } else if (text(error) === 'message nacked') {
      entry.resolve({ ok: false, error: rejected(`the broker nacked the message for ${routingKey}`) });
    } else {
      // "channel closed": the channel is gone, whatever its close listeners have been told so far.
      lane.open = false;
      if (lane.error !== undefined) {
        entry.resolve({
          ok: false,
          error: rejected(`the channel was closed by the broker: ${lane.error.message}`, lane.error),
        });
      } else if (this.#closed) {
        entry.resolve({ ok: false, error: closedError() });
      } else {
        this.#requeue(entry);
      }
    }
    this.#pump();
  }

  /** Keeps a message whose confirm was lost, to be sent again (in confirm order) on the next channel. */
  #requeue(entry: Entry): void {
    this.#resend.push(entry);
  }

  /** While disconnected, fails the messages whose wait is over. */
  #sweep(): void {
    if (this.#lane !== undefined || this.#closed || this.pending === this.#unconfirmed) {
      if (this.#sweeper !== undefined) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
      return;
    }
    this.#sweeper ??= setInterval(() => this.#expire(), 100);
    this.#sweeper.unref?.();
  }

  #expire(): void {
    if (this.#lane !== undefined) {
      this.#sweep();
      return;
    }
    const now = Date.now();
    const kept: Entry[] = [];
    const waiting = [...this.#resend, ...this.#queue.slice(this.#head)];
    this.#resend = [];
    for (const entry of waiting) {
      if (entry.out.giveUpAt > now) {
        kept.push(entry);
        continue;
      }
      const error = entry.sent
        ? new MeshError(
            ErrorCode.CONNECTION_RESET,
            `the connection to RabbitMQ was lost before the confirm of a message for ${entry.out.routingKey} and did not come back in time; it may have been published`,
            { retryable: true },
          )
        : new MeshError(
            ErrorCode.CONNECT,
            `no connection to RabbitMQ in time to publish a message for ${entry.out.routingKey}`,
            { retryable: true, rejected: true },
          );
      entry.resolve({ ok: false, error });
    }
    this.#queue = kept;
    this.#head = 0;
    this.#sweep();
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.pending === 0 && this.#idle.length > 0) {
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
    }
  }
}

function returnKey(exchange: string, routingKey: string, messageId: unknown): string {
  return `${exchange}\u0000${routingKey}\u0000${String(messageId)}`;
}

function rejected(message: string, cause?: unknown): MeshError {
  return new MeshError(ErrorCode.BROKER_REJECTED, message, { cause });
}

function closedError(): MeshError {
  return new MeshError(ErrorCode.CLOSED, 'the RabbitMQ broker connection is closed');
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
