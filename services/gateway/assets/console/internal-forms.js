// @ts-check
/* The two forms of internal chats: "New chat" (pick colleagues from the board, an optional
 * topic; the server decides who can be reached) in the middle panel, and "Invite" in the head of
 * the chat shown. Their answers come back as `internal` frames (internal.js). */

import { $, $button, $form, $input, $select, h, unchanged } from './dom.js';
import { statusLabel, statusClass } from './fmt.js';
import { S, shownChat } from './state.js';
import { send } from './send.js';
import { colleagues, reachable, boardSig } from './pickers.js';
import { requestBoard } from './board.js';
import { renderLists } from './chat-list.js';
import { renderThread, stopTyping } from './conversation.js';
import { renderInternal, currentMembers } from './internal.js';

// ---- New chat ----

/** @param {string} text */
export function newChatError(text) { $('inew-error').textContent = text || ''; $('inew-error').hidden = !text; }
export function renderNewChatBusy() {
  $button('inew-start').disabled = !!S.iopenRef;
  $button('inew-start').textContent = S.iopenRef ? 'Starting…' : 'Start chat';
}

/** @param {boolean} open */
function showNewChat(open) {
  if (open) {
    stopTyping();
    S.selected = null; S.ichat = null; S.inew = true; S.iopenRef = '';
    $input('inew-topic').value = '';
    $('inew-list').dataset.sig = ''; // rebuilt with nothing ticked
    newChatError(''); renderNewChatBusy();
    if (!S.board) requestBoard();
    renderThread(); renderInternal(); fillNewChat(); renderLists();
    const first = $('inew-list').querySelector('input:not(:disabled)');
    (first instanceof HTMLInputElement ? first : $input('inew-topic')).focus();
  } else {
    S.inew = false; S.iopenRef = '';
    renderInternal(); renderThread(); renderLists();
    $('inew-open').focus();
  }
}

/**
 * Every colleague with their status; those the server would refuse (Do Not Disturb, Offline) are
 * shown, not choosable, with a note. What is ticked stays ticked across live updates.
 */
export function fillNewChat() {
  const list = $('inew-list');
  if (unchanged(list, [boardSig(), S.me && S.me.id])) return;
  $('inew-loading').hidden = !!S.board;
  const ticked = new Set(/** @type {HTMLInputElement[]} */ ([...list.querySelectorAll('input:checked')]).map((x) => x.value));
  const active = document.activeElement;
  const focused = list.contains(active) && active instanceof HTMLElement ? active.dataset.key : null;
  const rows = colleagues().map((a) => {
    const eff = a.effective || 'offline', ok = reachable(a);
    const li = h('li', 'pick-item' + (ok ? '' : ' unreachable'));
    const label = h('label');
    const cb = h('input');
    cb.type = 'checkbox'; cb.name = 'colleague'; cb.value = a.agent_id;
    cb.dataset.key = 'ipick:' + a.agent_id;
    cb.disabled = !ok;
    cb.checked = ok && ticked.has(a.agent_id);
    cb.addEventListener('change', () => newChatError(''));
    const dot = h('span', 'dot ' + statusClass(eff));
    dot.setAttribute('aria-hidden', 'true');
    label.append(cb, dot, h('span', 'pick-name', a.name || 'Unknown agent'), h('span', 'row-status-label ' + statusClass(eff), statusLabel(eff)));
    li.append(label);
    if (!ok) {
      const note = h('span', 'pick-note', 'Cannot be brought into a chat while ' + statusLabel(eff) + '.');
      note.id = 'ipick-note-' + a.agent_id;
      cb.setAttribute('aria-describedby', note.id);
      li.append(note);
    }
    return li;
  });
  if (S.board && !rows.length) rows.push(h('li', 'pick-empty', 'No colleagues in your dealer group yet.'));
  list.replaceChildren(...rows);
  if (focused) { const again = list.querySelector('[data-key="' + focused + '"]'); if (again instanceof HTMLElement) again.focus(); }
}

$('inew-open').addEventListener('click', () => showNewChat(!S.inew));
$('inew-cancel').addEventListener('click', () => showNewChat(false));
$('inew').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') showNewChat(false); });
$form('inew').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (S.iopenRef) return;
  // The server decides who can be reached; a colleague who went Do Not Disturb meanwhile is refused there.
  const chosen = /** @type {HTMLInputElement[]} */ ([...$('inew-list').querySelectorAll('input[type=checkbox]:checked')]).map((x) => x.value);
  const topic = $input('inew-topic').value.trim();
  if (!chosen.length) return newChatError('Choose at least one colleague to chat with.');
  if ([...topic].length > 120) return newChatError('The topic can be 120 characters at most.');
  if (!S.ready) return newChatError('Not connected right now. Try again in a moment.');
  newChatError('');
  S.iopenRef = 'iopen:' + (++S.iseq);
  /** @type {import('./frames.js').InternalOpenFrame} */
  const f = { type: 'internal_open', with: chosen, ref: S.iopenRef };
  if (topic) f.topic = topic;
  send(f);
  renderNewChatBusy();
});

// ---- Invite a colleague into the chat shown ----

/** @param {string} text */
export function inviteError(text) { $('iinvite-error').textContent = text || ''; $('iinvite-error').hidden = !text; }
export function renderInviteBusy() {
  $button('iinvite-send').disabled = S.iinviteBusy;
  $button('iinvite-send').textContent = S.iinviteBusy ? 'Inviting…' : 'Send invite';
}

/** @param {boolean} open */
export function showInvite(open) {
  const form = $('iinvite');
  if (form.hidden === !open) return;
  const hadFocus = form.contains(document.activeElement);
  form.hidden = !open;
  $('i-invite').setAttribute('aria-expanded', String(open));
  inviteError('');
  if (open) {
    if (!S.board) requestBoard();
    $select('iinvite-to').dataset.sig = '';
    $select('iinvite-to').value = '';
    fillInvite(); renderInviteBusy();
    $select('iinvite-to').focus();
  } else if (hadFocus) $('i-invite').focus();
}

/** Colleagues not in the chat; those who cannot be reached now are listed, disabled. */
export function fillInvite() {
  const e = shownChat(), sel = $select('iinvite-to'), keep = sel.value;
  if (!e) return;
  const inIt = currentMembers(e.chat).map((m) => m.agent_id);
  if (unchanged(sel, [boardSig(), inIt])) return;
  if (!S.board) { sel.replaceChildren(new Option('Loading colleagues…', '')); sel.disabled = true; return; }
  sel.disabled = false;
  const opts = colleagues().filter((a) => !inIt.includes(a.agent_id)).map((a) => {
    const ok = reachable(a);
    const o = new Option((a.name || 'Unknown agent') + ' — ' + statusLabel(a.effective || 'offline') + (ok ? '' : ' (cannot be reached now)'), a.agent_id);
    o.disabled = !ok;
    return o;
  });
  sel.replaceChildren(new Option(opts.length ? 'Choose a colleague…' : 'Everyone is in this chat already', ''), ...opts);
  sel.value = opts.some((o) => o.value === keep && !o.disabled) ? keep : '';
}

$('i-invite').addEventListener('click', () => showInvite($('iinvite').hidden));
$('iinvite-cancel').addEventListener('click', () => showInvite(false));
$('iinvite').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') showInvite(false); });
$('iinvite-to').addEventListener('change', () => inviteError(''));
$form('iinvite').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = shownChat(), who = $select('iinvite-to').value;
  if (!e || S.iinviteBusy) return;
  if (!who) return inviteError('Choose a colleague to invite.');
  if (!S.ready) return inviteError('Not connected right now. Try again in a moment.');
  inviteError('');
  S.iinviteBusy = true;
  send({ type: 'internal_invite', chat_id: e.chat.id, agent_id: who, ref: 'iinvite:' + e.chat.id });
  renderInviteBusy();
});
