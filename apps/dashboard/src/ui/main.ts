import type { DashboardSnapshot } from '../view-model.ts';
import { LatencyChart } from './latency-chart.ts';
import { renderMessaging, renderRetries, renderRoutes, renderServices } from './panels.ts';
import { renderServiceMap } from './service-map.ts';

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  return el;
}

/** Writes `html` into `id` only when it changed, so an unchanged panel costs one string compare. */
const lastHtml = new Map<string, string>();
function patch(id: string, html: string): void {
  if (lastHtml.get(id) === html) return;
  lastHtml.set(id, html);
  element(id).innerHTML = html;
}

const chart = new LatencyChart(element('latency'));
const status = element('status');
let updates = 0;
let pending: DashboardSnapshot | undefined;
let scheduled = false;

/** Renders at most once per animation frame, always the latest snapshot (older ones are skipped). */
function render(): void {
  scheduled = false;
  const snapshot = pending;
  pending = undefined;
  if (snapshot === undefined) return;
  patch('map', renderServiceMap(snapshot));
  patch('services', renderServices(snapshot));
  patch('routes', renderRoutes(snapshot));
  patch('retries', renderRetries(snapshot));
  patch('messaging', renderMessaging(snapshot));
  chart.update(snapshot.latency);
  updates++;
  document.body.dataset.updates = String(updates);
  document.body.dataset.at = String(snapshot.at);
  const instances = snapshot.services.reduce((n, s) => n + s.instances.length, 0);
  status.textContent = `${snapshot.services.length} services · ${instances} instances · rates over ${Math.round(snapshot.rateWindowMs / 1000)} s · ${new Date(snapshot.at).toLocaleTimeString()}`;
}

function connect(): void {
  const source = new EventSource('events');
  source.addEventListener('open', () => {
    document.body.dataset.connected = 'true';
  });
  source.addEventListener('error', () => {
    document.body.dataset.connected = 'false';
    status.textContent = 'disconnected; reconnecting…';
  });
  source.addEventListener('snapshot', (event) => {
    pending = JSON.parse((event as MessageEvent<string>).data) as DashboardSnapshot;
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(render);
    }
  });
}

window.addEventListener('resize', () => chart.resize());
connect();
