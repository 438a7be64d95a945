// @ts-check
/* Transfers: handing my chat to a colleague or a department (the Transfer form above the
 * transcript, and the notice of how it went), and answering the transfers offered to me (the
 * "Incoming transfers" section of the chat list). docs/protocol.md, "Transfers and
 * reassignment", has the whole exchange. */

import { $, $form, $input, $select, h, unchanged } from './dom.js';
import { nameOf, shopperName, subline } from './fmt.js';
import { S, upsert, current, canWrite, rooftopName } from './state.js';
import { api, sessionEnded } from './api.js';
import { send } from './send.js';
import { banner } from './banner.js';
import { agentOptions, boardSig } from './pickers.js';
import { requestBoard } from './board.js';
import { renderLists } from './chat-list.js';
import { select, renderThreadHead } from './conversation.js';

/** @typedef {import('./frames.js').Transfer} Transfer */
/** @typedef {import('./state.js').Entry} Entry */

/** Who a transfer went to. @param {Transfer} t */
const targetOf = (t) => nameOf(t.to_agent) || nameOf(t.to_department) || 'your colleague';

/** The line above the transcript about the chat's last transfer, from where I stand. @param {Entry} e */
export function transferNotice(e) {
  const t = e.transfer, me = S.me && S.me.id;
  if (!t) return '';
  const mine = !!t.from_agent && t.from_agent.id === me;
  const note = t.note ? ' Note: “' + t.note + '”' : '';
  switch (t.state) {
    case 'requested': return mine ? 'Transfer to ' + targetOf(t) + ' requested. Waiting for an answer…' : '';
    case 'declined': return mine ? targetOf(t) + ' declined the transfer. The chat stays with you.' : '';
    case 'expired': return mine ? 'No one accepted the transfer in time. The chat stays with you.' : '';
    case 'cancelled': return mine ? 'The transfer was cancelled.' : '';
    case 'accepted':
    case 'reassigned': {
      const to = e.c.agent || t.to_agent;
      if (to && to.id === me) return (t.state === 'reassigned' ? nameOf(t.from_agent) + ' gave this chat to you.' : nameOf(t.from_agent) + ' transferred this chat to you.') + note;
      return (t.state === 'reassigned' ? 'A manager gave this chat to ' : 'This chat was transferred to ') + (nameOf(to) || targetOf(t)) + '.';
    }
    default: return '';
  }
}

// ---- the Transfer form ----

/** Agents ("agent:<id>") and departments ("department:<id>") to choose from. */
export function fillTransferTargets() {
  const sel = $select('transfer-to'), keep = sel.value;
  if (unchanged(sel, [boardSig(), S.board && S.board.departments.length])) return;
  if (!S.board) { sel.replaceChildren(new Option('Loading agents and departments…', '')); sel.disabled = true; return; }
  sel.disabled = false;
  const agents = h('optgroup'); agents.label = 'Agents';
  agents.append(...agentOptions(keep.startsWith('agent:') ? keep.slice(6) : ''));
  /** @type {HTMLOptionElement[]} */ ([...agents.children]).forEach((o) => { o.value = 'agent:' + o.value; });
  const depts = h('optgroup'); depts.label = 'Departments';
  S.board.departments.forEach((d) => depts.append(new Option([d.label, rooftopName(d.rooftop_id)].filter(Boolean).join(' · '), 'department:' + d.id)));
  sel.replaceChildren(new Option('Choose…', ''), agents, depts);
  sel.value = [...sel.options].some((o) => o.value === keep && !o.disabled) ? keep : '';
}

/** @param {boolean} open */
export function showTransferForm(open) {
  const form = $('transfer-form');
  if (form.hidden === !open) return;
  const hadFocus = form.contains(document.activeElement);
  form.hidden = !open;
  $('transfer').setAttribute('aria-expanded', String(open));
  if (open) {
    $input('transfer-note').value = '';
    $select('transfer-to').value = '';
    if (!S.board) requestBoard();
    fillTransferTargets();
    $select('transfer-to').focus();
  } else if (hadFocus && !$('transfer').hidden) $('transfer').focus();
}

$('transfer').addEventListener('click', () => showTransferForm($('transfer-form').hidden));
$('transfer-cancel').addEventListener('click', () => showTransferForm(false));
$('transfer-form').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') showTransferForm(false); });
$form('transfer-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = current(), v = $select('transfer-to').value;
  if (!e || !canWrite(e.c) || !S.ready) return;
  if (!v) return banner('Choose an agent or a department to transfer to.');
  const cut = v.indexOf(':');
  /** @type {import('./frames.js').TransferRequestFrame} */
  const f = { type: 'transfer', conversation_id: e.c.id, ref: 'transfer:' + e.c.id };
  f[v.slice(0, cut) === 'agent' ? 'to_agent' : 'to_department'] = v.slice(cut + 1);
  const note = $input('transfer-note').value.trim();
  if (note) f.note = note;
  e.transferSending = true;
  send(f);
  showTransferForm(false);
  renderThreadHead();
});

/**
 * `transfer` failed: the form may be used again. True: the banner said why.
 * @param {string} id the conversation's
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onTransferError(id, f) {
  const e = S.convs.get(id);
  if (e) e.transferSending = false;
  if (S.selected === id) renderThreadHead();
  banner('The transfer was not sent: ' + (f.message || f.code));
  return true;
}

// ---- transfers offered to me ----

/** A colleague offers me a chat (or one of my departments). @param {import('./frames.js').TransferOfferFrame} f */
export function onTransferOffer(f) {
  const t = f.transfer;
  if (!t || !t.id) return;
  if (f.conversation) upsert(f.conversation);
  S.transfers.set(t.id, { t, answering: false });
  renderLists();
}

/**
 * A transfer's news: the answer to my transfer or transfer_reply, or where one I am part of stands.
 * @param {import('./frames.js').TransferFrame} f
 */
export function onTransfer(f) {
  const t = f.transfer;
  if (!t || !t.id) return;
  const me = S.me && S.me.id;
  const e = S.convs.get(t.conversation_id);
  const ref = f.ref || '';
  if (e && ref === 'transfer:' + t.conversation_id) e.transferSending = false;
  // An offer to me is over once it is decided, or once I answered it (declining a department's
  // transfer leaves it `requested` for its other members).
  const offered = S.transfers.get(t.id);
  if (t.state !== 'requested' || ref === 'treply:' + t.id) S.transfers.delete(t.id);
  else if (offered) offered.t = t;
  const mine = !!t.from_agent && t.from_agent.id === me;
  if (e && (mine || (e.transfer && e.transfer.id === t.id) || t.state === 'accepted' || t.state === 'reassigned')) {
    const was = e.transfer && e.transfer.id === t.id ? e.transfer.state : null;
    e.transfer = t;
    // The sender hears the chat came back; a notice in the chat, and a banner when it is not the one shown.
    if (mine && was !== t.state && S.selected !== e.c.id) {
      if (t.state === 'declined') banner(targetOf(t) + ' declined the transfer of your chat with ' + shopperName(e.c) + '. It stays with you.');
      if (t.state === 'expired') banner('No one accepted the transfer of your chat with ' + shopperName(e.c) + ' in time. It stays with you.');
    }
  }
  if (ref === 'treply:' + t.id && t.state === 'accepted') {
    if (e) { e.c = Object.assign({}, e.c, { state: 'active', agent: S.me ? { id: S.me.id, name: S.me.name } : e.c.agent }); select(e.c.id); }
    else fetchConversation(t.conversation_id).then((x) => { if (x) select(x.c.id); });
  }
  renderLists();
  if (e && S.selected === e.c.id) renderThreadHead();
}

/**
 * A conversation the socket has not told us about (a transfer's, after a reload), through REST.
 * @param {string} id
 */
export async function fetchConversation(id) {
  try {
    const r = await api('GET', '/api/v1/conversations/' + encodeURIComponent(id));
    if (r.ok && r.data && r.data.conversation) { const e = upsert(r.data.conversation); renderLists(); return e; }
    if (r.status === 401) sessionEnded();
  } catch (_) { /* shown without the shopper's name */ }
  return null;
}

/** @param {string} id @param {boolean} accept */
function answerTransfer(id, accept) {
  const x = S.transfers.get(id);
  if (!x || x.answering || !S.ready) return;
  x.answering = true;
  send({ type: 'transfer_reply', transfer_id: id, accept, ref: 'treply:' + id });
  renderLists();
}

/**
 * `transfer_reply` failed: an offer that is over leaves the list. True: the banner said why.
 * @param {string} id the transfer's
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onReplyError(id, f) {
  const x = S.transfers.get(id);
  if (x) x.answering = false;
  if (f.code === 'not_found' || f.code === 'not_allowed' || f.code === 'conversation_closed' || f.code === 'already_taken') S.transfers.delete(id);
  renderLists();
  banner('Could not answer the transfer: ' + (f.message || f.code));
  return true;
}

/** The "Incoming transfers" section (part of renderLists). */
export function renderTransfers() {
  const list = [...S.transfers.values()];
  $('sec-transfers').hidden = !list.length;
  $('count-transfers').textContent = list.length ? '(' + list.length + ')' : '';
  $('list-transfers').replaceChildren(...list.map(transferItem));
}

/** @param {{t: Transfer, answering: boolean}} x */
function transferItem(x) {
  const t = x.t, e = S.convs.get(t.conversation_id);
  const li = h('li', 'offer transfer-offer');
  const info = h('div', 'info');
  const who = e ? shopperName(e.c) : 'A chat';
  info.append(h('span', 'name', who));
  const from = 'From ' + (nameOf(t.from_agent) || 'a colleague') + (t.to_department ? ' to ' + nameOf(t.to_department) : '');
  info.append(h('span', 'meta', [from, e && subline(e.c)].filter(Boolean).join(' · ')));
  if (t.note) info.append(h('span', 'note', '“' + t.note + '”'));
  const yes = h('button', '', x.answering ? 'Answering…' : 'Accept'), no = h('button', 'secondary', 'Decline');
  /** @type {[HTMLButtonElement, boolean][]} */ ([[yes, true], [no, false]]).forEach(([b, accept]) => {
    b.type = 'button';
    b.disabled = x.answering || !S.ready;
    b.dataset.key = (accept ? 'taccept:' : 'tdecline:') + t.id;
    b.setAttribute('aria-label', (accept ? 'Accept' : 'Decline') + ' the transfer of ' + who);
    b.addEventListener('click', () => answerTransfer(t.id, accept));
  });
  const buttons = h('div', 'buttons');
  buttons.append(yes, no);
  li.append(info, buttons);
  return li;
}
