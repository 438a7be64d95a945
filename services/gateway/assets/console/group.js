// @ts-check
/* Managers and admins: the group's waiting and active chats under the chat list (REST, every
 * 15 s while the Chats view is shown), each with a Reassign control that gives it to an agent
 * at once (the socket's `reassign`). */

import { $, h, unchanged } from './dom.js';
import { shopperName, subline, ts } from './fmt.js';
import { S, canManage } from './state.js';
import { api, sessionEnded } from './api.js';
import { send } from './send.js';
import { banner } from './banner.js';
import { agentOptions, boardSig } from './pickers.js';
import { requestBoard } from './board.js';
import { renderLists } from './chat-list.js';

/** @typedef {import('./frames.js').Conversation} Conversation */

/** After a welcome: managers load the group's chats now and every 15 s. */
export function startGroup() {
  clearInterval(S.groupTimer); S.groupTimer = 0;
  if (!canManage()) { S.group.clear(); renderGroup(); return; }
  loadGroup();
  S.groupTimer = setInterval(() => { if (S.ready && S.tab === 'chats' && !S.reassigning) loadGroup(); }, 15000);
}

async function loadGroup() {
  try {
    const [a, b] = await Promise.all(['incoming', 'active'].map((st) => api('GET', '/api/v1/conversations?limit=200&state=' + st)));
    if (a.status === 401 || b.status === 401) return sessionEnded();
    if (!a.ok || !b.ok || !Array.isArray(a.data) || !Array.isArray(b.data)) return;
    S.group = new Map(a.data.concat(b.data).map((/** @type {Conversation} */ c) => [c.id, c]));
    if (S.reassigning && !S.group.has(S.reassigning)) S.reassigning = null;
    renderLists();
  } catch (_) { /* try again on the next round */ }
}

/** The answer to my `reassign` (a `conversation` frame): the form closes, the list reloads. */
export function reassigned() {
  S.reassignBusy = false; S.reassigning = null;
  loadGroup();
}

/**
 * `reassign` failed: the form may be used again. True: the banner said why.
 * @param {string} _id the conversation's
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onReassignError(_id, f) {
  S.reassignBusy = false;
  renderLists();
  banner('Could not reassign the chat: ' + (f.message || f.code));
  return true;
}

/** The "Group chats" section (part of renderLists). */
export function renderGroup() {
  const on = canManage();
  $('sec-group').hidden = !on;
  if (!on) return;
  const list = [...S.group.values()].sort((a, b) => ts(a.created_at) - ts(b.created_at));
  // Rebuilt only when it changed, so an open Reassign picker is not closed by unrelated news.
  const what = [list.map((c) => [c.id, c.state, c.agent && c.agent.id, shopperName(c)]), S.reassigning, S.reassignBusy, S.ready];
  if (unchanged($('list-group'), what)) return;
  $('count-group').textContent = list.length ? '(' + list.length + ')' : '';
  const items = list.map(groupItem);
  if (!items.length) items.push(h('li', 'empty-list', 'No chats waiting or active'));
  $('list-group').replaceChildren(...items);
}

/** @param {Conversation} c */
function groupItem(c) {
  const li = h('li', 'group-item');
  const info = h('div', 'info');
  const where = c.state === 'incoming' ? 'Waiting' : 'With ' + ((c.agent && c.agent.name) || 'an agent');
  info.append(h('span', 'name', shopperName(c)), h('span', 'meta', [subline(c), where].filter(Boolean).join(' · ')));
  li.append(info);
  const open = S.reassigning === c.id;
  const b = h('button', 'secondary', open ? 'Cancel' : 'Reassign');
  b.type = 'button';
  b.dataset.key = 'reassign:' + c.id;
  b.setAttribute('aria-expanded', String(open));
  b.setAttribute('aria-label', (open ? 'Cancel reassigning ' : 'Reassign ') + 'the chat with ' + shopperName(c));
  b.addEventListener('click', () => {
    S.reassigning = open ? null : c.id; S.reassignTo = '';
    if (!open && !S.board) requestBoard();
    renderLists();
    if (!open) { const picker = document.querySelector('[data-key="reassign-to:' + c.id + '"]'); if (picker instanceof HTMLElement) picker.focus(); }
  });
  li.append(b);
  if (!open) return li;
  const form = h('form', 'reassign-form');
  const sel = h('select', 'reassign-to');
  sel.dataset.key = 'reassign-to:' + c.id;
  sel.dataset.conversation = c.id;
  sel.setAttribute('aria-label', 'Give the chat with ' + shopperName(c) + ' to');
  fillReassign(sel, c);
  sel.addEventListener('change', () => { S.reassignTo = sel.value; });
  const go = h('button', '', S.reassignBusy ? 'Reassigning…' : 'Give chat');
  go.type = 'submit';
  go.disabled = S.reassignBusy || !S.ready;
  go.dataset.key = 'reassign-go:' + c.id;
  form.append(sel, go);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!sel.value) return banner('Choose the agent who gets the chat.');
    S.reassignBusy = true;
    send({ type: 'reassign', conversation_id: c.id, agent_id: sel.value, ref: 'reassign:' + c.id });
    renderLists();
  });
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { S.reassigning = null; renderLists(); b.focus(); } });
  li.append(form);
  return li;
}

/** The agents who can get the chat; the one who has it now is not a choice. @param {HTMLSelectElement} sel @param {Conversation} c */
function fillReassign(sel, c) {
  const now = c.agent && c.agent.id;
  if (unchanged(sel, [boardSig(), now])) return;
  sel.replaceChildren(new Option(S.board ? 'Choose an agent…' : 'Loading agents…', ''), ...agentOptions(S.reassignTo).filter((o) => o.value !== now));
  sel.value = S.reassignTo && [...sel.options].some((o) => o.value === S.reassignTo && !o.disabled) ? S.reassignTo : '';
}

/** New board data: the open Reassign pickers show it. */
export function refreshReassign() {
  document.querySelectorAll('#list-group select.reassign-to').forEach((sel) => {
    const c = sel instanceof HTMLSelectElement && sel.dataset.conversation ? S.group.get(sel.dataset.conversation) : undefined;
    if (c) fillReassign(/** @type {HTMLSelectElement} */ (sel), c);
  });
}
