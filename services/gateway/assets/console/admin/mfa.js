// @ts-check
/* Profile's "Sign-in protection" (profile.js puts it in the dialog): the agent's authenticator
 * app (set up with its QR code and a first code, removed with a current code or the password),
 * recovery codes (shown once; regenerated), and passkeys (named, listed, removed). The server:
 * libs/rest/src/mfa_api.rs (`/api/v1/me/mfa*`). Also the pieces the sign-in's second step
 * shows (mfa-step.js): the QR code, the recovery codes. */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { createPasskey, passkeysSupported } from '../webauthn.js';

/**
 * @typedef {object} PasskeyView
 * @property {string} id
 * @property {string} name
 * @property {string} created_at
 * @property {string | null} last_used_at
 */
/**
 * @typedef {object} MfaStatus
 * @property {boolean} totp
 * @property {PasskeyView[]} passkeys
 * @property {number} recovery_codes_left
 * @property {boolean} required
 * @property {boolean} passkeys_available
 */

/** The QR code (an SVG document from the server) as an image: a `blob:` URL (the CSP's img-src). @param {string} svg */
export function qrImage(svg) {
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  return el('img', { class: 'mfa-qr', src: url, alt: 'QR code for your authenticator app', width: 200, height: 200 });
}

/** Recovery codes to save, shown once. @param {string[]} codes */
export function showRecoveryCodes(codes) {
  return el('div', { class: 'mfa-codes' },
    el('p', { text: 'Keep these recovery codes somewhere safe. Each signs you in once if you lose your device; they are not shown again.' }),
    el('ul', { id: 'mfa-recovery-codes' }, codes.map((c) => el('li', null, el('code', { text: c })))));
}

/** The section, loading the agent's factors. */
export function mfaSection() {
  const box = el('section', { class: 'p-form p-mfa', id: 'profile-mfa' });
  void fill(box, null);
  return box;
}

/** @param {HTMLElement} box @param {HTMLElement | null} extra shown under the heading (new codes) */
async function fill(box, extra) {
  let r = null;
  try { r = await api('GET', '/api/v1/me/mfa'); } catch (_) { /* below */ }
  const head = el('h3', { text: 'Sign-in protection' });
  if (!r || !r.ok) { clear(box, head, el('p', { class: 'a-note', text: 'Cannot load your sign-in methods.' })); return; }
  /** @type {MfaStatus} */
  const st = r.data;
  const msg = el('p', { class: 'a-note', role: 'status', id: 'mfa-message' });
  const say = (/** @type {string} */ t) => { msg.textContent = t; };
  const again = (/** @type {HTMLElement | null} */ x) => fill(box, x);
  const codesFrom = (/** @type {any} */ d) => (d && d.recovery_codes ? showRecoveryCodes(d.recovery_codes) : null);
  /** @type {HTMLElement[]} */
  const kids = [head];
  if (st.required) kids.push(el('p', { class: 'a-note', text: 'Your dealer group requires a second sign-in step for you.' }));
  if (extra) kids.push(extra);

  // The authenticator app.
  const appRow = el('div', { class: 'mfa-app' });
  if (st.totp) {
    const pw = el('input', { type: 'password', id: 'mfa-remove-password', autocomplete: 'current-password', placeholder: 'Your password or a current code' });
    appRow.append(el('p', { text: 'Authenticator app: on.' }), pw,
      el('button', { type: 'button', class: 'danger small', text: 'Remove app', on: { click: async () => {
        const v = pw.value.trim();
        const body = /^\d{6}$/.test(v) ? { code: v } : { password: pw.value };
        const d = await api('POST', '/api/v1/me/mfa/totp/remove', body);
        if (d.ok) void again(null); else say(errorText(d));
      } } }));
  } else {
    appRow.append(el('button', { type: 'button', id: 'mfa-setup-app', text: 'Set up an authenticator app', on: { click: async () => {
      const s = await api('POST', '/api/v1/me/mfa/totp');
      if (!s.ok) return say(errorText(s));
      const code = el('input', { id: 'mfa-setup-code', inputMode: 'numeric', maxLength: 6, autocomplete: 'one-time-code' });
      clear(appRow, qrImage(s.data.qr_svg), el('p', { class: 'mfa-secret', text: 'Or type this key: ' + s.data.secret }),
        el('label', { for: 'mfa-setup-code', text: 'Code from the app' }), code,
        el('button', { type: 'button', text: 'Confirm', on: { click: async () => {
          const c = await api('POST', '/api/v1/me/mfa/totp/confirm', { code: code.value.trim() });
          if (c.ok) void again(codesFrom(c.data)); else say(errorText(c));
        } } }));
      code.focus();
    } } }));
  }
  kids.push(appRow);

  // Passkeys.
  if (st.passkeys_available) {
    const list = el('ul', { class: 'mfa-passkeys', id: 'mfa-passkeys' }, st.passkeys.map((p) => el('li', null,
      el('span', { class: 'mfa-passkey-name', text: p.name }), ' ',
      el('button', { type: 'button', class: 'small danger', text: 'Remove', 'aria-label': 'Remove passkey ' + p.name, on: { click: async () => {
        const d = await api('DELETE', '/api/v1/me/mfa/passkeys/' + encodeURIComponent(p.id));
        if (d.ok) void again(null); else say(errorText(d));
      } } }))));
    const name = el('input', { id: 'mfa-passkey-name', maxLength: 100, placeholder: 'e.g. Work laptop', value: 'Passkey' });
    const add = el('button', { type: 'button', id: 'mfa-add-passkey', text: 'Add a passkey', disabled: !passkeysSupported(), on: { click: async () => {
      try {
        const s = await api('POST', '/api/v1/me/mfa/passkeys/start');
        if (!s.ok) return say(errorText(s));
        const credential = await createPasskey(s.data.options);
        const f = await api('POST', '/api/v1/me/mfa/passkeys', { ceremony_id: s.data.ceremony_id, name: name.value, credential });
        if (f.ok) void again(codesFrom(f.data)); else say(errorText(f));
      } catch (e) { say('No passkey was made: ' + (e instanceof Error ? e.message : String(e))); }
    } } });
    kids.push(el('h4', { text: 'Passkeys' }), list, el('div', { class: 'a-row' }, el('label', { for: 'mfa-passkey-name', text: 'Name' }), name, add));
  }

  // Recovery codes.
  if (st.totp || st.passkeys.length) {
    kids.push(el('p', { id: 'mfa-codes-left', text: `Recovery codes left: ${st.recovery_codes_left}` }),
      el('button', { type: 'button', class: 'small', text: 'New recovery codes', on: { click: async () => {
        const d = await api('POST', '/api/v1/me/mfa/recovery-codes');
        if (d.ok) void again(codesFrom(d.data)); else say(errorText(d));
      } } }));
  }
  kids.push(msg);
  clear(box, ...kids);
}
