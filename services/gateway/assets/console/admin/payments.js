// @ts-check
/* Payment estimates: the Admin tab's section for each rooftop's finance and lease settings
 * (GET/POST /api/v1/payment-settings, PUT/DELETE /api/v1/payment-settings/{id}: a manager or an
 * admin every rooftop's, a rooftop manager their rooftops'). A rooftop's default (no make) and
 * a row per make, which replaces the default for that make. Shown in percent and dollars,
 * sent as the API's integers (basis points, millionths, cents). Agents send estimates from a
 * chat's details (console/payment.js); shoppers ask in the widget. */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { loadingLine, sectionShell } from './section.js';
import { Fields, field, textInput, dropdown, saver, formEl } from './forms.js';
import { loadDirectory } from './state.js';

/**
 * A settings row as the API answers it.
 * @typedef {object} Settings
 * @property {string} id
 * @property {string} rooftop_id
 * @property {string | null} make
 * @property {string | null} disclaimer
 * @property {number} finance_apr_bp
 * @property {number} finance_term_months
 * @property {number} finance_down_cents
 * @property {number} finance_fees_cents
 * @property {number} tax_rate_bp
 * @property {number} lease_money_factor_millionths
 * @property {number} lease_residual_bp
 * @property {number} lease_term_months
 * @property {number} lease_fees_cents
 * @property {number} lease_down_cents
 */

/** Each rate: the API's field, its label, its unit's scale (shown = value / scale), a hint. */
const RATES = /** @type {[keyof Settings, string, number, string][]} */ ([
  ['finance_apr_bp', 'Finance APR %', 100, '6.9'],
  ['finance_term_months', 'Finance term (months)', 1, '60'],
  ['finance_down_cents', 'Finance down payment $', 100, '3000'],
  ['finance_fees_cents', 'Dealer fees $', 100, '499'],
  ['tax_rate_bp', 'Tax rate %', 100, '7.25'],
  ['lease_money_factor_millionths', 'Lease money factor', 1e6, '0.00125'],
  ['lease_residual_bp', 'Lease residual %', 100, '58'],
  ['lease_term_months', 'Lease term (months)', 1, '36'],
  ['lease_fees_cents', 'Lease acquisition and dealer fees $', 100, '695'],
  ['lease_down_cents', 'Lease due at signing (down) $', 100, '2000'],
]);

/**
 * The inputs of a row, registered in `fields`, filled from `s`.
 * @param {Fields} fields
 * @param {Partial<Settings>} s
 */
function inputs(fields, s) {
  const make = textInput(s.make || '', { maxLength: 40, placeholder: 'Every make', 'aria-label': 'Make', class: 'p-make' });
  /** @type {[string, HTMLInputElement, number][]} */
  const rates = RATES.map(([name, label, scale, hint]) => {
    const v = s[name];
    const input = textInput(typeof v === 'number' ? String(v / scale) : '', { inputMode: 'decimal', placeholder: hint, 'aria-label': label, 'data-rate': name });
    return [name, input, scale];
  });
  const disclaimer = el('textarea', { rows: 2, maxLength: 1000, value: s.disclaimer || '', placeholder: 'Empty: the built-in disclaimer, in the chat’s language', 'aria-label': 'Disclaimer', class: 'p-disclaimer' });
  const parts = [
    field(fields, 'make', 'Make', make, 'Empty: the rooftop’s default; a make’s settings replace it for that make'),
    el('div', { class: 'a-row' }, ...rates.map(([name, input]) => field(fields, name, input.getAttribute('aria-label') || name, input))),
    field(fields, 'disclaimer', 'Disclaimer shown with every estimate', disclaimer),
  ];
  const body = () => {
    /** @type {Record<string, unknown>} */
    const b = { make: make.value.trim() || null, disclaimer: disclaimer.value.trim() || null };
    for (const [name, input, scale] of rates) {
      const n = Number(input.value.trim());
      b[name] = input.value.trim() === '' || !Number.isFinite(n) ? null : Math.round(n * scale);
    }
    return b;
  };
  return { parts, body };
}

/**
 * The Admin section.
 * @param {HTMLElement} body
 * @param {import('./section.js').Current} current
 */
export async function renderPayments(body, current) {
  const dir = await loadDirectory();
  if (!current()) return;
  const box = sectionShell(body, 'Payment estimates', 'Each rooftop’s finance and lease rates, by make. Agents send estimates into a chat from its details; shoppers ask in the widget on a vehicle’s page.');
  /** @type {Record<string, string>} */
  const names = {};
  for (const rt of dir.rooftops) names[rt.id] = rt.name;
  const list = el('div', { class: 'p-list' });
  const path = '/api/v1/payment-settings';
  const load = async () => {
    clear(list, loadingLine('the payment settings'));
    let r = null;
    try { r = await api('GET', path); } catch (_) { /* below */ }
    if (!r || !r.ok) { clear(list, el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the payment settings.') })); return; }
    /** @type {Settings[]} */
    const items = (r.data && r.data.settings) || [];
    clear(list, items.length ? items.map(card) : el('p', { class: 'a-meta p-none', text: 'No payment settings yet: estimates are off.' }));
  };
  /** @param {Settings} s */
  const card = (s) => {
    const fields = new Fields(), sv = saver();
    const f = inputs(fields, s);
    const del = el('button', { type: 'button', class: 'danger', text: 'Delete' });
    const title = (names[s.rooftop_id] || 'A rooftop') + ' · ' + (s.make || 'default');
    const form = formEl('a-form', sv, async () => { await sv.run(fields, () => api('PUT', path + '/' + s.id, f.body())); });
    del.addEventListener('click', async () => {
      if (!window.confirm('Delete the payment settings of ' + title + '?')) return;
      const res = await api('DELETE', path + '/' + s.id);
      if (res.ok) void load(); else sv.say('Not deleted: ' + errorText(res), true);
    });
    form.append(...f.parts, el('div', { class: 'a-row' }, sv.wrap, del));
    return el('section', { class: 'a-card p-card', 'aria-label': title }, el('h3', { text: title }), form);
  };
  const newFields = new Fields(), adder = saver('Add');
  const blank = inputs(newFields, {});
  const rooftop = dropdown(dir.rooftops.map((rt) => /** @type {[string, string]} */ ([rt.id, rt.name])), null, { 'aria-label': 'Rooftop', class: 'p-rooftop' });
  const newForm = formEl('a-form', adder, async () => {
    const res = await adder.run(newFields, () => api('POST', path, Object.assign({ rooftop_id: rooftop.value }, blank.body())));
    if (res) { newForm.reset(); void load(); }
  });
  newForm.append(field(newFields, 'rooftop_id', 'Rooftop', rooftop), ...blank.parts, adder.wrap);
  box.append(list, el('section', { class: 'a-card p-new', 'aria-label': 'Add payment settings' }, el('h3', { text: 'Add payment settings' }), newForm));
  void load();
}
