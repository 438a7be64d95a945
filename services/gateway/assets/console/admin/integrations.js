// @ts-check
/* Admin ▸ CRM ▸ Integrations: NATS credentials for an integrator (a CRM, a data warehouse) to
 * read this group's lead events, live and from its own queue while it is away. Admins issue and
 * revoke them; managers see the list. The .creds text is shown once, at issue (docs/leads.md). */

import { el, clear } from '../dom.js';
import { fmtAt } from '../fmt.js';
import { api, errorText } from '../api.js';
import { A } from './state.js';
import { Fields, field, textInput, saver, formEl, nid, copyText } from './forms.js';

/** @param {HTMLElement} box @param {import('./section.js').Current} current */
export async function integrationsCard(box, current) {
  const admin = !!(A.me && A.me.role === 'admin');
  const state = el('p', { class: 'a-meta', role: 'status' });
  const fresh = el('div');
  const out = el('div', { class: 'a-table-wrap' });
  const fields = new Fields(), s = saver('Issue credential');
  const name = textInput('', { maxLength: 100, placeholder: 'e.g. DealerSocket' });
  const form = formEl('a-form', s, async () => {
    const r = await s.run(fields, () => api('POST', '/api/v1/integrations', { name: name.value.trim() }));
    if (r) { name.value = ''; showFresh(r.data); load(); }
  });
  form.append(el('div', { class: 'a-row' }, field(fields, 'name', 'Name of the integration', name)), s.wrap);
  clear(box, el('div', { class: 'a-card-head' }, el('h3', { id: 'admin-integrations-h', text: 'Integrations' })),
    el('p', { class: 'a-meta', text: 'Credentials for an integrator (a CRM, a data warehouse) to receive this group’s new and updated leads over NATS, live and from its own queue while it is away. Each reads this group only.' }),
    admin ? form : el('p', { class: 'a-meta', text: 'An admin issues and revokes them.' }), fresh, state, out);
  /**
   * The credential just issued: its .creds text, shown this once.
   * @param {{creds?: string, integration: {name?: string, access?: {subjects?: string[], consumer?: string, stream?: string, inbox_prefix?: string}}} | null} x
   */
  function showFresh(x) {
    const text = x && x.creds;
    if (!text) return;
    const area = el('textarea', { readOnly: true, class: 'a-mono', rows: 6, id: nid('creds'), value: text });
    const st = el('span', { class: 'a-status', role: 'status' });
    const file = (x.integration.name || 'integration').replace(/[^A-Za-z0-9_-]+/g, '-') + '.creds';
    const link = el('a', { class: 'a-download', download: file, text: 'Download ' + file,
      href: URL.createObjectURL(new Blob([text], { type: 'text/plain' })) });
    const a = x.integration.access || {};
    clear(fresh, el('div', { class: 'a-field a-fresh-secret', id: 'admin-integration-creds' },
      el('label', { for: area.id, text: 'Credentials of “' + x.integration.name + '” — shown only now: download them or copy them to the integrator' }), area,
      el('span', { class: 'a-row-inline' }, link, el('button', { type: 'button', class: 'small', text: 'Copy', on: { click: () => copyText(text, area, st) } }), st),
      el('p', { class: 'a-hint', text: 'Subjects: ' + (a.subjects || []).join(', ') + ' · queue: consumer ' + a.consumer + ' on stream ' + a.stream + ' · inbox prefix ' + a.inbox_prefix + ' (see docs/leads.md)' })));
  }
  async function load() {
    state.textContent = 'Loading…';
    const r = await api('GET', '/api/v1/integrations').catch(() => null);
    if (!current()) return;
    if (!r || !r.ok) { state.textContent = 'Cannot load the integrations: ' + errorText(r, 'cannot reach the server.'); return; }
    const rows = Array.isArray(r.data) ? r.data : [];
    state.textContent = rows.length ? '' : 'No integrations yet.';
    const tb = el('tbody');
    for (const x of rows) {
      const act = el('td');
      if (admin && !x.revoked_at) {
        const btn = el('button', { type: 'button', class: 'small danger', text: 'Revoke', 'aria-label': 'Revoke ' + x.name });
        const st = el('span', { class: 'a-status', role: 'status' });
        btn.addEventListener('click', async () => {
          if (!window.confirm('Revoke “' + x.name + '”? It is disconnected now and can never connect again.')) return;
          btn.disabled = true; st.textContent = 'Revoking…';
          const res = await api('DELETE', '/api/v1/integrations/' + x.id).catch(() => null);
          if (res && res.ok) { if (current()) load(); return; }
          st.textContent = 'Not revoked: ' + errorText(res, 'cannot reach the server.'); btn.disabled = false;
        });
        act.append(btn, st);
      }
      const by = (/** @type {{name?: string} | null | undefined} */ p) => (p && p.name ? ' by ' + p.name : '');
      tb.append(el('tr', { 'data-integration': x.id },
        el('td', { class: 'a-wrap', text: x.name }),
        el('td', { text: fmtAt(x.created_at) + by(x.created_by) }),
        el('td', { text: x.last_used_at ? fmtAt(x.last_used_at) : 'Never' }),
        el('td', null, el('span', { class: 'a-badge ' + (x.revoked_at ? 'off' : 'ok'), text: x.revoked_at ? 'Revoked ' + fmtAt(x.revoked_at) + by(x.revoked_by) : 'Active' })),
        act));
    }
    clear(out, rows.length ? el('table', { class: 'a-table', id: 'admin-integrations-list' },
      el('caption', { class: 'sr-only', text: 'Integrator credentials, newest first' }),
      el('thead', null, el('tr', null, ['Name', 'Issued', 'Last used', 'Status', ''].map((h) => el('th', { scope: 'col', text: h })))), tb) : null);
  }
  load();
}

