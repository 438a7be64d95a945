// @ts-check
/* Desktop notices: a `notify` frame is a notice the server decided this agent should get (it
 * coalesced bursts and applied the agent's choices). Shown as a desktop notification when the
 * browser allows it, else in the page (bottom right); either opens its chat. The agent's
 * choices and the browser's permission are notify-prefs.js. */

import { $, h, byKey } from './dom.js';
import { S } from './state.js';
import { beep } from './beep.js';
import { permission, resetPrefs } from './notify-prefs.js';
import { openChat } from './conversation.js';

/** @typedef {import('./frames.js').Notice} Notice */
/**
 * @typedef {{el: HTMLElement, tt: HTMLElement, tb: HTMLElement, open: HTMLButtonElement,
 *   close: HTMLButtonElement, timer: ReturnType<typeof setTimeout> | 0, n: Notice}} Toast
 */

const N = {
  /** @type {Map<string, Notification>} conversation id -> the desktop notification shown for it */
  notes: new Map(),
  /** @type {Map<string, Toast>} conversation id -> the in-page notice shown for it */
  toasts: new Map(),
};

/** The agent has this chat in front of them: no notice needed. @param {string} id */
const lookingAtChat = (id) => S.tab === 'chats' && S.selected === id && document.visibilityState === 'visible' && document.hasFocus();

/** @param {import('./frames.js').NotifyFrame} f */
export function onNotify(f) {
  const n = f.notice;
  if (!n || typeof n !== 'object' || typeof n.conversation_id !== 'string' || !n.conversation_id) return;
  if (S.me && n.agent_id && n.agent_id !== S.me.id) return;
  if (lookingAtChat(n.conversation_id)) return;
  if (n.sound) beep();
  const title = String(n.title || 'Showroom'), body = String(n.body || '');
  if (permission() === 'granted' && showDesktop(n, title, body)) return;
  showToast(n, title, body);
}

/** @param {Notice} n @param {string} title @param {string} body */
function showDesktop(n, title, body) {
  const id = n.conversation_id;
  /** @type {Notification} */
  let note;
  try {
    // One per chat: the tag makes a newer notice replace the older one. Our own beep is the sound.
    note = new window.Notification(title, /** @type {NotificationOptions} */ ({ body, tag: id, renotify: true, silent: true }));
  } catch (_) {
    return false; // e.g. a browser that shows them only from a service worker
  }
  N.notes.set(id, note);
  note.onclick = (ev) => {
    if (ev && typeof ev.preventDefault === 'function') ev.preventDefault();
    try { window.focus(); } catch (_) { /* not allowed: the chat opens anyway */ }
    closeDesktopNotice(id);
    openFromNotice(n);
  };
  note.onclose = () => { if (N.notes.get(id) === note) N.notes.delete(id); };
  return true;
}

/** The chat is on screen: its notices go. @param {string} id */
export function closeDesktopNotice(id) {
  const note = N.notes.get(id);
  if (note) { N.notes.delete(id); try { note.close(); } catch (_) { /* gone already */ } }
  dismissToast(id, false);
}

/** Opens the notice's chat; for one waiting for an answer, the button that answers gets the focus. @param {Notice} n */
function openFromNotice(n) {
  const id = n.conversation_id;
  openChat(id);
  let key = null;
  if (n.kind === 'incoming') key = 'respond:' + id;
  if (n.kind === 'transfer') {
    const x = [...S.transfers.values()].find((y) => y.t.conversation_id === id);
    if (x) key = 'taccept:' + x.t.id;
  }
  const b = key && byKey(key);
  if (b) b.focus();
}

/**
 * In-page notices (no desktop permission): bottom right, one per chat, gone after 12 s unless
 * the pointer or the focus is on it.
 * @param {Notice} n @param {string} title @param {string} body
 */
function showToast(n, title, body) {
  const id = n.conversation_id;
  let t = N.toasts.get(id);
  if (!t) {
    const el = h('div', 'toast');
    const text = h('div', 'toast-text');
    const tt = h('strong', 'toast-title'), tb = h('span', 'toast-body');
    text.append(tt, tb);
    const open = h('button', 'small primary', 'Open');
    open.type = 'button';
    const close = h('button', 'toast-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss');
    el.append(text, open, close);
    const toast = t = { el, tt, tb, open, close, timer: 0, n };
    open.addEventListener('click', () => { dismissToast(id, false); openFromNotice(toast.n); });
    close.addEventListener('click', () => dismissToast(id, true));
    el.addEventListener('mouseenter', () => clearTimeout(toast.timer));
    el.addEventListener('mouseleave', () => { if (!el.contains(document.activeElement)) armToast(id); });
    el.addEventListener('focusin', () => clearTimeout(toast.timer));
    el.addEventListener('focusout', (ev) => { if (!(ev.relatedTarget instanceof Node && el.contains(ev.relatedTarget))) armToast(id); });
    el.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') dismissToast(id, true); });
    N.toasts.set(id, t);
    $('toasts').append(el);
  }
  t.n = n;
  t.tt.textContent = title;
  t.tb.textContent = body;
  t.open.setAttribute('aria-label', 'Open: ' + title);
  t.close.setAttribute('aria-label', 'Dismiss: ' + title);
  armToast(id);
}
/** @param {string} id */
function armToast(id) {
  const t = N.toasts.get(id);
  if (!t) return;
  clearTimeout(t.timer);
  t.timer = setTimeout(() => dismissToast(id, false), 12000);
}
/** @param {string} id @param {boolean} refocus */
function dismissToast(id, refocus) {
  const t = N.toasts.get(id);
  if (!t) return;
  const had = t.el.contains(document.activeElement);
  clearTimeout(t.timer);
  t.el.remove();
  N.toasts.delete(id);
  if (had && refocus) {
    const next = $('toasts').querySelector('button');
    (next || $('notify-open')).focus();
  }
}

/** Logged out: every notice goes, and the choices with them. */
export function resetNotices() {
  N.notes.forEach((note) => { try { note.close(); } catch (_) { /* gone already */ } });
  N.notes.clear();
  N.toasts.forEach((t) => { clearTimeout(t.timer); t.el.remove(); });
  N.toasts.clear();
  resetPrefs();
}
