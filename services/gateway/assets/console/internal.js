// @ts-check
/* Internal chats: agents of the group chatting with each other ("Colleagues" in the chat
 * list). The chats I am in and their messages (the same rules as a customer chat:
 * client_msg_id, ack once stored, gapless seq, resume after a reconnect), what this agent has
 * seen of each (kept per agent in this browser), the list, and the chat in the middle panel.
 * Starting a chat and inviting someone are internal-forms.js. */

import { $, $button, $form, $textarea, submitOnEnter, h } from './dom.js';
import { statusLabel, time, fmtAt } from './fmt.js';
import { S, newInternal, isMine, contig, shownChat, panelShown, boardAgent } from './state.js';
import { send, uid } from './send.js';
import { banner } from './banner.js';
import { bubble, place, watchGap } from './transcript.js';
import { requestBoard } from './board.js';
import { renderLists } from './chat-list.js';
import { renderThread, retryIn, stopTyping } from './conversation.js';
import { newChatError, renderNewChatBusy, renderInviteBusy, showInvite, fillInvite, inviteError } from './internal-forms.js';

/** @typedef {import('./state.js').InternalEntry} InternalEntry */
/** @typedef {import('./frames.js').InternalChat} InternalChat */
/** @typedef {import('./frames.js').Message} Message */

/** The kinds of ref (before the colon) of the internal frames this module sends. */
export const INTERNAL_REFS = ['iopen', 'iinvite', 'ileave', 'ihist', 'iload', 'isend'];

/** @param {InternalChat} chat */
const chatMembers = (chat) => (Array.isArray(chat.members) ? chat.members.filter((m) => m && m.agent_id) : []);
/** Members in it now. @param {InternalChat} chat */
export const currentMembers = (chat) => chatMembers(chat).filter((m) => !m.left_at);
/** @param {InternalChat} chat */
const amIn = (chat) => !!S.me && currentMembers(chat).some((m) => !!S.me && m.agent_id === S.me.id);
/** The agent has this chat in front of them. @param {InternalEntry} e */
const looking = (e) => S.ichat === e.chat.id && S.tab === 'chats';

/** A chat's name: its topic, else the colleagues in it (for a chat of two, the other one's name). @param {InternalChat} chat */
function internalTitle(chat) {
  if (chat.topic) return chat.topic;
  const me = S.me && S.me.id;
  const others = chatMembers(chat).filter((m) => m.agent_id !== me);
  const now = others.filter((m) => !m.left_at);
  return (now.length ? now : others).map((m) => m.name || 'A colleague').join(', ') || 'Just you';
}

/** The line under its name in the list: the last message, else who is in it. @param {InternalEntry} e */
function internalMeta(e) {
  const last = e.msgs.get(e.top);
  if (last && typeof last.text === 'string') {
    const who = isMine(last.author) ? 'You' : String((last.author && last.author.name) || 'A colleague').split(' ')[0];
    const text = last.text.replace(/\s+/g, ' ');
    return who + ': ' + (text.length > 80 ? text.slice(0, 80) + '…' : text);
  }
  const n = currentMembers(e.chat).length;
  return !e.chat.topic && chatMembers(e.chat).length <= 2 ? 'Chat of two' : n + (n === 1 ? ' member' : ' members');
}

// ---- what this agent has seen of each chat, kept per agent in this browser ----
const seenKey = () => 'showroom.console.iseen.' + (S.me ? S.me.id : '');
/** @returns {Record<string, number>} */
function loadSeen() {
  try { const o = JSON.parse(localStorage.getItem(seenKey()) || '{}'); return o && typeof o === 'object' ? o : {}; } catch (_) { return {}; }
}
function saveSeen() {
  /** @type {Record<string, number>} */
  const o = {};
  S.internal.forEach((e, id) => { if (e.seen) o[id] = e.seen; });
  S.iseen = o;
  try { localStorage.setItem(seenKey(), JSON.stringify(o)); } catch (_) { /* storage disabled: not remembered */ }
}
/** @param {InternalEntry} e */
function markSeen(e) {
  if (e.seen >= e.top) return;
  e.seen = e.top;
  saveSeen();
}
/** Messages after what the agent has seen, but not their own (one we do not hold counts). @param {InternalEntry} e */
export function unreadOf(e) {
  if (e.top - e.seen > 999) return e.top - e.seen;
  let n = 0;
  for (let s = e.seen + 1; s <= e.top; s++) { const m = e.msgs.get(s); if (!m || !isMine(m.author)) n++; }
  return n;
}
/** What is on screen now counts as seen (the Chats view came back). */
export function seeShownChat() {
  const e = S.tab === 'chats' && S.ichat && S.internal.get(S.ichat);
  if (e && unreadOf(e)) { markSeen(e); renderLists(); }
}

/** @param {InternalChat} chat */
function upsertInternal(chat) {
  let e = S.internal.get(chat.id);
  if (e) e.chat = chat;
  else {
    S.internal.set(chat.id, e = newInternal(chat));
    e.seen = Math.max(0, Number(S.iseen[chat.id]) || 0);
    e.act = ++S.iact;
  }
  e.top = Math.max(e.top, Number(chat.last_seq) || 0);
  return e;
}

/** @param {string} id */
function removeInternal(id) {
  S.internal.delete(id);
  S.iloading.delete(id);
  if (S.ichat === id) { S.ichat = null; renderInternal(); renderThread(); }
  saveSeen();
}

/**
 * welcome lists the chats I am in now, most recently active first: replace ours, keep
 * transcripts we hold, catch up on the one shown, resend what was not acked.
 * @param {import('./frames.js').WelcomeFrame} w
 */
export function welcomeInternal(w) {
  S.iseen = loadSeen();
  const list = (Array.isArray(w.internal) ? w.internal : []).filter((c) => c && c.id);
  const listed = new Set(list.map((c) => c.id));
  S.internal.forEach((e, id) => { if (!listed.has(id)) S.internal.delete(id); });
  list.slice().reverse().forEach((c) => { const e = upsertInternal(c); e.act = ++S.iact; e.loaded = false; });
  S.iloading.clear();
  S.iinviteBusy = false; S.ileaving = null;
  if (S.iopenRef) { S.iopenRef = ''; newChatError('The connection was lost. Check the chat list, or start the chat again.'); }
  renderNewChatBusy(); renderInviteBusy();
  if (S.ichat && !S.internal.has(S.ichat)) { S.ichat = null; renderInternal(); renderThread(); }
  const shown = shownChat();
  if (shown) loadInternal(shown);
  S.internal.forEach((x) => x.pending.forEach((p) => { if (!p.failed) send(p.frame); }));
  saveSeen();
}

/** @param {InternalEntry} e */
function loadInternal(e) {
  send({ type: 'internal_history', chat_id: e.chat.id, after_seq: contig(e), ref: 'ihist:' + e.chat.id });
}

/**
 * The answer to internal_open / internal_invite / internal_leave, or news of a chat I am (or was) in.
 * @param {import('./frames.js').InternalFrame} f
 */
export function onInternal(f) {
  const chat = f.chat;
  if (!chat || !chat.id) return;
  const ref = f.ref || '';
  if (!amIn(chat)) { // I left it (here or on another device)
    const was = S.internal.has(chat.id), shown = S.ichat === chat.id;
    if (was) removeInternal(chat.id);
    if (ref === 'ileave:' + chat.id) {
      S.ileaving = null;
      if (shown) $('inew-open').focus();
    } else if (was && shown) banner('You left the chat “' + internalTitle(chat) + '” on another device.');
    renderLists();
    return;
  }
  const known = S.internal.has(chat.id);
  const e = upsertInternal(chat);
  if (known && (f.kind === 'created' || f.kind === 'joined')) e.act = ++S.iact;
  if (f.kind === 'joined' || f.kind === 'left') {
    const who = chatMembers(chat).find((m) => m.agent_id === f.agent_id);
    const name = !who ? 'A colleague' : S.me && who.agent_id === S.me.id ? 'You' : who.name || 'A colleague';
    e.notice = name + (f.kind === 'joined' ? ' joined the chat.' : ' left the chat.');
  }
  if (ref && ref === S.iopenRef) { // the chat I just started from the form
    S.iopenRef = ''; S.inew = false;
    renderNewChatBusy();
    selectInternal(chat.id);
    return;
  }
  if (ref === 'iinvite:' + chat.id) {
    S.iinviteBusy = false;
    renderInviteBusy();
    if (S.ichat === chat.id) showInvite(false);
  }
  if (S.ichat === chat.id && !$('iinvite').hidden) fillInvite();
  renderLists();
}

/** @param {import('./frames.js').InternalHistoryFrame} f */
export function onInternalHistory(f) {
  const chat = f.chat;
  if (!chat || !chat.id) return;
  S.iloading.delete(chat.id);
  if (!amIn(chat)) return;
  const e = upsertInternal(chat);
  (Array.isArray(f.messages) ? f.messages : []).forEach((m) => addInternalMessage(e, m, false));
  e.loaded = true;
  if (looking(e)) markSeen(e);
  renderLists();
}

/** @param {import('./frames.js').InternalMessageFrame} f */
export function onInternalMessage(f) {
  const m = f.message;
  if (!m || !m.conversation_id) return;
  const e = S.internal.get(m.conversation_id);
  if (e) return addInternalMessage(e, m, true);
  // A chat we have not heard of yet (its `internal` frame comes on another stream): load it.
  if (S.iloading.has(m.conversation_id) || !S.ready) return;
  S.iloading.add(m.conversation_id);
  send({ type: 'internal_history', chat_id: m.conversation_id, ref: 'iload:' + m.conversation_id });
}

/** Our message is stored: it takes its seq. @param {import('./frames.js').AckFrame} a */
export function onInternalAck(a) {
  const e = S.internal.get(a.chat_id || '');
  const p = e && e.pending.get(a.client_msg_id);
  if (!e || !p) return;
  addInternalMessage(e, {
    conversation_id: e.chat.id, seq: a.seq, id: a.id, at: a.at, client_msg_id: a.client_msg_id,
    author: { kind: 'agent', id: S.me ? S.me.id : undefined, name: S.me ? S.me.name : undefined }, text: p.frame.text,
  }, false);
}

/** "Sent · 14:05" for mine, else the time. @param {Message} m */
const imeta = (m) => (isMine(m.author) ? 'Sent · ' : '') + time(m.at);

/** @param {Element} li @param {string} text */
function setMeta(li, text) {
  const meta = li.querySelector('.meta');
  if (meta) meta.textContent = text;
}

/**
 * Adds a message once (dedupe by seq per chat). Our own pending line is reused when it comes back.
 * @param {InternalEntry} e
 * @param {Message} m
 * @param {boolean} live
 */
function addInternalMessage(e, m, live) {
  if (!m || typeof m.seq !== 'number' || e.msgs.has(m.seq)) return;
  e.msgs.set(m.seq, m);
  watchGap(e, loadInternal);
  if (m.seq > e.top) e.top = m.seq;
  const mine = isMine(m.author);
  const wasPending = mine && m.client_msg_id != null && e.pending.delete(m.client_msg_id);
  if (S.iview && S.iview.id === e.chat.id) {
    let li = wasPending && m.client_msg_id != null ? S.iview.pendingEls.get(m.client_msg_id) : undefined;
    if (li && m.client_msg_id != null) {
      S.iview.pendingEls.delete(m.client_msg_id);
      li.classList.remove('pending', 'failed');
      setMeta(li, imeta(m));
      if (m.at) li.title = fmtAt(m.at);
    } else li = bubble(m, imeta(m));
    li.dataset.seq = String(m.seq);
    place(li, $('ilog'));
  }
  if (looking(e)) markSeen(e);
  else if (mine && e.seen === m.seq - 1) { e.seen = m.seq; saveSeen(); } // I wrote it elsewhere: seen
  if (live || wasPending) { e.act = ++S.iact; renderLists(); }
}

/** Our message will not be stored: kept on screen as "Not sent", never resent. */
function failInternal(/** @type {InternalEntry} */ e, /** @type {string} */ clientMsgId) {
  const p = e.pending.get(clientMsgId);
  if (!p) return;
  p.failed = true;
  const li = S.iview && S.iview.id === e.chat.id && S.iview.pendingEls.get(clientMsgId);
  if (li) { li.classList.remove('pending'); li.classList.add('failed'); setMeta(li, 'Not sent'); }
}

/**
 * An error answering one of the internal frames (`kind` is its ref's, one of INTERNAL_REFS).
 * @param {string} kind
 * @param {string} id what follows the kind in the ref
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onInternalError(kind, id, f) {
  const msg = f.message || f.code || 'something went wrong';
  switch (kind) {
    case 'isend':
      for (const e of S.internal.values()) {
        const p = e.pending.get(id);
        if (!p) continue;
        if (f.code === 'unavailable' || f.code === 'rate_limited') { // not stored: the very same frame again
          setTimeout(() => { if (e.pending.get(id) === p && !p.failed) send(p.frame); }, retryIn(f));
          return;
        }
        failInternal(e, id);
        return banner('Your message was not sent: ' + msg);
      }
      return;
    case 'iopen':
      if (f.ref !== S.iopenRef) return;
      S.iopenRef = '';
      renderNewChatBusy();
      return newChatError(msg);
    case 'iinvite':
      S.iinviteBusy = false;
      renderInviteBusy();
      if (S.ichat === id && !$('iinvite').hidden) return inviteError(msg);
      return banner('The colleague was not invited: ' + msg);
    case 'ileave':
      S.ileaving = null;
      renderInternalHead();
      return banner('Could not leave the chat: ' + msg);
    case 'ihist':
    case 'iload':
      S.iloading.delete(id);
      if (f.code === 'not_found') { // no longer in it
        if (S.internal.has(id)) {
          if (kind === 'ihist' && S.ichat === id) banner('You are no longer in that chat.');
          removeInternal(id);
          renderLists();
        }
        return;
      }
      if (kind === 'ihist') return banner('The chat could not be loaded: ' + msg);
      return;
    default:
      return banner(msg);
  }
}

// ---- the Colleagues list ----

/** The "Colleagues" section (part of renderLists), most recently active first. */
export function renderInternalList() {
  const list = [...S.internal.values()].sort((a, b) => b.act - a.act);
  let total = 0;
  const items = list.map((e) => { const n = unreadOf(e); total += n; return internalItem(e, n); });
  if (!items.length) items.push(h('li', 'empty-list', 'No chats with colleagues yet'));
  $('list-internal').replaceChildren(...items);
  $('count-internal').textContent = total ? '(' + total + ' unread)' : '';
}

/** @param {InternalEntry} e @param {number} unread */
function internalItem(e, unread) {
  const li = h('li');
  const on = S.ichat === e.chat.id;
  const b = h('button', 'item' + (on ? ' selected' : ''));
  b.type = 'button';
  b.dataset.key = 'ichat:' + e.chat.id;
  b.dataset.chat = e.chat.id;
  if (on) b.setAttribute('aria-current', 'true');
  if (unread) {
    const badge = h('span', 'badge', unread);
    badge.append(h('span', 'sr-only', unread === 1 ? ' unread message' : ' unread messages'));
    b.append(badge);
  }
  b.append(h('span', 'name', internalTitle(e.chat)), h('span', 'meta preview', internalMeta(e)));
  b.addEventListener('click', () => selectInternal(e.chat.id));
  li.append(b);
  return li;
}

/** Shows an internal chat in the middle panel, loading it the first time. @param {string} id */
function selectInternal(id) {
  const e = S.internal.get(id);
  if (!e) return;
  if (S.ichat !== id || S.inew) {
    stopTyping();
    S.selected = null; S.inew = false; S.iopenRef = ''; S.ichat = id;
    renderThread(); renderInternal();
  }
  markSeen(e);
  if (!e.loaded) loadInternal(e);
  if (!S.board) requestBoard(); // colleagues' statuses, for the members line and Invite
  renderLists();
  $textarea('itext').focus();
}

// ---- the internal chat in the middle panel ----

/** Full render of the chat shown, or the New chat form (on selection only; live updates are incremental). */
export function renderInternal() {
  const e = shownChat();
  $('inew').hidden = !S.inew;
  $('inew-open').setAttribute('aria-expanded', String(S.inew));
  $('ithread').hidden = !e;
  $('empty').hidden = panelShown();
  if (!e) { S.iview = null; return; }
  const view = S.iview = { id: e.chat.id, pendingEls: new Map() };
  showInvite(false);
  const log = $('ilog');
  log.setAttribute('aria-busy', 'true'); // do not read the whole transcript out as "new"
  log.replaceChildren();
  [...e.msgs.values()].sort((a, b) => a.seq - b.seq).forEach((m) => {
    const li = bubble(m, imeta(m));
    li.dataset.seq = String(m.seq);
    log.append(li);
  });
  e.pending.forEach((p, id) => {
    const li = bubble({ author: S.me ? { kind: 'agent', id: S.me.id } : null, text: p.frame.text }, p.failed ? 'Not sent' : 'sending…');
    li.classList.add(p.failed ? 'failed' : 'pending');
    view.pendingEls.set(id, li);
    log.append(li);
  });
  log.scrollTop = log.scrollHeight;
  setTimeout(() => log.removeAttribute('aria-busy'), 0);
  $textarea('itext').value = e.draft;
  renderInternalHead();
}

/** The head of the chat shown: its name, who is in it (with their status), Invite and Leave. */
export function renderInternalHead() {
  const e = shownChat();
  if (!e) return;
  const chat = e.chat, me = S.me && S.me.id, title = internalTitle(chat);
  $('i-title').textContent = title;
  $('i-members').textContent = 'Members: ' + currentMembers(chat).map((m) => {
    if (m.agent_id === me) return 'You';
    const a = boardAgent(m.agent_id);
    return (m.name || 'A colleague') + (a ? ' (' + statusLabel(a.effective || 'offline') + ')' : '');
  }).join(', ');
  $('i-notice').textContent = e.notice;
  $('i-notice').hidden = !e.notice;
  const leave = $button('i-leave');
  $button('i-invite').disabled = !S.ready;
  leave.disabled = !S.ready || S.ileaving === chat.id;
  leave.textContent = S.ileaving === chat.id ? 'Leaving…' : 'Leave';
  leave.setAttribute('aria-label', 'Leave the chat ' + title);
  $('itext-label').textContent = 'Message to ' + title;
}

$('i-leave').addEventListener('click', () => {
  const e = shownChat();
  if (!e || !S.ready || S.ileaving) return;
  S.ileaving = e.chat.id;
  send({ type: 'internal_leave', chat_id: e.chat.id, ref: 'ileave:' + e.chat.id });
  renderInternalHead();
});

// ---- writing to colleagues ----
$form('ireply').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = shownChat(), ta = $textarea('itext');
  const text = ta.value.trim();
  if (!e || !text) return;
  if ([...text].length > 4000) return banner('That message is too long (4000 characters at most).');
  ta.value = ''; e.draft = '';
  const id = uid();
  /** @type {import('./frames.js').InternalSendFrame} */
  const frame = { type: 'internal_send', chat_id: e.chat.id, client_msg_id: id, text, ref: 'isend:' + id };
  e.pending.set(id, { frame, failed: false });
  const li = bubble({ author: { kind: 'agent', id: S.me ? S.me.id : undefined }, text }, 'sending…');
  li.classList.add('pending');
  if (S.iview) S.iview.pendingEls.set(id, li);
  $('ilog').append(li);
  $('ilog').scrollTop = $('ilog').scrollHeight;
  send(frame); // if the socket is down, it goes out after the next welcome
});

submitOnEnter('itext', 'ireply');
$textarea('itext').addEventListener('input', () => { const e = shownChat(); if (e) e.draft = $textarea('itext').value; });
