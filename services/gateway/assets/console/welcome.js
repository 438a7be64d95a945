// @ts-check
/* `welcome`, the gateway's answer to `hello` on every new socket, is the full picture: the
 * agent, their waiting, active and recent chats, the transfers waiting for their answer, their
 * internal chats. It replaces the lists, keeps transcripts already held and catches up on them,
 * and resends every message not acked (same client_msg_id: the gateway stores it at most once). */

import { $ } from './dom.js';
import { S, upsert, canAdminister } from './state.js';
import { send } from './send.js';
import { setStatus, showAutoAway, statusUsable, resetIdle } from './status.js';
import { showName } from './header.js';
import { renderLists } from './chat-list.js';
import { openConversation, renderThreadHead, openChat } from './conversation.js';
import { fetchConversation } from './transfer.js';
import { requestBoard, renderBoardMeta } from './board.js';
import { startGroup } from './group.js';
import { welcomeInternal } from './internal.js';
import { showTab } from './tabs.js';

/** @param {import('./frames.js').WelcomeFrame} w */
export function onWelcome(w) {
  if (w.agent) {
    S.me = Object.assign({}, S.me, w.agent);
    showName(w.agent.name || w.agent.email || '');
    $('tab-admin').hidden = !canAdminister();
    if (S.tab === 'admin' && !canAdminister()) showTab('chats', false);
    setStatus(w.agent.status);
    showAutoAway();
  }
  resetIdle(); // a new socket is a new device: it starts active
  statusUsable(true);
  const seen = new Set();
  [w.incoming, w.active, w.recent].forEach((list) => (list || []).forEach((c) => { upsert(c); seen.add(c.id); }));
  // Transfers waiting for my answer: the welcome has them all (a reload loses none).
  S.transfers = new Map((Array.isArray(w.transfers) ? w.transfers : []).filter((t) => t && t.id).map((t) => [t.id, { t, answering: false }]));
  S.transfers.forEach(({ t }) => {
    if (S.convs.has(t.conversation_id)) seen.add(t.conversation_id);
    else fetchConversation(t.conversation_id);
  });
  S.convs.forEach((e, id) => {
    if (!seen.has(id) && id !== S.selected) S.convs.delete(id);
    else { // we may have missed messages, and a transfer's answer, while away
      e.loaded = false; e.accepting = false; e.transferSending = false;
      if (e.transfer && e.transfer.state === 'requested') e.transfer = null;
    }
  });
  const shown = S.selected ? S.convs.get(S.selected) : undefined;
  if (shown) openConversation(shown);
  // Resend every unacked message, same client_msg_id: the gateway stores it at most once.
  S.convs.forEach((e) => e.pending.forEach((p) => { if (!p.failed) send(p.frame); }));
  welcomeInternal(w);
  // A chat asked for before this socket was ready (a notification, a lead, the address).
  if (S.hashOpen) { const id = S.hashOpen; S.hashOpen = null; openChat(id); }
  else if (S.wantOpen && !S.convs.has(S.wantOpen)) send({ type: 'open', conversation_id: S.wantOpen, after_seq: 0, ref: 'open:' + S.wantOpen });
  renderLists(); renderThreadHead();
  if (S.tab === 'board' || $('transfer-form').hidden === false || S.reassigning || S.inew || S.ichat) requestBoard(); // this socket is not subscribed to agent_presence yet
  else renderBoardMeta();
  startGroup();
}
