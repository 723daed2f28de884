import diagnostics from 'node:diagnostics_channel';
import type { CallContext, TypedChannel } from '@meshkit/core';

/**
 * The balancer's typed events on `node:diagnostics_channel`, beside core's (`meshkit:<area>:<event>`).
 * Publishers check `hasSubscribers` first, so an event nobody listens to costs one property read.
 *
 * @example
 * ```ts
 * balanceChannels.ejected.subscribe((e) => console.warn(`${e.service}/${e.endpoint} ejected: ${e.reason}`));
 * ```
 */

/** An endpoint was ejected by outlier detection until `untilMs` (epoch ms on the balancer's clock). */
export interface EjectedEvent {
  readonly service: string;
  readonly endpoint: string;
  readonly reason: string;
  readonly untilMs: number;
  readonly ejections: number;
}
/** An ejected endpoint's ejection time ended. */
export interface ReturnedEvent {
  readonly service: string;
  readonly endpoint: string;
}
/** An active health check changed an endpoint's health. */
export interface HealthChangedEvent {
  readonly service: string;
  readonly endpoint: string;
  readonly healthy: boolean;
  readonly error?: unknown;
}

function channel<T>(name: string): TypedChannel<T> {
  return diagnostics.channel(name) as unknown as TypedChannel<T>;
}

/** An endpoint was chosen for one attempt of a call (`ctx` is the attempt's context, before the endpoint). */
export interface PickedEvent {
  readonly service: string;
  readonly endpoint: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly attempt: number;
  readonly ctx: CallContext;
}

/** The balancer's channels. */
export const balanceChannels = {
  picked: channel<PickedEvent>('meshkit:balance:picked'),
  ejected: channel<EjectedEvent>('meshkit:balance:ejected'),
  returned: channel<ReturnedEvent>('meshkit:balance:returned'),
  healthChanged: channel<HealthChangedEvent>('meshkit:balance:health-changed'),
} as const;
