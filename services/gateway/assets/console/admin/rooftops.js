// @ts-check
/* Admin ▸ Rooftops & departments: each rooftop (a dealership: name, time zone, country, phone) with
 * its departments (label, board section, position), added, edited and deleted here; each
 * department's Routing opens its editor (routing.js), its Appointments the kinds, slot length
 * and seats it books (appointment-settings.js). On an older gateway without
 * /api/v1/rooftops, only the routing can be changed. */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { loadDirectory, groupWide } from './state.js';
import { sectionShell, loadingLine } from './section.js';
import { Fields, field, textInput, numberInput, dropdown, zoneSelect, saver, formEl, num } from './forms.js';
import { routingEditor } from './routing.js';
import { appointmentEditor } from './appointment-settings.js';

/** @typedef {import('./state.js').Rooftop} Rooftop */
/** @typedef {import('./state.js').Department} Department */
/** @typedef {import('./section.js').Current} Current */

/** @type {[string, string][]} */
const COUNTRIES = [['US', 'United States'], ['CA', 'Canada'], ['MX', 'Mexico'], ['PR', 'Puerto Rico'], ['GB', 'United Kingdom'], ['ES', 'Spain']];
/** @param {string | null | undefined} value */
function countrySelect(value) {
  const opts = COUNTRIES.slice();
  if (value && !opts.some(([c]) => c === value)) opts.unshift([value, value]);
  return dropdown(opts, value || 'US');
}

/** @param {HTMLElement} body @param {Current} current */
export async function renderRooftops(body, current) {
  const dir = await loadDirectory();
  if (!current()) return;
  const box = sectionShell(body, 'Rooftops & departments', 'Each rooftop is a dealership with its departments; a department’s routing says how and when its chats are offered.');
  if (dir.partial) box.append(el('p', { class: 'a-note', text: 'Rooftops cannot be changed on this server yet; departments’ routing can.' }));
  const list = el('div', { class: 'a-cards', id: 'admin-rooftops' });
  box.append(list);
  // Adding rooftops is the group's managers' (a rooftop manager sees and edits their own).
  if (!dir.partial && groupWide()) box.append(newRooftopForm(body, current));
  for (const rt of dir.rooftops) list.append(rooftopCard(rt, dir.partial, body, current));
  if (!dir.rooftops.length) list.append(el('p', { class: 'a-empty', text: 'No rooftops yet.' }));
}
/** @param {HTMLElement} body @param {Current} current */
const rerender = (body, current) => { if (current()) renderRooftops(body, current); };

/** @param {Fields} fields @param {Rooftop | null} rt */
function rooftopFields(fields, rt) {
  const name = textInput(rt && rt.name, { maxLength: 80, required: true });
  const tz = zoneSelect(rt && rt.time_zone);
  const country = countrySelect(rt && rt.country);
  const phone = textInput(rt && rt.phone, { type: 'tel', maxLength: 30, placeholder: '+1 312 555 0100', autocomplete: 'off' });
  return {
    nodes: [field(fields, 'name', 'Name', name), field(fields, 'time_zone', 'Time zone', tz), field(fields, 'country', 'Country', country),
      field(fields, 'phone', 'Phone (optional)', phone, 'Canned responses’ {rooftop.phone}')],
    value: () => ({ name: name.value.trim(), time_zone: tz.value, country: country.value, phone: phone.value.trim() }),
    focus: () => name.focus(),
  };
}

/** @param {HTMLElement} body @param {Current} current */
function newRooftopForm(body, current) {
  const fields = new Fields(), s = saver('Add rooftop');
  const f = rooftopFields(fields, null);
  const form = formEl('a-form a-inline-form', s, async () => {
    const r = await s.run(fields, () => api('POST', '/api/v1/rooftops', f.value()));
    if (r) rerender(body, current);
  });
  form.append(el('h3', { text: 'Add a rooftop' }), el('div', { class: 'a-row' }, f.nodes), s.wrap);
  return el('section', { class: 'a-card', 'aria-label': 'Add a rooftop' }, form);
}

/** @param {Rooftop} rt @param {boolean} partial @param {HTMLElement} body @param {Current} current */
function rooftopCard(rt, partial, body, current) {
  const card = el('section', { class: 'a-card', 'data-rooftop': rt.id, 'aria-label': rt.name });
  const head = el('div', { class: 'a-card-head' },
    el('h3', { text: rt.name }),
    el('span', { class: 'a-meta', text: [rt.time_zone, rt.country].filter(Boolean).join(' · ') }));
  card.append(head);
  if (!partial) {
    const editBtn = el('button', { type: 'button', class: 'small', text: 'Edit rooftop', 'aria-expanded': 'false' });
    head.append(editBtn);
    /** @type {HTMLFormElement | null} */
    let form = null;
    editBtn.addEventListener('click', () => {
      if (form) { form.remove(); form = null; editBtn.setAttribute('aria-expanded', 'false'); return; }
      const fields = new Fields(), s = saver();
      const f = rooftopFields(fields, rt);
      form = formEl('a-form a-inline-form', s, async () => {
        const r = await s.run(fields, () => api('PUT', '/api/v1/rooftops/' + rt.id, f.value()));
        if (r) setTimeout(() => rerender(body, current), 600);
      });
      const cancel = el('button', { type: 'button', text: 'Cancel', on: { click: () => editBtn.click() } });
      s.wrap.insertBefore(cancel, s.status);
      form.append(el('div', { class: 'a-row' }, f.nodes), s.wrap);
      head.after(form);
      editBtn.setAttribute('aria-expanded', 'true');
      f.focus();
    });
  }
  const deps = (rt.departments || []).slice().sort((a, b) => (a.position || 0) - (b.position || 0) || String(a.label).localeCompare(b.label));
  const ul = el('ul', { class: 'a-deps' });
  for (const d of deps) ul.append(departmentItem(rt, d, partial, body, current));
  if (!deps.length) ul.append(el('li', { class: 'a-empty', text: 'No departments yet.' }));
  card.append(el('h4', { class: 'a-subh', text: 'Departments' }), ul);
  if (!partial) card.append(newDepartmentForm(rt, body, current));
  return card;
}

/** @param {Rooftop} rt @param {HTMLElement} body @param {Current} current */
function newDepartmentForm(rt, body, current) {
  const fields = new Fields(), s = saver('Add department');
  const label = textInput('', { maxLength: 60 });
  const section = textInput('', { maxLength: 60, placeholder: 'e.g. Front End' });
  const form = formEl('a-form a-inline-form a-new-dep', s, async () => {
    /** @type {{label: string, board_section?: string}} */
    const b = { label: label.value.trim() };
    if (section.value.trim()) b.board_section = section.value.trim();
    const r = await s.run(fields, () => api('POST', '/api/v1/rooftops/' + rt.id + '/departments', b));
    if (r) rerender(body, current);
  });
  form.append(el('div', { class: 'a-row' },
    field(fields, 'label', 'New department', label),
    field(fields, 'board_section', 'Board section (optional)', section)), s.wrap);
  return form;
}

/** @param {Rooftop} rt @param {Department} d @param {boolean} partial @param {HTMLElement} body @param {Current} current */
function departmentItem(rt, d, partial, body, current) {
  const li = el('li', { class: 'a-dep', 'data-department': d.id });
  const name = el('span', { class: 'a-dep-label', text: d.label });
  const sec = el('span', { class: 'a-meta', text: d.board_section ? 'Board: ' + d.board_section : '' });
  const routeBtn = el('button', { type: 'button', class: 'small', text: 'Routing', 'aria-expanded': 'false' });
  const apptBtn = el('button', { type: 'button', class: 'small', text: 'Appointments', 'aria-expanded': 'false' });
  const editBtn = partial ? null : el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-expanded': 'false' });
  const delBtn = partial ? null : el('button', { type: 'button', class: 'small danger', text: 'Delete' });
  const delState = el('span', { class: 'a-status', role: 'status' });
  const row = el('div', { class: 'a-dep-row' }, name, sec, el('span', { class: 'a-grow' }), routeBtn, apptBtn, editBtn, delBtn);
  const panel = el('div', { class: 'a-dep-panel' });
  li.append(row, delState, panel);
  const setOpen = (/** @type {string | null} */ which) => {
    routeBtn.setAttribute('aria-expanded', String(which === 'routing'));
    apptBtn.setAttribute('aria-expanded', String(which === 'appointments'));
    if (editBtn) editBtn.setAttribute('aria-expanded', String(which === 'edit'));
  };
  routeBtn.addEventListener('click', () => {
    if (routeBtn.getAttribute('aria-expanded') === 'true') { clear(panel); setOpen(null); return; }
    setOpen('routing');
    clear(panel, loadingLine('routing'));
    routingEditor(d, rt).then((node) => clear(panel, node)).catch(() => clear(panel, el('p', { class: 'a-error', role: 'alert', text: 'Cannot reach the server.' })));
  });
  apptBtn.addEventListener('click', () => {
    if (apptBtn.getAttribute('aria-expanded') === 'true') { clear(panel); setOpen(null); return; }
    setOpen('appointments');
    clear(panel, loadingLine('appointment settings'));
    appointmentEditor(d).then((node) => clear(panel, node)).catch(() => clear(panel, el('p', { class: 'a-error', role: 'alert', text: 'Cannot reach the server.' })));
  });
  if (editBtn && delBtn) {
    editBtn.addEventListener('click', () => {
      if (editBtn.getAttribute('aria-expanded') === 'true') { clear(panel); setOpen(null); return; }
      setOpen('edit');
      const fields = new Fields(), s = saver();
      const label = textInput(d.label, { maxLength: 60 });
      const section = textInput(d.board_section || '', { maxLength: 60 });
      const pos = numberInput(d.position != null ? d.position : 0, { min: 0, max: 1000 });
      const form = formEl('a-form a-inline-form', s, async () => {
        const b = { label: label.value.trim(), board_section: section.value.trim() || null, position: num(pos.value) || 0 };
        const r = await s.run(fields, () => api('PUT', '/api/v1/departments/' + d.id, b));
        if (r) setTimeout(() => rerender(body, current), 600);
      });
      form.append(el('div', { class: 'a-row' },
        field(fields, 'label', 'Label', label), field(fields, 'board_section', 'Board section', section),
        field(fields, 'position', 'Position', pos)), s.wrap);
      clear(panel, form);
      label.focus();
    });
    delBtn.addEventListener('click', async () => {
      if (!window.confirm('Delete the department “' + d.label + '”?')) return;
      delBtn.disabled = true; delState.textContent = 'Deleting…'; delState.classList.remove('bad');
      try {
        const r = await api('DELETE', '/api/v1/departments/' + d.id);
        if (r.ok) { delState.textContent = 'Deleted'; setTimeout(() => rerender(body, current), 400); return; }
        delState.textContent = 'Not deleted: ' + errorText(r); delState.classList.add('bad');
      } catch (_) {
        delState.textContent = 'Not deleted: cannot reach the server.'; delState.classList.add('bad');
      }
      delBtn.disabled = false;
    });
  }
  return li;
}
