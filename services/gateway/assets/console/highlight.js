// @ts-check
/* The matching messages of a search result, highlighted in the chat it opens: the bubbles of
 * the snippets' messages get `hit`, and the matched words in them a <mark>, built from text
 * nodes (never markup). Watches the transcript's list for bubbles as they arrive (the chat's
 * history comes after it is opened), so conversation.js needs to know nothing of it. */

import { $, h } from './dom.js';
import { S } from './state.js';

const HL = {
  /** The chat whose matches are highlighted. */
  id: '',
  /** The matched words, lower case. @type {string[]} */
  words: [],
  /** The seqs of the matching messages. @type {Set<number>} */
  seqs: new Set(),
  /** Whether the first hit was scrolled to. */
  shown: false,
};

/**
 * Highlights `words` in the messages `seqs` of the chat `id` when it is on screen.
 * @param {string} id @param {string[]} words @param {number[]} seqs
 */
export function setHighlight(id, words, seqs) {
  HL.id = id;
  HL.words = [...new Set(words.map((w) => w.trim().toLowerCase()).filter(Boolean))];
  HL.seqs = new Set(seqs);
  HL.shown = false;
  apply();
}

/** `text` as text nodes and <mark>s around each match of the words. @param {string} text */
function marked(text) {
  const lower = text.toLowerCase();
  /** @type {(Text | HTMLElement)[]} */
  const out = [];
  let i = 0;
  while (i < text.length) {
    let at = -1, len = 0;
    for (const w of HL.words) {
      const j = lower.indexOf(w, i);
      if (j >= 0 && (at < 0 || j < at || (j === at && w.length > len))) { at = j; len = w.length; }
    }
    if (at < 0) break;
    if (at > i) out.push(document.createTextNode(text.slice(i, at)));
    out.push(h('mark', 'search-mark', text.slice(at, at + len)));
    i = at + len;
  }
  if (i < text.length) out.push(document.createTextNode(text.slice(i)));
  return out;
}

function apply() {
  if (!HL.id || S.selected !== HL.id) return;
  const log = $('log');
  for (const li of /** @type {HTMLElement[]} */ ([...log.children])) {
    const seq = Number(li.dataset.seq);
    if (!HL.seqs.has(seq) || li.classList.contains('hit')) continue;
    li.classList.add('hit');
    const span = li.querySelector('.text');
    if (span) span.replaceChildren(...marked(span.textContent || ''));
    if (!HL.shown) { HL.shown = true; li.scrollIntoView({ block: 'center' }); }
  }
}

// Bubbles are added and the list replaced as the chat loads: mark the hits among them.
new MutationObserver(apply).observe($('log'), { childList: true });
