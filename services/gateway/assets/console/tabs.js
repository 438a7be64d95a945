// @ts-check
/* The view tabs under the header: Chats | Live Agent Status | Leads | Search | Appointments | Admin (managers
 * and admins). The tab shown is remembered for this browser tab; arrow keys, Home and End move
 * between them. Showing a tab loads what it needs. */

import { $ } from './dom.js';
import { S } from './state.js';
import { renderBoard, requestBoard } from './board.js';
import { loadLeadsTab } from './leads.js';
import { seeShownChat } from './internal.js';
import { showAdmin } from './admin/tab.js';
import { loadAppointmentsTab } from './appointments.js';

const TAB_KEY = 'showroom.console.tab';
const TABS = ['chats', 'board', 'leads', 'search', 'appts', 'admin'];

/** The tab shown before a reload ('chats' the first time). */
export function savedTab() { try { return sessionStorage.getItem(TAB_KEY) || 'chats'; } catch (_) { return 'chats'; } }

/** @param {string} tab @param {boolean} focus */
export function showTab(tab, focus) {
  if (!TABS.includes(tab) || $('tab-' + tab).hidden) tab = 'chats';
  const was = S.tab;
  S.tab = tab;
  try { sessionStorage.setItem(TAB_KEY, tab); } catch (_) { /* storage disabled: just not remembered */ }
  TABS.forEach((name) => {
    const on = name === tab, t = $('tab-' + name);
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $('view-' + name).hidden = !on;
  });
  if (focus) $('tab-' + tab).focus();
  if (tab === 'leads') { if (was !== 'leads') loadLeadsTab(); }
  if (tab === 'search' && was !== 'search' && !focus) $('search-q').focus();
  if (tab === 'appts' && was !== 'appts') loadAppointmentsTab();
  if (tab === 'admin' && was !== 'admin' && S.me) showAdmin(S.me);
  if (tab === 'board') {
    renderBoard();
    if (was !== 'board') requestBoard(); // also (re)subscribes this socket to agent_presence
  } else {
    clearTimeout(S.boardTimer); S.boardTimer = 0;
    seeShownChat();
  }
}

TABS.forEach((name) => $('tab-' + name).addEventListener('click', () => showTab(name, false)));
// Arrow keys move between tabs (and show them), Home/End go to the first/last one.
$('tab-chats').parentElement?.addEventListener('keydown', (ev) => {
  const shown = TABS.filter((name) => !$('tab-' + name).hidden);
  let i = shown.indexOf(S.tab || '');
  if (ev.key === 'ArrowRight') i = (i + 1) % shown.length;
  else if (ev.key === 'ArrowLeft') i = (i + shown.length - 1) % shown.length;
  else if (ev.key === 'Home') i = 0;
  else if (ev.key === 'End') i = shown.length - 1;
  else return;
  ev.preventDefault();
  showTab(shown[i], true);
});
