import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, InvalidArgumentError } from '@meshkit/core';
import { RetryBudget } from './budget.ts';

function drain(budget: RetryBudget): number {
  let taken = 0;
  while (budget.tryWithdraw()) taken++;
  return taken;
}

describe('RetryBudget', () => {
  it('starts with the reserve: minRetriesPerSec over the window', () => {
    const budget = new RetryBudget({ clock: new FakeClock() });
    assert.equal(budget.balance, 100, '10 retries/s over 10 s');
    assert.equal(drain(budget), 100);
    assert.equal(budget.balance, 0);
  });

  it('allows percentCanRetry of first attempts, exactly', () => {
    const budget = new RetryBudget({ clock: new FakeClock(), minRetriesPerSec: 0 });
    for (let i = 0; i < 4; i++) budget.deposit();
    assert.equal(budget.tryWithdraw(), false, '4 calls x 20% is less than one retry');
    budget.deposit();
    assert.equal(budget.tryWithdraw(), true, '5 calls x 20% is one retry');
    assert.equal(budget.tryWithdraw(), false);
    for (let i = 0; i < 100; i++) budget.deposit();
    assert.equal(drain(budget), 20);
  });

  it('lets deposits and withdrawals expire after the window, so the reserve refills', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock, minRetriesPerSec: 1, windowMs: 10_000 });
    for (let i = 0; i < 50; i++) budget.deposit();
    assert.equal(budget.balance, 20, '10 reserve + 50 x 20%');
    assert.equal(drain(budget), 20);
    await clock.advance(5_000);
    assert.equal(budget.balance, 0, 'still inside the window');
    await clock.advance(5_000);
    assert.equal(budget.balance, 10, 'deposits and withdrawals have expired: only the reserve is left');
    await clock.advance(60_000);
    assert.equal(budget.balance, 10);
  });

  it('describes its balance and settings', () => {
    const budget = new RetryBudget({ clock: new FakeClock(), name: 'users' });
    budget.tryWithdraw();
    assert.deepEqual(budget.describe(), {
      name: 'users',
      balance: 99,
      percentCanRetry: 0.2,
      minRetriesPerSec: 10,
      windowMs: 10_000,
    });
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => new RetryBudget({ percentCanRetry: -0.1 }), 'retryBudget.percentCanRetry'],
      [() => new RetryBudget({ percentCanRetry: 11 }), 'retryBudget.percentCanRetry'],
      [() => new RetryBudget({ minRetriesPerSec: -1 }), 'retryBudget.minRetriesPerSec'],
      [() => new RetryBudget({ windowMs: 0 }), 'retryBudget.windowMs'],
      [() => new RetryBudget({ name: '' }), 'retryBudget.name'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
