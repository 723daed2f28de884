import type { DashboardSnapshot, EdgeView, ServiceView } from '../view-model.ts';
import { errorClass, esc, fmtMs, fmtRate, fmtRatio } from './format.ts';

const nodeW = 190;
const nodeH = 58;
const colGap = 150;
const rowGap = 26;
const maxRows = 10;

interface Placed {
  readonly service: ServiceView;
  readonly x: number;
  readonly y: number;
}

/**
 * Columns by call depth (callers left of callees; a cycle stops deepening after as many passes as there
 * are services); a column longer than `maxRows` wraps into the next.
 */
function layout(services: readonly ServiceView[], edges: readonly EdgeView[]): Map<string, Placed> {
  const depth = new Map<string, number>(services.map((s) => [s.name, 0]));
  for (let pass = 0; pass < services.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.from === e.to) continue;
      const d = (depth.get(e.from) ?? 0) + 1;
      if (d > (depth.get(e.to) ?? 0) && d < services.length) {
        depth.set(e.to, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = new Map<number, ServiceView[]>();
  for (const s of services) {
    const d = depth.get(s.name) ?? 0;
    const list = columns.get(d) ?? [];
    list.push(s);
    columns.set(d, list);
  }
  const placed = new Map<string, Placed>();
  let x = 20;
  for (const d of [...columns.keys()].sort((a, b) => a - b)) {
    const list = columns.get(d)!;
    for (let start = 0; start < list.length; start += maxRows) {
      list.slice(start, start + maxRows).forEach((service, row) => {
        placed.set(service.name, { service, x, y: 20 + row * (nodeH + rowGap) });
      });
      x += nodeW + colGap;
    }
  }
  return placed;
}

function nodeState(service: ServiceView): string {
  if (service.endpoints.some((e) => e.breaker === 'open')) return 'bad';
  if (service.endpoints.some((e) => e.breaker === 'half-open' || e.ejected)) return 'warn';
  if (service.instances.length > 0 && service.instances.every((i) => i.health === 'critical')) return 'bad';
  return errorClass(service.traffic.errorRatio);
}

/** The service map as SVG: a box per service, an arrow per calling pair with rate, errors and p99. */
export function renderServiceMap(snapshot: DashboardSnapshot): string {
  const placed = layout(snapshot.services, snapshot.edges);
  let width = 0;
  let height = 0;
  for (const p of placed.values()) {
    width = Math.max(width, p.x + nodeW + 20);
    height = Math.max(height, p.y + nodeH + 20);
  }
  const parts: string[] = [];
  parts.push(
    `<svg class="map" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="service map">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>',
  );
  for (const e of snapshot.edges) {
    const a = placed.get(e.from);
    const b = placed.get(e.to);
    if (a === undefined || b === undefined || e.from === e.to) continue;
    const forward = b.x > a.x;
    const x1 = forward ? a.x + nodeW : a.x + nodeW / 2;
    const y1 = forward ? a.y + nodeH / 2 : a.y + nodeH;
    const x2 = forward ? b.x : b.x + nodeW / 2;
    const y2 = forward ? b.y + nodeH / 2 : b.y;
    const mx = (x1 + x2) / 2;
    const my = (y1 + y2) / 2;
    const curve = forward ? `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` : `M${x1},${y1} L${x2},${y2}`;
    const label = `${fmtRate(e.rate)} · ${fmtRatio(e.errorRatio)} · p99 ${fmtMs(e.p99Ms)}`;
    parts.push(
      `<g class="edge ${errorClass(e.errorRatio)}" data-edge="${esc(e.from)}->${esc(e.to)}">`,
      `<path d="${curve}" marker-end="url(#arrow)"/>`,
      `<text x="${mx}" y="${my - 6}" text-anchor="middle">${esc(label)}</text></g>`,
    );
  }
  for (const p of placed.values()) {
    const s = p.service;
    const passing = s.instances.filter((i) => i.health === 'passing').length;
    parts.push(
      `<g class="node ${nodeState(s)}" data-service="${esc(s.name)}" transform="translate(${p.x},${p.y})">`,
      `<rect width="${nodeW}" height="${nodeH}" rx="8"/>`,
      `<text class="name" x="10" y="20">${esc(s.name)}</text>`,
      `<text class="meta" x="10" y="37">${passing}/${s.instances.length} up · ${s.endpoints.length} endpoints</text>`,
      `<text class="meta" x="10" y="51">${fmtRate(s.traffic.rate)} · ${fmtRatio(s.traffic.errorRatio)} · p99 ${fmtMs(s.traffic.p99Ms)}</text>`,
      '</g>',
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
