import type { DashboardSnapshot, RouteView, ServiceView } from '../view-model.ts';
import { errorClass, esc, fmtMs, fmtRate, fmtRatio } from './format.ts';

/** Per service: instances, then endpoints with health, breaker, ejection and traffic. */
export function renderServices(snapshot: DashboardSnapshot): string {
  if (snapshot.services.length === 0) return '<p class="empty">No service found in the registry yet.</p>';
  return snapshot.services.map(renderService).join('');
}

function renderService(s: ServiceView): string {
  const instances = s.instances
    .map(
      (i) =>
        `<li class="instance ${i.health === 'passing' ? 'ok' : 'bad'}" data-instance="${esc(i.id)}" title="${esc(i.scrapeError ?? 'scraped')}">${esc(i.id)}${i.version ? ` <small>${esc(i.version)}</small>` : ''}${i.scraped ? '' : ' <span class="tag warn">no metrics</span>'}</li>`,
    )
    .join('');
  const rows = s.endpoints
    .map(
      (e) => `<tr data-endpoint="${esc(e.endpoint)}" data-breaker="${e.breaker}" data-ejected="${e.ejected}">
<td>${esc(e.endpoint)}</td><td>${esc(e.subset ?? '')}</td>
<td><span class="tag ${e.health === 'passing' ? 'ok' : e.health === 'critical' ? 'bad' : ''}">${e.health}</span></td>
<td><span class="tag breaker-${e.breaker}">${e.breaker}${e.breakerOpenIn > 1 ? ` ×${e.breakerOpenIn}` : ''}</span></td>
<td>${e.ejected ? '<span class="tag bad">ejected</span>' : ''}</td>
<td class="num">${fmtRate(e.rate)}</td><td class="num ${errorClass(e.errorRatio)}">${fmtRatio(e.errorRatio)}</td><td class="num">${fmtMs(e.p99Ms)}</td></tr>`,
    )
    .join('');
  const bulkhead =
    s.inFlight > 0 || s.bulkheadRejectedRate > 0
      ? `<p class="meta">${s.inFlight} tries in flight from callers, ${fmtRate(s.bulkheadRejectedRate)} refused by bulkheads</p>`
      : '';
  return `<section class="service" data-service-card="${esc(s.name)}">
<h3>${esc(s.name)} <small>${fmtRate(s.traffic.rate)} · ${fmtRatio(s.traffic.errorRatio)} errors · p99 ${fmtMs(s.traffic.p99Ms)}</small></h3>
<ul class="instances">${instances}</ul>${bulkhead}
${rows === '' ? '' : `<table><thead><tr><th>endpoint</th><th>subset</th><th>health</th><th>breaker</th><th>outlier</th><th>rate</th><th>errors</th><th>p99</th></tr></thead><tbody>${rows}</tbody></table>`}
</section>`;
}

/** Each routed host: configured weights per rule, and the observed split of first tries. */
export function renderRoutes(snapshot: DashboardSnapshot): string {
  const findings = snapshot.routeIssues.map((i) => `<li>${esc(i)}</li>`).join('');
  const issues =
    findings === ''
      ? ''
      : `<details class="issues"><summary>${snapshot.routeIssues.length} finding(s) in the routes file</summary><ul>${findings}</ul></details>`;
  const body = snapshot.routes.map(renderRoute).join('');
  if (body === '' && issues === '') return '<p class="empty">No routes file (set MESH_ROUTES).</p>';
  return `${body}${issues}`;
}

function bar(parts: readonly { label: string; percent: number }[]): string {
  return `<div class="bar">${parts
    .filter((p) => p.percent > 0)
    .map(
      (p, i) =>
        `<span class="seg s${i % 6}" style="width:${p.percent.toFixed(2)}%" title="${esc(p.label)} ${p.percent.toFixed(1)}%">${esc(p.label)} ${Math.round(p.percent)}%</span>`,
    )
    .join('')}</div>`;
}

function renderRoute(r: RouteView): string {
  const rules = r.rules
    .map(
      (rule) =>
        `<div class="rule"><div class="rule-name">${esc(rule.name)}: ${esc(rule.match)}</div>${bar(rule.destinations.map((d) => ({ label: d.subset, percent: d.weight })))}</div>`,
    )
    .join('');
  const total = r.observed.reduce((s, o) => s + o.rate, 0);
  const observed =
    total > 0
      ? bar(r.observed.map((o) => ({ label: o.subset, percent: o.percent })))
      : '<p class="empty">no routed traffic in the window</p>';
  return `<section class="route" data-route="${esc(r.host)}"><h3>${esc(r.host)} <small>VirtualService ${esc(r.virtualService)}</small></h3>
<div class="configured"><h4>configured</h4>${rules}</div>
<div class="observed" data-observed="${esc(r.observed.map((o) => `${o.subset}:${Math.round(o.percent)}`).join(','))}"><h4>observed (first tries, ${fmtRate(total)})</h4>${observed}</div></section>`;
}

/** Retry amplification per called service, and the retry budgets. */
export function renderRetries(snapshot: DashboardSnapshot): string {
  if (snapshot.retries.length === 0 && snapshot.budgets.length === 0) {
    return '<p class="empty">No client traffic yet.</p>';
  }
  const rows = snapshot.retries
    .map((r) => {
      const amp = r.amplification;
      const cls = amp === null || amp < 1.1 ? 'ok' : amp < 1.5 ? 'warn' : 'bad';
      return `<tr data-retries="${esc(r.service)}"><td>${esc(r.service)}</td><td class="num">${fmtRate(r.firstRate)}</td><td class="num">${fmtRate(r.retryRate)}</td><td class="num">${fmtRate(r.hedgeRate)}</td>
<td class="num ${cls}">${amp === null ? '–' : `×${amp.toFixed(2)}`}</td></tr>`;
    })
    .join('');
  const budgets = snapshot.budgets
    .map(
      (b) =>
        `<tr data-budget="${esc(b.budget)}"><td>${esc(b.budget)}</td><td class="num">${b.available === null ? '–' : b.available}</td><td class="num ${b.exhaustedRate > 0 ? 'bad' : ''}">${fmtRate(b.exhaustedRate)}</td></tr>`,
    )
    .join('');
  return `<table><thead><tr><th>to</th><th>first</th><th>retries</th><th>hedges</th><th>amplification</th></tr></thead><tbody>${rows}</tbody></table>
${budgets === '' ? '' : `<h4>retry budgets</h4><table><thead><tr><th>budget</th><th>left</th><th>refused</th></tr></thead><tbody>${budgets}</tbody></table>`}`;
}

/** Topics: publish and consume rates, lag, dead letters; outbox backlogs. */
export function renderMessaging(snapshot: DashboardSnapshot): string {
  if (snapshot.topics.length === 0 && snapshot.outbox.length === 0) {
    return '<p class="empty">No messaging metrics yet.</p>';
  }
  const rows = snapshot.topics
    .map((t) => {
      const publishers = t.group === null;
      const published = publishers ? fmtRate(t.publishRate) : '';
      const publishFailed =
        t.publishErrorRate > 0 ? ` <span class="bad">${fmtRate(t.publishErrorRate)} failed</span>` : '';
      const consumedRate = publishers ? '' : fmtRate(t.consumeRate);
      const consumeFailed =
        t.consumeErrorRate > 0 ? ` <span class="bad">${fmtRate(t.consumeErrorRate)} not acked</span>` : '';
      const dead = publishers ? '' : `${t.deadLetters} (${fmtRate(t.deadLetterRate)})`;
      return `<tr data-topic="${esc(t.topic)}" data-group="${esc(t.group ?? '')}"><td>${esc(t.topic || '?')}</td><td>${esc(t.group ?? '(publishers)')}</td>
<td class="num">${published}${publishFailed}</td><td class="num">${consumedRate}${consumeFailed}</td>
<td class="num ${t.lag !== null && t.lag > 100 ? 'warn' : ''}">${t.lag ?? '–'}</td><td class="num ${t.deadLetters > 0 ? 'bad' : ''}">${dead}</td></tr>`;
    })
    .join('');
  const outbox = snapshot.outbox
    .map((o) => `<li data-outbox="${esc(o.owner)}">${esc(o.owner)}: <b>${o.backlog}</b> unsent</li>`)
    .join('');
  return `<table><thead><tr><th>topic</th><th>group</th><th>published</th><th>consumed</th><th>lag</th><th>dead letters</th></tr></thead><tbody>${rows}</tbody></table>
${outbox === '' ? '' : `<h4>outbox</h4><ul class="outbox">${outbox}</ul>`}`;
}
