// One retry budget for one downstream, shared by its HTTP and gRPC clients: retries of either spend it,
// and once gRPC's retries have emptied it, HTTP's calls are not retried either (and the other way round).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, FakeClock } from '@meshkit/core';
import { type GrpcServer, GrpcStatusError, grpcClient, grpcServer, Status, UserService } from '@meshkit/grpc';
import { httpClient } from '@meshkit/http';
import { constantBackoff, RetryBudget } from '@meshkit/policies';

describe('a retry budget shared by an HTTP and a gRPC client', () => {
  const seen = { grpc: 0, http: 0 };
  let grpc: GrpcServer;
  let grpcAddress: string;
  let http: Server;
  let httpAddress: string;

  before(async () => {
    // Both sides of the downstream are down the same way: every call is refused as unavailable.
    const unavailable = (): never => {
      seen.grpc++;
      throw new GrpcStatusError(Status.UNAVAILABLE, 'overloaded');
    };
    grpc = grpcServer().add(UserService, {
      getUser: unavailable,
      createUser: unavailable,
      listUsers: unavailable,
      streamUserEvents: unavailable,
    });
    grpcAddress = (await grpc.listen()).address;
    http = createServer((_req, res) => {
      seen.http++;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpAddress = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    await grpc.close();
    await new Promise((resolve) => http.close(resolve));
  });

  /** A budget of exactly `retries` retries: no percentage, and time that never moves to accrue more. */
  const budgetOf = (retries: number): RetryBudget =>
    new RetryBudget({ percentCanRetry: 0, minRetriesPerSec: retries, clock: new FakeClock() });

  function clients(budget: RetryBudget) {
    const policies = {
      retry: { maxAttempts: 10, backoff: constantBackoff(1) },
      budget,
      breaker: false as const,
    };
    return {
      users: grpcClient(UserService, {
        service: 'users',
        endpoints: [grpcAddress],
        idempotentMethods: ['getUser'],
        policies,
      }),
      rest: httpClient({ service: 'users', endpoints: [httpAddress], policies }),
    };
  }

  it("gRPC's retries spend the budget; HTTP then gets no retry", async () => {
    seen.grpc = 0;
    seen.http = 0;
    const budget = budgetOf(2);
    const { users, rest } = clients(budget);
    try {
      await assert.rejects(users.getUser({ id: '1' }), (err: unknown) => {
        assert.equal((err as { code?: string }).code, ErrorCode.RETRY_BUDGET);
        return true;
      });
      assert.equal(seen.grpc, 3, 'the first attempt and the two retries the budget held');
      await assert.rejects(rest.get('/users/1'), (err: unknown) => {
        assert.equal((err as { code?: string }).code, ErrorCode.RETRY_BUDGET);
        return true;
      });
      assert.equal(seen.http, 1, 'HTTP found the shared budget empty');
    } finally {
      await users.$close();
      await rest.close();
    }
  });

  it("HTTP's retries spend the budget; gRPC then gets no retry", async () => {
    seen.grpc = 0;
    seen.http = 0;
    const { users, rest } = clients(budgetOf(3));
    try {
      await assert.rejects(rest.get('/users/1'));
      assert.equal(seen.http, 4);
      await assert.rejects(users.getUser({ id: '1' }), (err: unknown) => {
        assert.equal((err as { code?: string }).code, ErrorCode.RETRY_BUDGET);
        return true;
      });
      assert.equal(seen.grpc, 1);
    } finally {
      await users.$close();
      await rest.close();
    }
  });
});
