// @ts-check
/* The sign-in's second step (login.js hands it the login's `mfa_required` answer): a code of
 * the authenticator app, "Use a passkey", "Use a recovery code"; or, when the group requires a
 * factor the agent has none of, setting one up (an app, or a passkey), which completes the
 * sign-in. The server's side: libs/rest/src/mfa_api.rs (`/api/v1/auth/mfa/*`). */

import { $, el, clear } from './dom.js';
import { api, errorText } from './api.js';
import { createPasskey, usePasskey, passkeysSupported } from './webauthn.js';
import { showRecoveryCodes, qrImage } from './admin/mfa.js';

/**
 * @typedef {object} MfaRequired
 * @property {string} ticket
 * @property {string[]} methods
 * @property {boolean} enrol_required
 */

/** @type {HTMLElement | null} */
let card = null;

/** Leaves the second step (back to the password form). */
export function closeSecondStep() {
  if (card) { card.remove(); card = null; }
  $('login-form').hidden = false;
}

/**
 * Shows the second step; `done(answer)` gets the session's answer (`LoggedIn`).
 * @param {MfaRequired} step
 * @param {(answer: any) => void} done
 */
export function showSecondStep(step, done) {
  closeSecondStep();
  $('login-form').hidden = true;
  card = el('div', { class: 'card', id: 'mfa-step' });
  $('login').append(card);
  if (step.enrol_required) enrolView(step, done); else proveView(step, done, 'totp');
}

/** @param {string} text */
const errorLine = (text) => el('p', { class: 'error', role: 'alert', id: 'mfa-error', text, hidden: !text });

const backButton = () => el('button', { type: 'button', class: 'link', text: 'Back to sign in', on: { click: closeSecondStep } });

/**
 * Proving a factor the agent holds.
 * @param {MfaRequired} step @param {(answer: any) => void} done @param {'totp' | 'recovery_code'} mode
 */
function proveView(step, done, mode) {
  if (!card) return;
  const has = (/** @type {string} */ m) => step.methods.includes(m);
  if (mode === 'totp' && !has('totp')) mode = 'recovery_code';
  const err = errorLine('');
  const code = el('input', {
    id: 'mfa-code', name: 'code', autocomplete: 'one-time-code', required: true,
    inputMode: mode === 'totp' ? 'numeric' : 'text', maxLength: mode === 'totp' ? 6 : 24,
  });
  const submit = el('button', { type: 'submit', id: 'mfa-submit', text: 'Verify' });
  const form = el('form', { novalidate: true, on: { submit: async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    const path = mode === 'totp' ? '/api/v1/auth/mfa/totp' : '/api/v1/auth/mfa/recovery-code';
    try {
      const r = await api('POST', path, { ticket: step.ticket, code: code.value.trim() });
      if (r.ok) { closeSecondStep(); done(r.data); return; }
      fail(err, r.status === 401 && r.data && r.data.error && r.data.error.code === 'invalid_code' ? 'That code was not accepted.' : errorText(r));
    } catch (_) { fail(err, 'Cannot reach the server.'); } finally { submit.disabled = false; }
  } } });
  form.append(el('label', { for: 'mfa-code', text: mode === 'totp' ? 'Code from your authenticator app' : 'Recovery code' }), code, err, submit);
  const others = el('p', { class: 'mfa-others' });
  if (has('passkey') && passkeysSupported()) {
    others.append(el('button', { type: 'button', id: 'mfa-passkey', text: 'Use a passkey', on: { click: async () => {
      try {
        const start = await api('POST', '/api/v1/auth/mfa/passkey/start', { ticket: step.ticket });
        if (!start.ok) return fail(err, errorText(start));
        const credential = await usePasskey(start.data.options);
        const r = await api('POST', '/api/v1/auth/mfa/passkey/finish', { ticket: step.ticket, ceremony_id: start.data.ceremony_id, credential });
        if (r.ok) { closeSecondStep(); done(r.data); } else fail(err, errorText(r, 'The passkey was not accepted.'));
      } catch (e) { fail(err, 'The passkey did not answer: ' + (e instanceof Error ? e.message : String(e))); }
    } } }));
  }
  if (mode === 'totp' && has('recovery_code')) others.append(el('button', { type: 'button', class: 'link', id: 'mfa-use-recovery', text: 'Use a recovery code', on: { click: () => proveView(step, done, 'recovery_code') } }));
  if (mode === 'recovery_code' && has('totp')) others.append(el('button', { type: 'button', class: 'link', text: 'Use your authenticator app', on: { click: () => proveView(step, done, 'totp') } }));
  clear(card, el('h1', { text: 'Verify it’s you' }), form, others, backButton());
  code.focus();
}

/** @param {HTMLElement} err @param {string} text */
function fail(err, text) { err.textContent = text; err.hidden = !text; }

/**
 * Setting up a first factor, which completes the sign-in.
 * @param {MfaRequired} step @param {(answer: any) => void} done
 */
function enrolView(step, done) {
  if (!card) return;
  const err = errorLine('');
  const finish = (/** @type {any} */ data) => {
    if (!card) return;
    const go = el('button', { type: 'button', id: 'mfa-continue', text: 'Continue', on: { click: () => { closeSecondStep(); done(data); } } });
    clear(card, el('h1', { text: 'Save your recovery codes' }), showRecoveryCodes(data.recovery_codes || []), go);
    go.focus();
  };
  const app = el('button', { type: 'button', id: 'mfa-enrol-app', text: 'Set up an authenticator app', on: { click: async () => {
    const r = await api('POST', '/api/v1/auth/mfa/enrol/totp', { ticket: step.ticket });
    if (!r.ok) return fail(err, errorText(r));
    const code = el('input', { id: 'mfa-code', inputMode: 'numeric', maxLength: 6, autocomplete: 'one-time-code' });
    const confirm = el('button', { type: 'submit', id: 'mfa-submit', text: 'Confirm' });
    const form = el('form', { novalidate: true, on: { submit: async (ev) => {
      ev.preventDefault();
      const c = await api('POST', '/api/v1/auth/mfa/enrol/totp/confirm', { ticket: step.ticket, code: code.value.trim() });
      if (c.ok) finish(c.data); else fail(err, errorText(c));
    } } });
    form.append(el('label', { for: 'mfa-code', text: 'Then type the code it shows' }), code, err, confirm);
    if (card) clear(card, el('h1', { text: 'Scan this with your app' }), qrImage(r.data.qr_svg),
      el('p', { class: 'mfa-secret', text: 'Or type this key: ' + r.data.secret }), form, backButton());
    code.focus();
  } } });
  /** @type {HTMLElement[]} */
  const kids = [el('h1', { text: 'Set up a second sign-in step' }),
    el('p', { text: 'Your dealer group asks you to confirm it’s you with something besides your password.' }), app];
  if (step.methods.includes('passkey') && passkeysSupported()) {
    kids.push(el('button', { type: 'button', id: 'mfa-enrol-passkey', text: 'Use a passkey instead', on: { click: async () => {
      try {
        const start = await api('POST', '/api/v1/auth/mfa/enrol/passkey/start', { ticket: step.ticket });
        if (!start.ok) return fail(err, errorText(start));
        const credential = await createPasskey(start.data.options);
        const r = await api('POST', '/api/v1/auth/mfa/enrol/passkey/finish', { ticket: step.ticket, ceremony_id: start.data.ceremony_id, name: 'Passkey', credential });
        if (r.ok) finish(r.data); else fail(err, errorText(r));
      } catch (e) { fail(err, 'No passkey was made: ' + (e instanceof Error ? e.message : String(e))); }
    } } }));
  }
  kids.push(err, backButton());
  clear(card, ...kids);
}
