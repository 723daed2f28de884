import { completionOf } from '@meshkit/core';

/**
 * Runs `ok` when the call that produced `value` is over: at once for a unary result, when its stream
 * ends for a streamed one; `err` instead when the stream ends with an error. What a layer holds for a
 * call (a slot, a timer, an outcome to count) is released here rather than when the promise settles.
 */
export function afterCompletion<Res>(
  value: Res,
  ok: (value: Res) => void,
  err: (error: unknown) => void,
): void {
  const completion = completionOf(value);
  if (completion === undefined) ok(value);
  else completion.onDone((error) => (error === undefined ? ok(value) : err(error)));
}
