// @ts-check
/* Admin ▸ Dashboard: chats created in a range (today, 7, 30 or 90 days). Trend charts per
 * hour or day for the group, a rooftop or a department (chats, answered, missed-chat rate,
 * pickup, leads, appointments set, satisfaction), each against the period before
 * (GET /api/v1/reports/trends, drawn by admin/chart.js); then the table per rooftop and
 * department: answered, time to pickup, missed-chat rate, leads, satisfaction, chats per
 * agent (GET /api/v1/reports/departments), and its CSV (…/departments.csv). docs/protocol.md
 * "Reports". */

import { el, clear } from '../dom.js';
import { fmtAt } from '../fmt.js';
import { api, errorText } from '../api.js';
import { A, loadDirectory } from './state.js';
import { sectionShell } from './section.js';
import { lineChart } from './chart.js';

/** @type {['today' | 'week' | 'month' | 'quarter', string][]} */
const RANGES = [['today', 'Today'], ['week', 'Last 7 days'], ['month', 'Last 30 days'], ['quarter', 'Last 90 days']];
/** @type {Record<string, number>} */
const DAYS = { week: 7, month: 30, quarter: 90 };

/** @param {string} key */
function rangeOf(key) {
  const to = new Date();
  let from;
  if (key === 'today') { from = new Date(to); from.setHours(0, 0, 0, 0); if (to.getTime() - from.getTime() < 60000) from = new Date(to.getTime() - 60000); }
  else from = new Date(to.getTime() - (DAYS[key] || 7) * 86400000);
  return { from: from.toISOString(), to: to.toISOString() };
}
/** "12.5 %". @param {number | null | undefined} v */
const pct = (v) => (v == null || isNaN(v) ? '—' : (Math.round(v * 1000) / 10).toFixed(1) + ' %');
/** "45 s", "3 min 05 s", "1 h 02 min". @param {number | null | undefined} v */
function secs(v) {
  if (v == null || isNaN(v)) return '—';
  const s = Math.round(v);
  if (s < 60) return s + ' s';
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return m + ' min ' + String(r).padStart(2, '0') + ' s';
  return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
}
/** @param {Row | null | undefined} d */
const pickup = (d) => {
  const t = d && d.time_to_pickup_secs;
  return t ? secs(t.p50) + ' (avg ' + secs(t.avg) + ')' : '—';
};
/** "4.5 ★ (12)". @param {Row} d */
const csat = (d) => (d.csat_avg == null ? '—' : d.csat_avg.toFixed(1) + ' ★ (' + (d.csat_count || 0) + ')');
/** @param {number | null | undefined} v */
const count = (v) => (v == null ? '—' : String(v));

/**
 * A row of the report: a department's, or a rooftop's rollup.
 * @typedef {object} Row
 * @property {number} [chats]
 * @property {number} [answered]
 * @property {{p50?: number, avg?: number} | null} [time_to_pickup_secs]
 * @property {number | null} [missed_rate]
 * @property {number | null} [leads]
 * @property {number | null} [chat_to_lead_rate]
 * @property {number | null} [csat_avg]
 * @property {number} [csat_count]
 */
/** @typedef {Row & {rooftop?: {id: string, name?: string}, department?: {id: string, label?: string}, chats_per_agent?: {agent?: {name?: string}, chats: number}[]}} DepartmentRow */
/** @typedef {Row & {rooftop?: {id: string}, id?: string}} RooftopRow */
/** @typedef {{from?: string, to?: string, departments?: DepartmentRow[], rooftops?: RooftopRow[]}} Report */

/** @param {HTMLElement} body @param {import('./section.js').Current} current */
export async function renderDashboard(body, current) {
  const box = sectionShell(body, 'Dashboard', 'Chats created in the range: trends against the period before, then per rooftop and department.');
  const group = el('div', { class: 'a-seg', role: 'group', 'aria-label': 'Range' });
  const state = el('p', { class: 'a-meta', role: 'status', id: 'admin-dash-state' });
  const charts = el('div', { class: 'c-grid-charts', id: 'admin-dash-charts' });
  const out = el('div', { class: 'a-dash', id: 'admin-dash' });
  for (const [key, label] of RANGES) {
    group.append(el('button', { type: 'button', 'data-range': key, 'aria-pressed': String(A.range === key), text: label,
      on: { click: () => { A.range = key; /** @type {NodeListOf<HTMLElement>} */ (group.querySelectorAll('button')).forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.range === key))); load(); } } }));
  }
  await loadDirectory();
  const scope = el('select', { id: 'admin-dash-scope', 'aria-label': 'Rooftop or department', on: { change: () => { A.scope = scope.value; load(); } } },
    el('option', { value: '', text: 'All rooftops' }));
  for (const rt of (A.directory && A.directory.rooftops) || []) {
    scope.append(el('option', { value: 'r:' + rt.id, text: rt.name }));
    for (const d of rt.departments || []) scope.append(el('option', { value: 'd:' + d.id, text: '\u2003' + d.label + ' · ' + rt.name }));
  }
  scope.value = A.scope;
  if (scope.value !== A.scope) A.scope = '';
  const csv = el('a', { class: 'a-link', id: 'admin-dash-csv', text: 'Download CSV', href: '/api/v1/reports/departments.csv', download: 'report.csv' });
  const refresh = el('button', { type: 'button', text: 'Refresh', on: { click: () => load() } });
  box.append(el('div', { class: 'a-toolbar' }, group, scope, refresh, csv, state), charts, out);
  let seq = 0;
  async function load() {
    const mine = ++seq;
    const { from, to } = rangeOf(A.range);
    const range = 'from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to);
    csv.setAttribute('href', '/api/v1/reports/departments.csv?' + range);
    const tz = (A.me && A.me.time_zone) || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const where = A.scope.startsWith('r:') ? '&rooftop_id=' + A.scope.slice(2) : A.scope.startsWith('d:') ? '&department_id=' + A.scope.slice(2) : '';
    state.textContent = 'Loading…';
    const [r, t] = await Promise.all([
      api('GET', '/api/v1/reports/departments?' + range),
      api('GET', '/api/v1/reports/trends?' + range + '&tz=' + encodeURIComponent(tz) + where),
    ]);
    if (!current() || mine !== seq) return;
    if (!r.ok) { state.textContent = ''; clear(out, el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot load the report.') })); return; }
    /** @type {Report} */
    const rep = r.data || {};
    const deps = rep.departments || [];
    const total = deps.reduce((n, d) => n + (d.chats || 0), 0);
    state.textContent = total + (total === 1 ? ' chat' : ' chats') + ' · ' + fmtAt(rep.from || from) + ' – ' + fmtAt(rep.to || to);
    if (t.ok) clear(charts, ...trendCharts(/** @type {Trends} */ (t.data)));
    else clear(charts, el('p', { class: 'a-error', role: 'alert', text: errorText(t, 'Cannot load the trends.') }));
    clear(out, dashboardTable(rep));
  }
  await load();
}

/**
 * @typedef {object} TrendNumbers
 * @property {number} chats
 * @property {number} answered
 * @property {number} missed
 * @property {number | null} missed_rate
 * @property {number | null} pickup_p50_secs
 * @property {number} leads
 * @property {number | null} csat_avg
 * @property {number} csat_count
 * @property {number} [appointments]
 */
/** @typedef {TrendNumbers & {at: string}} TrendPoint */
/** @typedef {{from: string, to: string, points: TrendPoint[], totals: TrendNumbers}} TrendPeriod */
/** @typedef {{bucket: 'hour' | 'day', tz: string, current: TrendPeriod, previous: TrendPeriod}} Trends */

/** Relative change from `before` to `now`; null when there is nothing to compare. @param {number | null} now @param {number | null} before */
const change = (now, before) => (now == null || before == null || before === 0 ? null : (now - before) / before);

/** One chart per number, each against the period before. @param {Trends} t */
function trendCharts(t) {
  const cur = t.current.points, prev = t.previous.points;
  const o = t.bucket === 'hour' ? { hour: '2-digit', minute: '2-digit', timeZone: t.tz } : { month: 'short', day: 'numeric', timeZone: t.tz };
  const labels = cur.map((p) => new Date(p.at).toLocaleString(undefined, /** @type {Intl.DateTimeFormatOptions} */ (o)));
  /** @type {[string, string, (n: TrendNumbers) => number | null, (v: number) => string, boolean][]} */
  const specs = [
    ['chats', 'Chats', (n) => n.chats, (v) => String(Math.round(v)), false],
    ['answered', 'Answered', (n) => n.answered, (v) => String(Math.round(v)), false],
    ['missed-rate', 'Missed-chat rate', (n) => n.missed_rate, pct, true],
    ['pickup', 'Time to pickup (median)', (n) => n.pickup_p50_secs, secs, true],
    ['leads', 'Leads', (n) => n.leads, (v) => String(Math.round(v)), false],
    ['appointments', 'Appointments set', (n) => n.appointments ?? 0, (v) => String(Math.round(v)), false],
    ['csat', 'Satisfaction (1–5)', (n) => n.csat_avg, (v) => v.toFixed(1), false],
  ];
  return specs.map(([id, title, of, format, lowerIsBetter]) => {
    const now = of(t.current.totals), before = of(t.previous.totals);
    return lineChart({
      id, title, labels, format, lowerIsBetter,
      values: cur.map(of), previous: prev.map(of),
      total: now == null ? '—' : format(now), totalBefore: before == null ? '—' : format(before),
      change: change(now, before),
    });
  });
}

/** @param {Report} rep */
function dashboardTable(rep) {
  const deps = rep.departments || [];
  if (!deps.length) return el('p', { class: 'a-empty', text: 'No departments yet.' });
  const hasLeads = deps.some((d) => d.leads != null || d.chat_to_lead_rate !== undefined);
  /** @type {Map<string | undefined, RooftopRow>} */
  const rollups = new Map();
  for (const rt of rep.rooftops || []) rollups.set((rt.rooftop && rt.rooftop.id) || rt.id, rt);
  const head = ['Department', 'Chats', 'Answered', 'Time to pickup (median)', 'Missed-chat rate'];
  if (hasLeads) head.push('Leads', 'Chat-to-lead rate');
  head.push('Satisfaction', 'Chats per agent');
  const table = el('table', { class: 'a-table a-dash-table' },
    el('caption', { class: 'sr-only', text: 'Numbers per rooftop and department' }),
    el('thead', null, el('tr', null, head.map((t) => el('th', { scope: 'col', text: t })))));
  const tbody = el('tbody');
  /** @type {string | undefined | null} */
  let rooftop = null;
  for (const d of deps) {
    const rid = d.rooftop && d.rooftop.id;
    if (rid !== rooftop) {
      rooftop = rid;
      const roll = rollups.get(rid);
      const th = el('th', { scope: 'rowgroup', text: (d.rooftop && d.rooftop.name) || 'Rooftop' });
      const row = el('tr', { class: 'a-rooftop-row' }, th);
      if (roll) {
        row.append(el('td', { text: count(roll.chats) }), el('td', { text: count(roll.answered) }), el('td', { text: pickup(roll) }), el('td', { text: pct(roll.missed_rate) }));
        if (hasLeads) row.append(el('td', { text: count(roll.leads) }), el('td', { text: pct(roll.chat_to_lead_rate) }));
        row.append(el('td', { text: csat(roll) }), el('td', { text: '' }));
      } else {
        th.colSpan = head.length;
      }
      tbody.append(row);
    }
    const per = (d.chats_per_agent || []).map((a) => ((a.agent && a.agent.name) || 'Agent') + ': ' + a.chats);
    const tr = el('tr', { 'data-department': (d.department && d.department.id) || '' },
      el('th', { scope: 'row', class: 'a-dep-name', text: (d.department && d.department.label) || '—' }),
      el('td', { class: 'a-num', 'data-k': 'chats', text: count(d.chats) }),
      el('td', { class: 'a-num', text: count(d.answered) }),
      el('td', { text: pickup(d) }),
      el('td', { class: 'a-num', text: pct(d.missed_rate) }));
    if (hasLeads) tr.append(el('td', { class: 'a-num', text: count(d.leads) }), el('td', { class: 'a-num', text: pct(d.chat_to_lead_rate) }));
    tr.append(el('td', { class: 'a-num', 'data-k': 'csat', text: csat(d) }));
    tr.append(el('td', { class: 'a-per' }, per.length ? el('ul', { class: 'a-per-list' }, per.map((t) => el('li', { text: t }))) : '—'));
    tbody.append(tr);
  }
  table.append(tbody);
  return el('div', { class: 'a-table-wrap' }, table);
}
