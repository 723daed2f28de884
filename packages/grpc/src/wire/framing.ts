/**
 * gRPC's length-prefixed messages: a 1-byte compressed flag, a 4-byte big-endian length, the bytes.
 */

/** The 5-byte prefix followed by `message`, as one buffer (one write, one DATA frame for small messages). */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Why a {@link FrameDecoder} refused its input. */
export type FrameError = 'compressed' | 'too-large';

/**
 * Splits a byte stream into messages, across chunk boundaries, without copying a message that arrives in
 * one chunk. Refuses a message over `maxMessageBytes` as soon as its prefix arrives (before buffering it)
 * and a compressed one (we never advertise an encoding, so a peer must not send one).
 */
export class FrameDecoder {
  readonly #maxMessageBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Bytes received that do not make a whole message yet (non-zero at the end of a stream: truncated). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Feeds a chunk; returns the whole messages it completes, or the reason the stream must fail. */
  push(chunk: Buffer): Uint8Array[] | FrameError {
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      buf = Buffer.concat(this.#pending, this.#pendingBytes + chunk.length);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const out: Uint8Array[] = [];
    let offset = 0;
    while (buf.length - offset >= 5) {
      if (buf[offset] !== 0) return 'compressed';
      const length = buf.readUInt32BE(offset + 1);
      if (length > this.#maxMessageBytes) return 'too-large';
      if (buf.length - offset - 5 < length) break;
      out.push(buf.subarray(offset + 5, offset + 5 + length));
      offset += 5 + length;
    }
    if (offset < buf.length) {
      const rest = buf.subarray(offset);
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
    }
    return out;
  }
}
