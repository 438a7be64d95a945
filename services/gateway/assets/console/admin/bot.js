// @ts-check
/* A website's bot and Lead Gate (Admin ▸ Websites ▸ Bot and Lead Gate): whether the bot asks
 * the shopper's department, names and contact before an agent is sought, the leave-a-message
 * form, the bot's name and picture, and each of its texts in English and Spanish (empty: the
 * built-in text). GET/PUT /api/v1/websites/{id}/bot. */

import { el } from '../dom.js';
import { api, errorText } from '../api.js';
import { Fields, field, check, textInput, saver, formEl } from './forms.js';

/** The bot's texts: key, what it is. */
const TEXT_KEYS = [
  ['greeting', 'Greeting'], ['ask_department', 'Ask department'], ['bad_department', 'Unknown department'],
  ['ask_first_name', 'Ask first name'], ['ask_last_name', 'Ask last name'], ['bad_name', 'Bad name'],
  ['ask_contact', 'Ask e-mail or phone'], ['bad_email', 'Bad e-mail'], ['bad_phone', 'Bad phone'],
  ['consent', 'Consent (shown with the phone)'], ['online', 'Agent sought'], ['offline', 'Nobody answered'],
  ['after_hours', 'After hours'], ['unavailable', 'Nobody available'], ['message_left', 'Message left'], ['agent_joined', 'Agent joined'],
  ['ask_trade_vehicle', 'Trade-in: ask year, make, model'], ['bad_trade_vehicle', 'Trade-in: bad vehicle'],
  ['ask_trade_mileage', 'Trade-in: ask mileage'], ['bad_trade_mileage', 'Trade-in: bad mileage'],
  ['ask_trade_condition', 'Trade-in: ask condition'], ['bad_trade_condition', 'Trade-in: bad condition'],
  ['ask_trade_vin', 'Trade-in: ask VIN'], ['bad_trade_vin', 'Trade-in: bad VIN'],
];
/** @param {import('./websites.js').Website} w */
export async function botEditor(w) {
  const r = await api('GET', '/api/v1/websites/' + w.id + '/bot');
  if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the bot settings.') });
  let bot = r.data;
  const fields = new Fields(), s = saver();
  const gate = check(fields, 'lead_gate', 'Lead Gate: ask department, names and an e-mail or phone before an agent is sought', bot.lead_gate);
  const leave = check(fields, 'leave_message_form', 'Leave-a-message form when a chat cannot go live', bot.leave_message_form);
  const name = textInput(bot.bot_name || '', { maxLength: 60, placeholder: 'Assistant' });
  const avatar = el('input', { type: 'url', value: bot.avatar_url || '', placeholder: 'https://…' });
  /** @type {Record<string, HTMLTextAreaElement>} */
  const texts = {};
  const table = el('table', { class: 'a-table a-texts' }, el('caption', { class: 'sr-only', text: 'The bot’s texts in English and Spanish' }),
    el('thead', null, el('tr', null, el('th', { scope: 'col', text: 'Text' }), el('th', { scope: 'col', text: 'English' }), el('th', { scope: 'col', text: 'Español' }))));
  const tb = el('tbody');
  for (const [key, label] of TEXT_KEYS) {
    const tr = el('tr', null, el('th', { scope: 'row', text: label }));
    for (const lang of ['en', 'es']) {
      const ta = el('textarea', { rows: 2, maxLength: 1000, placeholder: 'Built-in text', 'aria-label': label + ' (' + (lang === 'en' ? 'English' : 'Español') + ')',
        value: (bot.texts && bot.texts[lang] && bot.texts[lang][key]) || '' });
      texts[lang + '.' + key] = ta;
      const td = el('td', null, ta);
      fields.add('texts.' + lang + '.' + key, ta, td);
      tr.append(td);
    }
    tb.append(tr);
  }
  table.append(tb);
  const form = formEl('a-form', s, async () => {
    /** @type {Record<string, Record<string, string>>} */
    const out = { en: {}, es: {} };
    for (const [k, ta] of Object.entries(texts)) {
      const [lang, key] = k.split('.');
      if (ta.value.trim()) out[lang][key] = ta.value;
    }
    for (const l of ['en', 'es']) if (!Object.keys(out[l]).length) delete out[l];
    const b = { lead_gate: gate.input.checked, leave_message_form: leave.input.checked, bot_name: name.value.trim() || null,
      avatar_url: avatar.value.trim() || null, texts: out, consent_version: bot.consent_version || 1 };
    const res = await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id + '/bot', b));
    if (res && res.data) bot = res.data;
  });
  form.append(gate.wrap, leave.wrap,
    el('div', { class: 'a-row' }, field(fields, 'bot_name', 'Bot name', name), field(fields, 'avatar_url', 'Bot picture (https address)', avatar)),
    el('details', { class: 'a-details' }, el('summary', { text: 'Texts in English and Spanish (empty: the built-in text)' }),
      el('p', { class: 'a-hint', text: 'Placeholders: {bot}, {rooftop}, {first_name}, {agent}, {options}, {country}.' }), el('div', { class: 'a-table-wrap' }, table)),
    s.wrap);
  return form;
}
