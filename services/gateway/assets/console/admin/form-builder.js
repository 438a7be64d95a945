// @ts-check
/* The form builder (Admin ▸ Websites ▸ Pre-chat form / Offline form): a website's own form as a
 * list of fields — kind, label, key, required, options, what an answer also fills (a contact
 * field, a routing variable) — reordered, added and removed here, saved whole with
 * PUT /api/v1/websites/{id}/forms/{kind} (docs/protocol.md "Forms from the form builder"). */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { Fields, field, check, textInput, dropdown, saver, formEl } from './forms.js';

/**
 * A field as the builder edits it (`autoId`: its key still follows its label).
 * @typedef {{id: string, label: string, type: string, required: boolean, options?: string[], input?: string, text?: string,
 *   accept?: string, multiple?: boolean, maps_to: {contact?: string, variable?: string} | null, autoId: boolean}} BuilderField
 */

/** @type {[string, string][]} */
const FIELD_TYPES = [['label', 'Text / heading'], ['input', 'One line'], ['textarea', 'Paragraph'], ['select', 'Drop-down'], ['radio', 'Radio buttons'],
  ['checkboxes', 'Checkboxes'], ['agreement', 'Agreement (must tick)'], ['attachment', 'File upload']];
const WITH_OPTIONS = ['select', 'radio', 'checkboxes'];
const NO_MAPPING = ['label', 'attachment', 'agreement'];
/** @type {[string, string][]} */
const CONTACT = [['first_name', 'first name'], ['last_name', 'last name'], ['email', 'e-mail'], ['phone', 'mobile phone'], ['message', 'message']];
/** A key from a label: "Your e-mail" -> "your_e_mail". */
const slug = (/** @type {unknown} */ s) => String(s || '').toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);

/** A new field of `type` with a key not `taken`. @param {string} type @param {Set<string>} taken @returns {BuilderField} */
function newField(type, taken) {
  const base = { label: { label: 'About you' }, input: { label: 'Your answer', input: 'text' }, textarea: { label: 'Your message' },
    select: { label: 'Choose one', options: ['Option 1', 'Option 2'] }, radio: { label: 'Choose one', options: ['Yes', 'No'] },
    checkboxes: { label: 'Choose any', options: ['Option 1', 'Option 2'] }, agreement: { label: 'Agreement', text: 'I agree to be contacted about my inquiry.' },
    attachment: { label: 'Attach a file', accept: '.pdf,image/*', multiple: false } }[type];
  const f = Object.assign({ type, required: false, maps_to: null, autoId: true }, JSON.parse(JSON.stringify(base)));
  let id = slug(f.label) || type, n = 1;
  while (taken.has(id)) id = slug(f.label).slice(0, 36) + '_' + (++n);
  f.id = id;
  return f;
}
/** A saved field, to edit. @param {any} f @returns {BuilderField} */
function fieldIn(f) {
  const m = f.maps_to || null;
  return { id: f.id, label: f.label, type: f.type, required: !!f.required, options: f.options ? f.options.slice() : undefined, input: f.input, text: f.text,
    accept: f.accept, multiple: !!f.multiple, maps_to: m && (m.contact ? { contact: m.contact } : m.variable != null ? { variable: m.variable } : null), autoId: false };
}
/** An edited field, to save. @param {BuilderField} f */
function fieldOut(f) {
  /** @type {Record<string, unknown>} */
  const o = { id: f.id.trim(), label: f.label, type: f.type, required: f.type === 'agreement' ? true : f.type === 'label' ? false : !!f.required };
  if (WITH_OPTIONS.includes(f.type)) o.options = (f.options || []).map((x) => x.trim());
  if (f.type === 'input') o.input = f.input || 'text';
  if (f.type === 'agreement') o.text = f.text || '';
  if (f.type === 'attachment') { o.accept = (f.accept || '').trim(); o.multiple = !!f.multiple; }
  if (f.maps_to && !NO_MAPPING.includes(f.type)) o.maps_to = f.maps_to;
  return o;
}

/** @param {import('./websites.js').Website} w @param {'pre_chat' | 'offline'} kind */
export async function formBuilder(w, kind) {
  const r = await api('GET', '/api/v1/websites/' + w.id + '/forms/' + kind);
  if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the form.') });
  /** @type {BuilderField[]} */
  let model = ((r.data && r.data.fields) || []).map(fieldIn);
  const s = saver(kind === 'pre_chat' ? 'Save pre-chat form' : 'Save offline form');
  let fields = new Fields();
  const intro = kind === 'pre_chat'
    ? 'Shown before the chat starts. Answers mapped to the contact skip those Lead Gate questions; mapped variables steer routing. No fields: no form.'
    : 'Shown instead of the built-in leave-a-message form. It must fill the contact’s first name, last name, e-mail and message. No fields: the built-in form.';
  const list = el('ol', { class: 'a-fb', 'aria-label': (kind === 'pre_chat' ? 'Pre-chat' : 'Offline') + ' form fields' });
  const addType = dropdown(FIELD_TYPES, 'input', { 'aria-label': 'Kind of field to add' });
  const addBtn = el('button', { type: 'button', class: 'small', text: 'Add field' });
  const generalBox = el('div', { class: 'a-fb-general' });
  addBtn.addEventListener('click', () => {
    model.push(newField(addType.value, new Set(model.map((f) => f.id))));
    render();
    const rows = list.querySelectorAll('.a-fb-field');
    const inp = rows[rows.length - 1] && rows[rows.length - 1].querySelector('input[data-prop="label"]');
    if (inp instanceof HTMLInputElement) { inp.focus(); inp.select(); }
  });

  /** Rebuilds the list; `focusSel` gets the focus. @param {string} [focusSel] */
  function render(focusSel) {
    fields = new Fields();
    addType.removeAttribute('aria-describedby');
    clear(generalBox);
    fields.add('fields', addType, generalBox);
    clear(list);
    model.forEach((f, i) => list.append(fieldRow(f, i)));
    if (!model.length) list.append(el('li', { class: 'a-empty', text: 'No fields: this form is off.' }));
    if (focusSel) {
      // A move button that is now disabled (the field reached an end) hands focus to its sibling.
      /** @type {HTMLButtonElement | HTMLSelectElement | null} */
      let t = list.querySelector(focusSel);
      const row = t && t.parentElement;
      if (t && t.disabled && row) t = row.querySelector('button[data-move]:not(:disabled)') || row.querySelector('select');
      if (t) t.focus();
    }
  }

  /** @param {BuilderField} f @param {number} i */
  function fieldRow(f, i) {
    const at = (/** @type {string} */ p) => 'fields[' + i + '].' + p;
    const li = el('li', { class: 'a-fb-field', 'data-index': String(i) });
    const n = i + 1;
    const move = (/** @type {number} */ d) => { const j = i + d; if (j < 0 || j >= model.length) return; [model[i], model[j]] = [model[j], model[i]]; render('li[data-index="' + j + '"] button[data-move="' + d + '"]'); };
    const typeSel = dropdown(FIELD_TYPES, f.type, { 'aria-label': 'Field ' + n + ' kind', 'data-prop': 'type', on: { change: (e) => {
      const fresh = newField(e.target.value, new Set());
      Object.assign(f, { type: e.target.value, options: fresh.options, input: fresh.input, text: fresh.text, accept: fresh.accept, multiple: fresh.multiple });
      if (NO_MAPPING.includes(f.type)) f.maps_to = null;
      render('li[data-index="' + i + '"] select[data-prop="type"]');
    } } });
    const head = el('div', { class: 'a-fb-head' },
      el('span', { class: 'a-fb-n', text: String(n) }),
      typeSel,
      el('span', { class: 'a-grow' }),
      el('button', { type: 'button', class: 'small icon', 'data-move': '-1', text: '↑', disabled: i === 0, 'aria-label': 'Move field ' + n + ' up', on: { click: () => move(-1) } }),
      el('button', { type: 'button', class: 'small icon', 'data-move': '1', text: '↓', disabled: i === model.length - 1, 'aria-label': 'Move field ' + n + ' down', on: { click: () => move(1) } }),
      el('button', { type: 'button', class: 'small danger', text: 'Remove', 'aria-label': 'Remove field ' + n, on: { click: () => {
        model.splice(i, 1); render(); (/** @type {HTMLElement | null} */ (list.querySelector('li[data-index="' + Math.min(i, model.length - 1) + '"] select')) || addBtn).focus();
      } } }));
    li.append(head);
    const label = textInput(f.label, { maxLength: 200, 'data-prop': 'label' });
    const id = textInput(f.id, { maxLength: 40, 'data-prop': 'id', class: 'a-mono' });
    label.addEventListener('input', () => { f.label = label.value; if (f.autoId) { f.id = slug(label.value) || f.type; id.value = f.id; } });
    id.addEventListener('input', () => { f.id = id.value; f.autoId = false; });
    const row = el('div', { class: 'a-row' },
      field(fields, at('label'), f.type === 'label' ? 'Text' : 'Label', label),
      field(fields, at('id'), 'Key', id, 'a-z, 0-9 and _'));
    if (f.type !== 'label' && f.type !== 'agreement') {
      const req = check(fields, at('required'), 'Required', f.required);
      req.input.addEventListener('change', () => { f.required = req.input.checked; });
      row.append(req.wrap);
    }
    fields.add(at('type'), typeSel, head);
    li.append(row);
    if (f.type === 'input') {
      const kindSel = dropdown([['text', 'Text'], ['number', 'Number'], ['email', 'E-mail']], f.input || 'text', { on: { change: (e) => { f.input = e.target.value; } } });
      li.append(field(fields, at('input'), 'Takes', kindSel));
    }
    if (f.type === 'agreement') {
      const ta = el('textarea', { rows: 2, maxLength: 2000, value: f.text || '', on: { input: (e) => { f.text = e.target.value; } } });
      li.append(field(fields, at('text'), 'Text beside the box', ta));
    }
    if (f.type === 'attachment') {
      const acc = textInput(f.accept || '', { placeholder: '.pdf,image/*', on: { input: (e) => { f.accept = e.target.value; } } });
      const mult = check(fields, at('multiple'), 'Several files (up to 5)', f.multiple);
      mult.input.addEventListener('change', () => { f.multiple = mult.input.checked; });
      li.append(el('div', { class: 'a-row' }, field(fields, at('accept'), 'Accepted files', acc, 'Comma-separated: .pdf, image/*, application/pdf'), mult.wrap));
    }
    if (WITH_OPTIONS.includes(f.type)) li.append(optionsEditor(f, i, at));
    if (!NO_MAPPING.includes(f.type)) li.append(mappingEditor(f, i, at));
    return li;
  }

  /** @param {BuilderField} f @param {number} i @param {(p: string) => string} at */
  function optionsEditor(f, i, at) {
    const options = f.options = f.options || [];
    const fs = el('fieldset', { class: 'a-fieldset a-options' }, el('legend', { text: 'Options' }));
    const ul = el('ul', { class: 'a-list' });
    /** @param {number} [focusIdx] */
    const renderOpts = (focusIdx) => {
      clear(ul);
      options.forEach((o, k) => {
        const inp = textInput(o, { maxLength: 100, 'aria-label': 'Field ' + (i + 1) + ' option ' + (k + 1), on: { input: (e) => { options[k] = e.target.value; } } });
        const mv = (/** @type {number} */ d) => { const j = k + d; if (j < 0 || j >= options.length) return; [options[k], options[j]] = [options[j], options[k]]; renderOpts(j); };
        ul.append(el('li', { class: 'a-opt' }, inp,
          el('button', { type: 'button', class: 'small icon', text: '↑', disabled: k === 0, 'aria-label': 'Move option ' + (k + 1) + ' up', on: { click: () => mv(-1) } }),
          el('button', { type: 'button', class: 'small icon', text: '↓', disabled: k === options.length - 1, 'aria-label': 'Move option ' + (k + 1) + ' down', on: { click: () => mv(1) } }),
          el('button', { type: 'button', class: 'small icon', text: '×', 'aria-label': 'Remove option ' + (k + 1), on: { click: () => { options.splice(k, 1); renderOpts(Math.min(k, options.length - 1)); } } })));
      });
      if (focusIdx != null && focusIdx >= 0) { const t = ul.querySelectorAll('input')[focusIdx]; if (t) t.focus(); }
    };
    renderOpts();
    const add = el('button', { type: 'button', class: 'small', text: 'Add option', on: { click: () => { options.push(''); renderOpts(options.length - 1); } } });
    fs.append(ul, add);
    fields.add(at('options'), add, fs);
    return fs;
  }

  /** @param {BuilderField} f @param {number} i @param {(p: string) => string} at */
  function mappingEditor(f, i, at) {
    const opts = /** @type {[string, string][]} */ ([['', 'Nothing (kept with the form only)']]).concat(CONTACT.filter(([c]) => c !== 'message' || kind === 'offline').map(([c, t]) => ['contact:' + c, 'The contact’s ' + t]), [['variable', 'A routing variable…']]);
    const cur = f.maps_to ? (f.maps_to.contact ? 'contact:' + f.maps_to.contact : 'variable') : '';
    const sel = dropdown(opts, cur);
    const varName = textInput(f.maps_to && f.maps_to.variable != null ? f.maps_to.variable : '', { maxLength: 64, placeholder: 'interest', 'aria-label': 'Field ' + (i + 1) + ' variable name', class: 'a-mono' });
    const varWrap = el('span', { class: 'a-var' }, varName);
    const sync = () => {
      varWrap.hidden = sel.value !== 'variable';
      if (!sel.value) f.maps_to = null;
      else if (sel.value === 'variable') f.maps_to = { variable: varName.value.trim() };
      else f.maps_to = { contact: sel.value.slice(8) };
    };
    sel.addEventListener('change', () => { sync(); if (sel.value === 'variable') varName.focus(); });
    varName.addEventListener('input', sync);
    sync();
    const wrap = field(fields, at('maps_to'), 'Answer also goes to', sel);
    wrap.insertBefore(varWrap, sel.nextSibling);
    return wrap;
  }

  const form = formEl('a-form a-fb-form', s, async () => {
    const b = { fields: model.map(fieldOut) };
    const res = await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id + '/forms/' + kind, b));
    if (res && res.data) { model = (res.data.fields || []).map(fieldIn); render(); }
  });
  form.addEventListener('click', (ev) => { if (ev.target instanceof Element && ev.target.closest('button[type=button]')) { s.reset(); } });
  form.append(el('p', { class: 'a-hint', text: intro }), list, el('div', { class: 'a-row-inline a-fb-add' }, addType, addBtn), generalBox, s.wrap);
  render();
  return form;
}
