/** Escapes text for HTML (element content and quoted attributes). */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A rate per second, short. */
export function fmtRate(perSecond: number): string {
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${perSecond.toFixed(3)}/s`;
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  return `${Math.round(perSecond)}/s`;
}

/** A ratio 0..1 as a percentage; an en dash when unknown. */
export function fmtRatio(ratio: number | null): string {
  if (ratio === null) return '–';
  const pct = ratio * 100;
  return pct === 0 ? '0%' : pct < 1 ? `${pct.toFixed(2)}%` : `${pct.toFixed(1)}%`;
}

/** Milliseconds, short; an en dash when unknown. */
export function fmtMs(ms: number | null): string {
  if (ms === null) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A CSS class for an error ratio: ok, warn or bad. */
export function errorClass(ratio: number | null): string {
  if (ratio === null || ratio < 0.01) return 'ok';
  return ratio < 0.05 ? 'warn' : 'bad';
}
