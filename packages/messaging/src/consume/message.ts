/** A decoded event as the handler sees it. */
export interface Message<T = unknown> {
  /** CloudEvents `id`: stable across redeliveries, the key of the idempotent inbox. */
  readonly id: string;
  readonly topic: string;
  readonly key: string | undefined;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly subject: string | undefined;
  readonly data: T;
  /** Every header on the wire, CloudEvents attributes included. */
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first handling, 2 for the first retry, ... */
  readonly attempt: number;
  /** Deliveries since the last settlement (> 1 after a consumer died holding it), when known. */
  readonly deliveryCount: number | undefined;
}

/** The handling attempt a delivery's `meshkit-attempt` header records (1 when absent or malformed). */
export function parseAttempt(value: string | undefined): number {
  const n = value === undefined ? 1 : Number(value);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}
