import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { announceReady, type ReadyMessage } from './ready.ts';

describe('announceReady', () => {
  test('sends { type: ready, urls } over the IPC channel', () => {
    const sent: ReadyMessage[] = [];
    const channel = { connected: true, send: (m: ReadyMessage) => sent.push(m) };
    assert.equal(announceReady({ http: 'http://127.0.0.1:8080', grpc: '127.0.0.1:50051' }, channel), true);
    assert.equal(announceReady({ http: 'http://127.0.0.1:8081' }, channel), true);
    assert.deepEqual(sent, [
      { type: 'ready', urls: { http: 'http://127.0.0.1:8080', grpc: '127.0.0.1:50051' } },
      { type: 'ready', urls: { http: 'http://127.0.0.1:8081' } },
    ]);
  });

  test('does nothing without a channel, or once it is disconnected', () => {
    assert.equal(announceReady({ http: 'http://127.0.0.1:1' }, {}), false);
    let sent = 0;
    const closed = { connected: false, send: () => sent++ };
    assert.equal(announceReady({ http: 'http://127.0.0.1:1' }, closed), false);
    assert.equal(sent, 0);
  });
});
