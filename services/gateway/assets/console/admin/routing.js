// @ts-check
/* A department's routing (Admin ▸ Rooftops & departments ▸ Routing): how its chats are offered
 * (broadcast or ring), its limits and time-outs, overflow to a team, and its business hours —
 * several intervals a day, closed days, holidays — in the rooftop's time zone
 * (GET/PUT /api/v1/departments/{id}/routing, docs/protocol.md "Routing settings"). */

import { el, clear } from '../dom.js';
import { fmtAt } from '../fmt.js';
import { api, errorText } from '../api.js';
import { loadTeams } from './state.js';
import { Fields, field, check, textInput, numberInput, dropdown, saver, formEl, nid, num } from './forms.js';

/** @typedef {import('./state.js').Rooftop} Rooftop */
/** @typedef {import('./state.js').Department} Department */
/**
 * A department's routing settings, as GET …/routing answers them in `settings`.
 * @typedef {{mode?: string, ring_secs?: number, max_chats_per_agent?: number, incoming_timeout_secs?: number, wait_secs?: number,
 *   inactivity_secs?: number, transfer_secs?: number, overflow_team_id?: string | null, overflow_after_secs?: number | null,
 *   hours?: {intervals?: {weekday: number, opens: string, closes: string}[], closures?: {date: string, label?: string}[]} | null}} Settings
 */
/** @typedef {{open_now?: boolean, next_open?: string | null, time_zone?: string, settings?: Settings}} RoutingView */

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/**
 * The editor of a department's routing, loaded.
 * @param {Department} d
 * @param {Rooftop} rt
 * @returns {Promise<HTMLElement>}
 */
export async function routingEditor(d, rt) {
  const [r, teams] = await Promise.all([api('GET', '/api/v1/departments/' + d.id + '/routing'), loadTeams()]);
  if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the routing.') });
  /** @type {RoutingView} */
  let view = r.data;
  /** @type {Settings} */
  const st = view.settings || {};
  const fields = new Fields(), s = saver('Save routing');
  const open = el('p', { class: 'a-meta', role: 'status' });
  const showOpen = (/** @type {RoutingView} */ v) => {
    open.textContent = (v.open_now ? 'Open now' : 'Closed now' + (v.next_open ? ' — opens ' + fmtAt(v.next_open) : '')) +
      ' · hours in ' + (v.time_zone || rt.time_zone || 'the rooftop’s time zone');
  };
  showOpen(view);
  const modeName = nid('mode');
  const modeBox = el('fieldset', { class: 'a-fieldset' }, el('legend', { text: 'Offer mode' }));
  /** @type {Record<string, HTMLInputElement>} */
  const modeInputs = {};
  for (const [v, t, hint] of [['broadcast', 'Broadcast', 'every eligible agent is offered the chat; the first to respond takes it'], ['ring', 'Ring', 'one agent at a time, fewest chats first']]) {
    const input = el('input', { type: 'radio', name: modeName, value: v, checked: (st.mode || 'broadcast') === v, id: nid('m') });
    modeInputs[v] = input;
    modeBox.append(el('div', { class: 'a-check' }, el('label', { for: input.id }, input, ' ', t, el('span', { class: 'a-hint', text: ' — ' + hint }))));
  }
  fields.add('mode', modeInputs.broadcast, modeBox);
  const ring = numberInput(st.ring_secs, { min: 1, max: 3600 });
  const maxChats = numberInput(st.max_chats_per_agent, { min: 1, max: 100, placeholder: 'no cap' });
  const incoming = numberInput(st.incoming_timeout_secs, { min: 1, max: 86400 });
  const wait = numberInput(st.wait_secs, { min: 1, max: 86400, placeholder: 'no limit' });
  const inactivity = numberInput(st.inactivity_secs, { min: 1, max: 604800 });
  const transfer = numberInput(st.transfer_secs, { min: 1, max: 3600 });
  const team = dropdown(/** @type {[string, string][]} */ ([['', 'No overflow']]).concat(teams.map((t) => [t.id, t.name])), st.overflow_team_id || '');
  const after = numberInput(st.overflow_after_secs, { min: 0, max: 86400, placeholder: '0 = at once' });

  // Hours: a weekly schedule with several intervals a day, and closed days.
  const hoursOn = check(fields, 'hours', 'Only during business hours (otherwise always open)', !!st.hours);
  /** @type {Map<number, {opens: string, closes: string}[]>} weekday (1 = Monday) -> its intervals */
  const byDay = new Map(WEEKDAYS.map((_, i) => [i + 1, []]));
  for (const iv of (st.hours && st.hours.intervals) || []) { const day = byDay.get(iv.weekday); if (day) day.push({ opens: iv.opens, closes: iv.closes }); }
  let closures = ((st.hours && st.hours.closures) || []).map((c) => ({ date: c.date, label: c.label || '' }));
  const hoursBox = el('div', { class: 'a-hours' });
  const week = el('table', { class: 'a-table a-week' });
  const closuresBox = el('div', { class: 'a-closures' });
  hoursBox.append(el('h5', { text: 'Weekly hours' }), el('p', { class: 'a-hint', text: 'Times as HH:MM in the rooftop’s time zone; 24:00 is the end of the day. A day without hours is closed.' }), week,
    el('h5', { text: 'Holidays (closed all day)' }), closuresBox);
  const hoursFields = new Fields();
  function renderWeek() {
    hoursFields.map.clear();
    clear(week, el('caption', { class: 'sr-only', text: 'Opening hours per weekday' }));
    let n = 0;
    for (const [wd, ivs] of byDay) {
      const cell = el('td', { class: 'a-ivs' });
      ivs.forEach((iv, i) => {
        const idx = n++;
        const o = textInput(iv.opens, { size: 5, maxLength: 5, placeholder: '09:00', 'aria-label': WEEKDAYS[wd - 1] + ' interval ' + (i + 1) + ' opens', on: { input: (e) => { iv.opens = e.target.value.trim(); } } });
        const c = textInput(iv.closes, { size: 5, maxLength: 5, placeholder: '18:00', 'aria-label': WEEKDAYS[wd - 1] + ' interval ' + (i + 1) + ' closes', on: { input: (e) => { iv.closes = e.target.value.trim(); } } });
        const rm = el('button', { type: 'button', class: 'small icon', text: '×', 'aria-label': 'Remove ' + WEEKDAYS[wd - 1] + ' interval ' + (i + 1),
          on: { click: () => { ivs.splice(i, 1); renderWeek(); /** @type {HTMLElement} */ (week.querySelector('[data-add="' + wd + '"]')).focus(); } } });
        const span = el('span', { class: 'a-iv' }, o, '–', c, rm);
        cell.append(span);
        hoursFields.add('hours.intervals[' + idx + '].opens', o, span);
        hoursFields.add('hours.intervals[' + idx + '].closes', c, span);
        hoursFields.add('hours.intervals[' + idx + ']', o, span);
      });
      if (!ivs.length) cell.append(el('span', { class: 'a-meta', text: 'Closed' }));
      const add = el('button', { type: 'button', class: 'small', 'data-add': String(wd), text: 'Add hours', 'aria-label': 'Add hours on ' + WEEKDAYS[wd - 1],
        on: { click: () => { const last = ivs[ivs.length - 1]; ivs.push(last ? { opens: last.closes, closes: '' } : { opens: '09:00', closes: '18:00' }); renderWeek(); const inputs = /** @type {NodeListOf<HTMLInputElement>} */ (week.querySelectorAll('tr[data-day="' + wd + '"] input')); if (inputs.length) inputs[inputs.length - 2].focus(); } } });
      const copy = wd > 1 ? el('button', { type: 'button', class: 'small', text: 'Same as ' + WEEKDAYS[wd - 2].slice(0, 3), 'aria-label': 'Same hours on ' + WEEKDAYS[wd - 1] + ' as on ' + WEEKDAYS[wd - 2],
        on: { click: () => { byDay.set(wd, (byDay.get(wd - 1) || []).map((x) => Object.assign({}, x))); renderWeek(); } } }) : null;
      week.append(el('tr', { 'data-day': String(wd) }, el('th', { scope: 'row', text: WEEKDAYS[wd - 1] }), cell, el('td', { class: 'a-day-actions' }, add, copy)));
    }
    renderClosures();
  }
  function renderClosures() {
    clear(closuresBox);
    const ul = el('ul', { class: 'a-list' });
    closures.forEach((c, i) => {
      const date = el('input', { type: 'date', value: c.date || '', 'aria-label': 'Holiday ' + (i + 1) + ' date', on: { input: (e) => { c.date = e.target.value; } } });
      const label = textInput(c.label, { maxLength: 100, placeholder: 'e.g. Thanksgiving', 'aria-label': 'Holiday ' + (i + 1) + ' name', on: { input: (e) => { c.label = e.target.value; } } });
      const rm = el('button', { type: 'button', class: 'small', text: 'Remove', 'aria-label': 'Remove holiday ' + (i + 1), on: { click: () => { closures.splice(i, 1); renderClosures(); addHoliday.focus(); } } });
      const li = el('li', { class: 'a-iv' }, date, label, rm);
      ul.append(li);
      hoursFields.add('hours.closures[' + i + ']', date, li);
    });
    const addHoliday = el('button', { type: 'button', class: 'small', text: 'Add holiday', on: { click: () => { closures.push({ date: '', label: '' }); renderClosures(); const dates = /** @type {NodeListOf<HTMLInputElement>} */ (closuresBox.querySelectorAll('input[type=date]')); dates[dates.length - 1].focus(); } } });
    closuresBox.append(ul, addHoliday);
  }
  renderWeek();
  const syncHours = () => { hoursBox.hidden = !hoursOn.input.checked; };
  hoursOn.input.addEventListener('change', syncHours);
  syncHours();

  /** @type {import('./forms.js').FieldSet} */
  const both = { clear() { fields.clear(); hoursFields.clear(); }, show(e) { return fields.show(e) || hoursFields.show(e); } };
  const form = formEl('a-form a-routing', s, async () => {
    /** @type {{[k: string]: unknown, hours: object | null}} */
    const settings = {
      mode: modeInputs.ring.checked ? 'ring' : 'broadcast',
      max_chats_per_agent: num(maxChats.value), wait_secs: num(wait.value),
      overflow_team_id: team.value || null, overflow_after_secs: team.value ? (num(after.value) == null ? 0 : num(after.value)) : null,
      hours: null,
    };
    for (const [k, input] of /** @type {[string, HTMLInputElement][]} */ ([['ring_secs', ring], ['incoming_timeout_secs', incoming], ['inactivity_secs', inactivity], ['transfer_secs', transfer]])) {
      if (input.value !== '') settings[k] = Number(input.value);
    }
    if (hoursOn.input.checked) {
      settings.hours = {
        intervals: [...byDay].flatMap(([weekday, ivs]) => ivs.map((iv) => ({ weekday, opens: iv.opens, closes: iv.closes }))),
        closures: closures.filter((c) => c.date).map((c) => ({ date: c.date, label: c.label.trim() })),
      };
    }
    const res = await s.run(both, () => api('PUT', '/api/v1/departments/' + d.id + '/routing', settings));
    if (res && res.data) { view = res.data; showOpen(view); }
  });
  form.append(
    open, modeBox,
    el('div', { class: 'a-row' },
      field(fields, 'ring_secs', 'Ring seconds', ring, 'Ring mode: before the next agent'),
      field(fields, 'max_chats_per_agent', 'Max chats per agent', maxChats, 'Empty: each agent’s own maximum'),
      field(fields, 'incoming_timeout_secs', 'Incoming time-out (s)', incoming, 'Not taken by then: missed'),
      field(fields, 'wait_secs', 'Wait time (s)', wait, 'Then the offline flow; empty: none')),
    el('div', { class: 'a-row' },
      field(fields, 'inactivity_secs', 'Inactivity time-out (s)', inactivity),
      field(fields, 'transfer_secs', 'Transfer answer time (s)', transfer),
      field(fields, 'overflow_team_id', 'Overflow to team', team),
      field(fields, 'overflow_after_secs', 'Overflow after (s)', after)),
    hoursOn.wrap, hoursBox, s.wrap);
  return form;
}
