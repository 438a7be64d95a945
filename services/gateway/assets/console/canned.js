// @ts-check
/* Canned responses in the reply box: typing `/` at the start opens a picker of the responses
 * the agent may use in this chat (GET /api/v1/conversations/{id}/canned-responses: the group's,
 * the rooftop's and their own, already filled for the chat in its language), filtered by
 * shortcut and title as they type. ArrowUp/ArrowDown move, Enter or Tab puts the text in the
 * reply box (to edit before sending: nothing is sent), Escape closes. The picker listens on the
 * reply form in the capture phase, so its keys never reach the box's Enter-sends. */

import { $, $form, $textarea, el, clear } from './dom.js';
import { api, sessionEnded } from './api.js';
import { current } from './state.js';

/** @typedef {{id: string, scope: string, shortcut: string, title: string, text: string}} Filled */

/** Most responses the picker shows at once. */
const SHOWN = 8;
/** How long a chat's responses are kept before they are asked again, in ms. */
const KEEP_MS = 60000;

const box = $textarea('reply-text');
const list = $('canned-list');

const P = {
  /** @type {{id: string, at: number, items: Promise<Filled[]>} | null} the current chat's responses (asked once for all the keys typed meanwhile) */
  loaded: null,
  /** @type {Filled[]} what the picker shows */
  shown: [],
  active: 0,
  open: false,
};

/** What the agent typed after the `/`, when the box holds only a `/` word; else null. */
function query() {
  const m = /^\/(\S*)$/.exec(box.value);
  return m ? m[1].toLowerCase() : null;
}

/**
 * The current chat's responses, asked for once a minute at most (and at each new `/`).
 * @param {string} id
 * @returns {Promise<Filled[]>}
 */
function responses(id) {
  if (P.loaded && P.loaded.id === id && Date.now() - P.loaded.at < KEEP_MS) return P.loaded.items;
  const items = api('GET', `/api/v1/conversations/${encodeURIComponent(id)}/canned-responses`).then((r) => {
    if (r.status === 401) sessionEnded();
    return r.ok && r.data && Array.isArray(r.data.responses) ? /** @type {Filled[]} */ (r.data.responses) : [];
  }, () => /** @type {Filled[]} */ ([]));
  P.loaded = { id, at: Date.now(), items };
  return items;
}

/** Those of `items` whose shortcut or title holds `q`, shortcuts that start with it first. */
function matching(/** @type {Filled[]} */ items, /** @type {string} */ q) {
  const starts = items.filter((r) => r.shortcut.startsWith(q));
  const rest = items.filter((r) => !r.shortcut.startsWith(q) && (r.shortcut.includes(q) || r.title.toLowerCase().includes(q)));
  return [...starts, ...rest].slice(0, SHOWN);
}

const SCOPES = /** @type {Record<string, string>} */ ({ group: 'Group', rooftop: 'Rooftop', personal: 'Mine' });

function render() {
  box.setAttribute('aria-expanded', String(P.open));
  list.hidden = !P.open;
  if (!P.open) { box.removeAttribute('aria-activedescendant'); clear(list); return; }
  if (!P.shown.length) {
    clear(list, el('li', { class: 'canned-none', role: 'presentation', text: 'No canned response matches.' }));
    box.removeAttribute('aria-activedescendant');
    return;
  }
  clear(list, P.shown.map((r, i) => el('li', {
    id: 'canned-' + i, role: 'option', class: 'canned-item', 'aria-selected': i === P.active,
    on: { mousedown: (ev) => { ev.preventDefault(); P.active = i; insert(); } },
  }, el('span', { class: 'canned-shortcut', text: '/' + r.shortcut }), ' ',
  el('span', { class: 'canned-title', text: r.title }), ' ',
  el('span', { class: 'canned-scope', text: SCOPES[r.scope] || r.scope }),
  el('span', { class: 'canned-text', text: r.text }))));
  box.setAttribute('aria-activedescendant', 'canned-' + P.active);
  const item = document.getElementById('canned-' + P.active);
  if (item) item.scrollIntoView({ block: 'nearest' });
}

function close() {
  if (!P.open) return;
  P.open = false; P.shown = []; P.active = 0;
  render();
}

/** Opens, filters or closes the picker after the box changed. */
async function update() {
  const q = query(), e = current();
  if (q === null || !e) { close(); return; }
  if (box.value === '/') P.loaded = null; // a new `/`: ask again
  const items = await responses(e.c.id);
  if (query() !== q || current() !== e) return; // typed on meanwhile: that change updates
  P.shown = matching(items, q);
  P.active = Math.min(P.active, Math.max(P.shown.length - 1, 0));
  P.open = true;
  render();
}

/** Puts the chosen response's text in the box for the agent to edit. */
function insert() {
  const r = P.shown[P.active];
  if (!r) return;
  close();
  box.value = r.text;
  box.focus();
  box.setSelectionRange(r.text.length, r.text.length);
  box.dispatchEvent(new Event('input', { bubbles: true })); // the draft and the typing signal
}

box.setAttribute('aria-autocomplete', 'list');
box.setAttribute('aria-controls', 'canned-list');
box.setAttribute('aria-expanded', 'false');
box.addEventListener('input', () => { P.active = 0; void update(); });
box.addEventListener('blur', close);

$form('reply').addEventListener('keydown', (ev) => {
  if (!P.open || ev.target !== box || ev.isComposing) return;
  const n = P.shown.length;
  if (ev.key === 'Escape') close();
  else if (ev.key === 'ArrowDown' && n) P.active = (P.active + 1) % n;
  else if (ev.key === 'ArrowUp' && n) P.active = (P.active - 1 + n) % n;
  else if ((ev.key === 'Enter' || ev.key === 'Tab') && !ev.shiftKey && n) { ev.preventDefault(); ev.stopPropagation(); insert(); return; }
  else return;
  ev.preventDefault(); ev.stopPropagation();
  render();
}, true);
