// @ts-check
/* The Leads view: the group's latest leads, newest first (GET /api/v1/leads, again every 15 s
 * while it is shown). A lead with a chat opens it. Leads made or classified in a chat's Details
 * column show here at once (tabLead). */

import { $, h, byKey } from './dom.js';
import { when, fullDate, clock } from './fmt.js';
import { S } from './state.js';
import { api, errorText, sessionEnded } from './api.js';
import { originLabel, originClass, leadName, leadReach, qualifiedBadge } from './lead-labels.js';
import { openChat } from './conversation.js';

/** @typedef {import('./lead-labels.js').Lead} Lead */

const LT = {
  /** @type {Lead[] | null} */
  list: null,
  loading: false, error: '', updated: 0, seq: 0,
};

export function resetLeadsTab() {
  LT.seq++;
  LT.list = null; LT.loading = false; LT.error = ''; LT.updated = 0;
  renderLeadsTab();
}

export async function loadLeadsTab() {
  if (!S.live) return;
  const seq = ++LT.seq;
  LT.loading = true;
  renderLeadsMeta();
  let problem = '';
  try {
    const r = await api('GET', '/api/v1/leads?limit=100');
    if (seq !== LT.seq) return;
    if (r.status === 401) return sessionEnded();
    if (r.ok && Array.isArray(r.data)) { LT.list = r.data.filter((/** @type {Lead} */ l) => l && l.id); LT.updated = Date.now(); }
    else problem = errorText(r, 'the server said ' + r.status + '.');
  } catch (_) {
    if (seq !== LT.seq) return;
    problem = 'cannot reach the server.';
  }
  LT.loading = false;
  LT.error = problem ? 'The leads could not be loaded: ' + problem : '';
  renderLeadsTab();
}
// New leads come from chats nobody took and messages left: look again every 15 s while shown.
setInterval(() => { if (S.tab === 'leads' && S.live && !LT.loading) loadLeadsTab(); }, 15000);
$('leads-refresh').addEventListener('click', () => loadLeadsTab());

/** A lead made or changed in a chat: the list (once loaded) shows it. @param {Lead} lead */
export function tabLead(lead) {
  if (!LT.list) return;
  const i = LT.list.findIndex((l) => l.id === lead.id);
  if (i >= 0) LT.list[i] = lead; else LT.list.unshift(lead);
  if (S.tab === 'leads') renderLeadsTab();
}

function renderLeadsMeta() {
  const u = $('leads-updated');
  u.textContent = LT.loading ? (LT.list ? 'Refreshing…' : 'Loading…') : LT.updated ? 'Updated ' + clock(LT.updated) : '';
  $('view-leads').setAttribute('aria-busy', String(LT.loading));
  $('leads-error').textContent = LT.error;
  $('leads-error').hidden = !LT.error;
}

function renderLeadsTab() {
  renderLeadsMeta();
  const body = $('leads-rows');
  const active = document.activeElement;
  const focusKey = body.contains(active) && active instanceof HTMLElement ? active.dataset.key : null;
  const list = LT.list || [];
  body.replaceChildren(...list.map(leadRow));
  $('leads-empty').hidden = !LT.list || list.length > 0;
  if (focusKey) {
    const again = byKey(focusKey, body);
    if (again) again.focus();
  }
}

/** @param {Lead} l */
function leadRow(l) {
  const tr = h('tr', 'lead-row' + (l.conversation_id ? ' has-chat' : ''));
  tr.dataset.leadId = l.id;
  const name = h('td', 'lead-name-cell');
  const chat = l.conversation_id;
  if (chat) {
    const b = h('button', 'linkish', leadName(l));
    b.type = 'button';
    b.dataset.key = 'lead:' + l.id;
    b.setAttribute('aria-label', 'Open the chat with ' + leadName(l));
    b.addEventListener('click', () => openChat(chat));
    name.append(b);
    tr.addEventListener('click', (ev) => { if (!(ev.target instanceof Element && ev.target.closest('button, a'))) openChat(chat); });
  } else name.append(h('span', 'lead-name', leadName(l)));
  const reach = leadReach(l);
  if (reach) name.append(h('span', 'sub', reach));
  // The message left, also on a lead with a chat (after hours, missed): the transcript has not got it.
  if (l.message) name.append(h('span', 'sub lead-message', '“' + (l.message.length > 80 ? l.message.slice(0, 80) + '…' : l.message) + '”'));
  else if (!l.conversation_id) name.append(h('span', 'sub', 'No chat'));
  const origin = h('td');
  origin.append(h('span', originClass(l.origin), originLabel(l.origin)));
  const at = h('td', 'lead-time', when(l.created_at));
  at.title = fullDate(l.created_at);
  const q = h('td');
  q.append(qualifiedBadge(l.classification && l.classification.qualified));
  tr.append(name, origin, h('td', '', (l.rooftop && l.rooftop.name) || '—'), h('td', '', (l.department && l.department.label) || '—'), at, q);
  return tr;
}
