import { type DescFile, type DescMessage, type DescService, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type {
  ServerReflectionRequest as RequestV1,
  ServerReflectionResponse as ResponseV1,
  ServerReflection as ServerReflectionV1,
} from '../gen/grpc/reflection/v1/reflection_pb.ts';
import type { ServerReflection as ServerReflectionV1Alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.ts';
import { Status } from '../wire/status.ts';
import type { ServiceImpl } from './types.ts';

type Response = Omit<ResponseV1, '$typeName' | 'originalRequest'>;

/**
 * Server reflection (`grpc.reflection.v1` and `v1alpha`, the same messages): lists the services a
 * server serves and answers their `.proto` files (as serialized `FileDescriptorProto`s, with every file
 * they import), so `grpcurl`-style tools can list and call them without the `.proto` at hand.
 */
export function reflectionImpl(services: () => readonly DescService[]): {
  v1: ServiceImpl<typeof ServerReflectionV1>;
  v1alpha: ServiceImpl<typeof ServerReflectionV1Alpha>;
} {
  const info = async function* (requests: AsyncIterable<RequestV1>) {
    const index = indexFiles(services());
    for await (const request of requests) {
      yield { originalRequest: request, ...answer(request, index) };
    }
  };
  return {
    v1: { serverReflectionInfo: info as never },
    v1alpha: { serverReflectionInfo: info as never },
  };
}

interface FileIndex {
  readonly services: readonly string[];
  readonly byName: ReadonlyMap<string, DescFile>;
  readonly bySymbol: ReadonlyMap<string, DescFile>;
}

function answer(request: RequestV1, index: FileIndex): Response {
  const m = request.messageRequest;
  switch (m.case) {
    case 'listServices':
      return {
        validHost: request.host,
        messageResponse: {
          case: 'listServicesResponse',
          value: { service: index.services.map((name) => ({ name })) } as never,
        },
      };
    case 'fileByFilename':
      return files(request, index.byName.get(m.value), `no file ${m.value}`);
    case 'fileContainingSymbol': {
      // A method's symbol is its service's name plus `.Method`.
      const file =
        index.bySymbol.get(m.value) ?? index.bySymbol.get(m.value.slice(0, m.value.lastIndexOf('.')));
      return files(request, file, `no symbol ${m.value}`);
    }
    default:
      return error(request, Status.UNIMPLEMENTED, `${m.case ?? 'an empty request'} is not supported`);
  }
}

function files(request: RequestV1, file: DescFile | undefined, missing: string): Response {
  if (file === undefined) return error(request, Status.NOT_FOUND, missing);
  const all: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    all.push(f);
    for (const dependency of f.dependencies) visit(dependency);
  };
  visit(file);
  return {
    validHost: request.host,
    messageResponse: {
      case: 'fileDescriptorResponse',
      value: { fileDescriptorProto: all.map((f) => toBinary(FileDescriptorProtoSchema, f.proto)) } as never,
    },
  };
}

function error(request: RequestV1, code: Status, message: string): Response {
  return {
    validHost: request.host,
    messageResponse: { case: 'errorResponse', value: { errorCode: code, errorMessage: message } as never },
  };
}

function indexFiles(services: readonly DescService[]): FileIndex {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const addMessage = (message: DescMessage, file: DescFile): void => {
    bySymbol.set(message.typeName, file);
    for (const nested of message.nestedMessages) addMessage(nested, file);
    for (const nested of message.nestedEnums) bySymbol.set(nested.typeName, file);
  };
  const addFile = (file: DescFile): void => {
    if (byName.has(file.proto.name)) return;
    byName.set(file.proto.name, file);
    for (const s of file.services) {
      bySymbol.set(s.typeName, file);
      for (const method of s.methods) bySymbol.set(`${s.typeName}.${method.name}`, file);
    }
    for (const message of file.messages) addMessage(message, file);
    for (const e of file.enums) bySymbol.set(e.typeName, file);
    for (const dependency of file.dependencies) addFile(dependency);
  };
  for (const service of services) addFile(service.file);
  return { services: services.map((s) => s.typeName), byName, bySymbol };
}
