// @ts-check
/* Logging in and out. The page starts here (main.js calls `boot`): a live session (the
 * showroom_session cookie) opens the console at once, else the login form. Logging out, or a
 * session that ended elsewhere (api.js's `sessionEnded`), resets every view and shows the
 * form again. */

import { $, $button, $input, $form } from './dom.js';
import { S, canAdminister } from './state.js';
import { api, agentOf, errorText, onSessionEnd } from './api.js';
import { connect, dropSocket } from './socket.js';
import { setStatus } from './status.js';
import { showName, showPhoto, setPhoto } from './header.js';
import { renderLists } from './chat-list.js';
import { renderThread, stopTyping } from './conversation.js';
import { renderInternal } from './internal.js';
import { resetBoard } from './board.js';
import { resetNotices } from './notices.js';
import { loadPrefs, renderPermission } from './notify-prefs.js';
import { resetLeadsTab } from './leads.js';
import { resetSearch } from './search.js';
import { showTab, savedTab } from './tabs.js';
import { resetAdmin } from './admin/tab.js';
import { showSecondStep, closeSecondStep } from './mfa-step.js';
import { initSso, ssoErrorMessage } from './sso.js';

/** Opens the console for a live session, else shows the login form. */
export async function boot() {
  let r = null;
  try { r = await api('GET', '/api/v1/me'); } catch (_) { /* offline */ }
  $('loading').hidden = true;
  if (r && r.ok) startApp(agentOf(r.data));
  // Back from a refused single sign-on (sso.js): why.
  else showLogin(r ? ssoErrorMessage() : 'Cannot reach the server.');
}

initSso();

onSessionEnd(() => showLogin('Your session has ended. Please log in again.'));

/** Forgets everything of the agent and shows the login form with `message`. @param {string} message */
function showLogin(message) {
  S.live = false;
  dropSocket();
  clearTimeout(S.retryTimer);
  S.convs.clear(); S.selected = null; S.me = null;
  S.transfers.clear(); S.group.clear(); S.reassigning = null; S.reassignBusy = false;
  clearInterval(S.groupTimer); S.groupTimer = 0;
  S.internal.clear(); S.ichat = null; S.inew = false; S.iopenRef = ''; S.iinviteBusy = false; S.ileaving = null;
  S.iloading.clear(); S.iseen = {};
  S.wantOpen = null;
  renderThread(); renderInternal(); renderLists();
  resetBoard();
  resetNotices(); resetLeadsTab(); resetSearch();
  resetAdmin();
  setPhoto(null);
  $('tab-admin').hidden = true;
  document.title = 'Showroom — agent console';
  $('app').hidden = true; $('login').hidden = false;
  closeSecondStep();
  loginError(message);
  $input('email').focus();
}

/** @param {string} message */
function loginError(message) { $('login-error').textContent = message || ''; $('login-error').hidden = !message; }

$form('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const email = $input('email').value.trim(), password = $input('password').value;
  if (!email || !password) return loginError('Enter your email and password.');
  loginError(''); $button('login-btn').disabled = true;
  try {
    const r = await api('POST', '/api/v1/auth/login', { email, password });
    // A second factor due: no session yet; mfa-step.js finishes the sign-in.
    if (r.ok && r.data && r.data.mfa_required) { $input('password').value = ''; showSecondStep(r.data, (d) => startApp(agentOf(d))); }
    else if (r.ok) { $input('password').value = ''; startApp(agentOf(r.data)); }
    else loginError(errorText(r, r.status === 401 ? 'Wrong email or password.' : 'Login failed (' + r.status + ').'));
  } catch (_) {
    loginError('Cannot reach the server.');
  } finally {
    $button('login-btn').disabled = false;
  }
});

/** @param {import('./state.js').Me} agent */
function startApp(agent) {
  S.me = agent; S.live = true; S.attempt = 0;
  $('login').hidden = true; $('app').hidden = false;
  showName(agent.name || [agent.first_name, agent.last_name].filter(Boolean).join(' ') || agent.email || '');
  $('tab-admin').hidden = !canAdminister();
  showPhoto(agent);
  if (agent.status) setStatus(agent.status);
  renderLists(); renderThread();
  S.tab = null;
  showTab(savedTab(), false);
  loadPrefs(); renderPermission();
  connect();
}

$('logout').addEventListener('click', async () => {
  stopTyping();
  S.live = false; dropSocket();
  try { await api('POST', '/api/v1/auth/logout', {}); } catch (_) { /* the session dies with the cookie anyway */ }
  showLogin('');
});
