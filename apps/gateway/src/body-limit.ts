import { Transform, type TransformCallback } from 'node:stream';

/** Raised by {@link byteLimit} when more than its limit flowed through. */
export class BodyTooLargeError extends Error {
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`the body exceeds ${limitBytes} bytes`);
    this.name = 'BodyTooLargeError';
    this.limitBytes = limitBytes;
  }
}

/** A pass-through stream that fails with {@link BodyTooLargeError} once more than `limitBytes` went by. */
export function byteLimit(limitBytes: number): Transform & { readonly exceeded: boolean } {
  let seen = 0;
  let exceeded = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limitBytes) {
        exceeded = true;
        callback(new BodyTooLargeError(limitBytes));
      } else callback(null, chunk);
    },
  });
  return Object.defineProperty(stream, 'exceeded', { get: () => exceeded }) as Transform & {
    readonly exceeded: boolean;
  };
}
