// @ts-check
/* A customer chat in the middle panel: choosing it, its transcript (history, live messages,
 * our own messages from "sending…" to stored), the head above it, the reply box, typing, read
 * marks ("Seen" under our last message the shopper saw; `seen` sent while the chat is on screen
 * and the window focused), and "End chat". The Details column beside it is details.js; its leads are chat-leads.js. */

import { $, $button, $form, $input, $textarea, submitOnEnter, byKey } from './dom.js';
import { shopperName, subline, time, fmtAt } from './fmt.js';
import { S, upsert, current, canWrite, isMine, isOpen, contig, panelShown } from './state.js';
import { send, uid } from './send.js';
import { banner } from './banner.js';
import { bubble, place, watchGap } from './transcript.js';
import { renderLists } from './chat-list.js';
import { renderDetails } from './details.js';
import { showChatLeads, chatClosed } from './chat-leads.js';
import { showTransferForm, transferNotice } from './transfer.js';
import { renderInternal } from './internal.js';
import { closeDesktopNotice } from './notices.js';
import { showTab } from './tabs.js';
import { addWhispers, renderWhispers, renderMonitor } from './monitor.js';
import { noteOffer } from './appointments.js';

/** @typedef {import('./state.js').Entry} Entry */
/** @typedef {import('./frames.js').Message} Message */
/** @typedef {import('./frames.js').Conversation} Conversation */

/** Shows a chat we hold in the middle panel, asking for its transcript the first time. */
export function select(/** @type {string} */ id) {
  const e = S.convs.get(id);
  if (!e) return;
  if (S.ichat || S.inew) { S.ichat = null; S.inew = false; S.iopenRef = ''; renderInternal(); }
  if (S.selected !== id) { stopTyping(); S.selected = id; renderThread(); }
  closeDesktopNotice(id); // what is on screen needs no notification
  e.unread = 0;
  if (!e.loaded) openConversation(e);
  renderLists();
  if (canWrite(e.c)) $textarea('reply-text').focus();
}

/**
 * Opens a chat of the group in the middle panel: one we hold at once, any other through the
 * socket's `open` (its `history` answer selects it; before the socket is ready, the welcome asks).
 * @param {string | null | undefined} id
 */
export function openChat(id) {
  if (!id) return;
  if (S.tab !== 'chats') showTab('chats', false);
  if (S.convs.has(id)) { S.wantOpen = null; select(id); return; }
  S.wantOpen = id;
  if (S.ready) send({ type: 'open', conversation_id: id, after_seq: 0, ref: 'open:' + id });
}

// The chat named in the address (#conversation=<id>, the link in a lead's transcript_url).
{
  const m = /^#conversation=([0-9a-fA-F-]{36})$/.exec(location.hash || '');
  if (m) S.hashOpen = m[1].toLowerCase();
}

/** Asks for the transcript after what we already hold (0 the first time). @param {Entry} e */
export function openConversation(e) {
  send({ type: 'open', conversation_id: e.c.id, after_seq: contig(e), ref: 'open:' + e.c.id });
}

/** @param {import('./frames.js').HistoryFrame} f */
export function onHistory(f) {
  if (!f.conversation) return;
  const e = upsert(f.conversation);
  (f.messages || []).forEach((m) => addMessage(e, m, false));
  addWhispers(e.c.id, f.whispers);
  if (f.rating) ratings.set(e.c.id, f.rating);
  e.loaded = true;
  if (S.wantOpen === e.c.id) { S.wantOpen = null; select(e.c.id); return; }
  if (S.selected === e.c.id) renderThreadHead();
  renderLists();
}

/** @param {import('./frames.js').MessageFrame} f */
export function onMessage(f) {
  const m = f.message;
  const e = m && S.convs.get(m.conversation_id);
  if (m && e) addMessage(e, m, true); // unknown conversation: its history comes with `open`
  if (m) noteOffer(m);
}

/** A conversation of this agent changed (state, agent). @param {Conversation | undefined} c */
export function onConversation(c) {
  if (!c) return;
  if (S.group.has(c.id)) { if (c.state === 'incoming' || c.state === 'active') S.group.set(c.id, c); else S.group.delete(c.id); }
  const was = S.convs.get(c.id);
  if (was && isOpen(was.c) && !isOpen(c)) chatClosed(c.id); // a missed or offline chat may have made a lead
  const e = upsert(c);
  if (!canWrite(c)) {
    e.pending.forEach((p, id) => { if (!p.failed) failPending(e, id); });
    e.typing = '';
    if (S.typingFor === c.id) S.typingFor = null;
  }
  if (S.selected === c.id) { renderThreadHead(); renderTypingLine(); tellSeen(); }
  renderLists();
}

/** Our message is stored: it takes its seq. @param {import('./frames.js').AckFrame} a */
export function onAck(a) {
  const e = S.convs.get(a.conversation_id || '');
  const p = e && e.pending.get(a.client_msg_id);
  if (!e || !p) return;
  addMessage(e, {
    conversation_id: e.c.id, seq: a.seq, id: a.id, at: a.at, client_msg_id: a.client_msg_id,
    author: { kind: 'agent', id: S.me ? S.me.id : undefined, name: S.me ? S.me.name : undefined }, text: p.frame.text, file: p.file,
  }, false);
}

/**
 * When to send a frame again that was not stored: after the wait a `rate_limited` answer names,
 * else in 2 s.
 * @param {import('./frames.js').ErrorFrame} f
 */
export function retryIn(f) {
  return f.code === 'rate_limited' ? Math.max(1, f.retry_after_secs || 1) * 1000 : 2000;
}

/**
 * An error answering one of our `send` frames (its ref is its client_msg_id): retried when the
 * gateway could not store it (`unavailable`, or `rate_limited` after its wait), else "Not
 * sent". False when `ref` is no message of ours.
 * @param {string} ref
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onSendError(ref, f) {
  for (const e of S.convs.values()) {
    const p = e.pending.get(ref);
    if (!p) continue;
    if (f.code === 'unavailable' || f.code === 'rate_limited') { // not stored: the very same frame again
      setTimeout(() => { if (e.pending.get(ref) === p && !p.failed) send(p.frame); }, retryIn(f));
      return true;
    }
    failPending(e, ref);
    banner(f.message || 'Your message was not sent.');
    return true;
  }
  return false;
}

/**
 * `open` failed: a chat that is gone (or not ours to see) leaves the lists. False: the banner
 * says what the gateway said.
 * @param {string} id
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onOpenError(id, f) {
  if (f.code === 'not_found') {
    if (S.wantOpen === id) S.wantOpen = null;
    S.convs.delete(id);
    if (S.selected === id) { S.selected = null; renderThread(); }
    renderLists();
  }
  return false;
}

/** @param {Element} li @param {string} text */
function setMeta(li, text) {
  const meta = li.querySelector('.meta');
  if (meta) meta.textContent = text;
}

/**
 * Adds a message once (dedupe by seq per conversation). Our own pending bubble is reused when
 * it comes back.
 * @param {Entry} e
 * @param {Message} m
 * @param {boolean} live
 */
export function addMessage(e, m, live) {
  if (!m || typeof m.seq !== 'number' || e.msgs.has(m.seq)) return;
  e.msgs.set(m.seq, m);
  watchGap(e, openConversation);
  const mine = isMine(m.author);
  const wasPending = mine && m.client_msg_id != null && e.pending.delete(m.client_msg_id);
  if (S.view && S.view.id === e.c.id) {
    let li = wasPending && m.client_msg_id != null ? S.view.pendingEls.get(m.client_msg_id) : undefined;
    if (li && m.client_msg_id != null && m.file) {
      S.view.pendingEls.delete(m.client_msg_id);
      const el = bubble(m, time(m.at));
      li.replaceWith(el); li = el;
    } else if (li && m.client_msg_id != null) {
      S.view.pendingEls.delete(m.client_msg_id);
      li.classList.remove('failed');
      setMeta(li, time(m.at));
      if (m.at) li.title = fmtAt(m.at);
    } else li = bubble(m, time(m.at));
    li.dataset.seq = String(m.seq);
    place(li);
    if (!mine) { clearTimeout(e.typingTimer); e.typing = ''; renderTypingLine(); }
    renderSeen(); tellSeen();
  } else if (live && !mine && m.author && m.author.kind !== 'system') {
    e.unread++;
    renderLists();
  }
}

/** Our message will not be stored: kept on screen as "Not sent", never resent. */
function failPending(/** @type {Entry} */ e, /** @type {string} */ clientMsgId) {
  const p = e.pending.get(clientMsgId);
  if (!p) return;
  p.failed = true;
  const li = S.view && S.view.id === e.c.id && S.view.pendingEls.get(clientMsgId);
  if (li) { li.classList.add('failed'); setMeta(li, 'Not sent'); }
}

/** Full render of the selected conversation (on selection only; live updates are incremental). */
export function renderThread() {
  const e = current();
  $('empty').hidden = panelShown(); $('thread').hidden = !e;
  if (!e) { S.view = null; showChatLeads(null); return; }
  const view = S.view = { id: e.c.id, pendingEls: new Map() };
  showChatLeads(e.c.id);
  showTransferForm(false);
  const log = $('log');
  log.setAttribute('aria-busy', 'true'); // do not read the whole transcript out as "new"
  log.replaceChildren();
  [...e.msgs.values()].sort((a, b) => a.seq - b.seq).forEach((m) => {
    const li = bubble(m, time(m.at));
    li.dataset.seq = String(m.seq);
    log.append(li);
  });
  e.pending.forEach((p, id) => {
    const li = bubble({ author: S.me ? { kind: 'agent', id: S.me.id } : null, text: p.frame.text }, p.failed ? 'Not sent' : 'sending…');
    if (p.failed) li.classList.add('failed');
    view.pendingEls.set(id, li);
    log.append(li);
  });
  log.scrollTop = log.scrollHeight;
  setTimeout(() => log.removeAttribute('aria-busy'), 0);
  $textarea('reply-text').value = e.draft;
  renderWhispers(); renderThreadHead(); renderTypingLine(); renderSeen(); tellSeen();
}

/** The shopper's rating of each chat whose history we read (CSAT). */
const ratings = /** @type {Map<string, import('./frames.js').Rating>} */ (new Map());

/** Read marks by conversation: how far the shopper saw (`shopper`), and the highest we told. */
const marks = /** @type {Map<string, {shopper: number, told: number}>} */ (new Map());
/** @param {string} id */
const markOf = (id) => { let m = marks.get(id); if (!m) marks.set(id, m = { shopper: 0, told: 0 }); return m; };

/** A read mark stored (it may come before the chat's history). @param {import('./frames.js').SeenFrame} f */
export function onSeen(f) {
  if (!f.conversation_id || typeof f.seq !== 'number') return;
  const m = markOf(f.conversation_id);
  if (f.side === 'shopper') m.shopper = Math.max(m.shopper, f.seq);
  else m.told = Math.max(m.told, f.seq); // another console of ours told it
  if (S.view && S.view.id === f.conversation_id) renderSeen();
}

/** "Seen" under the last agent message the shopper saw, in the chat on screen. */
function renderSeen() {
  const old = document.querySelector('#log .seen');
  if (old) old.remove();
  if (!S.view) return;
  const upto = markOf(S.view.id).shopper;
  let last = /** @type {Element | null} */ (null);
  for (const li of document.querySelectorAll('#log li.msg.agent')) {
    const seq = Number(/** @type {HTMLElement} */ (li).dataset.seq);
    if (seq <= upto && (!last || seq > Number(/** @type {HTMLElement} */ (last).dataset.seq))) last = li;
  }
  const meta = last && last.querySelector('.meta');
  if (!meta) return;
  const seen = document.createElement('span');
  seen.className = 'seen'; seen.textContent = ' · Seen';
  meta.append(seen);
}

/** Tells the shopper how far we read the chat on screen: ours, visible and focused, and only when it grows. */
function tellSeen() {
  const e = current();
  if (!e || !S.ready || !canWrite(e.c) || document.visibilityState !== 'visible' || !document.hasFocus()) return;
  const m = markOf(e.c.id), upto = contig(e);
  if (upto <= m.told) return;
  m.told = upto;
  send({ type: 'seen', conversation_id: e.c.id, seq: upto });
}
window.addEventListener('focus', () => tellSeen());
document.addEventListener('visibilitychange', () => tellSeen());

const STATE_LABELS = /** @type {Record<string, string>} */ ({ incoming: 'Waiting', active: 'Active', ended: 'Ended', missed: 'Missed', offline: 'Offline', timed_out: 'Timed out' });

/** Why the reply box is gone. @param {Conversation} c */
function readonlyText(c) {
  if (c.state === 'active' && c.agent) return 'This chat is now with ' + (c.agent.name || 'another agent') + '. The transcript is read-only.';
  if (c.state === 'incoming') return 'This chat is waiting for an agent. The transcript is read-only.';
  return 'This chat has ended. The transcript is read-only.';
}

/** The head of the chat shown: who, where, its state, what can be done, the transfer notice. */
export function renderThreadHead() {
  const e = current();
  if (!e) return;
  const c = e.c;
  renderDetails(c);
  $('t-title').textContent = shopperName(c);
  $('t-sub').textContent = [subline(c), c.agent && c.agent.name].filter(Boolean).join(' · ');
  $('t-state').textContent = STATE_LABELS[c.state] || c.state;
  $('t-state').className = 'state ' + c.state;
  const focusWasIn = $('reply').contains(document.activeElement) || $('transfer-form').contains(document.activeElement)
    || document.activeElement === $('end') || document.activeElement === $('transfer');
  const writable = canWrite(c);
  $('reply').hidden = $('end').hidden = $('transfer').hidden = !writable;
  $('readonly').hidden = writable;
  $('readonly').textContent = readonlyText(c);
  const busy = e.transferSending || (!!e.transfer && e.transfer.state === 'requested');
  $button('transfer').disabled = busy || !S.ready;
  if (!writable || busy) showTransferForm(false);
  const notice = transferNotice(e);
  $('t-notice').textContent = notice;
  $('t-notice').hidden = !notice;
  renderMonitor();
  const r = ratings.get(c.id);
  $('t-rating').hidden = !r;
  $('t-rating').textContent = r ? 'Shopper rating: ' + '★'.repeat(r.score) + '☆'.repeat(5 - r.score) + ' ' + r.score + '/5' + (r.comment ? ' · “' + r.comment + '”' : '') : '';
  if (!writable && focusWasIn) {
    const item = byKey('open:' + c.id);
    if (item) item.focus();
  }
}

$('end').addEventListener('click', () => {
  const e = current();
  if (!e || !canWrite(e.c)) return;
  stopTyping();
  send({ type: 'end', conversation_id: e.c.id, ref: 'end:' + e.c.id });
});

// ---- replying ----
$form('reply').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = current(), ta = $textarea('reply-text');
  const text = ta.value.trim();
  if (!e || !text || !canWrite(e.c)) return;
  if (text.length > 4000) return banner('That message is too long (4000 characters at most).');
  ta.value = ''; e.draft = '';
  stopTyping();
  const id = uid();
  /** @type {import('./frames.js').SendFrame} */
  const frame = { type: 'send', conversation_id: e.c.id, client_msg_id: id, text, ref: id };
  e.pending.set(id, { frame, failed: false });
  const li = bubble({ author: { kind: 'agent', id: S.me ? S.me.id : undefined }, text }, 'sending…');
  if (S.view) S.view.pendingEls.set(id, li);
  $('log').append(li);
  $('log').scrollTop = $('log').scrollHeight;
  send(frame); // if the socket is down, it goes out after the next welcome
});

submitOnEnter('reply-text', 'reply');

// ---- files: the clip button or a file dropped on the chat; uploaded with progress, then sent ----
$button('reply-attach').addEventListener('click', () => $input('reply-file').click());
$input('reply-file').addEventListener('change', () => {
  const input = $input('reply-file');
  [...(input.files || [])].forEach(sendFile);
  input.value = '';
});
$('log').addEventListener('dragover', (ev) => { const e = current(); if (e && canWrite(e.c)) ev.preventDefault(); });
$('log').addEventListener('drop', (ev) => {
  const e = current();
  if (!e || !canWrite(e.c) || !ev.dataTransfer) return;
  ev.preventDefault();
  [...ev.dataTransfer.files].forEach(sendFile);
});

/** Uploads a file for the open chat (POST /api/v1/conversations/{id}/files), then sends it. @param {File} file */
function sendFile(file) {
  const e = current();
  if (!e || !canWrite(e.c)) return;
  if (file.size > 10 * 1024 * 1024) return banner(file.name + ' is too large: a file may be at most 10 MB.');
  const id = uid();
  const li = bubble({ author: { kind: 'agent', id: S.me ? S.me.id : undefined }, text: file.name }, 'uploading 0%');
  $('log').append(li);
  $('log').scrollTop = $('log').scrollHeight;
  const x = new XMLHttpRequest();
  x.open('POST', '/api/v1/conversations/' + encodeURIComponent(e.c.id) + '/files');
  x.setRequestHeader('X-Filename', encodeURIComponent(file.name));
  x.upload.onprogress = (p) => { if (p.lengthComputable) setMeta(li, 'uploading ' + Math.round(100 * p.loaded / p.total) + '%'); };
  const failed = (/** @type {string} */ why) => { li.classList.add('failed'); setMeta(li, 'not sent'); banner(why); };
  x.onerror = () => failed(file.name + " couldn't be uploaded. Please try again.");
  x.onload = () => {
    /** @type {any} */
    let j = null;
    try { j = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
    if (x.status !== 201 || !j || !j.id) return failed((j && j.error && j.error.message) || file.name + " couldn't be uploaded.");
    setMeta(li, 'sending…');
    /** @type {import('./frames.js').SendFrame} */
    const frame = { type: 'send', conversation_id: e.c.id, client_msg_id: id, text: '', file_id: j.id, ref: id };
    e.pending.set(id, { frame, failed: false, file: { id: j.id, name: j.filename, type: j.content_type, size: j.size } });
    if (S.view) S.view.pendingEls.set(id, li);
    send(frame);
  };
  x.send(file);
}

// typing: true at most every 2 s while typing; false after 3 s idle, on send, or on switching chats.
$textarea('reply-text').addEventListener('input', () => {
  const e = current();
  if (!e) return;
  e.draft = $textarea('reply-text').value;
  if (!S.ready || !canWrite(e.c)) return;
  const now = Date.now();
  if (S.typingFor !== e.c.id || now - S.typingSentAt >= 2000) {
    if (S.typingFor && S.typingFor !== e.c.id) stopTyping();
    send({ type: 'typing', conversation_id: e.c.id, typing: true });
    S.typingFor = e.c.id; S.typingSentAt = now;
  }
  clearTimeout(S.idleTimer);
  S.idleTimer = setTimeout(stopTyping, 3000);
});

export function stopTyping() {
  clearTimeout(S.idleTimer);
  if (S.typingFor) send({ type: 'typing', conversation_id: S.typingFor, typing: false });
  S.typingFor = null; S.typingSentAt = 0;
}

/** The shopper is typing. Best-effort: hidden after 8 s even if `typing:false` never comes. @param {import('./frames.js').TypingFrame} f */
export function onPeerTyping(f) {
  const e = S.convs.get(f.conversation_id);
  if (!e || !f.author || isMine(f.author)) return;
  clearTimeout(e.typingTimer);
  e.typing = f.typing ? f.author.name || (f.author.kind === 'shopper' ? 'Visitor' : 'Someone') : '';
  if (e.typing) e.typingTimer = setTimeout(() => { e.typing = ''; renderTypingLine(); }, 8000);
  renderTypingLine();
}

export function renderTypingLine() {
  const e = current();
  $('typing').textContent = e && e.typing ? e.typing + ' is typing…' : '';
}
