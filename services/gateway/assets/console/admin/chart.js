// @ts-check
/* A small line chart drawn as SVG by our own code (no library: one series, its previous
 * period dashed behind it, a dot per point with its value as a tooltip, three grid lines).
 * Used by the dashboard's trends (admin/dashboard.js). A point whose value is null (no chat
 * answered, no rating) leaves a gap in the line and has no dot. */

import { el } from '../dom.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 320, H = 120, PAD_L = 36, PAD_R = 8, PAD_T = 8, PAD_B = 20;

/**
 * An SVG element with attributes and children.
 * @param {string} tag @param {Record<string, string | number>} attrs @param {...(Node | string)} kids
 * @returns {SVGElement}
 */
function svg(tag, attrs, ...kids) {
  const n = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  n.append(...kids);
  return n;
}

/**
 * @typedef {object} Series
 * @property {string} id             the figure's id (`dash-chart-<id>`)
 * @property {string} title          "Chats"
 * @property {string[]} labels       one label per point ("Mon 3", "14:00")
 * @property {(number | null)[]} values    this period's values, one per point
 * @property {(number | null)[]} previous  the period before, aligned by position
 * @property {(v: number) => string} format how a value reads ("12.5 %", "45 s")
 * @property {string} total          this period's total, formatted
 * @property {string} totalBefore    the previous period's, formatted
 * @property {number | null} change  relative change of the total (0.1 = +10 %), null when not comparable
 * @property {boolean} [lowerIsBetter] missed-chat rate and time to pickup
 */

/** The top of the scale: 1, 2 or 5 times a power of ten at or above `max` (1 for nothing). @param {number} max */
function nice(max) {
  if (!(max > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  return ([1, 2, 5, 10].find((m) => m * p >= max) || 10) * p;
}

/** Runs of consecutive non-null points, as SVG `points` strings. @param {(number | null)[]} vs @param {(i: number) => number} x @param {(v: number) => number} y */
function runs(vs, x, y) {
  /** @type {string[]} */
  const out = [];
  let cur = '';
  vs.forEach((v, i) => {
    if (v == null || !isFinite(v)) { if (cur) out.push(cur); cur = ''; return; }
    cur += (cur ? ' ' : '') + x(i).toFixed(1) + ',' + y(v).toFixed(1);
  });
  if (cur) out.push(cur);
  return out;
}

/** A line chart of one series against the period before. @param {Series} s @returns {HTMLElement} */
export function lineChart(s) {
  const all = [...s.values, ...s.previous].filter((v) => v != null && isFinite(v)).map(Number);
  const top = nice(Math.max(0, ...all));
  const n = s.values.length;
  const x = (/** @type {number} */ i) => PAD_L + (n <= 1 ? (W - PAD_L - PAD_R) / 2 : (i * (W - PAD_L - PAD_R)) / (n - 1));
  const y = (/** @type {number} */ v) => PAD_T + (H - PAD_T - PAD_B) * (1 - v / top);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'c-svg', role: 'img', 'aria-label': s.title + ': ' + s.total + ' (previous period ' + s.totalBefore + ')' });
  // Grid lines at 0, half and the top; only 0 and the top are labelled (half of a small
  // count would read as a repeated whole number).
  for (const f of [0, 0.5, 1]) {
    const gy = y(top * f);
    chart.append(svg('line', { class: 'c-grid', x1: PAD_L, x2: W - PAD_R, y1: gy.toFixed(1), y2: gy.toFixed(1) }));
    if (f !== 0.5) chart.append(svg('text', { class: 'c-axis', x: PAD_L - 4, y: (gy + 3).toFixed(1), 'text-anchor': 'end' }, s.format(top * f)));
  }
  // First, middle and last labels along the bottom.
  for (const i of [...new Set([0, Math.floor((n - 1) / 2), n - 1])].filter((k) => k >= 0 && k < n)) {
    chart.append(svg('text', { class: 'c-axis', x: x(i).toFixed(1), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle' }, s.labels[i] || ''));
  }
  for (const p of runs(s.previous.slice(0, n), x, y)) chart.append(svg('polyline', { class: 'c-before', points: p }));
  for (const p of runs(s.values, x, y)) chart.append(svg('polyline', { class: 'c-now', points: p }));
  s.values.forEach((v, i) => {
    if (v == null || !isFinite(v)) return;
    chart.append(svg('circle', { class: 'c-dot', cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, 'data-i': i },
      svg('title', {}, (s.labels[i] || '') + ': ' + s.format(v))));
  });
  let delta = '';
  let tone = 'c-same';
  if (s.change != null && isFinite(s.change)) {
    const pct = Math.round(s.change * 1000) / 10;
    delta = (pct > 0 ? '+' : '') + pct.toFixed(1) + ' % vs previous period';
    if (pct !== 0) tone = (pct > 0) !== !!s.lowerIsBetter ? 'c-better' : 'c-worse';
  }
  return el('figure', { class: 'c-chart', id: 'dash-chart-' + s.id, 'data-points': String(n) },
    el('figcaption', null,
      el('span', { class: 'c-title', text: s.title }),
      el('span', { class: 'c-total', text: s.total }),
      el('span', { class: 'c-delta ' + tone, text: delta || 'previous period: ' + s.totalBefore })),
    chart);
}
