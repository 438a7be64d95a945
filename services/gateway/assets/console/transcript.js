// @ts-check
/* A transcript on screen, as a customer chat (conversation.js) and a chat with colleagues
 * (internal.js) both show one: a bubble per message, kept in seq order, and the watch for a
 * message lost on the way (a jump in seq that lasts). */

import { $, h } from './dom.js';
import { fmtAt } from './fmt.js';
import { S, isMine, contig, topSeq } from './state.js';

/** @typedef {import('./frames.js').Author} Author */
/** @typedef {import('./frames.js').MessageFile} MessageFile */

/**
 * A message's bubble: who (unless mine or the system's), the text, and `meta` (time, "sending…").
 * @param {{author?: Author | null, text: string, at?: string, file?: MessageFile}} m
 * @param {string} meta
 */
export function bubble(m, meta) {
  const kind = (m.author && m.author.kind) || 'system';
  const mine = isMine(m.author);
  const li = h('li', 'msg ' + kind + (mine ? ' mine' : ''));
  if (kind !== 'system' && !mine) {
    const fallback = kind === 'shopper' ? 'Visitor' : kind === 'bot' ? 'Assistant' : 'Agent';
    li.append(h('span', 'who', (m.author && m.author.name) || fallback));
  }
  if (m.file) li.append(fileView(m.file));
  li.append(h('span', 'text', m.text), h('span', 'meta', meta));
  if (m.at) li.title = fmtAt(m.at);
  return li;
}

/** Bytes as B, KB or MB. @param {number} n */
const fileSize = (n) => (n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB');

/**
 * A file message's file: a thumbnail for an image browsers show (JPEG, PNG, WebP; not HEIC),
 * and a download link (the session cookie goes with both; the server sends it as a download).
 * @param {MessageFile} f
 */
export function fileView(f) {
  const url = '/api/v1/attachments/' + encodeURIComponent(f.id);
  const box = h('span', 'file');
  if (/^image\/(jpeg|png|webp)$/.test(f.type)) {
    const img = /** @type {HTMLImageElement} */ (h('img', 'thumb'));
    img.alt = f.name; img.src = url; img.loading = 'lazy';
    box.append(img);
  }
  const a = /** @type {HTMLAnchorElement} */ (h('a', 'dl', f.name + ' (' + fileSize(f.size) + ')'));
  a.href = url; a.download = f.name;
  box.append(a);
  return box;
}

/** Inserts before the first bubble with a higher seq or without one (pending bubbles stay last). */
export function place(/** @type {HTMLElement} */ li, log = $('log')) {
  const seq = Number(li.dataset.seq);
  const next = /** @type {HTMLElement[]} */ ([...log.children]).find((c) => c !== li && (!c.dataset.seq || +c.dataset.seq > seq));
  log.insertBefore(li, next || null);
  log.scrollTop = log.scrollHeight;
}

/**
 * A seq jump in a chat we hold: the gateway sends each chat's messages in order with no gap,
 * so one that lasts means a frame was lost on the way. After a short wait (the gateway itself
 * waits 250 ms for a late frame), `ask` for what follows our last contiguous seq.
 * @template {{loaded: boolean, msgs: Map<number, unknown>, gapTimer: ReturnType<typeof setTimeout> | 0}} E
 * @param {E} e
 * @param {(e: E) => void} ask
 */
export function watchGap(e, ask) {
  const behind = () => e.loaded && topSeq(e) > contig(e);
  if (e.gapTimer || !behind()) return;
  e.gapTimer = setTimeout(() => {
    e.gapTimer = 0;
    if (S.ready && behind()) ask(e);
  }, 1500);
}
