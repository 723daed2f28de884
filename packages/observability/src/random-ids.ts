import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/** Random bytes drawn at a time: 512 span ids or 256 trace ids. */
const poolBytes = 4096;

/** The all-zero ids W3C Trace Context calls invalid. */
const zeroSpanId = '0'.repeat(16);
const zeroTraceId = '0'.repeat(32);

/**
 * Random trace and span ids as lowercase hex, cut from a pool of cryptographically random bytes
 * encoded once per 4 KiB: an id is a substring, where the SDK's `RandomIdGenerator` encodes a buffer
 * per id (three per traced call). Never all zeros.
 */
export class RandomHexIds implements IdGenerator {
  readonly #bytes = Buffer.allocUnsafe(poolBytes);
  #hex = '';
  #at = 0;

  /** 32 hex digits (16 bytes). */
  generateTraceId(): string {
    const id = this.#take(32);
    return id === zeroTraceId ? this.generateTraceId() : id;
  }

  /** 16 hex digits (8 bytes). */
  generateSpanId(): string {
    const id = this.#take(16);
    return id === zeroSpanId ? this.generateSpanId() : id;
  }

  #take(digits: number): string {
    if (this.#at + digits > this.#hex.length) {
      this.#hex = randomFillSync(this.#bytes).toString('hex');
      this.#at = 0;
    }
    const id = this.#hex.slice(this.#at, this.#at + digits);
    this.#at += digits;
    return id;
  }
}
