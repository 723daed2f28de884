import type { Registry } from 'prom-client';
import type { Subscriptions } from './subscriptions.ts';

/** What each group of metrics is built with: the registry, the subscriptions, the label caps. */
export interface MetricContext {
  readonly registry: Registry;
  readonly subs: Subscriptions;
  /** `value` bounded by the cap of the label `name` (`other` past it; an empty value passes). */
  readonly cap: (name: string, value: string) => string;
}

/** Milliseconds as seconds, the unit Prometheus durations use. */
export const seconds = (ms: number): number => ms / 1_000;
