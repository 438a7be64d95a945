// @ts-check
/* Every agent's Profile dialog (the header's Profile button, console/header.js): their names,
 * e-mail, language and time zone (GET/PUT /api/v1/me/profile), their photo (photo.js), and
 * their password (the current one is checked by the server; other devices are logged out),
 * their second factors (mfa.js) and their own canned responses (canned.js).
 * What they change is handed to `onChange`, so the header and the dates show it at once. */

import { el, clear } from '../dom.js';
import { api } from '../api.js';
import { loadingLine } from './section.js';
import { Fields, field, textInput, dropdown, zoneSelect, saver, formEl } from './forms.js';
import { photoEditor } from './photo.js';
import { mfaSection } from './mfa.js';
import { cannedEditor } from './canned.js';

/** @typedef {import('../state.js').Me} Me */
/** What changed: the profile's fields as saved, or `photo_url` alone. */
/** @typedef {{photo_url?: string | null, first_name?: string, last_name?: string, name?: string, email?: string, locale?: string, time_zone?: string | null}} Change */
/**
 * @typedef {object} Profile
 * @property {string} [first_name]
 * @property {string} [last_name]
 * @property {string} [email]
 * @property {string} [locale]
 * @property {string | null} [time_zone]
 * @property {string | null} [photo_url]
 */

/** @type {HTMLDialogElement | null} */
let dialog = null;
/** @type {(change: Change) => void} */
let onChange = () => {};

export function closeProfile() { if (dialog && dialog.open) dialog.close(); }

/** Opens the dialog with the agent's profile. @param {{me: Me, onChange?: (change: Change) => void}} opts */
export async function openProfile(opts) {
  onChange = opts.onChange || (() => {});
  const d = dialog || (dialog = buildProfile());
  clear(bodyOf(d), loadingLine('your profile'));
  if (typeof d.showModal === 'function') d.showModal(); else d.setAttribute('open', '');
  let r = null;
  try { r = await api('GET', '/api/v1/me/profile'); } catch (_) { /* below */ }
  /** @type {Profile | null} */
  let prof = r && r.ok ? r.data : null;
  const me = opts.me || {};
  if (!prof) {
    prof = { first_name: me.first_name || (me.name || '').split(' ')[0] || '', last_name: me.last_name || (me.name || '').split(' ').slice(1).join(' '), email: me.email || '', locale: me.locale || 'en', time_zone: me.time_zone || '' };
  }
  fillProfile(d, prof, me, !!(r && r.ok));
}

function buildProfile() {
  const d = el('dialog', { class: 'p-dialog', id: 'profile-dialog', 'aria-labelledby': 'profile-h' });
  d.append(el('div', { class: 'p-head' }, el('h2', { id: 'profile-h', text: 'Your profile' }),
    el('button', { type: 'button', class: 'p-close', 'aria-label': 'Close', text: '×', on: { click: () => d.close() } })), el('div', { class: 'p-body' }));
  document.body.append(d);
  return d;
}

/** @param {HTMLDialogElement} d */
const bodyOf = (d) => /** @type {HTMLElement} */ (d.querySelector('.p-body'));

/** @param {HTMLDialogElement} d @param {Profile} prof @param {Partial<Me>} me @param {boolean} canSave */
function fillProfile(d, prof, me, canSave) {
  const fields = new Fields(), s = saver('Save profile');
  const first = textInput(prof.first_name, { maxLength: 80, id: 'profile-first', autocomplete: 'given-name' });
  const last = textInput(prof.last_name, { maxLength: 80, id: 'profile-last', autocomplete: 'family-name' });
  const email = el('input', { type: 'email', id: 'profile-email', value: prof.email || '', autocomplete: 'email' });
  const locale = dropdown([['en', 'English'], ['es', 'Español']], prof.locale && prof.locale.startsWith('es') ? 'es' : 'en', { id: 'profile-locale' });
  const tz = zoneSelect(prof.time_zone || ''); tz.id = 'profile-tz';
  tz.prepend(el('option', { value: '', text: 'This computer’s time zone' }));
  tz.value = prof.time_zone || '';
  const form = formEl('a-form p-form', s, async () => {
    const b = { first_name: first.value.trim(), last_name: last.value.trim(), email: email.value.trim(), locale: locale.value, time_zone: tz.value || null };
    const r = await s.run(fields, () => api('PUT', '/api/v1/me/profile', b));
    if (r) onChange(Object.assign({ name: b.first_name + ' ' + b.last_name }, b, r.data || {}));
  });
  form.append(el('div', { class: 'a-row' }, field(fields, 'first_name', 'First name', first), field(fields, 'last_name', 'Last name', last)),
    field(fields, 'email', 'E-mail', email),
    el('div', { class: 'a-row' }, field(fields, 'locale', 'Language', locale), field(fields, 'time_zone', 'Time zone', tz)));
  if (!canSave) form.append(el('p', { class: 'a-note', text: 'Your profile cannot be changed on this server yet.' }));
  form.append(s.wrap);
  clear(bodyOf(d), photoEditor(me.photo_url || prof.photo_url || null, (url) => onChange({ photo_url: url })), form, passwordForm(), mfaSection(),
    el('section', { class: 'p-canned', 'aria-labelledby': 'profile-canned-h' }, el('h3', { id: 'profile-canned-h', text: 'Your canned responses' }),
      el('p', { class: 'a-hint', text: 'Only you see these; type / in a chat’s reply box to insert one.' }),
      cannedEditor({ path: '/api/v1/me/canned-responses', owners: null })));
}

/** The password: the current one, and the new one. */
function passwordForm() {
  const fields = new Fields(), s = saver('Change password');
  const oldPassword = el('input', { type: 'password', id: 'profile-current-password', autocomplete: 'current-password' });
  const next = el('input', { type: 'password', id: 'profile-new-password', autocomplete: 'new-password', minLength: 10 });
  const form = formEl('a-form p-form p-password', s, async () => {
    const r = await s.run(fields, () => api('PUT', '/api/v1/me/password', { current_password: oldPassword.value, new_password: next.value }));
    if (r) { oldPassword.value = next.value = ''; s.say('Password changed; your other devices are logged out.'); }
  });
  form.append(el('h3', { text: 'Password' }),
    el('div', { class: 'a-row' }, field(fields, 'current_password', 'Current password', oldPassword),
      field(fields, 'new_password', 'New password', next, 'At least 10 characters')), s.wrap);
  return form;
}
