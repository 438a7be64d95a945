// @ts-check
/* Admin ▸ Privacy (group managers and admins): how long the group keeps shoppers' data after
 * its last use (GET/PUT /api/v1/retention: transcripts, attachments, contacts, leads, in days;
 * 730 — the FTC Safeguards Rule's two years — unless changed), and a shopper's requests:
 * "Export" downloads everything the group holds of one shopper as JSON
 * (GET /api/v1/privacy/export), "Erase" deletes it in every service after a confirmation
 * (POST /api/v1/privacy/erasures) and shows what went, table by table. Both find the shopper
 * by e-mail or phone and are recorded in the audit trail without the e-mail or phone. The
 * server side is libs/rest/src/privacy_api.rs. */

import { el } from '../dom.js';
import { api, errorText } from '../api.js';
import { sectionShell } from './section.js';
import { Fields, field, numberInput, num, saver, formEl, dropdown, textInput } from './forms.js';

/** @typedef {import('./section.js').Current} Current */
/** @typedef {{transcripts_days: number, attachments_days: number, contacts_days: number, leads_days: number}} Periods */

/** Each period: its field, label and what "last use" means for it. */
const PERIODS = /** @type {[keyof Periods, string, string][]} */ ([
  ['transcripts_days', 'Transcripts (days)', 'Conversations, their messages and form answers: counted from the last message or the end of the chat.'],
  ['attachments_days', 'Attachments (days)', 'Files shoppers attached to forms: counted from the upload.'],
  ['contacts_days', 'Contacts (days)', 'Names, e-mail, phone and consent: counted from the last lead made or merged for them, once no lead of theirs is left.'],
  ['leads_days', 'Leads (days)', 'Leads, messages left and CRM deliveries: counted from their last change.'],
]);

/** @param {HTMLElement} body @param {Current} current */
export async function renderPrivacy(body, current) {
  const r = await api('GET', '/api/v1/retention');
  if (!current()) return;
  const box = sectionShell(body, 'Privacy', 'How long shoppers’ data is kept after its last use, and shoppers’ requests to see or delete what the group holds of them. A sweep in every service deletes what is past its period.');
  if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the retention periods.') })); return; }
  box.append(retentionForm(/** @type {Periods} */ (r.data)), requests(current));
}

/** The four periods and their Save. @param {Periods} periods */
function retentionForm(periods) {
  const fields = new Fields();
  const s = saver('Save periods');
  /** @type {Record<string, HTMLInputElement>} */
  const inputs = {};
  const form = formEl('a-form', s, async () => {
    /** @type {Record<string, number | null>} */
    const next = {};
    for (const [key] of PERIODS) next[key] = num(inputs[key].value);
    await s.run(fields, () => api('PUT', '/api/v1/retention', next));
  });
  form.id = 'admin-retention-form';
  form.append(el('h3', { class: 'a-h3', text: 'Retention periods' }));
  for (const [key, label, hint] of PERIODS) {
    const input = inputs[key] = numberInput(periods[key], { id: 'admin-retention-' + key, min: 1, max: 3650, step: 1 });
    form.append(field(fields, key, label, input, hint));
  }
  form.append(s.wrap);
  return form;
}

/** Export and erase one shopper. @param {Current} current */
function requests(current) {
  const kind = dropdown([['email', 'E-mail'], ['phone', 'Phone']], 'email', { id: 'admin-privacy-kind', 'aria-label': 'Find the shopper by' });
  const who = textInput('', { id: 'admin-privacy-who', 'aria-label': 'The shopper’s e-mail or phone', placeholder: 'shopper@example.com' });
  const exportBtn = el('button', { type: 'button', class: 'small', id: 'admin-privacy-export', text: 'Export (JSON)' });
  const eraseBtn = el('button', { type: 'button', class: 'small danger', id: 'admin-privacy-erase', text: 'Erase…' });
  const status = el('p', { class: 'a-meta', role: 'status', 'aria-live': 'polite', id: 'admin-privacy-status' });
  const result = el('div', { id: 'admin-privacy-result' });
  kind.addEventListener('change', () => { who.placeholder = kind.value === 'email' ? 'shopper@example.com' : '(312) 555-0134'; });

  /** The identifier as the API takes it, or null (and says why). */
  const identifier = () => {
    const v = who.value.trim();
    if (!v) { status.textContent = 'Enter the shopper’s ' + (kind.value === 'email' ? 'e-mail address.' : 'phone number.'); who.focus(); return null; }
    return { [kind.value]: v };
  };

  exportBtn.addEventListener('click', async () => {
    const id = identifier();
    if (!id) return;
    status.textContent = 'Exporting…';
    const r = await api('GET', '/api/v1/privacy/export?' + new URLSearchParams(id));
    if (!current()) return;
    if (r.status === 404) { status.textContent = 'The group holds nothing of this shopper.'; return; }
    if (!r.ok) { status.textContent = errorText(r, 'Cannot export.'); return; }
    const blob = new Blob([JSON.stringify(r.data, null, 2)], { type: 'application/json' });
    const a = el('a', { href: URL.createObjectURL(blob), download: 'shopper-export.json' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    const tables = r.data && r.data.tables ? Object.keys(r.data.tables).length : 0;
    status.textContent = 'Exported: ' + tables + ' kinds of records, downloaded as shopper-export.json.';
  });

  eraseBtn.addEventListener('click', async () => {
    const id = identifier();
    if (!id) return;
    // The identifier stays in this browser: the confirmation names it, the trail will not.
    if (!window.confirm('Erase everything the group holds of ' + who.value.trim() + '? Chats, files, forms, messages left, contact, leads and pending CRM deliveries are deleted for good.')) return;
    status.textContent = 'Erasing…';
    eraseBtn.disabled = true;
    try {
      const r = await api('POST', '/api/v1/privacy/erasures', id);
      if (!current()) return;
      if (!r.ok) {
        status.textContent = r.status === 503
          ? 'Not finished: a service did not answer. Nothing is recorded as done; erase again to finish.'
          : errorText(r, 'Cannot erase.');
        return;
      }
      /** @type {Record<string, number>} */
      const counts = (r.data && r.data.counts) || {};
      const rows = Object.entries(counts).filter(([, n]) => n > 0);
      status.textContent = rows.length ? 'Erased ' + r.data.total + ' records.' : 'Nothing of this shopper was left.';
      result.replaceChildren(...(rows.length ? [el('table', { class: 'a-table', id: 'admin-privacy-counts' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Records' }), el('th', { scope: 'col', text: 'Deleted' }))),
        el('tbody', {}, ...rows.map(([t, n]) => el('tr', { 'data-table': t }, el('td', { text: t.replace(/_/g, ' ') }), el('td', { class: 'a-num', text: String(n) })))))] : []));
    } finally {
      eraseBtn.disabled = false;
    }
  });

  return el('div', { class: 'a-form', id: 'admin-privacy-requests' },
    el('h3', { class: 'a-h3', text: 'A shopper’s request' }),
    el('p', { class: 'a-hint', text: 'Find the shopper by the e-mail or phone they gave. Export answers an access request; Erase a deletion request. Copies already delivered to your CRM are not reached: delete them there.' }),
    el('div', { class: 'a-toolbar' }, kind, who, exportBtn, eraseBtn), status, result);
}
