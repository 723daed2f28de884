import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ChunkSchema, NumberSchema } from '../gen/meshkit/testing/v1/streaming_pb.ts';

/** What a request generator did: how many messages the transport read, and whether it was closed. */
export interface SourceState {
  pulled: number;
  finished: boolean;
}

/** The numbers `values` as a request stream, counting what is read and noting when it is closed. */
export async function* numbers(
  values: Iterable<number>,
  state: SourceState,
): AsyncGenerator<MessageInitShape<typeof NumberSchema>> {
  try {
    for (const value of values) {
      state.pulled++;
      yield { value: BigInt(value) };
    }
  } finally {
    state.finished = true;
  }
}

/** `count` chunks of `bytes` bytes each, as a request stream, counting what is read. */
export async function* chunks(
  count: number,
  bytes: number,
  state: SourceState,
): AsyncGenerator<MessageInitShape<typeof ChunkSchema>> {
  try {
    for (let i = 0; i < count; i++) {
      state.pulled++;
      yield { text: String(i), data: new Uint8Array(bytes).fill(i % 256) };
    }
  } finally {
    state.finished = true;
  }
}

/** 1, 2, ... `n`. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Resolves once `condition()` holds, checking every few ms (a bound on how long is the test's timeout). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/**
 * Resolves once `read()` has stopped changing for a while: the point where a producer held back by flow
 * control has filled every buffer it can.
 */
export async function settled(read: () => number): Promise<number> {
  let last = read();
  for (let quiet = 0; quiet < 10; ) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = read();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

/** A promise and the function that resolves it. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
