import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runDemo } from './demo.ts';

// The demo's scenario, shortened, on the embedded defaults: every app a real process, every fault real.
// Its invariants (nothing lost, calls succeed through the faults, the canary split as configured) are the
// test; the report is printed for whoever reads the log.
describe('the demo scenario, shortened', () => {
  it('holds every invariant through a kill, latency, a broker outage and a canary flip', {
    timeout: 180_000,
  }, async () => {
    let log = '';
    const summary = await runDemo({
      durationMs: 20_000,
      workers: 4,
      dashboard: false,
      env: {},
      out: { write: (text: string) => (log += text) },
    });
    process.stdout.write(log);
    assert.deepEqual(summary.failures, []);
    assert.ok(summary.calls > 100, `only ${summary.calls} calls`);
    assert.ok(summary.events.eventsPublished > 10);
    assert.equal(
      summary.events.eventsDeadLettered,
      1,
      'the poison event, and nothing else, was dead-lettered',
    );
    assert.match(log, /user-service-v1-a killed/);
    assert.match(log, /all invariants held/);
  });
});
