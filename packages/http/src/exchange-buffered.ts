import type { CallContext } from '@meshkit/core';
import type { Dispatcher } from 'undici';
import { drainLimitBytes, responseTooLarge, statusErrorFrom } from './errors.ts';
import { declaredOverLimit, dispatchOptions, failure, statusErrorOptions, type Target } from './exchange.ts';
import type { HttpHeaders, HttpRequest, HttpResponse } from './types.ts';

/**
 * A buffered exchange (the typed client methods). Not an `async` function: the handler settles the
 * caller's promise itself, with the finished response or the mapped error, which saves a promise and an
 * `await` hop per call on a path this short.
 */
export function sendBuffered(target: Target, req: HttpRequest, ctx: CallContext): Promise<HttpResponse> {
  let options: Dispatcher.DispatchOptions;
  try {
    options = dispatchOptions(target, req, ctx);
  } catch (error) {
    return Promise.reject(error);
  }
  const promise = new Promise<HttpResponse>(captureSettlers);
  const exchange = new BufferedExchange(target, req, ctx, capturedResolve, capturedReject);
  try {
    target.pool.dispatch(options, exchange);
  } catch (error) {
    exchange.fail(error);
  }
  return promise;
}

// The settling functions of the promise `sendBuffered` is making. A promise's executor runs at once,
// so one shared executor hands them over through these: no executor closure (and no closure context
// holding the call's arguments) per call.
let capturedResolve: (value: HttpResponse) => void;
let capturedReject: (error: unknown) => void;
function captureSettlers(resolve: (value: HttpResponse) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** The headers of an exchange before its response starts: shared, not an empty object per call. */
const noHeaders: HttpHeaders = Object.freeze({});

/**
 * One buffered exchange through undici's handler API, without a response stream: the body is collected
 * straight from the parser's chunks (an error body only up to `maxErrorBodyBytes`, then read on a little
 * so the connection can be reused, then cut off), and the caller's promise settled with the finished
 * response or the mapped error. Cancellation goes to the request's own controller through `ctx.onAbort`;
 * a call cancelled while still queued for a connection rejects at once. One object per exchange (methods
 * on the prototype, no closures per call) as undici's handler.
 */
class BufferedExchange implements Dispatcher.DispatchHandler {
  readonly #target: Target;
  readonly #req: HttpRequest;
  readonly #ctx: CallContext;
  readonly #resolve: (value: HttpResponse) => void;
  readonly #reject: (error: unknown) => void;
  /** The body's first chunk; most bodies arrive in one, which then needs no array and no copy. */
  #first: Buffer | undefined;
  /** Every chunk, once there is more than one. */
  #chunks: Buffer[] | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #unregister: (() => void) | undefined;
  #settled = false;
  #status = 0;
  #headers: HttpHeaders = noHeaders;
  #kept = 0;
  #seen = 0;

  constructor(
    target: Target,
    req: HttpRequest,
    ctx: CallContext,
    resolve: (value: HttpResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#target = target;
    this.#req = req;
    this.#ctx = ctx;
    this.#resolve = resolve;
    this.#reject = reject;
    if (ctx.cancellable) this.#unregister = ctx.onAbort((reason) => this.#cancel(reason));
  }

  #cancel(reason: unknown): void {
    this.#controller?.abort(reason instanceof Error ? reason : new Error(String(reason)));
    this.fail(reason);
  }

  fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#unregister?.();
    this.#reject(failure(error, this.#ctx, this.#target));
  }

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#unregister?.();
    const chunks = this.#chunks;
    const first = this.#first;
    const text =
      chunks !== undefined
        ? Buffer.concat(chunks).toString('utf8')
        : first === undefined
          ? ''
          : first.toString('utf8');
    const status = this.#status;
    if (status < 400) {
      this.#resolve({ status, headers: this.#headers, text });
      return;
    }
    const target = this.#target;
    this.#reject(
      statusErrorFrom(status, this.#headers, text, statusErrorOptions(target, this.#ctx, this.#req)),
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Settled before it started: cancelled while waiting for a connection (the abort listener already
    // rejected the caller), so stop it before it is written. Checking this flag rather than
    // `ctx.aborted` spares a walk up the cancel scopes on every call; an uncancellable context has no
    // listener, and cannot be aborted either.
    if (this.#settled) controller.abort(new Error('cancelled before sending'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: unknown): void {
    this.#status = statusCode;
    this.#headers = headers as HttpHeaders;
    const ctx = this.#ctx;
    if (!ctx.cancellable && ctx.deadline !== undefined) {
      // Nothing above can cancel the call and undici's headers timeout ended here: the body keeps a
      // timer of its own for the deadline (the failure is reported as ERR_DEADLINE_EXCEEDED).
      const clock = ctx.clock;
      const timer = clock.setTimeout(
        () => this.#cancel(new Error('deadline passed reading the body')),
        Math.max(0, ctx.remainingMs()),
      );
      this.#unregister = () => clock.clearTimeout(timer);
    }
    // A success declaring a body over the limit fails before any of it is read; the abort closes the
    // connection, so the rest is never transferred. (An error status keeps only its excerpt anyway.)
    const declared = statusCode < 400 ? declaredOverLimit(this.#target, headers) : undefined;
    if (declared !== undefined) {
      const target = this.#target;
      const error = responseTooLarge(target.origin, target.maxResponseBytes!, declared);
      if (!this.#settled) {
        this.#settled = true;
        this.#unregister?.();
        this.#reject(error);
      }
      controller.abort(error);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#seen += chunk.length;
    if (this.#status < 400) this.#push(chunk);
    else {
      const maxErrorBytes = this.#target.maxErrorBodyBytes;
      if (this.#kept < maxErrorBytes) {
        const part = chunk.subarray(0, maxErrorBytes - this.#kept);
        this.#push(part);
        this.#kept += part.length;
      } else if (this.#seen > maxErrorBytes + drainLimitBytes) {
        // Past the excerpt and the drain allowance: the status and excerpt are all the caller gets.
        this.#finish();
        controller.abort(new Error('error body too large'));
      }
    }
  }

  #push(chunk: Buffer): void {
    if (this.#first === undefined) this.#first = chunk;
    else if (this.#chunks === undefined) this.#chunks = [this.#first, chunk];
    else this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }
}
