import { balanceChannels } from '@meshkit/balance';
import { channels, exchangeChannels, type TypedChannel } from '@meshkit/core';
import { messagingChannels } from '@meshkit/messaging';

/** Every channel the subscribers listen to, by name. */
export function observedChannels(): TypedChannel<unknown>[] {
  return [
    ...Object.values(channels),
    ...Object.values(exchangeChannels),
    ...Object.values(messagingChannels),
    ...Object.values(balanceChannels),
  ] as TypedChannel<unknown>[];
}

/** Names of the channels that still have subscribers. */
export function channelsWithSubscribers(): string[] {
  return observedChannels()
    .filter((c) => c.hasSubscribers)
    .map((c) => c.name);
}
