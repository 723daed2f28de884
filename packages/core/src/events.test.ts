import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { type BreakerStateEvent, channelNames, channels } from './events.ts';

describe('diagnostics channels', () => {
  it('are the process-wide node:diagnostics_channel channels, so any copy of meshkit shares them', () => {
    for (const [key, name] of Object.entries(channelNames)) {
      assert.equal(channels[key as keyof typeof channels], diagnostics.channel(name));
      assert.match(name, /^meshkit:[a-z-]+:[a-z-]+$/);
    }
  });

  it('report subscribers only while someone listens', () => {
    const seen: BreakerStateEvent[] = [];
    const listener = (message: BreakerStateEvent): void => {
      seen.push(message);
    };
    assert.equal(channels.breakerState.hasSubscribers, false);
    channels.breakerState.subscribe(listener);
    assert.equal(channels.breakerState.hasSubscribers, true);
    channels.breakerState.publish({ layer: 'circuit-breaker', from: 'closed', to: 'open' });
    channels.breakerState.unsubscribe(listener);
    assert.equal(channels.breakerState.hasSubscribers, false);
    assert.deepEqual(seen, [{ layer: 'circuit-breaker', from: 'closed', to: 'open' }]);
  });
});
