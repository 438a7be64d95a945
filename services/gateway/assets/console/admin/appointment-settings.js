// @ts-check
/* Admin ▸ Rooftops & departments, a department's Appointments: the kinds it books, the slot
 * length and the appointments per slot (GET/PUT /api/v1/departments/{id}/appointment-settings,
 * docs/protocol.md "Appointments"; audited as appointment_settings_changed). Slots come from the
 * department's hours, so hours are set in its Routing. */

import { el } from '../dom.js';
import { api, errorText } from '../api.js';
import { Fields, field, check, numberInput, saver, formEl, num } from './forms.js';

/** @typedef {import('./state.js').Department} Department */

/** @type {[string, string][]} */
const KINDS = [['test_drive', 'Test drive'], ['sales_visit', 'Sales visit'], ['service', 'Service'], ['other', 'Other']];

/** The editor of `d`'s appointment settings, loaded. @param {Department} d @returns {Promise<HTMLElement>} */
export async function appointmentEditor(d) {
  const r = await api('GET', '/api/v1/departments/' + d.id + '/appointment-settings');
  if (!r.ok || !r.data) return el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot load the appointment settings.') });
  const cur = /** @type {{kinds: string[], slot_minutes: number, capacity: number}} */ (r.data);
  const fields = new Fields(), s = saver();
  const boxes = KINDS.map(([k, label]) => ({ k, ...check(null, null, label, cur.kinds.includes(k)) }));
  const kinds = el('fieldset', { class: 'a-kinds' }, el('legend', { text: 'Kinds it books' }), ...boxes.map((b) => b.wrap));
  fields.add('kinds', kinds);
  const minutes = numberInput(cur.slot_minutes, { min: 10, max: 240, step: 5 });
  const capacity = numberInput(cur.capacity, { min: 1, max: 100 });
  const form = formEl('a-form a-inline-form a-appt-settings', s, () => {
    const b = { kinds: boxes.filter((x) => x.input.checked).map((x) => x.k), slot_minutes: num(minutes.value), capacity: num(capacity.value) };
    s.run(fields, () => api('PUT', '/api/v1/departments/' + d.id + '/appointment-settings', b));
  });
  form.append(kinds, el('div', { class: 'a-row' },
    field(fields, 'slot_minutes', 'Slot length (minutes)', minutes, '10 to 240; slots follow the department’s hours'),
    field(fields, 'capacity', 'Appointments per slot', capacity, '1 to 100')), s.wrap);
  return form;
}
