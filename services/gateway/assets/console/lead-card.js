// @ts-check
/* One lead of a chat's "Results created": who and where from, its classification (quality,
 * tags, value, notes) with the editor that saves it (PUT …/classification), and its history.
 * The card's DOM is kept across renders (chat-leads.js), so an editor being filled survives
 * live updates. What a saved lead changes beyond the card is chat-leads.js's (`saved`). */

import { h, fieldError } from './dom.js';
import { when, fullDate, money, dollars, fieldText } from './fmt.js';
import { api, errorText, errorFields, sessionEnded } from './api.js';
import { originLabel, originClass, leadName, leadReach, qualifiedBadge, classificationText, tradeInText } from './lead-labels.js';
import { estimateLine } from './payment.js';

/** @typedef {import('./lead-labels.js').Lead} Lead */
/** @typedef {ReturnType<typeof leadEditor>} Editor */
/**
 * @typedef {object} Card
 * @property {HTMLElement} li
 * @property {Lead} lead
 * @property {Editor} f
 * @property {boolean} dirty the editor has changes not saved
 * @property {boolean} saving
 * @property {number} histSeq the history load whose answer is wanted
 * @property {(text: string, cls: string) => void} setState
 * @property {(lead: Lead) => void} update
 * @property {(lead: Lead) => void} saved what to do with the lead as saved (chat-leads.js: show it everywhere)
 */

let cardSeq = 0;
/** @param {Lead} lead @param {(lead: Lead) => void} saved @returns {Card} */
export function leadCard(lead, saved) {
  const pid = 'lead' + (++cardSeq);
  const li = h('li', 'lead-card');
  li.dataset.leadId = lead.id;
  const head = h('div', 'lead-head');
  const origin = h('span', 'origin'), name = h('strong', 'lead-name'), at = h('span', 'lead-when');
  head.append(origin, name, at);
  const reach = h('div', 'lead-reach');
  const left = h('p', 'lead-message'); // the message the shopper left, if any
  const pay = h('p', 'lead-payment'); // the last payment estimate the shopper saw, if any
  const trade = h('p', 'lead-trade'); // the trade-in, if the chat has one
  const summary = h('div', 'lead-summary');
  const actions = h('div', 'lead-actions');
  const edit = h('button', 'small', 'Classify');
  edit.type = 'button';
  edit.setAttribute('aria-expanded', 'false');
  edit.setAttribute('aria-controls', pid + '-form');
  const hist = h('button', 'small secondary', 'History');
  hist.type = 'button';
  hist.setAttribute('aria-expanded', 'false');
  hist.setAttribute('aria-controls', pid + '-hist');
  actions.append(edit, hist);
  const f = leadEditor(pid);
  const state = h('p', 'lead-state');
  state.setAttribute('role', 'status');
  const histEl = h('div', 'lead-history');
  histEl.id = pid + '-hist';
  histEl.hidden = true;
  li.append(head, reach, left, pay, trade, summary, actions, f.form, state, histEl);

  /** @param {string} text @param {string} cls */
  const setState = (text, cls) => { state.textContent = text || ''; state.className = 'lead-state' + (cls ? ' ' + cls : ''); };
  /** @type {Card} */
  const card = { li, lead, f, dirty: false, saving: false, histSeq: 0, setState, update, saved };
  /** @param {Lead} l */
  function update(l) {
    card.lead = l;
    origin.textContent = originLabel(l.origin);
    origin.className = originClass(l.origin);
    name.textContent = leadName(l);
    at.textContent = when(l.created_at);
    at.title = fullDate(l.created_at);
    reach.textContent = leadReach(l);
    reach.hidden = !reach.textContent;
    left.textContent = l.message ? '“' + l.message + '”' : '';
    left.hidden = !l.message;
    pay.textContent = l.payment ? 'Estimate seen: ' + estimateLine(l.payment) : '';
    pay.hidden = !l.payment;
    trade.textContent = l.trade_in ? 'Trade-in: ' + tradeInText(l.trade_in) : '';
    trade.hidden = !l.trade_in;
    const c = l.classification || {};
    const parts = [qualifiedBadge(c.qualified)];
    (Array.isArray(c.tags) ? c.tags : []).forEach((t) => parts.push(h('span', 'tag', t)));
    if (typeof c.value_cents === 'number') parts.push(h('span', 'value', money(c.value_cents)));
    summary.replaceChildren(...parts);
    if (c.notes) summary.append(h('p', 'notes', c.notes));
    edit.setAttribute('aria-label', 'Classify the lead of ' + leadName(l));
    hist.setAttribute('aria-label', 'History of the lead of ' + leadName(l));
    if (!f.form.hidden && !card.dirty && !card.saving) fillEditor(card);
    if (!histEl.hidden) loadHistory(card, histEl); // what it shows is out of date now
  }

  /** @param {boolean} open */
  const openEditor = (open) => {
    const had = f.form.contains(document.activeElement);
    if (open && f.form.hidden && !card.dirty) fillEditor(card);
    f.form.hidden = !open;
    edit.setAttribute('aria-expanded', String(open));
    if (open) {
      const checked = f.form.querySelector('input[type=radio]:checked');
      (checked instanceof HTMLInputElement ? checked : f.radios[0]).focus();
    } else if (had) edit.focus();
  };
  edit.addEventListener('click', () => openEditor(f.form.hidden));
  f.cancel.addEventListener('click', () => openEditor(false));
  f.form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); openEditor(false); } });
  f.form.addEventListener('input', (ev) => {
    card.dirty = true;
    if (state.classList.contains('saved')) setState('', '');
    const target = ev.target;
    const err = target instanceof HTMLElement ? f.errs[target.id] : undefined;
    if (err && target instanceof HTMLElement) fieldError(target instanceof HTMLInputElement && target.type === 'radio' ? f.radios[0] : target, err, '');
  });
  f.form.addEventListener('change', () => { card.dirty = true; });
  f.form.addEventListener('submit', (ev) => { ev.preventDefault(); saveClassification(card); });
  hist.addEventListener('click', () => {
    const open = histEl.hidden;
    histEl.hidden = !open;
    hist.setAttribute('aria-expanded', String(open));
    if (open) loadHistory(card, histEl);
  });
  card.update(lead);
  return card;
}

/** The classification form: quality (radios), tags, value in dollars, notes. @param {string} pid */
function leadEditor(pid) {
  const form = h('form', 'lead-edit');
  form.id = pid + '-form';
  form.noValidate = true;
  form.hidden = true;
  const fs = h('fieldset', 'qualified');
  fs.append(h('legend', '', 'Lead quality'));
  const radios = [['', 'Unknown'], ['true', 'Qualified'], ['false', 'Not qualified']].map(([v, text], i) => {
    const label = h('label', 'radio');
    const r = h('input');
    r.type = 'radio'; r.name = pid + '-q'; r.value = v; r.id = pid + '-q' + i;
    label.append(r, ' ' + text);
    fs.append(label);
    return r;
  });
  const qerr = h('p', 'field-error');
  qerr.id = pid + '-qualified-err';
  qerr.hidden = true;
  fs.append(qerr);
  /** @type {Record<string, HTMLElement>} input id -> its error line */
  const errs = {};
  /** @template {HTMLElement} T @param {string} key @param {string} labelText @param {string} hint @param {T} input @returns {T} */
  const field = (key, labelText, hint, input) => {
    const wrap = h('div', 'field');
    const label = h('label', '', labelText);
    label.htmlFor = input.id = pid + '-' + key;
    if (hint) label.append(' ', h('span', 'hint', hint));
    const err = h('p', 'field-error');
    err.id = input.id + '-err';
    err.hidden = true;
    input.setAttribute('aria-describedby', err.id);
    errs[input.id] = err;
    wrap.append(label, input, err);
    form.append(wrap);
    return input;
  };
  form.append(fs);
  const tags = h('input');
  tags.autocomplete = 'off';
  field('tags', 'Tags', '(comma-separated)', tags);
  const value = h('input');
  value.inputMode = 'decimal';
  value.autocomplete = 'off';
  field('value', 'Value in dollars', '(the deal’s value)', value);
  const notes = h('textarea');
  notes.rows = 3;
  notes.maxLength = 4000;
  field('notes', 'Notes', '', notes);
  const buttons = h('div', 'form-buttons');
  const save = h('button', 'primary', 'Save');
  save.type = 'submit';
  const cancel = h('button', '', 'Close');
  cancel.type = 'button';
  buttons.append(save, cancel);
  form.append(buttons);
  radios.forEach((r) => { errs[r.id] = qerr; });
  return { form, radios, qerr, errs, tags, value, notes, save, cancel };
}

/** The editor shows the lead's classification as saved. @param {Card} card */
function fillEditor(card) {
  const c = card.lead.classification || {}, f = card.f;
  const q = c.qualified === true ? 'true' : c.qualified === false ? 'false' : '';
  f.radios.forEach((r) => { r.checked = r.value === q; });
  f.tags.value = (Array.isArray(c.tags) ? c.tags : []).join(', ');
  f.value.value = typeof c.value_cents === 'number' ? dollars(c.value_cents) : '';
  f.notes.value = c.notes || '';
  classificationErrors(card, {});
  card.dirty = false;
}

/**
 * "32,500", "$32500.5" -> cents; empty -> null.
 * @param {string} text
 * @returns {{cents: number | null, error?: undefined} | {error: string, cents?: undefined}}
 */
function parseDollars(text) {
  const t = String(text).replace(/[\s$,]/g, '');
  if (!t) return { cents: null };
  if (!/^\d+(\.\d{0,2})?$/.test(t)) return { error: 'Enter an amount in dollars, like 32500 or 32,500.00.' };
  const [whole, frac = ''] = t.split('.');
  const cents = Number(whole) * 100 + Number((frac + '00').slice(0, 2));
  return Number.isSafeInteger(cents) ? { cents } : { error: 'That amount is too large.' };
}

/**
 * Field errors from the server (keys `tags`, `value_cents`, `notes`, `qualified`, maybe with a
 * `classification.` prefix) next to their fields; the first one wrong gets the focus.
 * @param {Card} card
 * @param {Record<string, string>} fields
 */
function classificationErrors(card, fields) {
  const f = card.f;
  /** @type {Record<string, [HTMLElement, string]>} */
  const map = { qualified: [f.radios[0], 'Lead quality'], tags: [f.tags, 'Tags'], value_cents: [f.value, 'Value'], notes: [f.notes, 'Notes'] };
  /** @type {Record<string, string>} */
  const given = {};
  Object.entries(fields).forEach(([k, v]) => { given[k.replace(/^classification\./, '')] = v; });
  /** @type {HTMLElement | null} */
  let first = null;
  Object.entries(map).forEach(([k, [input, label]]) => {
    const msg = given[k] ? fieldText(label, given[k]) : '';
    fieldError(input, f.errs[input.id], msg);
    if (msg && !first) first = input;
  });
  const other = Object.keys(given).filter((k) => !map[k]).map((k) => fieldText(k, given[k]));
  return { first: /** @type {HTMLElement | null} */ (first), other };
}

/** @param {Card} card */
async function saveClassification(card) {
  if (card.saving) return;
  const f = card.f;
  classificationErrors(card, {});
  const v = parseDollars(f.value.value);
  if (v.error !== undefined) {
    fieldError(f.value, f.errs[f.value.id], v.error);
    card.setState('Not saved: check the value.', 'error');
    f.value.focus();
    return;
  }
  const q = f.radios.find((radio) => radio.checked);
  const body = {
    qualified: !q || q.value === '' ? null : q.value === 'true',
    tags: [...new Set(f.tags.value.split(',').map((t) => t.trim()).filter(Boolean))],
    value_cents: v.cents,
    notes: f.notes.value,
  };
  card.saving = true;
  f.save.textContent = 'Saving…';
  f.save.setAttribute('aria-disabled', 'true');
  card.setState('Saving…', '');
  let r = null, problem = '';
  try { r = await api('PUT', '/api/v1/leads/' + encodeURIComponent(card.lead.id) + '/classification', body); } catch (_) { problem = 'cannot reach the server.'; }
  card.saving = false;
  f.save.textContent = 'Save';
  f.save.removeAttribute('aria-disabled');
  if (r && r.status === 401) return sessionEnded();
  if (r && r.ok && r.data && r.data.id) {
    card.dirty = false;
    card.saved(r.data);
    if (card.lead !== r.data) card.update(r.data); // a lead not in the list any more
    card.setState('Saved', 'saved');
    return;
  }
  const fields = r && r.status === 400 ? errorFields(r) : null;
  if (fields && Object.keys(fields).length) {
    const { first, other } = classificationErrors(card, fields);
    card.setState('Not saved: ' + (other.length ? other.join('. ') + '.' : 'check the fields marked above.'), 'error');
    if (first) first.focus();
    return;
  }
  card.setState('Not saved: ' + (problem || errorText(r, 'the server said ' + (r ? r.status : '?') + '.')), 'error');
}

const HISTORY_LABELS = /** @type {Record<string, string>} */ ({ created: 'Created', merged: 'Merged with another chat or message', classified: 'Classified' });

/** @param {Card} card @param {HTMLElement} box */
async function loadHistory(card, box) {
  const seq = (card.histSeq = (card.histSeq || 0) + 1);
  if (!box.childElementCount) box.replaceChildren(h('p', 'hint', 'Loading history…'));
  let r = null, problem = '';
  try { r = await api('GET', '/api/v1/leads/' + encodeURIComponent(card.lead.id)); } catch (_) { problem = 'cannot reach the server.'; }
  if (seq !== card.histSeq) return;
  if (r && r.status === 401) return sessionEnded();
  if (!r || !r.ok || !r.data || !Array.isArray(r.data.history)) {
    box.replaceChildren(h('p', 'error', 'The history could not be loaded: ' + (problem || errorText(r, 'the server said ' + (r ? r.status : '?') + '.'))));
    return;
  }
  const items = r.data.history.map((/** @type {{agent?: {name?: string}, what?: string, at?: string, after?: import('./lead-labels.js').Classification}} */ x) => {
    const li = h('li');
    const who = x.agent && x.agent.name ? ' by ' + x.agent.name : x.what === 'classified' ? '' : ' automatically';
    const what = (HISTORY_LABELS[x.what || ''] || String(x.what || 'Changed')) + who;
    const t = h('span', 'when', when(x.at));
    t.title = fullDate(x.at);
    li.append(t, ' ', h('span', '', what + (x.what === 'classified' && x.after ? ': ' + classificationText(x.after) : '')));
    return li;
  });
  const ol = h('ol', 'history-list');
  ol.setAttribute('aria-label', 'History of the lead of ' + leadName(card.lead));
  ol.append(...(items.length ? items : [h('li', 'hint', 'Nothing yet.')]));
  box.replaceChildren(ol);
}
