// @ts-check
/* The Live Agent Status board: every agent of the group, their status, chats and last
 * activity, by section and filtered here; managers and admins set colleagues' statuses from it.
 * The socket's `board` answers the whole board and subscribes the socket to `agent_presence`,
 * one agent at a time, merged in. The pickers of other views (Transfer, Reassign, New chat,
 * Invite) read the same board, so news of it refreshes them too. */

import { $, $select, h, patchChildren } from './dom.js';
import { fmtAt, STATUS_LABELS, STATUSES, statusLabel, statusClass } from './fmt.js';
import { S, canManage, rooftopName } from './state.js';
import { api, errorText, sessionEnded } from './api.js';
import { send } from './send.js';
import { banner } from './banner.js';
import { fillTransferTargets } from './transfer.js';
import { refreshReassign } from './group.js';
import { renderInternalHead } from './internal.js';
import { fillNewChat, fillInvite } from './internal-forms.js';

/** @typedef {import('./frames.js').AgentPresence} AgentPresence */

const serverNow = () => Date.now() - S.skew;

/**
 * @typedef {{el: HTMLElement, title: HTMLElement, count: HTMLElement, list: HTMLElement}} SectionEls
 * @typedef {{li: HTMLElement, dot: HTMLElement, nameText: HTMLElement, you: HTMLElement, label: HTMLElement,
 *   note: HTMLElement, chats: HTMLElement, roofs: HTMLElement, seen: HTMLElement, set: HTMLSelectElement | null, id: string}} RowEls
 */
/** DOM kept across renders, so focus and open selects survive. */
const B = {
  /** @type {Map<string, SectionEls>} */
  sections: new Map(),
  /** @type {Map<string, RowEls>} */
  rows: new Map(),
};

export function resetBoard() {
  clearTimeout(S.boardTimer); S.boardTimer = 0;
  S.board = null; S.boardPending = 0; S.boardBuffer = []; S.boardUpdated = 0;
  S.unknownAsked.clear(); S.saving.clear();
  B.sections.clear(); B.rows.clear();
  $('board-sections').replaceChildren();
  boardError('');
}

/**
 * Asks for the whole board: when the view is shown, after every welcome while it is shown, and
 * at least every 30 s while it is shown (the socket may have missed something; this is the floor).
 */
export function requestBoard() {
  clearTimeout(S.boardTimer); S.boardTimer = 0;
  if (S.tab === 'board') S.boardTimer = setTimeout(requestBoard, 30000);
  if (!S.ready) return; // the next welcome asks
  if (!S.boardPending) S.boardBuffer = [];
  S.boardPending++;
  send({ type: 'board', ref: 'board:' });
}

/** @param {import('./frames.js').BoardFrame} f */
export function onBoard(f) {
  const b = f.board;
  if (!b || typeof b !== 'object' || !Array.isArray(b.agents)) return;
  S.boardPending = Math.max(0, S.boardPending - 1);
  const gen = Date.parse(b.generated_at || '');
  if (!isNaN(gen)) { S.skew = Date.now() - gen; S.boardUpdated = gen; } else S.boardUpdated = serverNow();
  S.board = {
    rooftops: Array.isArray(b.rooftops) ? b.rooftops : [],
    departments: Array.isArray(b.departments) ? b.departments : [],
    agents: b.agents.filter((a) => a && a.agent_id).map((a) => Object.assign({}, a)),
  };
  // agent_presence frames that came while we waited may be newer than the snapshot. Each is a
  // whole agent, in order, so replaying them gives the latest state either way.
  const unknown = S.boardBuffer.filter((p) => !mergePresence(p)).map((p) => p.agent_id);
  if (!S.boardPending) S.boardBuffer = [];
  boardError('');
  fillFilters();
  renderBoard();
  refreshPickers();
  unknown.forEach(askAgainFor);
}

/**
 * `board` failed: said on the board (not in the banner), asked again soon when the gateway
 * was busy. True: nothing more to say.
 * @param {string} _id
 * @param {import('./frames.js').ErrorFrame} f
 */
export function onBoardError(_id, f) {
  S.boardPending = Math.max(0, S.boardPending - 1);
  if (!S.boardPending) S.boardBuffer = [];
  boardError('The agent board could not be loaded: ' + (f.message || f.code));
  if (f.code === 'unavailable' && S.tab === 'board') setTimeout(() => { if (S.tab === 'board' && !S.boardPending) requestBoard(); }, 3000);
  return true;
}

/** Merges one agent's presence; the name stays the board's. False when the agent is not on the board. @param {AgentPresence} p */
function mergePresence(p) {
  if (!S.board || !p || !p.agent_id) return false;
  const i = S.board.agents.findIndex((a) => a.agent_id === p.agent_id);
  if (i < 0) return false;
  const old = S.board.agents[i];
  S.board.agents[i] = Object.assign({}, old, p, { name: old.name });
  return true;
}

/** @param {import('./frames.js').AgentPresenceFrame} f */
export function onAgentPresence(f) {
  const p = f.agent;
  if (!p || typeof p !== 'object' || !p.agent_id) return;
  if (S.boardPending) S.boardBuffer.push(p);
  if (!S.board) return;
  if (mergePresence(p)) {
    S.boardUpdated = serverNow();
    renderBoard();
    refreshPickers();
  } else askAgainFor(p.agent_id);
}

/** New board data: the agent pickers that are open show it. */
function refreshPickers() {
  if (!$('transfer-form').hidden) fillTransferTargets();
  if (S.inew) fillNewChat();
  if (!$('iinvite').hidden) fillInvite();
  renderInternalHead();
  refreshReassign();
}

/**
 * A colleague we do not know (new, or moved into the group): get the board again, at most once
 * per 30 s per agent so an agent the board never lists cannot make us loop.
 * @param {string} id
 */
function askAgainFor(id) {
  if (S.tab !== 'board' || S.boardPending) return; // shown later = asked then; pending = its reply will tell
  const last = S.unknownAsked.get(id) || 0;
  if (Date.now() - last < 30000) return;
  S.unknownAsked.set(id, Date.now());
  requestBoard();
}

/** @param {string} text */
function boardError(text) { $('board-error').textContent = text || ''; $('board-error').hidden = !text; }

/** "just now", "3 min ago", … against the server's clock; "—" when never seen. @param {string | null | undefined} at */
function ago(at) {
  const t = at ? Date.parse(at) : NaN;
  if (isNaN(t)) return '—';
  const sec = Math.max(0, (serverNow() - t) / 1000);
  if (sec < 60) return 'just now';
  const min = Math.floor(sec / 60);
  if (min < 60) return min + ' min ago';
  const hr = Math.floor(min / 60);
  if (hr < 24) return hr + ' h ago';
  const days = Math.floor(hr / 24);
  return days === 1 ? 'yesterday' : days + ' days ago';
}

// ---- filters (client-side, on the board we hold) ----

/** Fills a filter's options, unless they are the same (then its focus and open popup stay). */
function fillSelect(/** @type {HTMLSelectElement} */ sel, /** @type {string} */ allText, /** @type {[string, string][]} */ opts) {
  const sig = JSON.stringify(opts);
  if (sel.dataset.sig === sig) return;
  sel.dataset.sig = sig;
  const keep = sel.value;
  sel.replaceChildren(new Option(allText, ''), ...opts.map(([v, t]) => new Option(t, v)));
  sel.value = opts.some(([v]) => v === keep) ? keep : '';
}

function fillFilters() {
  if (!S.board) return;
  fillSelect($select('board-rooftop'), 'All rooftops', S.board.rooftops.map((r) => [r.id, r.name || '']));
  fillDepartments();
}

// Department labels repeat across rooftops ("Sales"), so they carry the rooftop unless one is chosen.
function fillDepartments() {
  if (!S.board) return;
  const fr = $select('board-rooftop').value;
  fillSelect($select('board-department'), 'All departments', S.board.departments
    .filter((d) => !fr || d.rooftop_id === fr)
    .map((d) => [d.id, fr ? d.label : [d.label, rooftopName(d.rooftop_id)].filter(Boolean).join(' · ')]));
}

$('board-status').addEventListener('change', () => renderBoard());
$('board-rooftop').addEventListener('change', () => { fillDepartments(); renderBoard(); });
$('board-department').addEventListener('change', () => renderBoard());

/**
 * What to show: sections in the order their departments come, each with the agents covering one
 * of its departments (among those the rooftop/department filters leave), filtered by effective status.
 */
function boardModel() {
  const b = S.board;
  if (!b) return { counts: {}, total: 0, sections: [] };
  const fs = $select('board-status').value, fr = $select('board-rooftop').value, fd = $select('board-department').value;
  /** @type {{key: string, name: string}[]} */
  const order = [];
  /** @type {Map<string, Set<string>>} section key -> its department ids */
  const members = new Map();
  b.departments.filter((d) => (!fr || d.rooftop_id === fr) && (!fd || d.id === fd)).forEach((d) => {
    const name = d.section || d.label || 'Other';
    const key = 's:' + name;
    let ids = members.get(key);
    if (!ids) { members.set(key, ids = new Set()); order.push({ key, name }); }
    ids.add(d.id);
  });
  const depts = (/** @type {AgentPresence} */ a) => (Array.isArray(a.departments) ? a.departments : []);
  const inScope = b.agents.filter((a) => (!fr || (a.rooftops || []).includes(fr)) && (!fd || depts(a).includes(fd)));
  /** @type {Record<string, number>} */
  const counts = {};
  inScope.forEach((a) => { const st = String(a.effective); counts[st] = (counts[st] || 0) + 1; });
  const shown = inScope.filter((a) => !fs || a.effective === fs);
  const sections = order.map((s) => ({ key: s.key, name: s.name, agents: shown.filter((a) => depts(a).some((id) => (members.get(s.key) || new Set()).has(id))) }));
  if (!fr && !fd) { // agents who cover no department still belong on the board
    const known = new Set(b.departments.map((d) => d.id));
    const rest = shown.filter((a) => !depts(a).some((id) => known.has(id)));
    if (rest.length) sections.push({ key: 'none', name: 'No department', agents: rest });
  }
  return { counts, total: inScope.length, sections: sections.filter((s) => s.agents.length) };
}

/** "Updated 14:05:09", or that the board is not live while the socket is down. */
export function renderBoardMeta() {
  const u = $('board-updated');
  if (!S.board) { u.textContent = S.ready ? 'Loading…' : 'Connecting…'; return; }
  const at = fmtAt(S.boardUpdated, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  u.textContent = 'Updated ' + at + (S.ready ? '' : ' · not live, reconnecting…');
  u.classList.toggle('stale', !S.ready);
}

export function renderBoard() {
  if (S.tab !== 'board') return;
  renderBoardMeta();
  $('view-board').classList.toggle('can-set', canManage());
  if (!S.board) { $('board-counts').replaceChildren(); $('board-empty').hidden = true; return; }
  const m = boardModel();
  const extra = Object.keys(m.counts).filter((st) => !STATUS_LABELS[st]);
  $('board-counts').replaceChildren(...STATUSES.concat(extra).map((st) => {
    const c = h('span', 'count-item');
    const dot = h('span', 'dot ' + statusClass(st));
    dot.setAttribute('aria-hidden', 'true');
    c.append(dot, h('span', '', (m.counts[st] || 0) + ' ' + statusLabel(st)));
    return c;
  }));
  const usedSections = new Set(), usedRows = new Set();
  const sectionEls = m.sections.map((s) => {
    usedSections.add(s.key);
    const se = sectionEl(s.key, s.name);
    se.count.textContent = '(' + s.agents.length + ')';
    patchChildren(se.list, s.agents.map((a) => {
      const key = s.key + '|' + a.agent_id;
      usedRows.add(key);
      return rowEl(key, a).li;
    }));
    return se.el;
  });
  patchChildren($('board-sections'), sectionEls);
  [...B.sections.keys()].forEach((k) => { if (!usedSections.has(k)) B.sections.delete(k); });
  [...B.rows.keys()].forEach((k) => { if (!usedRows.has(k)) B.rows.delete(k); });
  $('board-empty').hidden = m.sections.length > 0;
}

let sectionSeq = 0;
/** A section's elements, made once per key. @param {string} key @param {string} name */
function sectionEl(key, name) {
  let s = B.sections.get(key);
  if (!s) {
    const el = h('section', 'board-section');
    const head = h('h2');
    head.id = 'board-sec-' + (++sectionSeq);
    el.setAttribute('aria-labelledby', head.id);
    const title = h('span', 'section-name'), count = h('span', 'count');
    head.append(title, ' ', count);
    const list = h('ul', 'board-list');
    el.append(head, list);
    B.sections.set(key, s = { el, title, count, list });
  }
  s.title.textContent = name;
  return s;
}

/** An agent's row, made once per key and updated in place. @param {string} key @param {AgentPresence} a */
function rowEl(key, a) {
  let r = B.rows.get(key);
  if (!r) {
    const li = h('li', 'board-row');
    const name = h('span', 'row-name'), dot = h('span', 'dot'), nameText = h('span', 'row-name-text'), you = h('span', 'row-you');
    dot.setAttribute('aria-hidden', 'true');
    name.append(dot, nameText, you);
    const status = h('span', 'row-status'), label = h('span', 'row-status-label'), noteEl = h('span', 'row-note');
    status.append(label, noteEl);
    const chats = h('span', 'row-chats'), roofsEl = h('span', 'row-rooftops'), seen = h('span', 'row-seen');
    li.append(name, status, chats, roofsEl, seen);
    B.rows.set(key, r = { li, dot, nameText, you, label, note: noteEl, chats, roofs: roofsEl, seen, set: null, id: a.agent_id });
  }
  const row = r;
  const eff = a.effective || 'offline';
  const mine = !!S.me && a.agent_id === S.me.id;
  row.li.dataset.agentId = a.agent_id;
  row.li.dataset.status = eff;
  row.dot.className = 'dot ' + statusClass(eff);
  row.nameText.textContent = a.name || 'Unknown agent';
  row.you.textContent = mine ? '(you)' : '';
  row.label.textContent = statusLabel(eff);
  row.label.className = 'row-status-label ' + statusClass(eff);
  const note = a.status && a.status !== eff
    ? 'chose ' + statusLabel(a.status) + (eff === 'offline' ? ', not connected' : '')
    : '';
  row.note.textContent = note;
  row.note.hidden = !note;
  const n = Math.max(0, Number(a.active_chats) || 0);
  row.chats.textContent = n + (n === 1 ? ' active chat' : ' active chats');
  const roofs = (Array.isArray(a.rooftops) ? a.rooftops : []).map(rooftopName).filter(Boolean);
  row.roofs.textContent = roofs.length ? roofs.join(', ') : 'No rooftop';
  row.seen.textContent = 'Last seen ' + ago(a.last_seen);
  row.seen.title = a.last_seen && !isNaN(Date.parse(a.last_seen)) ? fmtAt(a.last_seen) : '';

  // Managers and admins set colleagues' statuses here; their own is the header select.
  const want = canManage() && !mine;
  if (want && !row.set) {
    const set = row.set = h('select', 'row-set');
    STATUSES.forEach((st) => set.append(new Option(STATUS_LABELS[st], st)));
    set.addEventListener('change', () => putStatus(row.id, set.value));
    row.li.append(set);
  } else if (!want && row.set) {
    row.set.remove(); row.set = null;
  }
  if (row.set) {
    row.set.setAttribute('aria-label', 'Set status of ' + (a.name || 'agent'));
    if (a.status && ![...row.set.options].some((o) => o.value === a.status)) row.set.append(new Option(statusLabel(a.status), a.status));
    if (!S.saving.get(a.agent_id)) row.set.value = a.status || 'offline'; // not while our own change is on its way
  }
  return row;
}

/** A manager sets a colleague's status (REST). @param {string} id @param {string} status */
async function putStatus(id, status) {
  const a = S.board && S.board.agents.find((x) => x.agent_id === id);
  const name = (a && a.name) || 'this agent';
  S.saving.set(id, (S.saving.get(id) || 0) + 1);
  let problem = '';
  try {
    const r = await api('PUT', '/api/v1/agents/' + encodeURIComponent(id) + '/status', { status });
    if (r.ok) {
      // The answer may be the agent's presence; if not, at least the chosen status is now this.
      const p = r.data && (r.data.agent_id ? r.data : r.data.agent || r.data.presence);
      if (p && p.agent_id === id && p.status) mergePresence(p);
      else if (a) mergePresence({ agent_id: id, status, effective: (a.devices || 0) > 0 ? status : 'offline' });
    } else if (r.status === 401) {
      return sessionEnded();
    } else {
      problem = errorText(r, 'the server said ' + r.status + '.');
    }
  } catch (_) {
    problem = 'cannot reach the server.';
  } finally {
    const left = (S.saving.get(id) || 1) - 1;
    if (left > 0) S.saving.set(id, left); else S.saving.delete(id);
  }
  if (problem) banner('Could not change the status of ' + name + ': ' + problem);
  renderBoard(); // puts the select back to the real status after a failure
}

// "3 min ago" ages while nothing happens.
setInterval(() => { if (S.tab === 'board' && S.board) renderBoard(); }, 15000);
