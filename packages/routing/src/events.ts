import diagnostics from 'node:diagnostics_channel';
import type { RouteDecision } from './table.ts';

/** What the routing layer publishes per call on {@link routeChannel}, when anyone listens. */
export interface RouteEvent {
  /** The layer's host (the client's service). */
  readonly host: string;
  /**
   * The decision handed down; `undefined` when no rule matched (the call failed with no-route), an
   * injected abort failed it, or a redirect answered it.
   */
  readonly decision: RouteDecision | undefined;
  /** A fault the rule injected into this call, if any. */
  readonly fault?: 'delay' | 'abort' | undefined;
  /** `true` when the rule answered with a redirect. */
  readonly redirected?: boolean | undefined;
  /** `true` when a mirrored copy was sent. */
  readonly mirrored?: boolean | undefined;
}

/**
 * `meshkit:routing:route`: one message per routed call (rule, destination, subset), for metrics and the
 * dashboard. Published only when something subscribed, so an unobserved call pays one property read.
 */
export const routeChannel = diagnostics.channel('meshkit:routing:route') as diagnostics.Channel & {
  publish(message: RouteEvent): void;
};
