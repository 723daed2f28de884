/**
 * Type tests of the public types: this file is checked by `tsc -b` (every `@ts-expect-error` must be an
 * error, every other line must compile) and its one runtime test only keeps the test runner honest.
 */
import { it } from 'node:test';
import {
  apply,
  type CallContext,
  type CallKind,
  createContext,
  type ErrorCode,
  type InvalidArgumentError,
  isMeshError,
  type Layer,
  MeshError,
  type Metadata,
  type Service,
  stack,
} from './index.ts';

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

interface Req {
  readonly id: string;
}
interface Res {
  readonly name: string;
}
declare const service: Service<Req, Res>;
declare const same: Layer<Req, Res>;
declare const other: Layer<{ readonly n: number }, Res>;
declare const changing: Layer<string, number, Req, Res>;
declare const ctx: CallContext;
declare const unknownError: unknown;

/** Never called: the statements only have to type-check (the `declare`d values do not exist at run time). */
function typeChecks(): void {
  // A service is a function of request and context to a promise.
  expectType<Equal<ReturnType<typeof service>, Promise<Res>>>();
  expectType<Equal<Parameters<typeof service>, [req: Req, ctx: CallContext]>>();

  // stack() keeps the request and response types, and refuses a layer of other types.
  expectType<Equal<ReturnType<ReturnType<typeof stack<Req, Res>>['wrap']>, Service<Req, Res>>>();
  stack<Req, Res>(same, same);
  // @ts-expect-error a layer for another request type does not fit
  stack<Req, Res>(same, other);

  // A type-changing layer applies with apply(), and yields the outer types.
  expectType<Equal<ReturnType<typeof apply<string, number, Req, Res>>, Service<string, number>>>();
  apply(changing, service);
  // @ts-expect-error the inner service must match the layer's inner types
  apply(changing, async (_req: string) => 1);

  // The context is immutable: fields are read-only, change derives a child.
  // @ts-expect-error readonly
  ctx.deadline = 1;
  // @ts-expect-error readonly
  ctx.attempt = 2;
  expectType<Equal<ReturnType<CallContext['with']>, CallContext>>();
  expectType<Equal<CallContext['kind'], CallKind>>();
  expectType<Equal<CallKind, 'unary' | 'server-stream' | 'client-stream' | 'bidi'>>();
  // @ts-expect-error not a call kind
  ctx.with({ kind: 'stream' });

  // Metadata values: text, bytes, or repeats of either; nothing else.
  const metadata: Metadata = { a: 'x', b: new Uint8Array(1), c: ['y', new Uint8Array(2)] };
  // @ts-expect-error numbers are not metadata
  const badMetadata: Metadata = { a: 1 };
  void badMetadata;
  createContext({ metadata, timeoutMs: 100, kind: 'server-stream' });

  // Errors: the code is one of the declared codes; narrowing works.
  if (isMeshError(unknownError)) expectType<Equal<typeof unknownError.code, ErrorCode>>();
  // @ts-expect-error not an error code
  new MeshError('ERR_NOT_A_CODE', 'x');
  expectType<Equal<InstanceType<typeof InvalidArgumentError> extends MeshError ? true : false, true>>();
}

it('type tests compile (checked by tsc -b)', () => {
  void typeChecks;
});
