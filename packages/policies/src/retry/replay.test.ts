import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext, ErrorCode, MeshError } from '@meshkit/core';
import { constantBackoff } from './backoff.ts';
import { retry } from './index.ts';

const reset = () => new MeshError(ErrorCode.CONNECTION_RESET, 'reset mid-request', { retryable: true });
const refused = () => new MeshError(ErrorCode.CONNECT, 'refused', { retryable: true, rejected: true });

function failing(errors: (() => Error)[]) {
  let calls = 0;
  const service = async (_req: string) => {
    const next = errors[calls++];
    if (next !== undefined) throw next();
    return 'ok';
  };
  return { service, calls: () => calls };
}

describe('retry: who may replay a request is the policy’s question', () => {
  it('does not replay a streamed request once it may have been consumed', async () => {
    const target = failing([reset]);
    const call = retry<string, string>({ backoff: constantBackoff(0) }).wrap(target.service);
    await assert.rejects(call('body', createContext({ kind: 'client-stream' })), /reset mid-request/);
    assert.equal(target.calls(), 1);
  });

  it('replays a streamed request refused before anything was sent', async () => {
    const target = failing([refused]);
    const call = retry<string, string>({ backoff: constantBackoff(0) }).wrap(target.service);
    assert.equal(await call('body', createContext({ kind: 'bidi' })), 'ok');
    assert.equal(target.calls(), 2);
  });

  it('asks canReplay about the request itself', async () => {
    const seen: unknown[] = [];
    const target = failing([reset, reset]);
    const call = retry<string, string>({
      backoff: constantBackoff(0),
      canReplay: (req) => {
        seen.push(req);
        return req !== 'one-shot';
      },
    }).wrap(target.service);
    assert.equal(await call('again', createContext()), 'ok');
    assert.deepEqual(seen, ['again', 'again']);
    const once = failing([reset]);
    const guarded = retry<string, string>({ canReplay: (req) => req !== 'one-shot' }).wrap(once.service);
    await assert.rejects(guarded('one-shot', createContext()), /reset mid-request/);
    assert.equal(once.calls(), 1);
  });
});
