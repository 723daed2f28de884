import { ErrorCode, MeshError } from '@meshkit/core';
import type { DeadLetterRequest, Delivery, RetryRequest } from '@meshkit/messaging';
import type { Member, Row } from './connection.ts';
import type { Settlements } from './settlements.ts';

/** One claimed message handed to a member; settling it goes to the connection's settlements. */
export class SqliteDelivery implements Delivery {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly position: string;
  readonly deliveryCount: number;
  readonly #settlements: Settlements;
  readonly #member: Member;
  readonly #row: Row;
  readonly #headerText: string;
  #settled = false;

  constructor(settlements: Settlements, member: Member, row: Row) {
    this.#settlements = settlements;
    this.#member = member;
    this.#row = row;
    this.#headerText = row.override ?? row.headers;
    this.topic = row.topic;
    this.key = row.key ?? undefined;
    this.headers = JSON.parse(this.#headerText) as Record<string, string>;
    this.body = row.body;
    this.position = String(row.seq);
    this.deliveryCount = row.deliveries;
  }

  #once(): void {
    if (this.#settled) throw new MeshError(ErrorCode.INVALID_ARGUMENT, 'delivery was already settled');
    this.#settled = true;
  }

  ack(): Promise<void> {
    this.#once();
    return this.#settlements.ack(this.#member, this.#row.seq, this.#row.key);
  }

  retryLater(request: RetryRequest): Promise<void> {
    this.#once();
    return this.#settlements.retryLater(this.#member, this.#row.seq, this.#headerText, request);
  }

  deadLetter(request: DeadLetterRequest): Promise<void> {
    this.#once();
    return this.#settlements.deadLetter(this.#member, this.#row, this.#headerText, request);
  }

  release(): Promise<void> {
    this.#once();
    return this.#settlements.release(this.#member, this.#row.seq);
  }
}
