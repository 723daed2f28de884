// Server reflection as grpcurl uses it, from a stock grpc-js client whose reflection.proto comes from the
// @grpc/reflection package (not ours): list services, fetch a file by symbol, then call the service
// through a client built only from what reflection returned.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { UserService } from '../gen/user/user_service_pb.ts';
import { memoryUsers } from '../test-support/users.ts';
import { type GrpcServer, grpcServer } from './server.ts';

const reflectionProtoDir = join(
  dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

describe('server reflection with a stock grpc-js client', () => {
  let server: GrpcServer;
  let address: string;

  before(async () => {
    server = grpcServer({ reflection: true }).add(UserService, memoryUsers().impl);
    ({ address } = await server.listen());
  });
  after(() => server.close());

  for (const version of ['v1', 'v1alpha'] as const) {
    it(`answers ${version}: list services, a file by symbol, an unknown symbol`, async () => {
      const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
        includeDirs: [reflectionProtoDir],
        oneofs: true,
      });
      const loaded = grpc.loadPackageDefinition(definition) as unknown as {
        grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> };
      };
      const Reflection = loaded.grpc.reflection[version]!.ServerReflection;
      const client = new Reflection(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
        serverReflectionInfo(): grpc.ClientDuplexStream<unknown, ReflectionResponse>;
      };
      const call = client.serverReflectionInfo();
      const ask = async (request: Record<string, unknown>): Promise<ReflectionResponse> => {
        const reply = once(call, 'data') as Promise<[ReflectionResponse]>;
        call.write({ host: '', ...request });
        return (await reply)[0];
      };
      try {
        const listed = await ask({ listServices: '' });
        assert.deepEqual(listed.listServicesResponse?.service.map((s) => s.name).sort(), [
          'grpc.health.v1.Health',
          'grpc.reflection.v1.ServerReflection',
          'grpc.reflection.v1alpha.ServerReflection',
          'user.UserService',
        ]);
        const files = (await ask({ fileContainingSymbol: 'user.UserService.GetUser' }))
          .fileDescriptorResponse;
        assert.ok(files !== undefined && files.fileDescriptorProto.length >= 1);
        const unknown = await ask({ fileContainingSymbol: 'no.Such' });
        assert.equal(unknown.errorResponse?.errorCode, grpc.status.NOT_FOUND);

        // What grpcurl does next: build the service from the returned descriptors alone, and call it.
        const set = Buffer.concat(
          files.fileDescriptorProto.flatMap((bytes) => [Buffer.from([0x0a, ...varint(bytes.length)]), bytes]),
        );
        const fromReflection = grpc.loadPackageDefinition(
          protoLoader.loadFileDescriptorSetFromBuffer(set, { longs: String }),
        ) as unknown as { user: { UserService: grpc.ServiceClientConstructor } };
        const users = new fromReflection.user.UserService(
          address,
          grpc.credentials.createInsecure(),
        ) as unknown as grpc.Client & {
          createUser(req: unknown, cb: (err: grpc.ServiceError | null, res: { email: string }) => void): void;
        };
        const created = await new Promise<{ email: string }>((resolve, reject) =>
          users.createUser({ email: 'refl@example.com' }, (err, res) =>
            err === null ? resolve(res) : reject(err),
          ),
        );
        assert.equal(created.email, 'refl@example.com');
        users.close();
      } finally {
        call.end();
        client.close();
      }
    });
  }
});

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
