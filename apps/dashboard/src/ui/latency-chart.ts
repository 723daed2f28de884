import uPlot from 'uplot';
import type { LatencyHistoryView } from '../view-model.ts';

const colors = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7'];

/** p99 over time with uPlot; rebuilt only when the set of services changes, else fed new data. */
export class LatencyChart {
  readonly #host: HTMLElement;
  #plot: uPlot | undefined;
  #key = '';

  constructor(host: HTMLElement) {
    this.#host = host;
  }

  update(history: LatencyHistoryView): void {
    const key = history.series.map((s) => s.service).join('\u0000');
    const data = [history.times, ...history.series.map((s) => s.p99Ms)] as uPlot.AlignedData;
    if (this.#plot === undefined || key !== this.#key) {
      this.#plot?.destroy();
      this.#key = key;
      this.#plot = new uPlot(
        {
          width: Math.max(320, this.#host.clientWidth - 8),
          height: 220,
          series: [
            {},
            ...history.series.map((s, i) => ({
              label: `${s.service} p99`,
              stroke: colors[i % colors.length]!,
              width: 2,
              spanGaps: false,
              value: (_: uPlot, v: number | null) => (v === null ? '–' : `${v.toFixed(1)} ms`),
            })),
          ],
          axes: [{}, { label: 'ms', values: (_: uPlot, ticks: number[]) => ticks.map((t) => `${t}`) }],
          scales: { x: { time: true } },
        },
        data,
        this.#host,
      );
      return;
    }
    this.#plot.setData(data);
  }

  resize(): void {
    this.#plot?.setSize({ width: Math.max(320, this.#host.clientWidth - 8), height: 220 });
  }
}
