// @ts-check
/* The trade-in of the chat shown (its Details column): the vehicle the shopper would trade in,
 * as the agent saved it or the shopper told the bot, and the form that saves it
 * (GET/PUT /api/v1/conversations/{id}/trade-in, docs/protocol.md). The server checks
 * everything, the VIN's check digit included, and names each wrong field; its answer is shown
 * (a VIN fills year and make). The chat's leads carry what is saved. */

import { $, $input, $select, $textarea, fieldError } from './dom.js';
import { fieldText } from './fmt.js';
import { api, errorText, errorFields, sessionEnded } from './api.js';
import { tradeInText } from './lead-labels.js';

/** @typedef {import('./lead-labels.js').TradeIn} TradeIn */

const T = {
  /** @type {string | null} the conversation whose trade-in is shown */
  conv: null,
  /** @type {TradeIn | null} */
  saved: null,
  seq: 0,
  saving: false,
  /** the chat is not one whose trade-in this agent may see (404): the section is hidden */
  denied: false,
};

/** The form's fields: the server's field name -> [input id, label]. */
const FIELDS = /** @type {Record<string, [string, string]>} */ ({
  vin: ['trade-vin', 'VIN'], year: ['trade-year', 'Year'], make: ['trade-make', 'Make'], model: ['trade-model', 'Model'],
  mileage: ['trade-mileage', 'Mileage'], condition: ['trade-condition', 'Condition'], payoff_cents: ['trade-payoff', 'Payoff'],
  comments: ['trade-comments', 'Comments'],
});
/** @param {string} field */
const errOf = (field) => $('trade-' + field + '-err');

/** The chat whose trade-in is shown: loaded when it is another one than before. @param {string | null} id */
export function showTradeIn(id) {
  if (T.conv === id) return;
  T.conv = id; T.saved = null; T.saving = false; T.denied = false;
  showForm(false);
  setState('');
  render();
  if (id) load(id);
}

/** @param {string} id */
async function load(id) {
  const seq = ++T.seq;
  try {
    const r = await api('GET', '/api/v1/conversations/' + encodeURIComponent(id) + '/trade-in');
    if (seq !== T.seq || T.conv !== id) return;
    if (r.status === 401) return sessionEnded();
    if (r.ok && r.data) { T.saved = r.data.trade_in || null; render(); }
    // 404: not a chat this agent may see the trade-in of (another agent's): no section.
    else if (r.status === 404) { T.denied = true; render(); }
    else setState(errorText(r, 'The trade-in could not be loaded.'), 'error');
  } catch (_) {
    if (seq === T.seq) setState('The trade-in could not be loaded: cannot reach the server.', 'error');
  }
}

function render() {
  const line = $('trade-line');
  const text = T.saved ? tradeInText(T.saved) : '';
  line.textContent = text ? '🔁 ' + text : '';
  line.hidden = !text;
  $('trade-edit').textContent = T.saved ? 'Edit' : 'Add';
  $('t-trade').hidden = !T.conv || T.denied;
  $('trade-save').textContent = T.saving ? 'Saving…' : 'Save trade-in';
  $('trade-save').setAttribute('aria-disabled', String(T.saving));
}

/** @param {string} text @param {string} [cls] */
function setState(text, cls) {
  const st = $('trade-state');
  st.textContent = text;
  st.className = 'leads-state' + (cls ? ' ' + cls : '');
}

/** @param {boolean} open */
function showForm(open) {
  const form = $('trade-form');
  Object.keys(FIELDS).forEach((k) => fieldError($(FIELDS[k][0]), errOf(k), ''));
  if (open && form.hidden) {
    const t = T.saved || /** @type {TradeIn} */ ({});
    $input('trade-vin').value = t.vin || '';
    $input('trade-year').value = t.year ? String(t.year) : '';
    $input('trade-make').value = t.make || '';
    $input('trade-model').value = t.model || '';
    $input('trade-mileage').value = typeof t.mileage === 'number' ? String(t.mileage) : '';
    $select('trade-unit').value = t.mileage_unit || 'mi';
    $select('trade-condition').value = t.condition || '';
    $input('trade-payoff').value = typeof t.payoff_cents === 'number' ? (t.payoff_cents / 100).toFixed(2) : '';
    $textarea('trade-comments').value = t.comments || '';
  }
  form.hidden = !open;
  $('trade-edit').setAttribute('aria-expanded', String(open));
  if (open) $input('trade-vin').focus();
}

/** The form as the request's body: empty fields left out, numbers as numbers. */
function body() {
  /** @type {Record<string, string | number>} */
  const b = { mileage_unit: $select('trade-unit').value };
  const text = (/** @type {string} */ id) => $input(id).value.trim();
  const num = (/** @type {string} */ id) => { const v = text(id); return v === '' ? null : Number(v); };
  if (text('trade-vin')) b.vin = text('trade-vin');
  const year = num('trade-year'), mileage = num('trade-mileage'), payoff = num('trade-payoff');
  if (year !== null) b.year = year;
  if (text('trade-make')) b.make = text('trade-make');
  if (text('trade-model')) b.model = text('trade-model');
  if (mileage !== null) b.mileage = mileage;
  if ($select('trade-condition').value) b.condition = $select('trade-condition').value;
  if (payoff !== null) b.payoff_cents = Math.round(payoff * 100);
  const comments = $textarea('trade-comments').value.trim();
  if (comments) b.comments = comments;
  return b;
}

/** @param {string} convId */
async function save(convId) {
  T.saving = true; setState(''); render();
  /** @type {Awaited<ReturnType<typeof api>> | null} */
  let r;
  try { r = await api('PUT', '/api/v1/conversations/' + encodeURIComponent(convId) + '/trade-in', body()); } catch (_) { r = null; }
  if (T.conv !== convId) return;
  T.saving = false;
  if (r && r.status === 401) return sessionEnded();
  if (r && r.ok && r.data) {
    T.saved = r.data.trade_in || null;
    showForm(false);
    render();
    setState('Trade-in saved; the chat\'s leads carry it.', 'ok');
    $('trade-edit').focus();
    return;
  }
  render();
  const fields = errorFields(r);
  /** @type {HTMLElement | null} */
  let first = null;
  Object.entries(FIELDS).forEach(([k, [id, label]]) => {
    const msg = fields && fields[k] ? fieldText(label, fields[k]) : '';
    fieldError($(id), errOf(k), msg);
    if (msg && !first) first = $(id);
  });
  if (first) /** @type {HTMLElement} */ (first).focus();
  setState(r ? errorText(r, 'The trade-in was not saved.') : 'The trade-in was not saved: cannot reach the server.', 'error');
}

$('trade-edit').addEventListener('click', () => showForm($('trade-form').hidden));
$('trade-cancel').addEventListener('click', () => { showForm(false); $('trade-edit').focus(); });
$('trade-form').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); showForm(false); $('trade-edit').focus(); } });
$('trade-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (T.conv && !T.saving) save(T.conv);
});
