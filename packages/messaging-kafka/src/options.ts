import { InvalidArgumentError } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';

/** Options of {@link kafkaBroker}. */
export interface KafkaBrokerOptions {
  /** Bootstrap brokers as `host:port`. At least one. */
  readonly brokers: readonly string[];
  /** Client id sent to the brokers (shows in broker logs and quotas). Defaults to `meshkit`. */
  readonly clientId?: string;
  /** Batch compression: `zstd`, `lz4`, `gzip`, `snappy` or `none`. Defaults to `zstd`. */
  readonly compression?: KafkaCompression;
  /**
   * Largest encoded record value accepted, bytes; larger records are refused before sending with
   * `ERR_BROKER_REJECTED`. Keep it at or below the broker's `message.max.bytes`. Defaults to 1,000,000.
   */
  readonly maxRecordBytes?: number;
  /** Partitions of topics this adapter creates (subscribed topics, retry topics). Defaults to 6. */
  readonly partitions?: number;
  /** Consumer group session timeout, ms: how long a silent member keeps its partitions. Defaults to 10,000. */
  readonly sessionTimeoutMs?: number;
  /** Heartbeat interval, ms. Defaults to 1,000. */
  readonly heartbeatIntervalMs?: number;
  /**
   * How long a member waits for its in-flight deliveries to settle before it gives its partitions up in a
   * rebalance, ms; what is not settled by then is redelivered to the new owner. Defaults to 5,000.
   */
  readonly rebalanceDrainMs?: number;
  /** How often subscriptions with wildcard patterns look for new matching topics, ms. Defaults to 2,000. */
  readonly topicRefreshMs?: number;
  /**
   * What a subscription does with a record that carries no CloudEvents headers (no `ce_id`), such as
   * one a plain Kafka producer wrote: `wrap` gives it attributes derived from the record (id
   * `<topic>-<partition>-<offset>`, stable across redeliveries; source `/kafka/<topic>`; type = topic; time
   * = record timestamp; content type `application/json`), `as-is` hands it over unchanged (the consumer
   * then dead-letters it as `undecodable`). Defaults to `wrap`.
   */
  readonly plainRecords?: 'wrap' | 'as-is';
  /**
   * Retries of a request the client sees fail (broker restart, leader move), `retryDelayMs` apart: with
   * the defaults a publish rides out about 30 s of broker downtime before it rejects. Defaults to 60.
   */
  readonly retries?: number;
  /** Delay between those retries, ms. Defaults to 500. */
  readonly retryDelayMs?: number;
  /**
   * First delay before a subscription whose consumer gave up (the broker stayed away longer than
   * `retries` × `retryDelayMs`) opens a new one, ms; later delays double (equal jitter) up to
   * `reopenMaxDelayMs`. Defaults to 500.
   */
  readonly reopenInitialDelayMs?: number;
  /** Longest delay between those reopen attempts, ms. Defaults to 10,000. */
  readonly reopenMaxDelayMs?: number;
}

/** Batch compression codecs. */
export type KafkaCompression = 'zstd' | 'lz4' | 'gzip' | 'snappy' | 'none';

/** {@link KafkaBrokerOptions} with defaults applied and every field checked. */
export interface ResolvedKafkaOptions {
  readonly brokers: string[];
  readonly clientId: string;
  readonly compression: KafkaCompression;
  readonly maxRecordBytes: number;
  readonly partitions: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceDrainMs: number;
  readonly topicRefreshMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly reopenInitialDelayMs: number;
  readonly reopenMaxDelayMs: number;
  readonly plainRecords: 'wrap' | 'as-is';
}

const compressions: readonly string[] = ['zstd', 'lz4', 'gzip', 'snappy', 'none'];

/** Checks {@link KafkaBrokerOptions}, throwing `InvalidArgumentError` naming the first bad field. */
export function resolveOptions(options: KafkaBrokerOptions): ResolvedKafkaOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('kafkaBroker.options', 'must be an object', options);
  }
  const brokers = options.brokers;
  if (!Array.isArray(brokers) || brokers.length === 0) {
    throw new InvalidArgumentError('kafkaBroker.brokers', 'must list at least one host:port', brokers);
  }
  brokers.forEach((b, i) => {
    if (typeof b !== 'string' || !/^[^:\s]+:\d+$/.test(b)) {
      throw new InvalidArgumentError(`kafkaBroker.brokers[${i}]`, 'must be host:port', b);
    }
  });
  const clientId = options.clientId ?? 'meshkit';
  if (typeof clientId !== 'string' || clientId.length === 0) {
    throw new InvalidArgumentError('kafkaBroker.clientId', 'must be a non-empty string', clientId);
  }
  const compression = options.compression ?? 'zstd';
  if (!compressions.includes(compression)) {
    throw new InvalidArgumentError(
      'kafkaBroker.compression',
      `must be one of ${compressions.join(', ')}`,
      compression,
    );
  }
  const sessionTimeoutMs = checkInteger(
    'kafkaBroker.sessionTimeoutMs',
    options.sessionTimeoutMs ?? 10_000,
    1,
  );
  const heartbeatIntervalMs = checkInteger(
    'kafkaBroker.heartbeatIntervalMs',
    options.heartbeatIntervalMs ?? 1_000,
    1,
    sessionTimeoutMs - 1,
  );
  const reopenInitialDelayMs = checkInteger(
    'kafkaBroker.reopenInitialDelayMs',
    options.reopenInitialDelayMs ?? 500,
    1,
  );
  const reopenMaxDelayMs = checkInteger(
    'kafkaBroker.reopenMaxDelayMs',
    options.reopenMaxDelayMs ?? Math.max(10_000, reopenInitialDelayMs),
    reopenInitialDelayMs,
  );
  return {
    brokers: [...brokers],
    clientId,
    compression,
    maxRecordBytes: checkInteger('kafkaBroker.maxRecordBytes', options.maxRecordBytes ?? 1_000_000, 1),
    partitions: checkInteger('kafkaBroker.partitions', options.partitions ?? 6, 1),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    rebalanceDrainMs: checkInteger('kafkaBroker.rebalanceDrainMs', options.rebalanceDrainMs ?? 5_000, 0),
    topicRefreshMs: checkInteger('kafkaBroker.topicRefreshMs', options.topicRefreshMs ?? 2_000, 10),
    plainRecords: checkPlainRecords(options.plainRecords ?? 'wrap'),
    retries: checkInteger('kafkaBroker.retries', options.retries ?? 60, 0),
    retryDelayMs: checkInteger('kafkaBroker.retryDelayMs', options.retryDelayMs ?? 500, 0),
    reopenInitialDelayMs,
    reopenMaxDelayMs,
  };
}

function checkPlainRecords(value: unknown): 'wrap' | 'as-is' {
  if (value !== 'wrap' && value !== 'as-is') {
    throw new InvalidArgumentError('kafkaBroker.plainRecords', "must be 'wrap' or 'as-is'", value);
  }
  return value;
}
