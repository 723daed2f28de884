import { type CallContext, channels, type Service, whenComplete } from '@meshkit/core';

/** `true` when someone listens to attempt events, so the layer must time and report each attempt. */
export function attemptsObserved(): boolean {
  return channels.attemptStart.hasSubscribers || channels.attemptEnd.hasSubscribers;
}

/** Runs one attempt and publishes its start and end (only called when {@link attemptsObserved}). */
export function observedAttempt<Req, Res>(
  next: Service<Req, Res>,
  req: Req,
  ctx: CallContext,
  layer: string,
): Promise<Res> {
  const attempt = ctx.attempt;
  if (channels.attemptStart.hasSubscribers) channels.attemptStart.publish({ layer, attempt, ctx });
  const clock = ctx.clock;
  const start = clock.now();
  return next(req, ctx).then(
    (value) => {
      // A streamed attempt ends with its stream.
      whenComplete(value, (error) => {
        if (channels.attemptEnd.hasSubscribers) {
          channels.attemptEnd.publish({
            layer,
            attempt,
            durationMs: clock.now() - start,
            ...(error === undefined ? {} : { error }),
          });
        }
      });
      return value;
    },
    (error: unknown) => {
      if (channels.attemptEnd.hasSubscribers) {
        channels.attemptEnd.publish({ layer, attempt, durationMs: clock.now() - start, error });
      }
      throw error;
    },
  );
}
