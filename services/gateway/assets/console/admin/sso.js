// @ts-check
/* Admin ▸ Single sign-on (admins): the group's OpenID Connect provider — issuer, client id,
 * the key of the Kubernetes Secret that holds the client secret (never the secret itself),
 * the button's name, the e-mail domains that use it, the claims that carry roles (mapped to
 * Showroom's roles, one "value = role" a line) and rooftops, and whether password sign-in stays
 * on. GET/PUT/DELETE /api/v1/sso/settings (libs/rest/src/sso_api.rs); the redirect and
 * back-channel logout URIs to register at the provider are shown once saved. */

import { el } from '../dom.js';
import { api, errorText } from '../api.js';
import { sectionShell } from './section.js';
import { Fields, field, check, saver, formEl, textInput, lines } from './forms.js';

/** @typedef {import('./section.js').Current} Current */
/**
 * @typedef {object} SsoSettings
 * @property {string} issuer
 * @property {string} client_id
 * @property {string} secret_key
 * @property {string} display_name
 * @property {string[]} email_domains
 * @property {string} role_claim
 * @property {Record<string, string>} role_map
 * @property {string | null} rooftop_claim
 * @property {boolean} password_sign_in
 * @property {boolean} [secret_present]
 * @property {string} [redirect_uri]
 * @property {string} [backchannel_logout_uri]
 */

/** @type {SsoSettings} */
const EMPTY = {
  issuer: '', client_id: '', secret_key: '', display_name: '', email_domains: [], role_claim: 'groups',
  role_map: {}, rooftop_claim: null, password_sign_in: true,
};

/** @param {HTMLElement} body @param {Current} current */
export async function renderSso(body, current) {
  const r = await api('GET', '/api/v1/sso/settings');
  if (!current()) return;
  const box = sectionShell(body, 'Single sign-on', 'Sign your agents in through your identity provider (Entra ID, Okta, Google…) with OpenID Connect. Agents are made at their first sign-in, with the role and rooftops your provider says.');
  if (r.status === 403) { box.append(el('p', { class: 'a-note', text: 'Only an admin can see and change single sign-on.' })); return; }
  if (!r.ok && r.status !== 404) { box.append(el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the single sign-on settings.') })); return; }
  box.append(ssoForm(r.ok ? /** @type {SsoSettings} */ (r.data) : EMPTY, r.ok, current));
}

/** @param {SsoSettings} s @param {boolean} saved @param {Current} current */
function ssoForm(s, saved, current) {
  const fields = new Fields();
  const sv = saver('Save single sign-on');
  const issuer = textInput(s.issuer, { id: 'admin-sso-issuer', placeholder: 'https://login.example.com' });
  const clientId = textInput(s.client_id, { id: 'admin-sso-client-id' });
  const secretKey = textInput(s.secret_key, { id: 'admin-sso-secret-key', placeholder: 'acme-okta' });
  const name = textInput(s.display_name, { id: 'admin-sso-display-name', placeholder: 'Okta' });
  const domains = el('textarea', { id: 'admin-sso-domains', rows: 2, value: s.email_domains.join('\n') });
  const roleClaim = textInput(s.role_claim, { id: 'admin-sso-role-claim' });
  const roleMap = el('textarea', { id: 'admin-sso-role-map', rows: 4, value: Object.entries(s.role_map).map(([k, v]) => k + ' = ' + v).join('\n') });
  const rooftopClaim = textInput(s.rooftop_claim || '', { id: 'admin-sso-rooftop-claim' });
  const password = check(fields, 'password_sign_in', 'Password sign-in stays on for the group', s.password_sign_in,
    'Off: the group’s agents can sign in only through the provider.');
  const info = el('div', { class: 'a-meta', id: 'admin-sso-info' });
  const showInfo = (/** @type {SsoSettings} */ d) => {
    info.replaceChildren(
      el('p', { text: 'Redirect URI to register: ' + (d.redirect_uri || '') }),
      el('p', { text: 'Back-channel logout URI to register: ' + (d.backchannel_logout_uri || '') }),
      el('p', { class: d.secret_present ? '' : 'a-error', text: d.secret_present ? 'The client secret is mounted.' : 'No client secret is mounted under this key yet (Secret showroom-oidc).' }));
  };
  if (saved) showInfo(s);
  const form = formEl('a-form', sv, async () => {
    /** @type {Record<string, string>} */
    const map = {};
    for (const line of lines(roleMap.value)) {
      const at = line.lastIndexOf('=');
      if (at > 0) map[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      else map[line] = '';
    }
    const next = {
      issuer: issuer.value.trim(), client_id: clientId.value.trim(), secret_key: secretKey.value.trim(),
      display_name: name.value.trim(), email_domains: lines(domains.value.replace(/,/g, '\n')),
      role_claim: roleClaim.value.trim(), role_map: map, rooftop_claim: rooftopClaim.value.trim() || null,
      password_sign_in: password.input.checked,
    };
    const done = await sv.run(fields, () => api('PUT', '/api/v1/sso/settings', next));
    if (done && current()) showInfo(/** @type {SsoSettings} */ (done.data));
  });
  form.id = 'admin-sso-form';
  form.append(
    field(fields, 'issuer', 'Issuer URL', issuer, 'The provider’s issuer, exactly as its discovery document says.'),
    field(fields, 'client_id', 'Client id', clientId),
    field(fields, 'secret_key', 'Secret key', secretKey, 'The key of Kubernetes Secret showroom-oidc that holds the client secret; the secret itself is never entered here.'),
    field(fields, 'display_name', 'Button name', name, 'Shown as “Sign in with …”.'),
    field(fields, 'email_domains', 'E-mail domains', domains, 'One a line: who types an address of these domains is offered this provider.'),
    field(fields, 'role_claim', 'Role claim', roleClaim, 'The ID token claim that lists the person’s groups or roles.'),
    field(fields, 'role_map', 'Role mapping', roleMap, 'One “claim value = role” a line; roles: agent, rooftop_manager, manager, admin. Nobody without a mapped value can sign in.'),
    field(fields, 'rooftop_claim', 'Rooftop claim (optional)', rooftopClaim, 'For rooftop managers: the claim listing their rooftops, by id or name.'),
    password.wrap, info, sv.wrap);
  if (saved) {
    const status = el('span', { class: 'a-status', role: 'status' });
    form.append(el('button', { type: 'button', class: 'small danger', id: 'admin-sso-remove', text: 'Turn single sign-on off', on: { click: async () => {
      const d = await api('DELETE', '/api/v1/sso/settings');
      status.textContent = d.ok ? 'Single sign-on is off; password sign-in is on again.' : errorText(d);
    } } }), status);
  }
  return form;
}
