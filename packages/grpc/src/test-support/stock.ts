import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The `proto/` folder: the single source of the contract. */
export const protoDir = join(import.meta.dirname, '..', '..', 'proto');

/** Stock grpc-js service constructors loaded from our `.proto` files, with int64 as strings (no rounding). */
export function stockDefinitions(): {
  UserService: grpc.ServiceClientConstructor;
  Health: grpc.ServiceClientConstructor;
} {
  const definition = protoLoader.loadSync(['user/user_service.proto', 'grpc/health/v1/health.proto'], {
    includeDirs: [protoDir],
    longs: String,
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    user: { UserService: grpc.ServiceClientConstructor };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  return { UserService: loaded.user.UserService, Health: loaded.grpc.health.v1.Health };
}

/** Promisified unary call on a stock grpc-js client; resolves with the response, headers and status. */
export function stockUnary(
  client: grpc.Client,
  method: string,
  request: unknown,
  options: { metadata?: grpc.Metadata; deadline?: Date } = {},
): Promise<{ response: unknown; headers: grpc.Metadata | undefined; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    let headers: grpc.Metadata | undefined;
    let response: unknown;
    let error: grpc.ServiceError | null = null;
    const call = (
      client as unknown as Record<
        string,
        (
          req: unknown,
          md: grpc.Metadata,
          opts: grpc.CallOptions,
          cb: (err: grpc.ServiceError | null, res: unknown) => void,
        ) => grpc.ClientUnaryCall
      >
    )[method]!.call(
      client,
      request,
      options.metadata ?? new grpc.Metadata(),
      options.deadline === undefined ? {} : { deadline: options.deadline },
      (err, res) => {
        error = err;
        response = res;
      },
    );
    call.on('metadata', (md) => {
      headers = md;
    });
    call.on('status', (status) => {
      // The callback runs before 'status' for grpc-js unary calls; defer one tick to be sure.
      setImmediate(() => (error === null ? resolve({ response, headers, status }) : reject(error)));
    });
  });
}

/** The stock grpc-js constructor of the test-only `meshkit.testing.v1.StreamingService`, int64 as strings. */
export function stockStreaming(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(['meshkit/testing/v1/streaming.proto'], {
    includeDirs: [protoDir],
    longs: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    meshkit: { testing: { v1: { StreamingService: grpc.ServiceClientConstructor } } };
  };
  return loaded.meshkit.testing.v1.StreamingService;
}
