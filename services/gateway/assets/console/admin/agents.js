// @ts-check
/* Admin ▸ Agents: who can log in to the console, their role, how many chats they take at once
 * and the departments they answer for; adding one, editing, deactivating (no login, off every
 * department, their chats and leads keep their name) and reactivating. */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { A, loadDirectory, departmentName, groupWide } from './state.js';
import { sectionShell } from './section.js';
import { S } from '../state.js';
import { Fields, field, textInput, numberInput, dropdown, saver, formEl, nid, num } from './forms.js';

/** @typedef {import('./section.js').Current} Current */
/**
 * An agent as GET /api/v1/agents answers.
 * @typedef {{id: string, email: string, first_name: string, last_name: string, role: string, max_chats?: number | null,
 *   department_ids?: string[], rooftop_ids?: string[], photo_url?: string | null, deactivated_at?: string | null}} Agent
 */

/** @type {[string, string][]} */
const ROLES = [['agent', 'Agent'], ['rooftop_manager', 'Rooftop manager'], ['manager', 'Manager'], ['admin', 'Admin']];
const roleLabel = (/** @type {string} */ r) => (ROLES.find(([k]) => k === r) || [r, r])[1];
/** The roles the agent using the tab may give: a rooftop manager gives `agent` only. */
const givable = () => (groupWide() ? ROLES : ROLES.slice(0, 1));
/** A rooftop manager edits agents only (the server refuses the rest). @param {Agent} a */
const editable = (a) => groupWide() || a.role === 'agent';

/**
 * Checkboxes of the rooftops a rooftop manager manages, shown while `role` is
 * `rooftop_manager`; `value()` answers the checked rooftop ids.
 * @param {Fields} fields @param {HTMLSelectElement} role @param {string[] | undefined} checked
 */
function rooftopPicker(fields, role, checked) {
  const set = new Set(checked || []);
  const box = el('fieldset', { class: 'a-fieldset a-rooftops' }, el('legend', { text: 'Rooftops they manage' }));
  /** @type {HTMLInputElement[]} */
  const inputs = [];
  for (const rt of A.directory ? A.directory.rooftops : []) {
    const input = el('input', { type: 'checkbox', value: rt.id, checked: set.has(rt.id), id: nid('roof') });
    inputs.push(input);
    box.append(el('label', { for: input.id, class: 'a-member' }, input, ' ', rt.name));
  }
  fields.add('rooftop_ids', inputs[0] || box, box);
  const sync = () => { box.hidden = role.value !== 'rooftop_manager'; };
  role.addEventListener('change', sync);
  sync();
  return { node: box, value: () => inputs.filter((i) => i.checked).map((i) => i.value) };
}

/** Checkboxes per rooftop and department; `value()` answers the checked department ids. @param {Fields | null} fields @param {string[] | undefined} checked */
function membershipPicker(fields, checked) {
  const set = new Set(checked || []);
  const box = el('fieldset', { class: 'a-fieldset a-members' }, el('legend', { text: 'Departments' }));
  /** @type {HTMLInputElement[]} */
  const inputs = [];
  for (const rt of A.directory ? A.directory.rooftops : []) {
    const group = el('div', { class: 'a-member-group', role: 'group', 'aria-label': rt.name }, el('span', { class: 'a-member-rooftop', text: rt.name }));
    for (const d of rt.departments || []) {
      const input = el('input', { type: 'checkbox', value: d.id, checked: set.has(d.id), id: nid('dep') });
      input.dataset.label = d.label + ' · ' + rt.name;
      inputs.push(input);
      group.append(el('label', { for: input.id, class: 'a-member' }, input, ' ', d.label));
    }
    box.append(group);
  }
  if (fields) fields.add('department_ids', inputs[0] || box, box);
  return { node: box, value: () => inputs.filter((i) => i.checked).map((i) => i.value) };
}

/** @param {HTMLElement} body @param {Current} current */
export async function renderAgents(body, current) {
  const [, r] = await Promise.all([loadDirectory(), api('GET', '/api/v1/agents')]); // the directory: the departments to pick from
  if (!current()) return;
  const box = sectionShell(body, 'Agents', 'Who can log in to the console, their role, how many chats they take at once and the departments they answer for.');
  if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: r.status === 404 ? 'Agents cannot be managed on this server yet.' : errorText(r, 'Cannot read the agents.') })); return; }
  /** @type {Agent[]} */
  const agents = (Array.isArray(r.data) ? r.data : r.data.agents) || [];
  agents.sort((a, b) => (a.last_name + a.first_name).localeCompare(b.last_name + b.first_name));
  const table = el('table', { class: 'a-table a-agents', id: 'admin-agents' },
    el('caption', { class: 'sr-only', text: 'Agents of the group' }),
    el('thead', null, el('tr', null, ['Name', 'E-mail', 'Role', 'Max chats', 'Departments', ''].map((t) => el('th', { scope: 'col', text: t })))));
  const tbody = el('tbody');
  for (const a of agents) tbody.append(...agentRows(a, body, current));
  table.append(tbody);
  box.append(el('div', { class: 'a-table-wrap' }, table), newAgentForm(body, current));
}

/** @param {Agent} a @param {HTMLElement} body @param {Current} current */
function agentRows(a, body, current) {
  const name = ((a.first_name || '') + ' ' + (a.last_name || '')).trim() || a.email;
  const deps = (a.department_ids || []).map(departmentName);
  const editBtn = el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-expanded': 'false', 'aria-label': 'Edit ' + name });
  const gone = !!a.deactivated_at;
  const tr = el('tr', { 'data-agent': a.id, class: gone ? 'a-deactivated' : '' },
    el('th', { scope: 'row' }, el('span', { class: 'a-agent-name' }, a.photo_url ? el('img', { class: 'a-avatar', src: a.photo_url, alt: '', width: 24, height: 24 }) : null, el('span', { text: name }),
      gone ? el('span', { class: 'a-badge', text: 'Deactivated' }) : null)),
    el('td', { class: 'a-wrap a-email', text: a.email }),
    el('td', { text: roleLabel(a.role) }),
    el('td', { class: 'a-num', text: a.max_chats == null ? '—' : String(a.max_chats) }),
    el('td', { class: 'a-wrap', text: gone ? '—' : deps.length ? deps.join(', ') : 'None' }),
    el('td', null, gone ? (groupWide() ? reactivateButton(a, name, body, current) : null) : editable(a) ? editBtn : null));
  const editCell = el('td', { colSpan: 6 });
  const editRow = el('tr', { class: 'a-edit-row', hidden: true }, editCell);
  editBtn.addEventListener('click', () => {
    const opening = editRow.hidden;
    editRow.hidden = !opening;
    editBtn.setAttribute('aria-expanded', String(opening));
    if (!opening) { clear(editCell); return; }
    const fields = new Fields(), s = saver();
    const first = textInput(a.first_name, { maxLength: 80 }), last = textInput(a.last_name, { maxLength: 80 });
    const role = dropdown(givable(), a.role);
    const max = numberInput(a.max_chats, { min: 1, max: 50 });
    const members = membershipPicker(fields, a.department_ids);
    const roofs = rooftopPicker(fields, role, a.rooftop_ids);
    const form = formEl('a-form', s, async () => {
      const res = await s.run(fields, async () => {
        /** @type {{first_name: string, last_name: string, role: string, max_chats: number | null, rooftop_ids?: string[]}} */
        const b = { first_name: first.value.trim(), last_name: last.value.trim(), role: role.value, max_chats: num(max.value) };
        if (role.value === 'rooftop_manager') b.rooftop_ids = roofs.value();
        const r1 = await api('PUT', '/api/v1/agents/' + a.id, b);
        if (!r1.ok) return r1;
        return api('PUT', '/api/v1/agents/' + a.id + '/memberships', { department_ids: members.value() });
      });
      if (res) setTimeout(() => { if (current()) renderAgents(body, current); }, 700);
    });
    const cancel = el('button', { type: 'button', text: 'Cancel', on: { click: () => { editBtn.click(); editBtn.focus(); } } });
    s.wrap.insertBefore(cancel, s.status);
    // An agent who left: no login, no departments, off the board; their history stays.
    const off = el('button', { type: 'button', class: 'danger', text: 'Deactivate…' });
    off.addEventListener('click', async () => {
      if (!window.confirm('Deactivate ' + name + '? They can no longer log in, their consoles close and they leave every department. Their chats and leads keep their name.')) return;
      off.disabled = true; s.say('Deactivating…');
      let r;
      try { r = await api('POST', '/api/v1/agents/' + a.id + '/deactivate', {}); } catch (_) { r = null; }
      off.disabled = false;
      if (r && r.ok) { s.say('Deactivated'); setTimeout(() => { if (current()) renderAgents(body, current); }, 500); }
      else s.say(r ? 'Not deactivated: ' + errorText(r) : 'Not deactivated: cannot reach the server.', true);
    });
    // Deactivating is the group's managers' (a rooftop manager is refused it).
    if (groupWide()) s.wrap.insertBefore(off, s.status);
    // A lost phone or passkey: an admin removes the agent's second factors (mfa_api.rs).
    if (S.me && S.me.role === 'admin') s.wrap.insertBefore(el('button', { type: 'button', class: 'danger', text: 'Reset sign-in factors…', on: { click: async () => {
      if (!window.confirm('Remove ' + name + '’s authenticator app, passkeys and recovery codes? They set up new ones at their next sign-in if the group requires it.')) return;
      const r = await api('POST', '/api/v1/agents/' + a.id + '/mfa/reset', {}).catch(() => null);
      s.say(r && r.ok ? 'Sign-in factors reset' : 'Not reset: ' + (r ? errorText(r) : 'cannot reach the server.'), !(r && r.ok));
    } } }), s.status);
    form.append(el('div', { class: 'a-row' },
      field(fields, 'first_name', 'First name', first), field(fields, 'last_name', 'Last name', last),
      field(fields, 'role', 'Role', role), field(fields, 'max_chats', 'Max chats at once', max)), roofs.node, members.node, s.wrap);
    clear(editCell, form);
    first.focus();
  });
  return [tr, editRow];
}

/** Lets a deactivated agent log in again (they get their departments back by an edit). */
/** @param {Agent} a @param {string} name @param {HTMLElement} body @param {Current} current */
function reactivateButton(a, name, body, current) {
  const b = el('button', { type: 'button', class: 'small', text: 'Reactivate', 'aria-label': 'Reactivate ' + name });
  const status = el('span', { class: 'a-status', role: 'status', 'aria-live': 'polite' });
  b.addEventListener('click', async () => {
    b.disabled = true; status.textContent = 'Reactivating…'; status.classList.remove('bad');
    let r;
    try { r = await api('POST', '/api/v1/agents/' + a.id + '/reactivate', {}); } catch (_) { r = null; }
    b.disabled = false;
    if (r && r.ok) { if (current()) renderAgents(body, current); return; }
    status.textContent = r ? errorText(r) : 'Cannot reach the server.'; status.classList.add('bad');
  });
  return el('span', null, b, ' ', status);
}

/** @param {HTMLElement} body @param {Current} current */
function newAgentForm(body, current) {
  const fields = new Fields(), s = saver('Add agent');
  const email = el('input', { type: 'email', maxLength: 254, autocomplete: 'off' });
  const first = textInput('', { maxLength: 80 }), last = textInput('', { maxLength: 80 });
  const role = dropdown(givable(), 'agent');
  const roofs = rooftopPicker(fields, role, []);
  const password = el('input', { type: 'password', autocomplete: 'new-password', minLength: 10 });
  const max = numberInput('', { min: 1, max: 50, placeholder: '3' });
  const members = membershipPicker(fields, []);
  const form = formEl('a-form', s, async () => {
    /** @type {{email: string, first_name: string, last_name: string, role: string, password: string, department_ids: string[], max_chats?: number, rooftop_ids?: string[]}} */
    const b = { email: email.value.trim(), first_name: first.value.trim(), last_name: last.value.trim(), role: role.value, password: password.value, department_ids: members.value() };
    if (role.value === 'rooftop_manager') b.rooftop_ids = roofs.value();
    if (max.value !== '') b.max_chats = Number(max.value);
    const r = await s.run(fields, () => api('POST', '/api/v1/agents', b));
    if (r) { password.value = ''; setTimeout(() => { if (current()) renderAgents(body, current); }, 700); }
  });
  form.append(el('h3', { text: 'Add an agent' }),
    el('div', { class: 'a-row' },
      field(fields, 'email', 'E-mail', email), field(fields, 'first_name', 'First name', first), field(fields, 'last_name', 'Last name', last)),
    el('div', { class: 'a-row' },
      field(fields, 'role', 'Role', role), field(fields, 'password', 'Password', password, 'At least 10 characters'), field(fields, 'max_chats', 'Max chats at once', max)),
    roofs.node, members.node, s.wrap);
  return el('section', { class: 'a-card', id: 'admin-new-agent', 'aria-label': 'Add an agent' }, form);
}
