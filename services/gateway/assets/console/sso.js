// @ts-check
/* Single sign-on on the sign-in page (login.js hooks it in): once the typed e-mail's domain
 * signs in through its dealer group's identity provider (`GET /api/v1/auth/sso/lookup`), a
 * "Sign in with <provider>" button appears under the form; it navigates to
 * `/api/v1/auth/sso/start`, which goes to the provider and comes back to /console signed in,
 * or to /console?sso_error=<code> (`ssoErrorMessage` reads it once and says why). The server:
 * libs/rest/src/sso_api.rs. */

import { $, $input, el } from './dom.js';
import { api } from './api.js';

/** What each refusal code of the callback means to the person signing in. */
const MESSAGES = /** @type {Record<string, string>} */ ({
  sso_not_configured: 'Single sign-on is not set up for this e-mail.',
  sso_unavailable: 'Your identity provider cannot be reached. Try again in a moment.',
  sso_issuer_mismatch: 'Single sign-on is misconfigured (the identity provider is not the one set up). Tell your admin.',
  sso_state_invalid: 'That sign-in expired or was not started in this browser. Please sign in again.',
  sso_denied: 'Your identity provider refused the sign-in.',
  sso_exchange_failed: 'The sign-in could not be completed with your identity provider. Please try again.',
  sso_nonce_invalid: 'The sign-in answer did not belong to this sign-in. Please sign in again.',
  sso_token_invalid: 'Your identity provider\'s answer could not be verified. Tell your admin.',
  sso_email_missing: 'Your identity provider did not share your e-mail. Tell your admin.',
  sso_email_unverified: 'Your identity provider has not verified your e-mail.',
  sso_role_unmapped: 'Your account has no Showroom role at your identity provider. Ask your admin for access.',
  sso_agent_deactivated: 'Your Showroom account is deactivated. Ask your admin.',
  sso_failed: 'Single sign-on failed. Please try again.',
});

/**
 * The message of a refused single sign-on the page was sent back with (`?sso_error=`), once:
 * the parameter is taken out of the address bar. '' when there is none.
 */
export function ssoErrorMessage() {
  const url = new URL(location.href);
  const code = url.searchParams.get('sso_error');
  if (code === null) return '';
  url.searchParams.delete('sso_error');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
  return MESSAGES[code] || MESSAGES.sso_failed;
}

let asked = '';
let timer = 0;

/** The button, under the login form; hidden until the domain has single sign-on. */
function button() {
  let b = document.getElementById('sso-btn');
  if (!b) {
    b = el('button', { type: 'button', id: 'sso-btn', class: 'sso-btn', hidden: true, on: { click: () => start() } });
    const note = el('p', { id: 'sso-note', class: 'a-note', hidden: true });
    $('login-form').append(b, note);
  }
  return /** @type {HTMLButtonElement} */ (b);
}

function start() {
  const email = $input('email').value.trim();
  location.assign('/api/v1/auth/sso/start?email=' + encodeURIComponent(email));
}

/** Asks whether the typed e-mail's domain signs in through a provider, and shows the button. */
async function check() {
  const email = $input('email').value.trim();
  const domain = email.includes('@') ? email.slice(email.lastIndexOf('@') + 1).toLowerCase() : '';
  const b = button(), note = /** @type {HTMLElement} */ (document.getElementById('sso-note'));
  if (!domain.includes('.')) { b.hidden = true; note.hidden = true; asked = ''; return; }
  if (domain === asked) return;
  asked = domain;
  let r = null;
  try { r = await api('GET', '/api/v1/auth/sso/lookup?email=' + encodeURIComponent(email)); } catch (_) { /* offline: no button */ }
  if (asked !== domain) return; // typed on meanwhile
  const d = r && r.ok ? r.data : null;
  b.hidden = !(d && d.sso);
  b.textContent = d && d.sso ? 'Sign in with ' + d.display_name : '';
  note.hidden = !(d && d.sso && !d.password_sign_in);
  note.textContent = d && d.sso && !d.password_sign_in ? 'Your dealer group signs in with ' + d.display_name + ' only.' : '';
}

/** Watches the e-mail field (login.js calls it once). */
export function initSso() {
  button();
  const email = $input('email');
  const later = () => { clearTimeout(timer); timer = window.setTimeout(() => void check(), 250); };
  email.addEventListener('input', later);
  email.addEventListener('change', () => void check());
}
