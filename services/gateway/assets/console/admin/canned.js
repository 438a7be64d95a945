// @ts-check
/* Canned responses: the Admin tab's section for the group's and the rooftops' (GET/POST
 * /api/v1/canned-responses, PUT/DELETE /api/v1/canned-responses/{id}: a manager or an admin
 * all of them, a rooftop manager their rooftops'), and the Profile dialog's list of the agent's
 * own (/api/v1/me/canned-responses). One editor for both: a card per response (shortcut,
 * title, English and Spanish text; Save, Delete) and a form to add one. Agents insert them by
 * typing `/` in a chat's reply box (console/canned.js). */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { loadingLine, sectionShell } from './section.js';
import { Fields, field, textInput, dropdown, saver, formEl } from './forms.js';
import { loadDirectory, groupWide } from './state.js';

/**
 * @typedef {object} Canned
 * @property {string} id
 * @property {'group' | 'rooftop' | 'personal'} scope
 * @property {string | null} rooftop_id
 * @property {string} shortcut
 * @property {string} title
 * @property {string} text_en
 * @property {string | null} text_es
 */

const PLACEHOLDERS = 'Placeholders: {shopper.first_name}, {agent.first_name}, {rooftop.name}, {rooftop.phone}, {vehicle.year}, {vehicle.make}, {vehicle.model}. One without a value is left out.';

/**
 * The fields of a response, registered in `fields`, filled from `r`.
 * @param {Fields} fields
 * @param {Partial<Canned>} r
 * @param {string} label what the inputs are of, for screen readers
 */
function inputs(fields, r, label) {
  const shortcut = textInput(r.shortcut || '', { maxLength: 32, placeholder: 'hours', 'aria-label': 'Shortcut' + label, class: 'c-shortcut' });
  const title = textInput(r.title || '', { maxLength: 80, placeholder: 'Opening hours', 'aria-label': 'Title' + label, class: 'c-title' });
  const en = el('textarea', { rows: 3, maxLength: 2000, value: r.text_en || '', 'aria-label': 'English text' + label, class: 'c-en' });
  const es = el('textarea', { rows: 3, maxLength: 2000, value: r.text_es || '', placeholder: 'Empty: the English text', 'aria-label': 'Spanish text' + label, class: 'c-es' });
  const parts = [
    el('div', { class: 'a-row' }, field(fields, 'shortcut', 'Shortcut (after /)', shortcut, 'Lowercase letters, digits, - and _'), field(fields, 'title', 'Title', title)),
    el('div', { class: 'a-row' }, field(fields, 'text_en', 'English', en), field(fields, 'text_es', 'Español (optional)', es)),
  ];
  const body = () => ({ shortcut: shortcut.value.trim(), title: title.value.trim(), text_en: en.value, text_es: es.value.trim() ? es.value : null });
  return { parts, body };
}

/**
 * A list of canned responses at `path` with an editor for each and a form to add one.
 * `owners`: the choices of whose a new one is ([rooftop id or '' for the group, name]), or null
 * for one's own.
 * @param {{path: string, owners: [string, string][] | null, names?: Record<string, string>}} opts
 */
export function cannedEditor(opts) {
  const root = el('div', { class: 'c-editor' });
  const list = el('div', { class: 'c-list' });
  const load = async () => {
    clear(list, loadingLine('the canned responses'));
    let r = null;
    try { r = await api('GET', opts.path); } catch (_) { /* below */ }
    if (!r || !r.ok) { clear(list, el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the canned responses.') })); return; }
    /** @type {Canned[]} */
    const items = (r.data && r.data.responses) || [];
    clear(list, items.length ? items.map((c) => card(c)) : el('p', { class: 'a-meta c-none', text: 'No canned responses yet.' }));
  };
  /** @param {Canned} c */
  const card = (c) => {
    const fields = new Fields(), s = saver();
    const owner = c.scope === 'group' ? 'The whole group' : c.scope === 'rooftop' ? ((opts.names && c.rooftop_id && opts.names[c.rooftop_id]) || 'A rooftop') : 'Yours';
    const f = inputs(fields, c, ' of /' + c.shortcut);
    const del = el('button', { type: 'button', class: 'danger', text: 'Delete' });
    const form = formEl('a-form', s, async () => {
      const res = await s.run(fields, () => api('PUT', opts.path + '/' + c.id, f.body()));
      if (res && res.data) { c = res.data; section.setAttribute('aria-label', '/' + c.shortcut); }
    });
    del.addEventListener('click', async () => {
      if (!window.confirm('Delete the canned response /' + c.shortcut + '?')) return;
      const res = await api('DELETE', opts.path + '/' + c.id);
      if (res.ok) void load(); else s.say('Not deleted: ' + errorText(res), true);
    });
    form.append(...f.parts, el('div', { class: 'a-row' }, s.wrap, del));
    const section = el('section', { class: 'a-card c-card', 'aria-label': '/' + c.shortcut },
      el('p', { class: 'a-meta c-whose', text: owner }), form);
    return section;
  };
  const newFields = new Fields(), adder = saver('Add');
  const blank = inputs(newFields, {}, ' of the new response');
  const whose = opts.owners ? dropdown(opts.owners, opts.owners[0] && opts.owners[0][0], { 'aria-label': 'Whose', class: 'c-owner' }) : null;
  const newForm = formEl('a-form', adder, async () => {
    /** @type {Record<string, unknown>} */
    const b = blank.body();
    if (whose) b.rooftop_id = whose.value || null;
    const res = await adder.run(newFields, () => api('POST', opts.path, b));
    if (res) { newForm.reset(); void load(); }
  });
  if (whose) newForm.append(field(newFields, 'rooftop_id', 'For', whose));
  newForm.append(...blank.parts, el('p', { class: 'a-hint', text: PLACEHOLDERS }), adder.wrap);
  clear(root, list, el('section', { class: 'a-card c-new', 'aria-label': 'Add a canned response' }, el('h3', { text: 'Add a canned response' }), newForm));
  void load();
  return root;
}

/**
 * The Admin section: the group's responses (managers and admins) and each rooftop's.
 * @param {HTMLElement} body
 * @param {import('./section.js').Current} current
 */
export async function renderCanned(body, current) {
  const dir = await loadDirectory();
  if (!current()) return;
  const box = sectionShell(body, 'Canned responses', 'Texts agents insert by typing / in a chat’s reply box: the whole group’s and each rooftop’s. Every agent keeps their own under Profile.');
  /** @type {Record<string, string>} */
  const names = {};
  for (const rt of dir.rooftops) names[rt.id] = rt.name;
  /** @type {[string, string][]} */
  const owners = [...(groupWide() ? [/** @type {[string, string]} */ (['', 'The whole group'])] : []), ...dir.rooftops.map((rt) => /** @type {[string, string]} */ ([rt.id, rt.name]))];
  box.append(cannedEditor({ path: '/api/v1/canned-responses', owners, names }));
}
