// @ts-check
/* The red line under the header: what went wrong (a message not sent, a transfer refused),
 * gone after 10 s or when dismissed. Many views report through it. */

import { $ } from './dom.js';
import { S } from './state.js';

/** Shows `text` for 10 s; '' hides it. @param {string} [text] */
export function banner(text) {
  clearTimeout(S.bannerTimer);
  $('banner-text').textContent = text || '';
  $('banner').hidden = !text;
  if (text) S.bannerTimer = setTimeout(() => banner(''), 10000);
}
$('banner-close').addEventListener('click', () => banner(''));
