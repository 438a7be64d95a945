// @ts-check
/* Colleagues as choices, for the pickers that give a chat to someone or bring them into one
 * (Transfer, Reassign, New chat, Invite): from the board we hold, names sorted, with their
 * status; those who cannot be reached now (the server's rule: Available or Away) are shown,
 * not choosable. */

import { statusLabel } from './fmt.js';
import { S } from './state.js';

/** @typedef {import('./frames.js').AgentPresence} AgentPresence */

/** Can be given a chat or brought into one now (the server's rule). @param {AgentPresence} a */
export const reachable = (a) => a.effective === 'available' || a.effective === 'away';

/** What the pickers show of the board: when it changes, they are rebuilt. */
export const boardSig = () => S.board && S.board.agents.map((a) => [a.agent_id, a.name, a.effective]);

/** The other agents of the group on the board, by name. */
export function colleagues() {
  const me = S.me && S.me.id;
  return (S.board ? S.board.agents : []).filter((a) => a.agent_id !== me)
    .sort((a, b) => String(a.name || '').localeCompare(String(b.name || '')));
}

/** The other agents as options (value: agent id), `keep` selected if it can still be chosen. @param {string} keep */
export function agentOptions(keep) {
  return colleagues().map((a) => {
    const eff = a.effective || 'offline';
    const o = new Option((a.name || 'Unknown agent') + ' — ' + statusLabel(eff), a.agent_id);
    o.disabled = !(eff === 'available' || eff === 'away'); // only they can be given a chat
    if (a.agent_id === keep && !o.disabled) o.selected = true;
    return o;
  });
}
