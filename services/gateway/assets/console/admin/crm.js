// @ts-check
/* Admin ▸ CRM: where new leads are delivered — destinations (ADF e-mails to a CRM's lead
 * intake, or signed webhooks, per rooftop or department), each with "Send test"; the delivery
 * log with its attempts and Redeliver for a dead letter; and the integrators' credentials
 * (integrations.js). docs/leads.md has the deliveries. */

import { el, clear } from '../dom.js';
import { fmtAt } from '../fmt.js';
import { api, errorText } from '../api.js';
import { A, loadDirectory, groupWide } from './state.js';
import { sectionShell } from './section.js';
import { Fields, field, check, textInput, dropdown, saver, formEl, nid, copyText } from './forms.js';
import { integrationsCard } from './integrations.js';

/** @typedef {import('./section.js').Current} Current */
/** @typedef {import('./state.js').Directory} Directory */
/**
 * A destination as GET /api/v1/crm/destinations answers.
 * @typedef {{id: string, name: string, enabled: boolean, rooftop: {id: string, name?: string}, department?: {id: string, label: string} | null,
 *   target?: {kind?: string, url?: string, to?: string, secret_hints?: string[], dealership_name?: string, vendor_email?: string},
 *   disabled_reason?: string | null}} Destination
 */
/**
 * A delivery of the log, with its attempts.
 * @typedef {{id: string, status: string, created_at?: string, destination_name?: string, lead_id?: string, test?: boolean, attempts: number,
 *   last_status_code?: number | null, last_error?: string | null,
 *   log?: {started_at?: string, outcome?: string, status_code?: number | null, error?: string | null}[]}} Delivery
 */

function newSecret() {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return 'whsec_' + btoa(String.fromCharCode(...bytes));
}
const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (c) => (Number(c) ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (Number(c) / 4)))).toString(16)));
const STATUS_TEXT = /** @type {Record<string, string>} */ ({ pending: 'Pending', delivered: 'Delivered', dead_lettered: 'Dead letter', failed: 'Failed', cancelled: 'Cancelled' });

/** @param {HTMLElement} body @param {Current} current */
export async function renderCrm(body, current) {
  const [dir, r] = await Promise.all([loadDirectory(), api('GET', '/api/v1/crm/destinations')]);
  if (!current()) return;
  const box = sectionShell(body, 'CRM', 'Where new leads are delivered: ADF e-mails to a CRM’s lead intake, or signed webhooks.');
  if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the destinations.') })); return; }
  const dests = Array.isArray(r.data) ? r.data : [];
  const list = el('div', { class: 'a-cards', id: 'admin-destinations' });
  for (const d of dests) list.append(destinationCard(d, dir, body, current));
  if (!dests.length) list.append(el('p', { class: 'a-empty', text: 'No destinations yet: leads stay in Showroom.' }));
  const add = el('details', { class: 'a-card', id: 'admin-new-destination' }, el('summary', { text: 'Add a destination' }));
  add.append(destinationForm(null, dir, body, current));
  const log = el('section', { class: 'a-card', id: 'admin-deliveries', 'aria-labelledby': 'admin-deliveries-h' });
  const integrations = el('section', { class: 'a-card', id: 'admin-integrations', 'aria-labelledby': 'admin-integrations-h' });
  // Integrator credentials are the group's: not a rooftop manager's.
  box.append(list, add, log);
  if (groupWide()) box.append(integrations);
  deliveryLog(log, current);
  if (groupWide()) integrationsCard(integrations, current);
}

/** @param {Destination} d @param {Directory} dir @param {HTMLElement} body @param {Current} current */
function destinationCard(d, dir, body, current) {
  const card = el('section', { class: 'a-card a-dest', 'data-destination': d.id, 'aria-label': d.name });
  const t = d.target || {};
  const where = t.kind === 'webhook' ? 'Webhook → ' + t.url : 'ADF e-mail → ' + t.to;
  const scope = ((d.rooftop && d.rooftop.name) || '') + (d.department ? ' · ' + d.department.label : ' · every department');
  const testBtn = el('button', { type: 'button', class: 'small', text: 'Send test' });
  const editBtn = el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-expanded': 'false' });
  const delBtn = el('button', { type: 'button', class: 'small danger', text: 'Delete' });
  const result = el('p', { class: 'a-test-result', role: 'status', 'aria-live': 'polite' });
  const panel = el('div');
  clear(card,
    el('div', { class: 'a-card-head' }, el('h3', { text: d.name }), el('span', { class: 'a-badge ' + (d.enabled ? 'ok' : 'off'), text: d.enabled ? 'Enabled' : 'Disabled' }),
      el('span', { class: 'a-grow' }), testBtn, editBtn, delBtn),
    el('p', { class: 'a-meta a-wrap', text: where }), el('p', { class: 'a-meta', text: scope }),
    t.kind === 'webhook' && t.secret_hints && t.secret_hints.length ? el('p', { class: 'a-meta', text: 'Signing secrets: ' + t.secret_hints.join(', ') }) : null,
    d.disabled_reason ? el('p', { class: 'a-error', text: 'Turned off: ' + d.disabled_reason }) : null,
    freshSecret(d), result, panel);
  testBtn.addEventListener('click', async () => {
    testBtn.disabled = true; testBtn.textContent = 'Sending…';
    result.className = 'a-test-result'; result.textContent = 'Sending a test lead…';
    try {
      const r = await api('POST', '/api/v1/crm/destinations/' + d.id + '/test');
      if (!r.ok) { result.className = 'a-test-result bad'; result.textContent = 'Test failed: ' + errorText(r); }
      else {
        const x = r.data || {};
        const ok = x.status === 'delivered';
        const detail = [x.last_status_code ? 'status ' + x.last_status_code : '', x.last_error || ''].filter(Boolean).join(' — ');
        result.className = 'a-test-result ' + (ok ? 'good' : 'bad');
        result.textContent = ok ? 'Test delivered' + (detail ? ' (' + detail + ')' : '') + '.' : 'Test failed' + (detail ? ': ' + detail : '') + '.';
      }
    } catch (_) {
      result.className = 'a-test-result bad'; result.textContent = 'Test failed: cannot reach the server.';
    }
    testBtn.disabled = false; testBtn.textContent = 'Send test';
  });
  editBtn.addEventListener('click', () => {
    const opening = editBtn.getAttribute('aria-expanded') !== 'true';
    editBtn.setAttribute('aria-expanded', String(opening));
    clear(panel, opening ? destinationForm(d, dir, body, current) : null);
    if (opening) { const f = panel.querySelector('input'); if (f) f.focus(); }
  });
  delBtn.addEventListener('click', async () => {
    if (!window.confirm('Delete the destination “' + d.name + '”? It receives no more leads; its log stays.')) return;
    delBtn.disabled = true; result.className = 'a-test-result'; result.textContent = 'Deleting…';
    const r = await api('DELETE', '/api/v1/crm/destinations/' + d.id).catch(() => null);
    if (r && r.ok) { result.textContent = 'Deleted'; setTimeout(() => { if (current()) renderCrm(body, current); }, 400); return; }
    result.className = 'a-test-result bad'; result.textContent = 'Not deleted: ' + errorText(r, 'cannot reach the server.');
    delBtn.disabled = false;
  });
  return card;
}

/** The signing secret just saved with a webhook, shown this once on its card (never again:
 * the server keeps only a hint to show). */
/** @param {Destination} d */
function freshSecret(d) {
  const f = A.freshSecret;
  if (!f || f.id !== d.id) return null;
  A.freshSecret = null;
  const out = el('input', { type: 'text', readOnly: true, class: 'a-mono', value: f.secret, id: nid('fresh') });
  const st = el('span', { class: 'a-status', role: 'status' });
  return el('div', { class: 'a-field a-fresh-secret' },
    el('label', { for: out.id, text: 'Signing secret — shown only now: copy it to the receiver' }), out,
    el('span', { class: 'a-row-inline' }, el('button', { type: 'button', class: 'small', text: 'Copy secret', on: { click: () => copyText(out.value, out, st) } }), st));
}

/** A destination's form: a new one when `d` is null. @param {Destination | null} d @param {Directory} dir @param {HTMLElement} body @param {Current} current */
function destinationForm(d, dir, body, current) {
  const fields = new Fields(), s = saver(d ? 'Save destination' : 'Add destination');
  const t = (d && d.target) || { kind: 'webhook' };
  const name = textInput(d ? d.name : '', { maxLength: 100, placeholder: 'e.g. DealerSocket Sales' });
  const rooftop = dropdown(dir.rooftops.map((rt) => [rt.id, rt.name]), d ? d.rooftop.id : null);
  const department = el('select');
  const fillDeps = () => {
    const rt = dir.rooftops.find((x) => x.id === rooftop.value);
    clear(department, el('option', { value: '', text: 'Every department' }), ((rt && rt.departments) || []).map((x) => el('option', { value: x.id, text: x.label })));
    const now = d && d.department;
    department.value = now && rt && (rt.departments || []).some((x) => x.id === now.id) ? now.id : '';
  };
  rooftop.addEventListener('change', fillDeps); fillDeps();
  const enabled = check(fields, 'enabled', 'Enabled: receives new leads', d ? d.enabled : true);
  const kindName = nid('kind');
  /** @type {Record<string, HTMLInputElement>} */
  const kinds = {};
  const kindBox = el('fieldset', { class: 'a-fieldset' }, el('legend', { text: 'Kind' }));
  for (const [v, label] of [['webhook', 'Webhook (signed HTTP POST)'], ['adf_email', 'ADF e-mail']]) {
    kinds[v] = el('input', { type: 'radio', name: kindName, value: v, checked: t.kind === v, id: nid('k'), disabled: !!d });
    kindBox.append(el('div', { class: 'a-check' }, el('label', { for: kinds[v].id }, kinds[v], ' ', label)));
  }
  const url = el('input', { type: 'url', value: t.url || '', placeholder: 'https://crm.example/leads' });
  const secret = el('input', { type: 'text', readOnly: true, class: 'a-mono', value: newSecret() });
  const secretState = el('span', { class: 'a-status', role: 'status' });
  const copySecret = el('button', { type: 'button', class: 'small', text: 'Copy secret', on: { click: () => copyText(secret.value, secret, secretState) } });
  const regen = el('button', { type: 'button', class: 'small', text: 'New secret', on: { click: () => { secret.value = newSecret(); s.reset(); } } });
  const to = el('input', { type: 'email', value: t.to || '', placeholder: 'leads@crm.example' });
  const dealer = textInput(t.dealership_name || '', { maxLength: 200, placeholder: 'Defaults to the rooftop’s name' });
  const vendor = el('input', { type: 'email', value: t.vendor_email || '', placeholder: 'Defaults to the address above' });
  const hookBox = el('div', { class: 'a-kind-webhook' },
    field(fields, 'target.url', 'URL', url),
    el('div', { class: 'a-field' }, el('label', { for: secret.id = nid('sec'), text: 'Signing secret' }), secret, el('span', { class: 'a-row-inline' }, copySecret, regen, secretState),
      el('p', { class: 'a-hint a-once', text: d ? 'Saving replaces the signing secret with this one. It is shown only now: give it to the receiver.' : 'Shown only now: copy it to the receiver, which checks every delivery’s signature with it.' })));
  fields.add('target.secrets', secret, /** @type {HTMLElement} */ (hookBox.lastChild));
  const adfBox = el('div', { class: 'a-kind-adf' }, el('div', { class: 'a-row' },
    field(fields, 'target.to', 'CRM lead intake address', to), field(fields, 'target.dealership_name', 'Dealership name', dealer), field(fields, 'target.vendor_email', 'Dealership contact e-mail', vendor)));
  const syncKind = () => { hookBox.hidden = !kinds.webhook.checked; adfBox.hidden = !kinds.adf_email.checked; };
  Object.values(kinds).forEach((k) => k.addEventListener('change', syncKind)); syncKind();
  const form = formEl('a-form', s, async () => {
    const target = kinds.webhook.checked
      ? { kind: 'webhook', url: url.value.trim(), secrets: [secret.value] }
      : Object.assign({ kind: 'adf_email', to: to.value.trim() }, dealer.value.trim() ? { dealership_name: dealer.value.trim() } : {}, vendor.value.trim() ? { vendor_email: vendor.value.trim() } : {});
    const b = { rooftop_id: rooftop.value, department_id: department.value || null, name: name.value.trim(), enabled: enabled.input.checked, target };
    const id = d ? d.id : (form.dataset.id || (form.dataset.id = uuid()));
    const r = await s.run(fields, () => api('PUT', '/api/v1/crm/destinations/' + id, b));
    if (r) {
      if (target.kind === 'webhook') A.freshSecret = { id, secret: secret.value };
      setTimeout(() => { if (current()) renderCrm(body, current); }, 800);
    }
  });
  form.append(el('div', { class: 'a-row' }, field(fields, 'name', 'Name', name), field(fields, 'rooftop_id', 'Rooftop', rooftop), field(fields, 'department_id', 'Department', department)),
    enabled.wrap, kindBox, hookBox, adfBox, s.wrap);
  return form;
}

/** @param {HTMLElement} box @param {Current} current */
async function deliveryLog(box, current) {
  const state = el('p', { class: 'a-meta', role: 'status' });
  const refresh = el('button', { type: 'button', class: 'small', text: 'Refresh' });
  const out = el('div', { class: 'a-table-wrap' });
  clear(box, el('div', { class: 'a-card-head' }, el('h3', { id: 'admin-deliveries-h', text: 'Delivery log' }), el('span', { class: 'a-grow' }), refresh), state, out);
  async function load() {
    state.textContent = 'Loading…';
    const r = await api('GET', '/api/v1/crm/deliveries?limit=50').catch(() => null);
    if (!current()) return;
    if (!r || !r.ok) { state.textContent = 'Cannot load the log: ' + errorText(r, 'cannot reach the server.'); return; }
    /** @type {Delivery[]} */
    const rows = Array.isArray(r.data) ? r.data : [];
    state.textContent = rows.length ? 'The latest ' + rows.length + (rows.length === 1 ? ' delivery' : ' deliveries') + ', newest first.' : 'No deliveries yet.';
    const table = el('table', { class: 'a-table a-log' }, el('caption', { class: 'sr-only', text: 'Deliveries of leads to CRMs, newest first' }),
      el('thead', null, el('tr', null, ['When', 'Destination', 'Lead', 'Status', 'Attempts', 'Last answer', ''].map((x) => el('th', { scope: 'col', text: x })))));
    const tb = el('tbody');
    for (const x of rows) {
      const act = el('td');
      if (x.status === 'dead_lettered') {
        const btn = el('button', { type: 'button', class: 'small', text: 'Redeliver' });
        const st = el('span', { class: 'a-status', role: 'status' });
        btn.addEventListener('click', async () => {
          btn.disabled = true; st.textContent = 'Sending…';
          const res = await api('POST', '/api/v1/crm/deliveries/' + x.id + '/redeliver').catch(() => null);
          st.textContent = res && res.ok ? 'Queued again' : 'Not redelivered: ' + errorText(res, 'cannot reach the server.');
          if (res && res.ok) setTimeout(load, 1500); else btn.disabled = false;
        });
        act.append(btn, st);
      }
      const attempts = el('details', null, el('summary', { text: String(x.attempts) }),
        el('ol', { class: 'a-attempts' }, (x.log || []).map((a) => el('li', { text: fmtAt(a.started_at) + ' — ' + a.outcome + (a.status_code ? ' ' + a.status_code : '') + (a.error ? ': ' + a.error : '') }))));
      tb.append(el('tr', { 'data-delivery': x.id },
        el('td', { text: fmtAt(x.created_at) }),
        el('td', { class: 'a-wrap', text: x.destination_name }),
        el('td', { text: x.test ? 'Test lead' : String(x.lead_id).slice(0, 8) }),
        el('td', null, el('span', { class: 'a-badge st-' + x.status, text: STATUS_TEXT[x.status] || x.status })),
        el('td', null, (x.log || []).length ? attempts : String(x.attempts)),
        el('td', { class: 'a-wrap', text: [x.last_status_code, x.last_error].filter((v) => v != null && v !== '').join(' — ') || '—' }),
        act));
    }
    table.append(tb);
    clear(out, rows.length ? table : null);
  }
  refresh.addEventListener('click', load);
  await load();
}
