import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createContext } from '@meshkit/core';
import { GetUserRequestSchema, UserService } from '../gen/user/user_service_pb.ts';
import { grpcRouteAdapter } from './route-adapter.ts';

const request = {
  method: UserService.method.getUser,
  message: create(GetUserRequestSchema, { id: '42' }),
  metadata: { 'x-canary': 'true', 'trace-bin': new Uint8Array([1]), 'x-tags': ['a', 'b'] },
};

test('a gRPC call is routed as Istio sees it: POST /package.Service/Method, text metadata as headers', () => {
  const ctx = createContext().with({ metadata: { traceparent: '00-abc-def-01', 'x-canary': 'false' } });
  assert.deepEqual(grpcRouteAdapter.view(request, ctx), {
    method: 'POST',
    path: '/user.UserService/GetUser',
    headers: {
      'content-type': 'application/grpc',
      traceparent: '00-abc-def-01',
      'x-canary': 'true',
      'x-tags': 'a,b',
    },
  });
});

test('header operations change the call metadata; nothing else about the call changes', () => {
  const changed = grpcRouteAdapter.withRequest!(request, { headers: { 'x-tags': 'a', 'x-route': 'v2' } });
  assert.equal(changed.method, request.method);
  assert.equal(changed.message, request.message);
  // x-canary was removed by the rule; binary metadata is kept.
  assert.deepEqual(changed.metadata, { 'trace-bin': new Uint8Array([1]), 'x-tags': 'a', 'x-route': 'v2' });
  assert.throws(() => grpcRouteAdapter.withRequest!(request, { path: '/other' }), {
    code: 'ERR_INVALID_ARGUMENT',
  });
});
