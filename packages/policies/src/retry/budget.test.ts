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
  it('starts with one second of the allowance, not a whole window of it, and accrues the rest over time', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock });
    assert.equal(budget.balance, 10, 'one second of 10 retries/s, not 10 s of it');
    assert.equal(drain(budget), 10);
    assert.equal(budget.tryWithdraw(), false);
    await clock.advance(100);
    assert.equal(drain(budget), 1, '10 retries/s: one after 100 ms');
    await clock.advance(250);
    assert.equal(drain(budget), 2);
  });

  it('saves up at most one second of the allowance, however long it was idle', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock, minRetriesPerSec: 10 });
    await clock.advance(60_000);
    assert.equal(drain(budget), 10);
    const slow = new RetryBudget({ clock, minRetriesPerSec: 0.5 });
    await clock.advance(60_000);
    assert.equal(drain(slow), 1, 'a rate below one per second still saves one whole retry');
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

  it('lets deposits and withdrawals expire after the window', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock, minRetriesPerSec: 0, windowMs: 10_000 });
    for (let i = 0; i < 50; i++) budget.deposit();
    assert.equal(budget.balance, 10, '50 x 20%');
    assert.equal(drain(budget), 10);
    await clock.advance(5_000);
    assert.equal(budget.balance, 0, 'still inside the window');
    await clock.advance(5_000);
    assert.equal(budget.balance, 0, 'deposits and their withdrawals expired together');
    for (let i = 0; i < 10; i++) budget.deposit();
    assert.equal(drain(budget), 2, 'only new deposits count');
  });

  it('keeps retries within 20% of calls plus the accrued allowance over every span of an outage', async () => {
    // An outage seen by a client: 100 calls every 100 ms for 5 s, each failing and asking for up to
    // two retries. Every span of up to 9/10 of the window must stay within the documented bound.
    const clock = new FakeClock();
    const perSec = 10;
    const budget = new RetryBudget({ clock, minRetriesPerSec: perSec, windowMs: 10_000 });
    const ticks: { calls: number; retries: number }[] = [];
    for (let tick = 0; tick < 50; tick++) {
      let retries = 0;
      for (let call = 0; call < 100; call++) {
        budget.deposit();
        for (let attempt = 2; attempt <= 3 && budget.tryWithdraw(); attempt++) retries++;
      }
      ticks.push({ calls: 100, retries });
      await clock.advance(100);
    }
    const calls = ticks.reduce((n, t) => n + t.calls, 0);
    const retries = ticks.reduce((n, t) => n + t.retries, 0);
    assert.ok(retries >= 0.2 * calls, `the budget is usable: ${retries} retries for ${calls} calls`);
    for (let from = 0; from < ticks.length; from++) {
      for (let to = from + 1; to <= ticks.length; to++) {
        const span = ticks.slice(from, to);
        const inSpan = span.reduce((n, t) => n + t.retries, 0);
        const before = ticks.slice(Math.max(0, to - 100), to).reduce((n, t) => n + t.calls, 0);
        const bound = 0.2 * before + perSec + perSec * (span.length * 0.1);
        assert.ok(inSpan <= bound, `ticks ${from}..${to}: ${inSpan} retries > ${bound}`);
      }
    }
    assert.ok(retries <= 0.2 * calls + perSec + perSec * 5, `${retries} retries for ${calls} calls`);
  });

  it('describes its balance and settings', () => {
    const budget = new RetryBudget({ clock: new FakeClock(), name: 'users' });
    budget.tryWithdraw();
    assert.deepEqual(budget.describe(), {
      name: 'users',
      balance: 9,
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
