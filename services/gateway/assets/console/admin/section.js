// @ts-check
/* What every section of the Admin tab is made of: its heading and intro above a fresh box,
 * and the "Loading…" line while its data comes. A section is given `current()`, false once
 * another section is shown: a late answer of an old one is dropped. */

import { el, clear } from '../dom.js';

/** @typedef {() => boolean} Current */

/** The section's heading and, below it, a fresh container for its content. @param {HTMLElement} body @param {string} title @param {string} [intro] */
export function sectionShell(body, title, intro) {
  const box = el('div', { class: 'a-section' });
  clear(body, el('h2', { class: 'a-h', text: title }), intro ? el('p', { class: 'a-intro', text: intro }) : null, box);
  return box;
}

/** @param {string} [what] */
export const loadingLine = (what) => el('p', { class: 'a-loading', role: 'status', text: 'Loading' + (what ? ' ' + what : '') + '…' });
