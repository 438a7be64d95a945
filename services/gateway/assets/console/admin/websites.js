// @ts-check
/* Admin ▸ Websites: the dealer sites the chat widget runs on. The list, "Add a website", and for
 * the website chosen its cards: name, allowed origins, the snippet to paste and the widget's
 * appearance (with a preview), the bot (bot.js), the pre-chat and offline forms
 * (form-builder.js), limits and routing rules (website-routing.js), and e-mails. */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { A, loadDirectory } from './state.js';
import { sectionShell, loadingLine } from './section.js';
import { Fields, field, check, textInput, dropdown, saver, formEl, lines, copyText } from './forms.js';
import { botEditor } from './bot.js';
import { formBuilder } from './form-builder.js';
import { websiteRouting } from './website-routing.js';

/** @typedef {import('./section.js').Current} Current */
/** @typedef {import('./state.js').Directory} Directory */
/**
 * A website as GET /api/v1/websites answers (the detail adds appearance and snippet).
 * @typedef {{id: string, name: string, rooftop_id?: string, rooftop_name?: string, widget_key?: string, allowed_origins?: string[],
 *   appearance?: object | null, snippet?: string}} Website
 */

/** @param {HTMLElement} body @param {Current} current */
export async function renderWebsites(body, current) {
  const [dir, r] = await Promise.all([loadDirectory(), api('GET', '/api/v1/websites')]);
  if (!current()) return;
  const box = sectionShell(body, 'Websites', 'The dealer sites the chat widget runs on: where it may run, how it looks, what the bot asks and which forms it shows.');
  if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the websites.') })); return; }
  /** @type {Website[]} */
  const sites = Array.isArray(r.data) ? r.data : r.data.websites || [];
  const layout = el('div', { class: 'a-split' });
  const list = el('ul', { class: 'a-site-list', 'aria-label': 'Websites' });
  const detail = el('div', { class: 'a-site-detail', id: 'admin-site' });
  layout.append(el('div', { class: 'a-site-side' }, list, newWebsiteForm(dir, body, current)), detail);
  box.append(layout);
  if (!sites.find((x) => x.id === A.website)) A.website = sites.length ? sites[0].id : null;
  const open = (/** @type {string} */ id, /** @type {boolean} */ focus) => {
    A.website = id;
    list.querySelectorAll('button').forEach((b) => { if (b.dataset.site === id) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current'); });
    const site = sites.find((x) => x.id === id);
    if (site) websiteDetail(detail, site, current);
    if (focus) detail.focus();
  };
  for (const w of sites) {
    list.append(el('li', null, el('button', { type: 'button', class: 'a-site-btn', 'data-site': w.id, on: { click: () => open(w.id, true) } },
      el('strong', { text: w.name }), el('span', { class: 'a-meta', text: w.rooftop_name || '' }))));
  }
  detail.tabIndex = -1;
  if (A.website) open(A.website, false);
  else detail.append(el('p', { class: 'a-empty', text: 'No websites yet.' }));
}

/** @param {Directory} dir @param {HTMLElement} body @param {Current} current */
function newWebsiteForm(dir, body, current) {
  const fields = new Fields(), s = saver('Add website');
  const rooftop = dropdown(dir.rooftops.map((rt) => [rt.id, rt.name]));
  const name = textInput('', { maxLength: 120, placeholder: 'www.dealer.example' });
  const origins = el('textarea', { rows: 2, placeholder: 'https://www.dealer.example' });
  const form = formEl('a-form', s, async () => {
    const r = await s.run(fields, () => api('POST', '/api/v1/websites', { rooftop_id: rooftop.value, name: name.value.trim(), allowed_origins: lines(origins.value) }));
    if (r) { if (r.data && r.data.id) A.website = r.data.id; setTimeout(() => { if (current()) renderWebsites(body, current); }, 500); }
  });
  form.append(el('h3', { text: 'Add a website' }), field(fields, 'rooftop_id', 'Rooftop', rooftop), field(fields, 'name', 'Name', name),
    field(fields, 'allowed_origins', 'Allowed origins (one per line)', origins), s.wrap);
  return el('details', { class: 'a-card a-new-site', id: 'admin-new-site' }, el('summary', { text: 'Add a website' }), form);
}

/** The cards of the website chosen. @param {HTMLElement} detail @param {Website} w @param {Current} current */
function websiteDetail(detail, w, current) {
  const cards = {
    general: el('section', { class: 'a-card', id: 'admin-site-general', 'aria-labelledby': 'admin-site-general-h' }),
    bot: el('section', { class: 'a-card', id: 'admin-site-bot', 'aria-labelledby': 'admin-site-bot-h' }),
    pre: el('section', { class: 'a-card', id: 'admin-form-pre_chat', 'aria-labelledby': 'admin-form-pre_chat-h' }),
    offline: el('section', { class: 'a-card', id: 'admin-form-offline', 'aria-labelledby': 'admin-form-offline-h' }),
    routing: el('section', { class: 'a-card', id: 'admin-site-routing', 'aria-labelledby': 'admin-site-routing-h' }),
    mail: el('section', { class: 'a-card', id: 'admin-site-mail', 'aria-labelledby': 'admin-site-mail-h' }),
  };
  /** @type {Record<string, [string, string]>} */
  const titles = { general: ['admin-site-general-h', 'Website and appearance'], bot: ['admin-site-bot-h', 'Bot and Lead Gate'], pre: ['admin-form-pre_chat-h', 'Pre-chat form'],
    offline: ['admin-form-offline-h', 'Offline form'], routing: ['admin-site-routing-h', 'Limits and routing rules'], mail: ['admin-site-mail-h', 'E-mails'] };
  for (const [k, c] of Object.entries(cards)) c.append(el('h3', { id: titles[k][0], text: titles[k][1] }), loadingLine());
  clear(detail, el('h3', { class: 'a-site-title', text: w.name }), Object.values(cards));
  const fill = (/** @type {HTMLElement} */ card, /** @type {Promise<HTMLElement>} */ p) => p.then((node) => { if (current() && A.website === w.id) { card.querySelectorAll('.a-loading').forEach((n) => n.remove()); card.append(node); } })
    .catch(() => { card.querySelectorAll('.a-loading').forEach((n) => n.remove()); card.append(el('p', { class: 'a-error', role: 'alert', text: 'Cannot reach the server.' })); });
  fill(cards.general, websiteGeneral(w));
  fill(cards.bot, botEditor(w));
  fill(cards.pre, formBuilder(w, 'pre_chat'));
  fill(cards.offline, formBuilder(w, 'offline'));
  fill(cards.routing, websiteRouting(w));
  fill(cards.mail, websiteMail(w));
}

// ---- name, origins, snippet, appearance ----
/** @type {[string, string][]} */
const ICONS = [['chat', 'Speech bubble'], ['car', 'Car'], ['question', 'Question mark']];
const ICON_PATHS = /** @type {Record<string, string>} */ ({
  chat: 'M4 5h16v11H9l-5 4z',
  car: 'M5 16v-4l2-5h10l2 5v4zM7 16v2M17 16v2M5 12h14',
  question: 'M9 9a3 3 0 1 1 4 2.8c-.7.3-1 .8-1 1.5V14M12 17.5v.5',
});
/** The launcher's icon, as the widget draws it. @param {string} icon @param {string} color */
function iconSvg(icon, color) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24'); svg.setAttribute('width', '20'); svg.setAttribute('height', '20'); svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICON_PATHS[icon] || ICON_PATHS.chat);
  p.setAttribute('fill', 'none'); p.setAttribute('stroke', color); p.setAttribute('stroke-width', '2'); p.setAttribute('stroke-linejoin', 'round'); p.setAttribute('stroke-linecap', 'round');
  svg.append(p);
  return svg;
}
/** The snippet, when an older gateway does not give one. @param {Website} w */
function snippetOf(w) {
  return '<script src="' + location.origin + '/widget.js" data-key="' + w.widget_key + '" async></' + 'script>';
}
/** Name, origins, snippet, appearance. @param {Website} w0 */
async function websiteGeneral(w0) {
  const r = await api('GET', '/api/v1/websites/' + w0.id);
  const modern = r.ok && r.data;
  const w = modern ? r.data : w0;
  const ap = Object.assign({ color: '#1f4fd1', text_color: '#ffffff', position: 'right', icon: 'chat', language: 'auto', launcher_label: null }, (w && w.appearance) || {});
  const fields = new Fields(), s = saver();
  const name = textInput(w.name, { maxLength: 120, id: 'admin-site-name' });
  const origins = el('textarea', { rows: 3, id: 'admin-site-origins', value: (w.allowed_origins || []).join('\n') });
  const snippet = el('textarea', { rows: 2, readOnly: true, class: 'a-code', id: 'admin-snippet', value: w.snippet || snippetOf(w) });
  const copyState = el('span', { class: 'a-status', role: 'status' });
  const copy = el('button', { type: 'button', class: 'small', text: 'Copy', on: { click: () => copyText(snippet.value, snippet, copyState) } });

  const color = el('input', { type: 'color', id: 'admin-color', value: ap.color });
  const colorText = textInput(ap.color, { size: 8, maxLength: 7, 'aria-label': 'Colour as #rrggbb' });
  const textColor = el('input', { type: 'color', id: 'admin-text-color', value: ap.text_color });
  const textColorText = textInput(ap.text_color, { size: 8, maxLength: 7, 'aria-label': 'Text colour as #rrggbb' });
  const pair = (/** @type {HTMLInputElement} */ picker, /** @type {HTMLInputElement} */ txt) => {
    picker.addEventListener('input', () => { txt.value = picker.value; preview(); });
    txt.addEventListener('input', () => { if (/^#[0-9a-fA-F]{6}$/.test(txt.value.trim())) picker.value = txt.value.trim().toLowerCase(); preview(); });
  };
  pair(color, colorText); pair(textColor, textColorText);
  const icon = dropdown(ICONS, ap.icon, { id: 'admin-icon' });
  const position = dropdown([['right', 'Bottom right'], ['left', 'Bottom left']], ap.position, { id: 'admin-position' });
  const language = dropdown([['auto', 'The browser’s (English or Spanish)'], ['en', 'English'], ['es', 'Español']], ap.language, { id: 'admin-language' });
  const label = textInput(ap.launcher_label || '', { maxLength: 40, id: 'admin-launcher-label', placeholder: 'e.g. Chat with us' });
  const swatch = el('div', { class: 'a-preview', id: 'admin-preview', role: 'img' });
  function preview() {
    const c = colorText.value.trim(), t = textColorText.value.trim();
    const launcher = el('span', { class: 'a-launcher' }, iconSvg(icon.value, t), label.value.trim() ? el('span', { text: label.value.trim() }) : null);
    launcher.style.background = c; launcher.style.color = t;
    swatch.style.justifyContent = position.value === 'left' ? 'flex-start' : 'flex-end';
    swatch.setAttribute('aria-label', 'Preview: the launcher at the bottom ' + position.value + (label.value.trim() ? ', labelled “' + label.value.trim() + '”' : ''));
    clear(swatch, launcher);
  }
  [icon, position, label].forEach((x) => x.addEventListener('input', preview));
  icon.addEventListener('change', preview); position.addEventListener('change', preview);
  preview();

  const form = formEl('a-form', s, async () => {
    /** @type {Record<string, string>} */
    const appearance = { color: colorText.value.trim(), text_color: textColorText.value.trim(), position: position.value, icon: icon.value, language: language.value };
    if (label.value.trim()) appearance.launcher_label = label.value.trim();
    /** @type {{name: string, allowed_origins: string[], appearance?: Record<string, string>}} */
    const b = { name: name.value.trim(), allowed_origins: lines(origins.value) };
    if (modern) b.appearance = appearance;
    const res = await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id, b));
    if (res && res.data && res.data.snippet) snippet.value = res.data.snippet;
  });
  /** @param {string} fname @param {string} text @param {HTMLInputElement} picker @param {HTMLInputElement} txt */
  const colorWrap = (fname, text, picker, txt) => {
    const wrap = el('div', { class: 'a-field' }, el('label', { for: picker.id, text }), el('span', { class: 'a-color' }, picker, txt));
    fields.add(fname, txt, wrap);
    return wrap;
  };
  form.append(
    el('div', { class: 'a-row' }, field(fields, 'name', 'Name', name), field(fields, 'allowed_origins', 'Allowed origins (one per line)', origins, 'Pages of these origins may show the widget, e.g. https://www.dealer.example')),
    el('div', { class: 'a-field' }, el('label', { for: snippet.id, text: 'Snippet: paste it before </body> on every page' }), snippet, el('span', { class: 'a-row-inline' }, copy, copyState)));
  if (modern) {
    form.append(el('fieldset', { class: 'a-fieldset a-appearance' }, el('legend', { text: 'Appearance' }),
      el('div', { class: 'a-row' },
        colorWrap('color', 'Colour', color, colorText), colorWrap('text_color', 'Text colour', textColor, textColorText),
        field(fields, 'icon', 'Icon', icon), field(fields, 'position', 'Position', position)),
      el('div', { class: 'a-row' }, field(fields, 'language', 'Language', language), field(fields, 'launcher_label', 'Launcher label (optional)', label)),
      el('div', { class: 'a-preview-wrap' }, el('span', { class: 'a-hint', text: 'Preview' }), swatch)));
  } else {
    form.append(el('p', { class: 'a-note', text: 'The widget’s appearance cannot be changed on this server yet.' }));
  }
  fields.add('appearance', name, form);
  form.append(s.wrap);
  return form;
}

// ---- website e-mails ----
/** @param {Website} w */
async function websiteMail(w) {
  const r = await api('GET', '/api/v1/websites/' + w.id + '/notifications');
  if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the e-mail settings.') });
  const st = r.data || {};
  const fields = new Fields(), s = saver();
  const transcript = check(fields, 'transcript_email', 'E-mail the shopper a transcript when a chat ends', st.transcript_email !== false);
  const fwd = el('textarea', { rows: 3, value: (st.forward_messages_to || []).join('\n'), placeholder: 'sales@dealer.example' });
  const form = formEl('a-form', s, async () => {
    const b = { transcript_email: transcript.input.checked, forward_messages_to: lines(fwd.value) };
    await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id + '/notifications', b));
  });
  form.append(transcript.wrap, field(fields, 'forward_messages_to', 'Forward messages left to (one address per line, at most 10)', fwd), s.wrap);
  return form;
}
