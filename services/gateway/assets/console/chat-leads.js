// @ts-check
/* The leads of the chat shown ("Results created" in its Details column) and its "Create lead":
 * at once when the chat has a complete contact, else through the inline form. Each lead is a
 * card (lead-card.js) that classifies it. A lead made or changed here also shows in the Leads
 * view (leads.js). */

import { $, $input, h, patchChildren, fieldError } from './dom.js';
import { ts, fieldText } from './fmt.js';
import { current } from './state.js';
import { api, errorText, errorFields, sessionEnded } from './api.js';
import { leadName } from './lead-labels.js';
import { leadCard } from './lead-card.js';
import { tabLead } from './leads.js';

/** @typedef {import('./lead-labels.js').Lead} Lead */
/** @typedef {ReturnType<typeof leadCard>} Card */

const L = {
  /** @type {string | null} the conversation whose leads are shown */
  conv: null,
  /** @type {Lead[]} its leads */
  list: [],
  /** @type {Set<string>} ids of leads made here (kept if a list loaded meanwhile lacks them) */
  local: new Set(),
  /** @type {'idle' | 'loading' | 'ready' | 'error'} */
  state: 'idle',
  error: '', note: '',
  creating: false,
  seq: 0,
  /** @type {Map<string, Card>} lead id -> card (DOM kept across renders: an editor being filled survives) */
  cards: new Map(),
  /** @type {ReturnType<typeof setTimeout> | 0} */
  closeTimer: 0,
};
/** The inline form's fields: contact key -> [input id, label]. */
const LEAD_FIELDS = /** @type {Record<string, [string, string]>} */ ({ first_name: ['lead-first', 'First name'], last_name: ['lead-last', 'Last name'], email: ['lead-email', 'E-mail'], phone: ['lead-phone', 'Mobile phone'] });

/** The chat whose leads are shown: loaded when it is another one than before. @param {string | null} id */
export function showChatLeads(id) {
  if (L.conv !== id) resetChatLeads(id);
}

/** @param {string | null} id */
function resetChatLeads(id) {
  L.seq++;
  L.conv = id; L.list = []; L.local.clear(); L.error = ''; L.note = ''; L.creating = false;
  L.state = id ? 'loading' : 'idle';
  L.cards.clear();
  clearTimeout(L.closeTimer);
  $('t-leads-list').replaceChildren();
  showNewLead(false, false);
  renderChatLeads();
  if (id) loadChatLeads(id);
}

/** @param {string} id */
async function loadChatLeads(id) {
  const seq = ++L.seq;
  let problem = '';
  /** @type {Lead[] | null} */
  let list = null;
  try {
    const r = await api('GET', '/api/v1/conversations/' + encodeURIComponent(id) + '/leads');
    if (seq !== L.seq || L.conv !== id) return;
    if (r.status === 401) return sessionEnded();
    if (r.ok && Array.isArray(r.data)) list = r.data.filter((/** @type {Lead} */ l) => l && l.id);
    else problem = errorText(r, 'the server said ' + r.status + '.');
  } catch (_) {
    if (seq !== L.seq || L.conv !== id) return;
    problem = 'cannot reach the server.';
  }
  if (list) {
    // Keep what this console knows newer: a lead made or saved here while the list was on its way.
    const mine = new Map(L.list.map((l) => [l.id, l]));
    const got = list.map((l) => { const m = mine.get(l.id); return m && (m.version || 0) > (l.version || 0) ? m : l; });
    L.list.forEach((l) => { if (L.local.has(l.id) && !got.some((x) => x.id === l.id)) got.push(l); });
    L.list = got; L.state = 'ready'; L.error = '';
  } else {
    L.state = L.list.length ? 'ready' : 'error';
    L.error = 'The leads could not be loaded: ' + problem;
  }
  renderChatLeads();
}

/** A chat that just closed (missed, offline) may have made a lead, a moment later. @param {string} id */
export function chatClosed(id) {
  if (L.conv !== id) return;
  clearTimeout(L.closeTimer);
  L.closeTimer = setTimeout(() => { if (L.conv === id) loadChatLeads(id); }, 2000);
}

function renderChatLeads() {
  const list = L.list.slice().sort((a, b) => ts(b.created_at) - ts(a.created_at));
  $('t-leads-count').textContent = list.length ? '(' + list.length + ')' : '';
  const label = L.creating ? 'Creating…' : 'Create lead';
  $('lead-create').textContent = label;
  $('lead-create').setAttribute('aria-disabled', String(L.creating || !L.conv));
  $('lead-new-save').textContent = label;
  $('lead-new-save').setAttribute('aria-disabled', String(L.creating));
  const st = $('t-leads-state');
  st.textContent = L.state === 'loading' ? 'Loading leads…' : L.error || L.note;
  st.className = 'leads-state' + (L.error ? ' error' : L.note ? ' ok' : '');
  const used = new Set();
  const kids = list.map((lead) => {
    used.add(lead.id);
    let card = L.cards.get(lead.id);
    if (!card) L.cards.set(lead.id, card = leadCard(lead, replaceLead));
    else if (card.lead !== lead) card.update(lead);
    return card.li;
  });
  [...L.cards.keys()].forEach((k) => { if (!used.has(k)) L.cards.delete(k); });
  if (!kids.length && L.state !== 'loading') kids.push(h('li', 'empty-list', L.state === 'error' ? 'None shown.' : 'No leads from this chat yet.'));
  patchChildren($('t-leads-list'), kids);
}

/** @param {import('./frames.js').Conversation | undefined} c */
const hasContact = (c) => { const k = c && c.contact; return !!k && !!k.first_name && !!k.last_name && !!(k.email || k.phone); };

/** The error line of a field of the inline form. @param {string} id */
const errOf = (id) => $(id + '-err');

/** The inline form, for a chat without (complete) contact details, or to correct them. @param {boolean} open @param {boolean} focus */
function showNewLead(open, focus) {
  const form = $('lead-new');
  const had = form.contains(document.activeElement);
  Object.values(LEAD_FIELDS).forEach(([id]) => fieldError($(id), errOf(id), ''));
  if (open && form.hidden) {
    const e = current();
    const k = (e && e.c.contact) || {};
    $input('lead-first').value = k.first_name || '';
    $input('lead-last').value = k.last_name || '';
    $input('lead-email').value = k.email || '';
    $input('lead-phone').value = k.phone || '';
  }
  form.hidden = !open;
  if (open && focus) {
    const empty = Object.values(LEAD_FIELDS).map(([id]) => $input(id)).find((x) => !x.value);
    (empty || $input('lead-first')).focus();
  } else if (!open && had) $('lead-create').focus();
}

/** The server's field errors next to their fields; answers the first field wrong. @param {Record<string, string>} fields */
function leadFieldErrors(fields) {
  /** @type {HTMLInputElement | null} */
  let first = null;
  Object.entries(LEAD_FIELDS).forEach(([k, [id, label]]) => {
    const msg = fields[k] ? fieldText(label, fields[k]) : '';
    fieldError($(id), errOf(id), msg);
    if (msg && !first) first = $input(id);
  });
  return first;
}

$('lead-create').addEventListener('click', () => {
  const e = current();
  if (!e || L.creating) return;
  if (!$('lead-new').hidden) { $input('lead-first').focus(); return; }
  if (hasContact(e.c)) createLead(e.c.id, {});
  else { L.error = ''; L.note = ''; renderChatLeads(); showNewLead(true, true); }
});
$('lead-new-cancel').addEventListener('click', () => showNewLead(false, false));
$('lead-new').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); showNewLead(false, false); $('lead-create').focus(); } });
$('lead-new').addEventListener('input', (ev) => {
  const input = ev.target;
  const err = input instanceof HTMLElement && input.id ? document.getElementById(input.id + '-err') : null;
  if (input instanceof HTMLElement && err) fieldError(input, err, '');
});
$('lead-new').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = current();
  if (!e || L.creating) return;
  /** @type {Record<string, string>} */
  const body = {};
  const first = $input('lead-first').value.trim(), last = $input('lead-last').value.trim(), email = $input('lead-email').value.trim();
  let phone = $input('lead-phone').value.trim();
  if (phone.startsWith('+')) phone = '+' + phone.slice(1).replace(/[\s().-]/g, ''); // "+1 (312) 555-2368" is E.164 once tidied
  if (first) body.first_name = first;
  if (last) body.last_name = last;
  if (email) body.email = email;
  if (phone) body.phone = phone;
  createLead(e.c.id, body);
});

/** @param {string} convId @param {Record<string, string>} body */
async function createLead(convId, body) {
  L.creating = true; L.error = ''; L.note = '';
  renderChatLeads();
  let r = null, problem = '';
  try { r = await api('POST', '/api/v1/conversations/' + encodeURIComponent(convId) + '/leads', body); } catch (_) { problem = 'cannot reach the server.'; }
  if (L.conv !== convId) return; // another chat is shown now; its list loads on its own
  L.creating = false;
  if (r && r.status === 401) return sessionEnded();
  if (r && r.ok && r.data && r.data.id) {
    /** @type {Lead} */
    const lead = r.data;
    const merged = L.list.some((l) => l.id === lead.id) || (Array.isArray(lead.sources) && lead.sources.length > 1);
    L.list = [lead].concat(L.list.filter((l) => l.id !== lead.id));
    L.local.add(lead.id);
    L.state = 'ready';
    L.note = merged ? 'Added to the open lead of ' + leadName(lead) + '.' : 'Lead created.';
    showNewLead(false, false);
    renderChatLeads();
    tabLead(lead);
    return;
  }
  const fields = r && r.status === 400 ? errorFields(r) : null;
  if (fields && Object.keys(fields).length) {
    showNewLead(true, false);
    const first = leadFieldErrors(fields);
    const other = Object.keys(fields).filter((k) => !LEAD_FIELDS[k]).map((k) => fieldText(k, fields[k]));
    L.error = 'The lead was not created. ' + (other.length ? other.join('. ') + '.' : 'Check the fields marked below.');
    renderChatLeads();
    if (first) /** @type {HTMLInputElement} */ (first).focus();
    return;
  }
  L.error = 'The lead was not created: ' + (problem || errorText(r, 'the server said ' + (r ? r.status : '?') + '.'));
  renderChatLeads();
}

/** A lead changed here (saved, merged): the chat's list and the Leads view show the new one. @param {Lead} lead */
export function replaceLead(lead) {
  if (L.list.some((l) => l.id === lead.id)) {
    L.list = L.list.map((l) => (l.id === lead.id ? lead : l));
    renderChatLeads();
  }
  tabLead(lead);
}
