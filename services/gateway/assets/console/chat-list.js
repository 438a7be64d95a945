// @ts-check
/* The chat list on the left: Incoming (with Respond), Active and Recent, and the sections
 * other modules own under it (transfers offered to me, Colleagues, the group's chats for
 * managers), rebuilt together with `renderLists` whenever what they show may have changed. */

import { $, h, byKey } from './dom.js';
import { shopperName, subline, ts } from './fmt.js';
import { S, upsert, canWrite } from './state.js';
import { send } from './send.js';
import { banner } from './banner.js';
import { select } from './conversation.js';
import { renderTransfers } from './transfer.js';
import { renderGroup } from './group.js';
import { renderInternalList, renderInternalHead } from './internal.js';

/** @typedef {import('./state.js').Entry} Entry */
/** @typedef {import('./frames.js').Conversation} Conversation */

/**
 * Which list a conversation belongs to. Unknown (future) states count as closed, i.e. Recent.
 * @param {Conversation} c
 * @returns {'incoming' | 'active' | 'recent' | null}
 */
function category(c) {
  if (c.state === 'incoming') return 'incoming';
  if (c.state === 'active') return canWrite(c) ? 'active' : null;
  return 'recent';
}

export function renderLists() {
  /** @type {{incoming: Entry[], active: Entry[], recent: Entry[]}} */
  const groups = { incoming: [], active: [], recent: [] };
  S.convs.forEach((e) => { const k = category(e.c); if (k) groups[k].push(e); });
  groups.incoming.sort((a, b) => ts(a.c.created_at) - ts(b.c.created_at));
  groups.active.sort((a, b) => ts(a.c.created_at) - ts(b.c.created_at));
  groups.recent.sort((a, b) => ts(b.c.ended_at || b.c.created_at) - ts(a.c.ended_at || a.c.created_at));
  groups.recent = groups.recent.slice(0, 20);

  const active = document.activeElement;
  const focusKey = active instanceof HTMLElement ? active.dataset.key : undefined;
  for (const k of /** @type {(keyof typeof groups)[]} */ (Object.keys(groups))) {
    const items = groups[k].map((e) => (k === 'incoming' ? offerItem(e) : conversationItem(e)));
    if (!items.length) items.push(h('li', 'empty-list', k === 'incoming' ? 'No chats waiting' : 'None'));
    $('list-' + k).replaceChildren(...items);
  }
  $('count-incoming').textContent = groups.incoming.length ? '(' + groups.incoming.length + ')' : '';
  $('count-active').textContent = groups.active.length ? '(' + groups.active.length + ')' : '';
  renderTransfers();
  renderGroup();
  renderInternalList();
  renderInternalHead();
  $('tab-chats-count').textContent = $('count-incoming').textContent; // waiting chats stay visible from the board
  document.title = (groups.incoming.length ? '(' + groups.incoming.length + ') ' : '') + 'Showroom — agent console';
  if (focusKey) { // keep keyboard focus on the same control across the rebuild
    const again = byKey(focusKey);
    if (again) again.focus();
  }
}

/** A waiting chat, with Respond. @param {Entry} e */
function offerItem(e) {
  const li = h('li', 'offer');
  const info = h('div', 'info');
  info.append(h('span', 'name', shopperName(e.c)), h('span', 'meta', subline(e.c)));
  const b = h('button', '', e.accepting ? 'Joining…' : 'Respond');
  b.type = 'button';
  b.disabled = e.accepting || !S.ready;
  b.dataset.key = 'respond:' + e.c.id;
  b.setAttribute('aria-label', 'Respond to ' + shopperName(e.c));
  b.addEventListener('click', () => accept(e.c.id));
  li.append(info, b);
  return li;
}

/** An active or recent chat, with its unread count. @param {Entry} e */
function conversationItem(e) {
  const li = h('li');
  const b = h('button', 'item' + (S.selected === e.c.id ? ' selected' : ''));
  b.type = 'button';
  b.dataset.key = 'open:' + e.c.id;
  if (S.selected === e.c.id) b.setAttribute('aria-current', 'true');
  if (e.unread) b.append(h('span', 'badge', e.unread));
  b.append(h('span', 'name', shopperName(e.c)), h('span', 'meta', subline(e.c)));
  b.addEventListener('click', () => select(e.c.id));
  li.append(b);
  return li;
}

/** Times an `accept` answered `unavailable` is sent again before the agent is told. */
const ACCEPT_TRIES = 3;

/** @param {string} id @param {boolean} [again] the same accept after an `unavailable` */
function accept(id, again) {
  const e = S.convs.get(id);
  if (!e || !S.ready) return;
  if (!again) e.acceptTries = 0;
  e.accepting = true;
  send({ type: 'accept', conversation_id: id, ref: 'accept:' + id });
  renderLists();
}

/** A new chat is offered to me. @param {import('./frames.js').OfferFrame} f */
export function onOffer(f) {
  if (f.conversation) { upsert(f.conversation); renderLists(); }
}

/** The offer is over (taken, ended, moved on): off Incoming, with any transfer of it. @param {import('./frames.js').OfferWithdrawnFrame} f */
export function onOfferWithdrawn(f) {
  const e = S.convs.get(f.conversation_id);
  if (e && e.c.state === 'incoming') S.convs.delete(f.conversation_id);
  S.transfers.forEach((x, id) => { if (x.t.conversation_id === f.conversation_id) S.transfers.delete(id); });
  renderLists();
}

/** The chat I responded to is mine: it opens. @param {import('./frames.js').AcceptedFrame} f */
export function onAccepted(f) {
  if (!f.conversation) return;
  const e = upsert(f.conversation);
  e.accepting = false;
  if (e.c.state === 'incoming') e.c = Object.assign({}, e.c, { state: 'active', agent: e.c.agent || S.me });
  select(e.c.id);
}

/**
 * `accept` failed: a chat taken, gone or closed leaves Incoming. True when the banner said it.
 * @param {string} id
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onAcceptError(id, f) {
  const e = S.convs.get(id);
  // Busy (the router sheds requests at a peak) or not answered in time: nothing was done. The
  // same accept again after 1–2 s, 2–4 s, then 3–6 s while the chat is still offered; the
  // button stays "Joining…" meanwhile, and the agent hears only of a last refusal.
  if (e && f.code === 'unavailable' && e.acceptTries < ACCEPT_TRIES) {
    e.acceptTries++;
    setTimeout(() => {
      if (S.convs.get(id) !== e || !e.accepting) return; // taken, withdrawn, or a new socket
      if (e.c.state === 'incoming' && S.ready) return accept(id, true);
      e.accepting = false; renderLists();
    }, 1000 * e.acceptTries * (1 + Math.random()));
    return true;
  }
  if (e) e.accepting = false;
  if (f.code === 'already_taken' || f.code === 'not_found' || f.code === 'conversation_closed') S.convs.delete(id);
  renderLists();
  if (f.code === 'already_taken') { banner('Another agent took this chat'); return true; }
  return false;
}
