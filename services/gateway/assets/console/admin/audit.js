// @ts-check
/* Admin ▸ Audit trail (group managers and admins): who did what in the dealer group, newest
 * first — filtered by kind, agent and dates, paged with "Older", downloaded as CSV with the same
 * filters (GET /api/v1/audit.csv), and "Verify chain", which asks the server to walk the
 * group's hash chain (GET /api/v1/audit/verify) and says whether a row was edited or removed.
 * The head of each intact check is kept in this browser (localStorage) and sent as the next
 * check's anchor, so rows removed from the end since are found too.
 * The rows come from libs/rest/src/audit_api.rs. */

import { el, clear } from '../dom.js';
import { fmtAt } from '../fmt.js';
import { api, errorText } from '../api.js';
import { sectionShell } from './section.js';
import { A } from './state.js';

/** @typedef {import('./section.js').Current} Current */
/**
 * A row as GET /api/v1/audit answers.
 * @typedef {{id: number, at: string, actor_id?: string | null, actor_label: string, kind: string, subject?: string | null,
 *   ip?: string | null, ip_source?: string | null, detail?: Record<string, unknown>}} AuditRow
 */

/** The kinds a filter offers, with their labels (the server accepts any kind). */
export const KINDS = /** @type {[string, string][]} */ ([
  ['sign_in', 'Signed in'],
  ['sign_in_failed', 'Sign-in failed'],
  ['agent_created', 'Agent added'],
  ['role_changed', 'Role changed'],
  ['agent_changed', 'Agent changed'],
  ['membership_changed', 'Departments changed'],
  ['agent_deactivated', 'Deactivated'],
  ['agent_reactivated', 'Reactivated'],
  ['password_changed', 'Password changed'],
  ['crm_destination_changed', 'CRM destination changed'],
  ['integration_issued', 'Integration issued'],
  ['integration_revoked', 'Integration revoked'],
  ['transcript_viewed', 'Transcript viewed'],
  ['transcript_exported', 'Transcript exported'],
  ['leads_exported', 'Leads exported'],
  ['report_exported', 'Report exported'],
  ['appointments_exported', 'Appointments exported'],
  ['appointment_settings_changed', 'Appointment settings changed'],
  ['scope_changed', 'Rooftops managed changed'],
  ['rooftop_changed', 'Rooftop changed'],
  ['department_changed', 'Department changed'],
  ['website_changed', 'Website changed'],
  ['routing_changed', 'Routing changed'],
  ['team_changed', 'Team changed'],
  ['bot_settings_changed', 'Bot settings changed'],
  ['form_changed', 'Form changed'],
  ['website_emails_changed', 'Website e-mails changed'],
  ['mfa_enrolled', 'Second factor added'],
  ['mfa_removed', 'Second factor removed'],
  ['recovery_codes_regenerated', 'Recovery codes replaced'],
  ['mfa_reset', 'Second factors reset'],
  ['mfa_policy_changed', 'MFA policy changed'],
  ['sso_settings_changed', 'Single sign-on changed'],
  ['sso_logout', 'Signed out by the identity provider'],
  ['canned_response_changed', 'Canned response changed'],
  ['payment_settings_changed', 'Payment settings changed'],
  ['retention_changed', 'Retention changed'],
  ['shopper_erased', 'Shopper erased'],
  ['shopper_exported', 'Shopper data exported'],
]);

const kindLabel = (/** @type {string} */ k) => (KINDS.find(([key]) => key === k) || [k, k])[1];

/** One line of what changed: the detail's fields, before → after when both are there. @param {AuditRow} r */
function detailText(r) {
  const d = r.detail || {};
  const before = /** @type {Record<string, unknown> | undefined} */ (d.before);
  const after = /** @type {Record<string, unknown> | undefined} */ (d.after);
  const show = (/** @type {unknown} */ v) => (typeof v === 'string' ? v : JSON.stringify(v));
  const parts = [];
  if (before && after && typeof before === 'object' && typeof after === 'object') {
    for (const k of Object.keys({ ...before, ...after })) {
      if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) parts.push(k + ': ' + show(before[k]) + ' → ' + show(after[k]));
    }
  }
  for (const [k, v] of Object.entries(d)) {
    if (k !== 'before' && k !== 'after') parts.push(k + ': ' + show(v));
  }
  return parts.join('; ');
}

/** @param {HTMLElement} body @param {Current} current */
export async function renderAudit(body, current) {
  const people = await api('GET', '/api/v1/agents');
  if (!current()) return;
  /** @type {{id: string, first_name: string, last_name: string}[]} */
  const agents = people.ok && Array.isArray(people.data) ? people.data : [];
  const box = sectionShell(body, 'Audit trail', 'Sign-ins, second factors, changes to agents, settings and CRM destinations, transcript views and exports, erasures. Nobody can edit it from Showroom; each row holds the hash of the one before, so an edited or removed row is found by “Verify chain”.');
  const kind = el('select', { id: 'admin-audit-kind', 'aria-label': 'Kind' }, el('option', { value: '', text: 'Every kind' }),
    ...KINDS.map(([k, label]) => el('option', { value: k, text: label })));
  const actor = el('select', { id: 'admin-audit-actor', 'aria-label': 'Agent' }, el('option', { value: '', text: 'Anyone' }),
    ...agents.map((a) => el('option', { value: a.id, text: a.first_name + ' ' + a.last_name })));
  const from = el('input', { type: 'date', id: 'admin-audit-from', 'aria-label': 'From' });
  const to = el('input', { type: 'date', id: 'admin-audit-to', 'aria-label': 'To' });
  const csv = el('a', { class: 'a-link', id: 'admin-audit-csv', text: 'Download CSV', href: '/api/v1/audit.csv', download: 'audit.csv' });
  const check = el('button', { type: 'button', class: 'small', id: 'admin-audit-verify', text: 'Verify chain' });
  const verdict = el('p', { class: 'a-meta', role: 'status', id: 'admin-audit-verdict' });
  const rows = el('tbody', { id: 'admin-audit-rows' });
  const table = el('div', { class: 'a-table-wrap' }, el('table', { class: 'a-table' },
    el('thead', {}, el('tr', {}, ...['When', 'Who', 'What', 'About', 'Address', 'Detail'].map((t) => el('th', { scope: 'col', text: t })))), rows));
  const older = el('button', { type: 'button', class: 'small', id: 'admin-audit-older', text: 'Older', hidden: true });
  const state = el('p', { class: 'a-meta', role: 'status', id: 'admin-audit-state' });
  box.append(el('div', { class: 'a-toolbar' }, kind, actor, from, to, csv, check), verdict, state, table, older);

  /** The filters as a query string (dates as the start of the local day; `to` inclusive). */
  const query = () => {
    const q = new URLSearchParams();
    if (kind.value) q.set('kind', kind.value);
    if (actor.value) q.set('actor_id', actor.value);
    if (from.value) q.set('from', new Date(from.value + 'T00:00').toISOString());
    if (to.value) {
      const end = new Date(to.value + 'T00:00');
      end.setDate(end.getDate() + 1);
      q.set('to', end.toISOString());
    }
    return q;
  };
  /** @type {number | null} */
  let before = null;
  let token = 0;
  /** @param {boolean} more */
  const load = async (more) => {
    const mine = ++token;
    const q = query();
    csv.setAttribute('href', '/api/v1/audit.csv' + (q.size ? '?' + q : ''));
    if (more && before != null) q.set('before_id', String(before));
    q.set('limit', '100');
    state.textContent = 'Loading…';
    const r = await api('GET', '/api/v1/audit?' + q);
    if (!current() || mine !== token) return;
    if (!r.ok) { state.textContent = errorText(r, 'Cannot read the audit trail.'); return; }
    /** @type {AuditRow[]} */
    const events = (r.data && r.data.events) || [];
    if (!more) clear(rows);
    for (const e of events) {
      rows.append(el('tr', { 'data-audit-id': String(e.id), 'data-kind': e.kind },
        el('td', { class: 'a-num', text: fmtAt(e.at) }),
        el('td', { text: e.actor_label }),
        el('td', { text: kindLabel(e.kind) }),
        el('td', { text: e.subject || '' }),
        el('td', { text: e.ip ? e.ip + (e.ip_source && e.ip_source !== 'peer' ? ' (' + e.ip_source + ')' : '') : '' }),
        el('td', { text: detailText(e) })));
    }
    before = r.data ? r.data.next_before_id ?? null : null;
    older.hidden = before == null;
    state.textContent = rows.childElementCount ? '' : 'Nothing matches these filters.';
  };
  for (const f of [kind, actor, from, to]) f.addEventListener('change', () => { before = null; load(false); });
  older.addEventListener('click', () => load(true));
  // The last intact check's head, per agent: the next check's anchor.
  const anchorKey = 'showroom.audit.anchor.' + (A.me ? A.me.id : '');
  check.addEventListener('click', async () => {
    verdict.textContent = 'Checking…';
    /** @type {{id: number, hash: string} | null} */
    let anchor = null;
    try { anchor = JSON.parse(localStorage.getItem(anchorKey) || 'null'); } catch (_) { /* none kept */ }
    const q = anchor && anchor.id && anchor.hash ? '?' + new URLSearchParams({ anchor_id: String(anchor.id), anchor_hash: anchor.hash }) : '';
    const r = await api('GET', '/api/v1/audit/verify' + q);
    if (!current()) return;
    if (!r.ok) { verdict.textContent = errorText(r, 'Cannot check the chain.'); return; }
    const d = r.data || {};
    verdict.className = d.ok ? 'a-status' : 'a-error';
    if (!d.ok) {
      verdict.textContent = 'The chain is broken at row ' + d.broken_at + ': ' + d.why;
      return;
    }
    verdict.textContent = 'The chain is intact: ' + d.rows + ' rows, none edited or removed'
      + (anchor ? ' (row ' + anchor.id + ' of your last check is still there)' : '') + '. Head: row ' + d.head_id + ', ' + String(d.head_hash || '').slice(0, 16) + '…';
    if (d.head_id && d.head_hash) {
      try { localStorage.setItem(anchorKey, JSON.stringify({ id: d.head_id, hash: d.head_hash })); } catch (_) { /* not kept */ }
    }
  });
  await load(false);
}
