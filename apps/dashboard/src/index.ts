/**
 * `@meshkit/dashboard`: a live web view of the mesh, built from every registered instance's `/metrics`
 * (see README.md).
 */
export { Collector, type CollectorOptions } from './collect/collector.ts';
export { metricNames } from './collect/metric-names.ts';
export { type Exposition, ExpositionParseError, parseExposition, type Sample } from './collect/prom-text.ts';
export { histogramQuantile } from './collect/quantile.ts';
export {
  type Dashboard,
  type DashboardOptions,
  dashboardService,
  startDashboard,
} from './serve/dashboard.ts';
export type * from './view-model.ts';
