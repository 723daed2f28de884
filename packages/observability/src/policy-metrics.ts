import { balanceChannels } from '@meshkit/balance';
import { channels } from '@meshkit/core';
import type { MetricContext } from './metric-context.ts';
import { counter, gauge } from './metric-families.ts';

/** Retry budget, circuit breakers, bulkheads and outlier ejections. */
export function policyMetrics({ registry, subs, cap }: MetricContext): void {
  // Policies and the balancer.
  const budgetExhausted = counter(
    registry,
    'meshkit_retry_budget_exhausted_total',
    'Retries or hedges skipped because the retry budget was empty.',
    ['layer', 'budget'],
  );
  const breakerState = gauge(
    registry,
    'meshkit_circuit_breaker_state',
    'Circuit state per endpoint: 1 for the current state, 0 for the others.',
    ['service', 'endpoint', 'state'],
  );
  const breakerTransitions = counter(
    registry,
    'meshkit_circuit_breaker_transitions_total',
    'Circuit breaker state changes.',
    ['service', 'endpoint', 'from', 'to'],
  );
  const bulkheadRejections = counter(
    registry,
    'meshkit_bulkhead_rejections_total',
    'Calls a full bulkhead refused.',
    ['service', 'endpoint'],
  );
  const ejections = counter(
    registry,
    'meshkit_outlier_ejections_total',
    'Endpoints ejected by outlier detection.',
    ['service', 'endpoint'],
  );

  subs.on(channels.budgetExhausted, (e) => {
    budgetExhausted.inc({ layer: cap('layer', e.layer), budget: cap('budget', e.budget) });
  });
  subs.on(channels.breakerState, (e) => {
    const service = cap('service', e.service ?? '');
    const endpoint = cap('endpoint', e.endpoint ?? e.layer);
    breakerTransitions.inc({ service, endpoint, from: e.from, to: e.to });
    for (const state of ['closed', 'open', 'half-open', 'isolated']) {
      breakerState.set({ service, endpoint, state }, state === e.to ? 1 : 0);
    }
  });
  subs.on(channels.bulkheadRejected, (e) => {
    bulkheadRejections.inc({
      service: cap('service', e.service ?? ''),
      endpoint: cap('endpoint', e.endpoint ?? e.layer),
    });
  });
  subs.on(balanceChannels.ejected, (e) => {
    ejections.inc({ service: cap('service', e.service), endpoint: cap('endpoint', e.endpoint) });
  });
}
