// @ts-check
/* The Search view: chats the agent may see, by their words (English and Spanish), the shopper's
 * name, e-mail or phone, or a lead's notes (GET /api/v1/search), with filters, newest first,
 * a page at a time ("More"). Each result shows its matching messages with the matches marked
 * (the server's parts, as text and <mark>); opening it shows the chat with them highlighted. */

import { $, $input, $select, $form, $button, h } from './dom.js';
import { when, fullDate } from './fmt.js';
import { api, errorText, errorFields, sessionEnded } from './api.js';
import { openChat } from './conversation.js';
import { setHighlight } from './highlight.js';

/**
 * @typedef {{text: string, match: boolean}} Part
 * @typedef {{message_id: string, seq: number, author_kind: string, at: string, parts: Part[]}} Snippet
 * @typedef {{id: string, rooftop_id: string, rooftop_name: string, department_id: string,
 *   department_label: string, agent_id: string | null, agent_name: string | null, state: string,
 *   started_at: string, ended_at: string | null, shopper_name: string | null, snippets: Snippet[]}} Hit
 */

const STATES = /** @type {Record<string, string>} */ ({
  bot: 'With the bot', incoming: 'Waiting', active: 'Active', ended: 'Ended', missed: 'Missed',
  offline: 'Offline', timed_out: 'Timed out',
});

const SR = {
  /** The query string of the search shown (without the cursor). */
  query: '',
  /** @type {string | null} */
  next: null,
  seq: 0,
};

/** The query string of the form, or an error to show. */
function formQuery() {
  const p = new URLSearchParams();
  p.set('q', $input('search-q').value.trim());
  const state = $select('search-state').value, cls = $select('search-class').value;
  if (state) p.set('state', state);
  if (cls) p.set('classification', cls);
  // "rooftop:<id>" or "department:<id>".
  const [kind, id] = $select('search-where').value.split(':');
  if (id && (kind === 'rooftop' || kind === 'department')) p.set(kind + '_id', id);
  const agent = $select('search-agent').value;
  if (agent) p.set('agent_id', agent);
  const from = $input('search-from').value, to = $input('search-to').value;
  // Dates are the agent's days: from the start of `from` to the end of `to`, local time.
  if (from) p.set('from', new Date(from + 'T00:00:00').toISOString());
  if (to) { const d = new Date(to + 'T00:00:00'); d.setDate(d.getDate() + 1); p.set('to', d.toISOString()); }
  return p.toString();
}

/** Runs the form's search (`more`: the next page of the one shown). @param {boolean} more */
async function run(more) {
  if (!more) {
    if (!$input('search-q').value.trim()) { status('Type what to search for.'); $input('search-q').focus(); return; }
    SR.query = formQuery(); SR.next = null;
  }
  const seq = ++SR.seq;
  const path = '/api/v1/search?' + SR.query + (more && SR.next ? '&cursor=' + encodeURIComponent(SR.next) : '');
  status('Searching…');
  $('view-search').setAttribute('aria-busy', 'true');
  let problem = '';
  try {
    const r = await api('GET', path);
    if (seq !== SR.seq) return;
    if (r.status === 401) return sessionEnded();
    if (r.ok && r.data && Array.isArray(r.data.results)) {
      const list = $('search-results');
      if (!more) list.replaceChildren();
      const hits = /** @type {Hit[]} */ (r.data.results);
      list.append(...hits.map(result));
      SR.next = typeof r.data.next_cursor === 'string' ? r.data.next_cursor : null;
      const n = list.children.length;
      status(n === 0 ? 'No chats match.' : n + (n === 1 ? ' chat' : ' chats') + (SR.next ? ' so far.' : '.'));
    } else {
      const fields = errorFields(r);
      problem = fields ? Object.entries(fields).map(([f, why]) => f + ': ' + why).join('; ') : errorText(r, 'the server said ' + r.status + '.');
    }
  } catch (_) {
    if (seq !== SR.seq) return;
    problem = 'cannot reach the server.';
  }
  $('view-search').removeAttribute('aria-busy');
  if (problem) status('The search failed: ' + problem);
  $button('search-more').hidden = !SR.next || !!problem;
}

/** @param {string} text */
function status(text) { $('search-status').textContent = text; }

/** One chat found: a button that opens it, and its snippets. @param {Hit} hit */
function result(hit) {
  const li = h('li', 'search-hit');
  const open = h('button', 'linkish search-open', hit.shopper_name || 'Visitor');
  open.type = 'button';
  open.dataset.key = 'search:' + hit.id;
  const words = hit.snippets.flatMap((s) => s.parts.filter((p) => p.match).map((p) => p.text));
  open.addEventListener('click', () => {
    setHighlight(hit.id, words, hit.snippets.map((s) => s.seq));
    openChat(hit.id);
  });
  const started = h('span', 'sub', when(hit.started_at));
  started.title = fullDate(hit.started_at);
  const about = [hit.rooftop_name, hit.department_label, hit.agent_name || 'No agent', STATES[hit.state] || hit.state].join(' · ');
  li.append(open, h('span', 'sub', about), started);
  if (hit.snippets.length) {
    const ul = h('ul', 'search-snippets');
    for (const s of hit.snippets) {
      const p = h('li', 'search-snippet');
      p.append(...s.parts.map((part) => (part.match ? h('mark', 'search-mark', part.text) : document.createTextNode(part.text))));
      ul.append(p);
    }
    li.append(ul);
  } else li.append(h('span', 'sub', 'The contact or a lead matched.'));
  return li;
}

$form('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); run(false); });
$button('search-more').addEventListener('click', () => run(true));
// The filters' choices are loaded when the form is first used (the tab shows it focused, or
// the agent reaches it with Tab).
$form('search-form').addEventListener('focusin', () => { loadSearchChoices(); });

/** Whether the filters' choices were loaded (once per login). */
let choicesLoaded = false;

/**
 * Fills the filters' choices once: the rooftops with their departments, and the agents, as
 * the session sees them (GET /api/v1/rooftops, /api/v1/agents). Without them the filters
 * offer "Anywhere" and "Anyone" only.
 */
async function loadSearchChoices() {
  if (choicesLoaded) return;
  choicesLoaded = true;
  try {
    const [roofs, agents] = await Promise.all([api('GET', '/api/v1/rooftops'), api('GET', '/api/v1/agents')]);
    if (roofs.ok && roofs.data && Array.isArray(roofs.data.rooftops)) {
      const where = $select('search-where');
      for (const r of /** @type {{id: string, name: string, departments?: {id: string, label: string}[]}[]} */ (roofs.data.rooftops)) {
        const group = document.createElement('optgroup');
        group.label = r.name;
        const all = h('option', '', 'All of ' + r.name);
        /** @type {HTMLOptionElement} */ (all).value = 'rooftop:' + r.id;
        group.append(all);
        for (const d of r.departments || []) {
          const o = h('option', '', d.label + ' · ' + r.name);
          /** @type {HTMLOptionElement} */ (o).value = 'department:' + d.id;
          group.append(o);
        }
        where.append(group);
      }
    }
    if (agents.ok && agents.data && Array.isArray(agents.data.agents)) {
      const sel = $select('search-agent');
      for (const a of /** @type {{id: string, first_name: string, last_name: string}[]} */ (agents.data.agents)) {
        const o = h('option', '', (a.first_name + ' ' + a.last_name).trim());
        /** @type {HTMLOptionElement} */ (o).value = a.id;
        sel.append(o);
      }
    }
  } catch (_) {
    choicesLoaded = false; // tried again the next time the tab is shown
  }
}

/** Empties the view (logging out). */
export function resetSearch() {
  choicesLoaded = false;
  $select('search-where').replaceChildren(new Option('Anywhere', ''));
  $select('search-agent').replaceChildren(new Option('Anyone', ''));
  SR.seq++; SR.query = ''; SR.next = null;
  $('search-results').replaceChildren();
  $button('search-more').hidden = true;
  status('');
  $input('search-q').value = '';
}
