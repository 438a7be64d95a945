// @ts-check
/* The Admin tab (managers and admins): its section menu — Dashboard, Rooftops & departments,
 * Agents, Websites, CRM, Canned responses, … — and the section shown, remembered for this browser tab. Each section
 * is its own module; this one only switches between them. */

import { el, clear } from '../dom.js';
import { A, groupWide } from './state.js';
import { loadingLine } from './section.js';
import { renderDashboard } from './dashboard.js';
import { renderRooftops } from './rooftops.js';
import { renderAgents } from './agents.js';
import { renderWebsites } from './websites.js';
import { renderCrm } from './crm.js';
import { renderCanned } from './canned.js';
import { renderPayments } from './payments.js';
import { renderAudit } from './audit.js';
import { renderPrivacy } from './privacy.js';
import { renderSso } from './sso.js';
import { closeProfile } from './profile.js';

/** @typedef {(body: HTMLElement, current: import('./section.js').Current) => Promise<void>} Render */

/** @type {[string, string, Render][]} */
const SECTIONS = [
  ['dashboard', 'Dashboard', renderDashboard],
  ['rooftops', 'Rooftops & departments', renderRooftops],
  ['agents', 'Agents', renderAgents],
  ['websites', 'Websites', renderWebsites],
  ['crm', 'CRM', renderCrm],
  ['canned', 'Canned responses', renderCanned],
  ['payments', 'Payment estimates', renderPayments],
  ['audit', 'Audit trail', renderAudit],
  ['privacy', 'Privacy', renderPrivacy],
  ['sso', 'Single sign-on', renderSso],
];
const SECTION_KEY = 'showroom.console.admin';
/** Sections of the whole group, not shown to a rooftop manager (the server refuses them 403). */
const GROUP_ONLY = ['audit', 'privacy', 'sso'];

const T = {
  /** @type {HTMLElement | null} */
  root: null,
  /** @type {HTMLElement | null} */
  nav: null,
  /** @type {HTMLElement | null} */
  body: null,
  /** @type {string | null} */
  section: null,
  token: 0,         // bumped on every section change: late answers of an old one are dropped
};

/** @param {HTMLElement} root */
function build(root) {
  T.root = root;
  const nav = T.nav = el('nav', { class: 'a-nav', 'aria-label': 'Admin sections' });
  for (const [key, label] of SECTIONS) {
    if (GROUP_ONLY.includes(key) && !groupWide()) continue;
    nav.append(el('button', { type: 'button', id: 'admin-nav-' + key, 'data-section': key, text: label, on: { click: () => showSection(key, true) } }));
  }
  T.body = el('div', { class: 'a-body', id: 'admin-body', tabIndex: -1 });
  clear(root, nav, T.body);
}

/** The Admin tab is shown (console's tabs.js). @param {import('../state.js').Me | null} me */
export function showAdmin(me) {
  A.me = me;
  const root = document.getElementById('admin-root');
  if (!root) return;
  if (T.root !== root || !T.nav) build(root);
  let saved = null;
  try { saved = sessionStorage.getItem(SECTION_KEY); } catch (_) { /* not remembered */ }
  showSection(T.section || saved || 'dashboard', false);
}

/** @param {string} key @param {boolean} focus */
function showSection(key, focus) {
  const section = SECTIONS.find(([k]) => k === key && (groupWide() || !GROUP_ONLY.includes(k))) || SECTIONS[0];
  key = section[0];
  T.section = key;
  try { sessionStorage.setItem(SECTION_KEY, key); } catch (_) { /* fine */ }
  const nav = T.nav, body = T.body;
  if (!nav || !body) return;
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (nav.querySelectorAll('button'))) {
    if (b.dataset.section === key) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  }
  const token = ++T.token;
  clear(body, el('h2', { class: 'a-h', text: section[1] }), loadingLine());
  const render = section[2];
  Promise.resolve().then(() => render(body, () => token === T.token)).catch((e) => {
    if (token !== T.token) return;
    body.querySelectorAll('.a-loading').forEach((n) => n.remove());
    body.append(el('p', { class: 'a-error', role: 'alert', text: 'Could not load this section: ' + (e && e.message ? e.message : 'cannot reach the server.') }));
  });
  if (focus) body.focus();
}

/** Logged out: everything the tab held is forgotten. */
export function resetAdmin() {
  A.directory = null; A.teams = null; T.section = null; A.website = null; T.token++;
  if (T.root) clear(T.root);
  T.root = null; T.nav = null; T.body = null;
  closeProfile();
}
