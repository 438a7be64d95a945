// @ts-check
/* The bell in the header: the agent's notification choices (desktop, sound, e-mail; each saved
 * on change with PUT /api/v1/me/notifications), and the browser's permission to show desktop
 * notifications (the "Enable desktop notifications" bar until the browser has an answer, or the
 * agent said "Not now"). The notices themselves are notices.js. */

import { $, $input, byId } from './dom.js';
import { S } from './state.js';
import { api, errorText, sessionEnded } from './api.js';
import { banner } from './banner.js';
import { beep } from './beep.js';

const PERM_KEY = 'showroom.console.notify-permission'; // the agent's answer here: granted, denied or later

/** @typedef {{desktop: boolean, email: boolean, sound: boolean}} Prefs */
const N = {
  /** @type {Prefs | null} as last saved (GET/PUT /api/v1/me/notifications) */
  prefs: null,
  loading: false, saving: false, again: false, saved: false, error: '',
};

/** The browser's permission: granted, denied, default or unsupported. */
export const permission = () => ('Notification' in window ? String(window.Notification.permission) : 'unsupported');
function remembered() { try { return localStorage.getItem(PERM_KEY) || ''; } catch (_) { return ''; } }
/** @param {string} v */
function remember(v) { try { localStorage.setItem(PERM_KEY, v); } catch (_) { /* storage disabled: asked again next time */ } }

/** The bar, and the panel's line about where things stand. */
export function renderPermission() {
  const p = permission();
  const bar = $('perm-banner');
  const show = S.live && p === 'default' && remembered() !== 'later' && !(N.prefs && !N.prefs.desktop);
  const had = bar.contains(document.activeElement);
  bar.hidden = !show;
  if (had && !show) $('notify-open').focus();
  $('perm-ask').hidden = p !== 'default';
  $('perm-line').textContent = p === 'granted' ? 'This browser shows the console’s desktop notifications.'
    : p === 'denied' ? 'This browser blocks notifications from the console, so they show inside the page. Allow them in the site settings to get them on the desktop.'
    : p === 'unsupported' ? 'This browser cannot show desktop notifications; they show inside the page.'
    : 'Desktop notifications are not enabled in this browser yet; until then they show inside the page.';
  const off = !!N.prefs && !N.prefs.desktop;
  byId('notify-off', SVGElement).toggleAttribute('hidden', !off);
  $('notify-label').textContent = 'Notification settings' + (off ? ' (desktop notifications off)' : '');
}

async function askPermission() {
  if (!('Notification' in window)) return renderPermission();
  let answer;
  try {
    answer = await new Promise((resolve) => {
      const r = window.Notification.requestPermission(resolve); // older browsers: the callback; newer: a promise
      if (r && typeof r.then === 'function') r.then(resolve, () => resolve(permission()));
    });
  } catch (_) { answer = permission(); }
  answer = String(answer || permission());
  if (answer === 'granted' || answer === 'denied') remember(answer);
  renderPermission();
  if (answer === 'denied') banner('Desktop notifications are blocked in this browser. They will show inside the console instead.');
}
$('perm-enable').addEventListener('click', askPermission);
$('perm-ask').addEventListener('click', askPermission);
$('perm-later').addEventListener('click', () => { remember('later'); renderPermission(); });

// ---- the agent's choices: three checkboxes, each saved on change ----

/** @param {any} d @returns {Prefs | null} */
const readPrefs = (d) => (d && typeof d === 'object'
  ? { desktop: d.desktop !== false, email: d.email !== false, sound: d.sound !== false } : null);
const PREFS = /** @type {const} */ (['desktop', 'sound', 'email']);

export async function loadPrefs() {
  N.loading = true; N.error = ''; N.saved = false;
  renderPrefs();
  let problem = '';
  try {
    const r = await api('GET', '/api/v1/me/notifications');
    if (!S.live) return;
    if (r.status === 401) return sessionEnded();
    const prefs = r.ok ? readPrefs(r.data) : null;
    if (prefs) N.prefs = prefs;
    else problem = errorText(r, 'the server said ' + r.status + '.');
  } catch (_) { problem = 'cannot reach the server.'; }
  N.loading = false;
  N.error = problem ? 'Your notification settings could not be loaded: ' + problem : '';
  renderPrefs(); renderPermission();
}

function renderPrefs() {
  PREFS.forEach((k) => {
    const cb = $input('pref-' + k);
    cb.disabled = !N.prefs;
    if (N.prefs && !N.saving) cb.checked = !!N.prefs[k]; // while saving, the boxes show what was asked
  });
  const st = $('pref-state');
  st.textContent = N.loading ? 'Loading…' : N.saving ? 'Saving…' : N.saved ? 'Saved' : '';
  st.className = 'pref-state' + (N.saved && !N.saving ? ' saved' : '');
  $('pref-error').textContent = N.error;
  $('pref-error').hidden = !N.error;
  $('pref-retry').hidden = !N.error || !!N.prefs || N.loading;
}

/** @returns {Promise<void>} */
async function savePrefs() {
  if (!N.prefs) return;
  if (N.saving) { N.again = true; return; } // saved with the latest boxes when this one is done
  const want = { desktop: $input('pref-desktop').checked, email: $input('pref-email').checked, sound: $input('pref-sound').checked };
  N.saving = true; N.saved = false; N.error = '';
  renderPrefs();
  let problem = '';
  try {
    const r = await api('PUT', '/api/v1/me/notifications', want);
    if (!S.live) return;
    if (r.status === 401) { N.saving = false; return sessionEnded(); }
    if (r.ok) N.prefs = readPrefs(r.data) || want;
    else problem = errorText(r, 'the server said ' + r.status + '.');
  } catch (_) { problem = 'cannot reach the server.'; }
  N.saving = false;
  if (N.again && !problem) { N.again = false; return savePrefs(); }
  N.again = false;
  N.saved = !problem;
  N.error = problem ? 'Not saved: ' + problem : '';
  renderPrefs(); // after a failure the boxes go back to what is saved
  renderPermission();
}

/** @param {boolean} open */
function showNotifyPanel(open) {
  const panel = $('notify-panel');
  if (panel.hidden === !open) return;
  const had = panel.contains(document.activeElement);
  panel.hidden = !open;
  $('notify-open').setAttribute('aria-expanded', String(open));
  if (open) {
    N.saved = false;
    if (!N.prefs && !N.loading) loadPrefs();
    renderPrefs(); renderPermission();
    if (!$input('pref-desktop').disabled) $input('pref-desktop').focus();
  } else if (had) $('notify-open').focus();
}

/** Logged out: choices forgotten, panel closed. */
export function resetPrefs() {
  N.prefs = null; N.loading = false; N.saving = false; N.again = false; N.saved = false; N.error = '';
  showNotifyPanel(false);
  renderPrefs(); renderPermission();
}

const bell = $('notify-open');
bell.addEventListener('click', () => showNotifyPanel($('notify-panel').hidden));
bell.parentElement?.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !$('notify-panel').hidden) { ev.stopPropagation(); showNotifyPanel(false); bell.focus(); }
});
bell.parentElement?.addEventListener('focusout', (ev) => {
  const to = ev.relatedTarget;
  if (to instanceof Node && ev.currentTarget instanceof Node && !ev.currentTarget.contains(to)) showNotifyPanel(false);
});
document.addEventListener('mousedown', (ev) => {
  if (!$('notify-panel').hidden && !(ev.target instanceof Element && ev.target.closest('.notify-wrap'))) showNotifyPanel(false);
});
PREFS.forEach((k) => $input('pref-' + k).addEventListener('change', () => {
  if (k === 'sound' && $input('pref-sound').checked) beep(); // what it sounds like
  savePrefs();
}));
$('pref-retry').addEventListener('click', loadPrefs);
