/**
 * The live view of a running scenario. On a terminal it redraws a few lines in place several times a
 * second; elsewhere (CI, a pipe) it prints one line when a phase starts and one every few seconds.
 */
import type { CallRecord } from './load.ts';
import { percent, quantile } from './summary.ts';

/** What the display reads on each refresh. */
export interface ProgressSource {
  readonly records: readonly CallRecord[];
  readonly phase: string;
  readonly phaseEndsAt: number;
  /** Events the audit group saw and the notifier recorded so far. */
  readonly events: () => { readonly published: number; readonly delivered: number };
}

/** Where the view is written: a terminal (redrawn in place) or any text sink. */
export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  moveCursor?(dx: number, dy: number): unknown;
  clearScreenDown?(): unknown;
}

export class Progress {
  readonly #out: Output;
  readonly #source: ProgressSource;
  readonly #tty: boolean;
  #timer: NodeJS.Timeout | undefined;
  #drawn = 0;
  #seen = 0;

  constructor(source: ProgressSource, out: Output = process.stdout) {
    this.#source = source;
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  start(): void {
    this.#timer = setInterval(() => this.#refresh(), this.#tty ? 250 : 5_000);
    this.#timer.unref();
  }

  /** Prints a line above the live view (a phase starting, a fault applied). */
  say(line: string): void {
    this.#clear();
    this.#out.write(`${line}\n`);
    if (this.#tty) this.#draw();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#clear();
  }

  #refresh(): void {
    if (this.#tty) {
      this.#clear();
      this.#draw();
    } else {
      this.#out.write(`  ${this.#lines().join(' | ')}\n`);
    }
  }

  #lines(): string[] {
    const records = this.#source.records;
    const recent = records.slice(this.#seen);
    this.#seen = records.length;
    const ok = recent.filter((r) => r.status > 0 && r.status < 500).length;
    const latencies = Float64Array.from(recent, (r) => r.latencyMs).sort();
    const v2 = recent.filter((r) => r.subset === 'v2').length;
    const { published, delivered } = this.#source.events();
    const left = Math.max(0, Math.ceil((this.#source.phaseEndsAt - Date.now()) / 1000));
    return [
      `${this.#source.phase} (${left} s left)`,
      `calls ${records.length}  last: ${recent.length} ok ${recent.length === 0 ? '-' : percent(ok / recent.length)} p99 ${quantile(latencies, 0.99).toFixed(0)} ms v2 ${recent.length === 0 ? '-' : percent(v2 / recent.length)}`,
      `events published ${published}  delivered ${delivered}`,
    ];
  }

  #draw(): void {
    const lines = this.#lines().map((l) => `  ${l}`);
    this.#out.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }

  #clear(): void {
    if (!this.#tty || this.#drawn === 0) return;
    this.#out.moveCursor?.(0, -this.#drawn);
    this.#out.clearScreenDown?.();
    this.#drawn = 0;
  }
}
