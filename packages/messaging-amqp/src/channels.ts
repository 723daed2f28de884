import diagnostics from 'node:diagnostics_channel';
import type { TypedChannel } from '@meshkit/core';

/**
 * RabbitMQ adapter events on `node:diagnostics_channel` (names `meshkit:amqp:*`). Connection and channel
 * failures never throw into the application: they are reported here and recovered from.
 */

/** The connection changed state. */
export interface AmqpConnectionEvent {
  /** `connected` (first time or again), `disconnected`, `reconnect-scheduled`, `blocked`, `unblocked`, `error`. */
  readonly state: 'connected' | 'disconnected' | 'reconnect-scheduled' | 'blocked' | 'unblocked' | 'error';
  /** The adapter's connection name. */
  readonly connection: string;
  /** Reconnect attempt (1 = first) for `reconnect-scheduled`. */
  readonly attempt?: number;
  /** Delay before that attempt, ms. */
  readonly delayMs?: number;
  readonly error?: unknown;
}

/** A channel was closed by a broker error (the adapter opens a new one). */
export interface AmqpChannelErrorEvent {
  /** `publish` for the confirm channel, `consume` for a subscription's channel. */
  readonly role: 'publish' | 'consume';
  /** The consumer group of a `consume` channel. */
  readonly group: string | undefined;
  readonly error: unknown;
}

function channel<T>(name: string): TypedChannel<T> {
  return diagnostics.channel(name) as unknown as TypedChannel<T>;
}

/** The adapter's channels. */
export const amqpChannels = {
  connection: channel<AmqpConnectionEvent>('meshkit:amqp:connection'),
  channelError: channel<AmqpChannelErrorEvent>('meshkit:amqp:channel-error'),
} as const;
