import { type Clock, sleep } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import { advertisedAddress, type InstanceInit, type Registration, type Registry } from '@meshkit/discovery';

/** Where termination signals come from; `process` by default, an `EventEmitter` in tests. */
export interface SignalSource {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  removeListener(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
}

/** How a server shuts down. */
export interface ShutdownOptions {
  /** How long in-flight requests may take to finish after the server stops accepting, in ms. Defaults to 10,000. */
  readonly drainTimeoutMs?: number;
  /**
   * How long to keep serving after deregistering, in ms, so callers watching the registry stop sending
   * before the server refuses and closes idle keep-alive connections (a POST racing a connection close
   * cannot be told apart from one the server received). Defaults to 1,000 with a registry, else 0.
   */
  readonly graceMs?: number;
  /** Where SIGTERM and SIGINT come from; `false` installs no handler. Defaults to `process`. */
  readonly signals?: SignalSource | false;
  /** Called after a signal-triggered shutdown with the exit code; `false` never exits. Defaults to `process.exit`. */
  readonly exit?: ((code: number) => void) | false;
  /** Runs after draining, before exit: close pools, databases, brokers. */
  readonly onClose?: () => unknown;
}

/** What the instance registers as, beyond the service name and listening port. */
export interface InstanceOptions {
  /** Defaults to `<service>-<host>-<port>`. */
  readonly id?: string;
  /**
   * The address callers should use. Defaults to the listening host; for `0.0.0.0` / `::`, the first
   * non-internal IPv4 address of this machine, else `127.0.0.1` (see `advertisedAddress` in
   * `@meshkit/discovery`).
   */
  readonly address?: string;
  readonly version?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly weight?: number;
}

/** A server's life: registration, in-flight tracking, and the ordered shutdown. */
export class Lifecycle {
  readonly #service: string;
  readonly #registry: Registry | undefined;
  readonly #instance: InstanceOptions;
  readonly #clock: Clock;
  readonly #drainTimeoutMs: number;
  readonly #graceMs: number;
  readonly #signals: SignalSource | undefined;
  readonly #exit: ((code: number) => void) | undefined;
  readonly #onClose: (() => unknown) | undefined;
  #registration: Registration | undefined;
  #inFlight = 0;
  #draining = false;
  #drained: (() => void) | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(
    service: string,
    registry: Registry | undefined,
    instance: InstanceOptions,
    options: ShutdownOptions,
    clock: Clock,
  ) {
    this.#service = service;
    this.#registry = registry;
    this.#instance = instance;
    this.#clock = clock;
    this.#drainTimeoutMs = checkInteger('shutdown.drainTimeoutMs', options.drainTimeoutMs ?? 10_000, 0);
    this.#graceMs = checkInteger(
      'shutdown.graceMs',
      options.graceMs ?? (registry === undefined ? 0 : 1_000),
      0,
    );
    this.#signals = options.signals === false ? undefined : (options.signals ?? process);
    this.#exit = options.exit === false ? undefined : (options.exit ?? ((code) => process.exit(code)));
    this.#onClose = options.onClose;
  }

  /** Requests being handled now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** `true` once shutdown stopped taking work. */
  get draining(): boolean {
    return this.#draining;
  }

  /** The live registration, once listening with a registry. */
  get registration(): Registration | undefined {
    return this.#registration;
  }

  /** Registers the instance (if there is a registry) and installs the signal handlers. */
  async started(host: string, port: number): Promise<void> {
    if (this.#registry !== undefined) {
      // Never `0.0.0.0`: a wildcard listening host registers a routable address (see advertisedAddress).
      const address = this.#instance.address ?? advertisedAddress(host);
      const init: InstanceInit = {
        id: this.#instance.id ?? `${this.#service}-${address}-${port}`,
        service: this.#service,
        address,
        port,
        protocols: ['http'],
        check: { type: 'http', path: '/healthz' },
        ...(this.#instance.version === undefined ? {} : { version: this.#instance.version }),
        ...(this.#instance.labels === undefined ? {} : { labels: this.#instance.labels }),
        ...(this.#instance.weight === undefined ? {} : { weight: this.#instance.weight }),
      };
      this.#registration = await this.#registry.register(init);
    }
    this.#signals?.on('SIGTERM', this.#onSignal);
    this.#signals?.on('SIGINT', this.#onSignal);
  }

  /** Counts a request in; the caller must call {@link Lifecycle.end} once it is answered. */
  begin(): void {
    this.#inFlight++;
  }

  end(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#drained?.();
  }

  readonly #onSignal = (): void => {
    this.#terminate().then(
      () => this.#exit?.(0),
      () => this.#exit?.(1),
    );
  };

  #stopAccepting: () => void = () => {};
  #closeAll: () => void = () => {};
  #terminate: () => Promise<void> = () => this.shutdown();

  /**
   * Tells the lifecycle how to stop the server it manages (set once by the adapter), and optionally
   * what a signal runs instead of {@link Lifecycle.shutdown} (a framework's own close, which in turn
   * calls `shutdown`).
   */
  attach(stopAccepting: () => void, closeAll: () => void, terminate?: () => Promise<void>): void {
    this.#stopAccepting = stopAccepting;
    this.#closeAll = closeAll;
    if (terminate !== undefined) this.#terminate = terminate;
  }

  /**
   * Deregisters first (callers stop choosing this instance), keeps serving for `graceMs`, then refuses
   * new work and stops accepting connections, waits up to `drainTimeoutMs` for in-flight requests, closes
   * what is left and runs `onClose`. Idempotent: every call returns the same promise.
   */
  shutdown(stopAccepting = this.#stopAccepting, closeAll = this.#closeAll): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#signals?.removeListener('SIGTERM', this.#onSignal);
      this.#signals?.removeListener('SIGINT', this.#onSignal);
      try {
        await this.#registration?.deregister();
      } finally {
        if (this.#graceMs > 0) await sleep(this.#clock, this.#graceMs);
        this.#draining = true;
        stopAccepting();
        await this.#drain();
        closeAll();
        await this.#onClose?.();
      }
    })();
    return this.#shutdown;
  }

  #drain(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(resolve, this.#drainTimeoutMs);
      this.#drained = () => {
        this.#clock.clearTimeout(timer);
        // The last call settled; its answer is written in the same turn, before the connections close.
        setImmediate(resolve);
      };
    });
  }
}
