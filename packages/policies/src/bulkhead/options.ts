import type { LayerTarget } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import { checkName, checkOptions } from '../internal/validate.ts';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  /** Calls allowed to run at once (integer >= 1). Defaults to 10. */
  readonly maxConcurrent?: number;
  /** Calls allowed to wait, first in first out, when all slots are taken (integer >= 0). Defaults to 0. */
  readonly maxQueue?: number;
  /** Layer name in events and `describe()`. Defaults to `'bulkhead'`. */
  readonly name?: string;
  /** The service and endpoint this bulkhead guards, named in its events. Defaults to none. */
  readonly target?: LayerTarget;
}

export interface BulkheadConfig {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly name: string;
  readonly target: LayerTarget | undefined;
}

export function resolveBulkheadOptions(options: BulkheadOptions | undefined): BulkheadConfig {
  const o = checkOptions('bulkhead', options);
  return {
    maxConcurrent: checkInteger('bulkhead.maxConcurrent', o.maxConcurrent ?? 10, 1),
    maxQueue: checkInteger('bulkhead.maxQueue', o.maxQueue ?? 0, 0),
    name: checkName('bulkhead.name', o.name, 'bulkhead'),
    target: o.target,
  };
}
