// @ts-check
/* How the console and its Admin tab write things for people: dates and times in the agent's
 * own time zone and language (their Profile), else the browser's; names with their fallbacks;
 * statuses, amounts and sizes. One place, one name per function: two date helpers of the same
 * name once shadowed each other and recursed. */

import { S } from './state.js';

/** @typedef {import('./frames.js').Conversation} Conversation */

/**
 * A date and time in the agent's time zone and language (their Profile), else the browser's.
 * @param {string | number | Date | null | undefined} at
 * @param {Intl.DateTimeFormatOptions} [opts]
 */
export function fmtAt(at, opts) {
  const d = at instanceof Date ? at : new Date(/** @type {string | number} */ (at));
  if (isNaN(d.getTime())) return '';
  /** @type {Intl.DateTimeFormatOptions} */
  const o = Object.assign({}, opts || {});
  if (S.me && S.me.time_zone) o.timeZone = S.me.time_zone;
  const loc = S.me && S.me.locale === 'es' ? 'es' : [];
  try { return d.toLocaleString(loc, o); } catch (_) { delete o.timeZone; return d.toLocaleString(loc, o); }
}
/** "14:05". @param {string | number | undefined} at */
export const time = (at) => fmtAt(at, { hour: '2-digit', minute: '2-digit' });
/** "14:05:09", of a local clock reading. @param {number} ms */
export const clock = (ms) => fmtAt(ms, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
/** The whole date and time (a title). @param {string | undefined} at */
export const fullDate = (at) => fmtAt(at);
/** "Today 14:05", "Nov 21 14:05". @param {string | undefined} at */
export function when(at) {
  const d = new Date(/** @type {string} */ (at));
  if (isNaN(d.getTime())) return '';
  return (d.toDateString() === new Date().toDateString() ? 'Today' : fmtAt(d, { month: 'short', day: 'numeric' })) + ' ' + time(at);
}
/** An RFC 3339 time as milliseconds, 0 when missing or not one (for sorting). @param {string | null | undefined} s */
export const ts = (s) => Date.parse(s || '') || 0;

/** @param {Conversation} c */
export const shopperName = (c) => (c.shopper && c.shopper.name) || 'Visitor';
/** "Sales · Showroom Honda". @param {Conversation} c */
export const subline = (c) => [c.department && c.department.label, c.rooftop && c.rooftop.name].filter(Boolean).join(' · ');
/** An agent's name or a department's label. @param {{name?: string | null, label?: string} | null | undefined} x */
export const nameOf = (x) => (x && (x.name || x.label)) || '';

export const STATUS_LABELS = /** @type {Record<string, string>} */ ({ available: 'Available', away: 'Away', dnd: 'Do Not Disturb', offline: 'Offline' });
export const STATUSES = Object.keys(STATUS_LABELS);
/** @param {string | null | undefined} st */
export const statusLabel = (st) => STATUS_LABELS[st || ''] || String(st || 'Unknown');
/** The CSS class of a status's dot. @param {string | null | undefined} st */
export const statusClass = (st) => 'st-' + (STATUS_LABELS[st || ''] ? st : 'unknown');

/** "$32,500.00". @param {number} cents */
export const money = (cents) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });
/** "32500" or "32500.50", for an input. @param {number} cents */
export const dollars = (cents) => (cents % 100 === 0 ? String(cents / 100) : (cents / 100).toFixed(2));
/** "512 B", "12 KB", "1.5 MB". @param {number} n */
export const fileSize = (n) => (n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB');

/**
 * A server's field error as a sentence: "is required" -> "First name is required"; any other
 * message capitalised.
 * @param {string} label
 * @param {unknown} msg
 */
export function fieldText(label, msg) {
  const m = String(msg || '');
  return /^(is|must|has|should|can)\b/.test(m) ? label + ' ' + m : m.charAt(0).toUpperCase() + m.slice(1);
}
