// @ts-check
/* How a lead is written, the same in the chat's "Results created" (chat-leads.js,
 * lead-card.js) and the Leads view (leads.js): its origin, its name and how to reach it, its
 * classification. A lead is what GET /api/v1/leads answers (docs/leads.md). */

import { h } from './dom.js';
import { money } from './fmt.js';

/**
 * What the console reads of a lead.
 * @typedef {object} Lead
 * @property {string} id
 * @property {string} [origin]
 * @property {{first_name?: string, last_name?: string, email?: string, phone?: string} | null} [contact]
 * @property {string | null} [message]
 * @property {string | null} [conversation_id]
 * @property {{name?: string} | null} [rooftop]
 * @property {{label?: string} | null} [department]
 * @property {Classification | null} [classification]
 * @property {string} [created_at]
 * @property {number} [version]
 * @property {unknown[]} [sources]
 * @property {import('./frames.js').PaymentEstimate | null} [payment]  the last payment estimate the shopper saw
 * @property {TradeIn | null} [trade_in]
 */
/**
 * A trade-in (docs/protocol.md, "Trade-in").
 * @typedef {object} TradeIn
 * @property {number | null} [year]
 * @property {string | null} [make]
 * @property {string | null} [model]
 * @property {number | null} [mileage]
 * @property {'mi' | 'km'} [mileage_unit]
 * @property {'excellent' | 'good' | 'fair' | 'poor' | null} [condition]
 * @property {string} [vin]
 * @property {number} [payoff_cents]
 * @property {string} [comments]
 */
/**
 * @typedef {object} Classification
 * @property {boolean | null} [qualified]
 * @property {string[]} [tags]
 * @property {number | null} [value_cents]
 * @property {string} [notes]
 */

const ORIGIN_LABELS = /** @type {Record<string, string>} */ ({ missed_chat: 'Missed chat', message_left: 'Message left', offline: 'Offline', agent: 'Created by agent' });
/** @param {string | undefined} o */
export const originLabel = (o) => ORIGIN_LABELS[o || ''] || String(o || 'Unknown');
/** @param {string | undefined} o */
export const originClass = (o) => 'origin o-' + (ORIGIN_LABELS[o || ''] ? o : 'other');
/** @param {Lead} l */
export const leadName = (l) => (l.contact && [l.contact.first_name, l.contact.last_name].filter(Boolean).join(' ')) || 'Unnamed contact';
/** "ann@example.com · +13125552368". @param {Lead} l */
export const leadReach = (l) => (l.contact ? [l.contact.email, l.contact.phone].filter(Boolean).join(' · ') : '');
/** "2003 Honda Accord · 142,000 mi · fair · VIN 1HGCM82633A004352 · payoff $2,500.00". @param {TradeIn} t */
export function tradeInText(t) {
  return [[t.year, t.make, t.model].filter(Boolean).join(' '),
    typeof t.mileage === 'number' ? t.mileage.toLocaleString('en-US') + ' ' + (t.mileage_unit || 'mi') : '',
    t.condition || '', t.vin ? 'VIN ' + t.vin : '', typeof t.payoff_cents === 'number' ? 'payoff ' + money(t.payoff_cents) : '']
    .filter(Boolean).join(' · ');
}
/** @param {boolean | null | undefined} q */
const qualifiedText = (q) => (q === true ? 'Qualified' : q === false ? 'Not qualified' : 'Not classified');
/** @param {boolean | null | undefined} q */
export function qualifiedBadge(q) {
  return h('span', 'qbadge ' + (q === true ? 'q-yes' : q === false ? 'q-no' : 'q-unknown'), qualifiedText(q));
}
/** "Qualified · tags trade-in · $32,500.00 · “Wants a test drive”". @param {Classification | null | undefined} c */
export function classificationText(c) {
  if (!c) return '';
  const tags = Array.isArray(c.tags) ? c.tags : [];
  return [qualifiedText(c.qualified), tags.length ? 'tags ' + tags.join(', ') : '',
    typeof c.value_cents === 'number' ? money(c.value_cents) : '', c.notes ? '“' + (c.notes.length > 80 ? c.notes.slice(0, 80) + '…' : c.notes) + '”' : '']
    .filter(Boolean).join(' · ');
}
