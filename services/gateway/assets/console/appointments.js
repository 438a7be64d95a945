// @ts-check
/* Appointments (issue 20, item 1; REST in docs/protocol.md, "Appointments"): in the Details
 * column, the chat's appointments with Move and Cancel, and booking one: pick the kind, the day and a
 * free slot of the chat's department (times in the rooftop's zone, as the slots are offered), or
 * offer the shopper the free times (a 📅 reply: the widget shows its slot picker under it);
 * and the Appointments view: a rooftop's appointments for a week. Text only, never markup. */

import { $, el, h } from './dom.js';
import { api, errorText, sessionEnded } from './api.js';

/**
 * @typedef {object} Appointment
 * @property {string} id
 * @property {string} kind
 * @property {string} starts_at
 * @property {string} ends_at
 * @property {string} time_zone
 * @property {string} state
 * @property {string} department
 * @property {string | null} [name]
 * @property {string | null} [email]
 * @property {string} booked_by
 */
/** @typedef {{starts_at: string, ends_at: string, remaining: number}} Slot */

const KINDS = /** @type {Record<string, string>} */ ({ test_drive: 'Test drive', sales_visit: 'Sales visit', service: 'Service', other: 'Other' });

/** "Mon, Dec 7, 10:00" in `tz`. @param {string} at @param {string} tz @param {boolean} [withDay] */
function local(at, tz, withDay = true) {
  /** @type {Intl.DateTimeFormatOptions} */
  const o = withDay ? { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' } : { hour: '2-digit', minute: '2-digit' };
  try { return new Date(at).toLocaleString([], { ...o, timeZone: tz }); } catch (_) { return new Date(at).toLocaleString([], o); }
}

/** Today in `tz` as YYYY-MM-DD. @param {string} tz */
function today(tz) {
  try { return new Date().toLocaleDateString('en-CA', { timeZone: tz }); } catch (_) { return new Date().toISOString().slice(0, 10); }
}

/**
 * One appointment as a line, with Move (to the time picked in the booking form below; the new
 * seat is taken before the old one is freed) and Cancel while booked.
 * @param {Appointment} a @param {() => void} after
 */
function line(a, after) {
  const li = el('li', { class: 'appt' + (a.state === 'cancelled' ? ' appt-cancelled' : ''), 'data-key': a.id },
    h('span', '', (KINDS[a.kind] || a.kind) + ' · ' + local(a.starts_at, a.time_zone) + '–' + local(a.ends_at, a.time_zone, false)
      + ' · ' + a.department + (a.name ? ' · ' + a.name : '') + (a.state === 'cancelled' ? ' · cancelled' : '')));
  if (a.state !== 'cancelled') {
    /** @param {string} path @param {object} [body] */
    const act = async (path, body) => {
      const r = await api('POST', '/api/v1/appointments/' + encodeURIComponent(a.id) + path, body);
      if (r.status === 401) return sessionEnded();
      $('appt-status').textContent = r.ok ? (path === '/reschedule' ? 'Moved.' : 'Cancelled.') : errorText(r);
      after();
    };
    const move = () => {
      const pick = /** @type {HTMLSelectElement} */ ($('appt-slot'));
      if (!pick.value) { $('appt-status').textContent = 'Pick a day and a free time below first, then Move.'; return; }
      act('/reschedule', { starts_at: pick.value });
    };
    li.append(' ',
      el('button', { type: 'button', class: 'small appt-move', text: 'Move', 'aria-label': 'Move the appointment to the time picked below', on: { click: move } }),
      ' ',
      el('button', { type: 'button', class: 'small', text: 'Cancel', 'aria-label': 'Cancel the appointment', on: { click: () => act('/cancel') } }));
  }
  return li;
}

// ---- the chat's appointments (Details column) ------------------------------------------------

const P = {
  /** @type {string | null} */ conv: null,
  /** @type {string | null} */ department: null,
  lang: 'en',
  tz: 'UTC',
  seq: 0,
};

/** Shows the chat's appointments and the booking form; reloads only for another chat. @param {import('./frames.js').Conversation} c */
export function renderAppointments(c) {
  if (P.conv === c.id) return;
  P.conv = c.id; P.department = c.department ? c.department.id : null; P.lang = c.language || 'en';
  $('appt-status').textContent = '';
  loadChat();
  loadSlots(true);
}

async function loadChat() {
  const conv = P.conv, seq = ++P.seq;
  if (!conv) return;
  const r = await api('GET', '/api/v1/conversations/' + encodeURIComponent(conv) + '/appointments');
  if (seq !== P.seq) return;
  if (r.status === 401) return sessionEnded();
  const list = r.ok && r.data && Array.isArray(r.data.appointments) ? /** @type {Appointment[]} */ (r.data.appointments) : [];
  $('appt-list').replaceChildren(...list.map((a) => line(a, () => { loadChat(); loadSlots(false); })));
  $('appt-count').textContent = list.length ? '(' + list.length + ')' : '';
}

// A shopper books in the widget, and no frame tells the console. So after an offer (an agent's
// 📅 message in the open chat) the chat's list is read again every WATCH_EVERY_MS, for at most
// WATCH_FOR_MS, while that chat stays open, until the list grows.
const WATCH_EVERY_MS = 5000, WATCH_FOR_MS = 10 * 60 * 1000;
/** @type {ReturnType<typeof setInterval> | null} */ let watching = null;

/**
 * A message arrived live: after an agent's offer in the open chat, watch for the shopper's booking.
 * @param {import('./frames.js').Message} m
 */
export function noteOffer(m) {
  if (!m.author || m.author.kind !== 'agent' || !(m.text || '').startsWith('📅') || m.conversation_id !== P.conv) return;
  if (watching) clearInterval(watching);
  const conv = P.conv, until = Date.now() + WATCH_FOR_MS, had = $('appt-list').children.length;
  watching = setInterval(() => {
    if (P.conv !== conv || Date.now() > until || $('appt-list').children.length > had) {
      if (watching) clearInterval(watching);
      watching = null;
      return;
    }
    loadChat();
  }, WATCH_EVERY_MS);
}

/** The department's free slots of the day picked (today the first time). @param {boolean} first */
async function loadSlots(first) {
  const dep = P.department;
  const day = /** @type {HTMLInputElement} */ ($('appt-day'));
  const pick = /** @type {HTMLSelectElement} */ ($('appt-slot'));
  const kind = /** @type {HTMLSelectElement} */ ($('appt-kind'));
  if (!dep) return;
  const q = first || !day.value ? '' : '?from=' + day.value + '&to=' + day.value;
  const r = await api('GET', '/api/v1/departments/' + encodeURIComponent(dep) + '/appointment-slots' + q);
  if (r.status === 401) return sessionEnded();
  if (!r.ok || !r.data) { $('appt-status').textContent = errorText(r, 'The slots could not be loaded.'); return; }
  P.tz = r.data.time_zone || 'UTC';
  if (first) {
    day.value = today(P.tz);
    kind.replaceChildren(...(/** @type {string[]} */ (r.data.kinds || [])).map((k) => el('option', { value: k, text: KINDS[k] || k })));
    // Today's slots only: `from`..`to` defaults to a week.
    return loadSlots(false);
  }
  const free = (/** @type {Slot[]} */ (r.data.slots || [])).filter((s) => s.remaining > 0);
  pick.replaceChildren(...free.map((s) => el('option', { value: s.starts_at, text: local(s.starts_at, P.tz, false) + (s.remaining > 1 ? ' (' + s.remaining + ' left)' : '') })));
  pick.disabled = !free.length;
  // Says when the day has no free slot; leaves any other line (a booking's answer) as it is.
  const st = $('appt-status'), none = 'No free slot that day (' + P.tz + ').';
  if (!free.length) st.textContent = none;
  else if (st.textContent === none) st.textContent = '';
}

async function book() {
  const conv = P.conv;
  const pick = /** @type {HTMLSelectElement} */ ($('appt-slot'));
  const kind = /** @type {HTMLSelectElement} */ ($('appt-kind'));
  const note = /** @type {HTMLInputElement} */ ($('appt-note'));
  if (!conv || !pick.value) return;
  const body = { kind: kind.value, starts_at: pick.value, note: note.value || undefined };
  const r = await api('POST', '/api/v1/conversations/' + encodeURIComponent(conv) + '/appointments', body);
  if (r.status === 401) return sessionEnded();
  $('appt-status').textContent = r.ok ? 'Booked.' + (r.data && r.data.email ? ' The shopper gets a confirmation.' : '') : errorText(r);
  if (r.ok) note.value = '';
  loadChat();
  loadSlots(false);
}

$('appt-day').addEventListener('change', () => loadSlots(false));
// The offer: a reply starting with 📅, in the chat's language; the widget shows its slot picker
// under an agent's message that starts so (widget.js, renderSlots).
$('appt-offer').addEventListener('click', () => {
  const ta = /** @type {HTMLTextAreaElement} */ ($('reply-text'));
  ta.value = P.lang === 'es' ? '📅 Elija abajo una hora para su visita.' : '📅 Pick a time for your visit below.';
  ta.focus();
});
$('appt-form').addEventListener('submit', (ev) => { ev.preventDefault(); book(); });

// ---- the Appointments view: a rooftop's week ----------------------------------------------------

let rooftopsLoaded = false;

/** Shows the view: the rooftops the session sees (once), then the list. */
export async function loadAppointmentsTab() {
  const roof = /** @type {HTMLSelectElement} */ ($('appts-rooftop'));
  const from = /** @type {HTMLInputElement} */ ($('appts-from'));
  if (!rooftopsLoaded) {
    const r = await api('GET', '/api/v1/rooftops');
    if (r.status === 401) return sessionEnded();
    const list = r.ok && r.data && Array.isArray(r.data.rooftops) ? /** @type {{id: string, name: string}[]} */ (r.data.rooftops) : [];
    roof.replaceChildren(...list.map((x) => el('option', { value: x.id, text: x.name })));
    rooftopsLoaded = list.length > 0;
    if (!from.value) from.value = new Date().toISOString().slice(0, 10);
  }
  await loadRooftop();
}

async function loadRooftop() {
  const roof = /** @type {HTMLSelectElement} */ ($('appts-rooftop'));
  const from = /** @type {HTMLInputElement} */ ($('appts-from'));
  if (!roof.value) return;
  const start = new Date((from.value || new Date().toISOString().slice(0, 10)) + 'T00:00:00Z');
  const end = new Date(start.getTime() + 8 * 86400000);
  const r = await api('GET', '/api/v1/appointments?rooftop_id=' + encodeURIComponent(roof.value)
    + '&from=' + encodeURIComponent(start.toISOString()) + '&to=' + encodeURIComponent(end.toISOString()));
  if (r.status === 401) return sessionEnded();
  const list = r.ok && r.data && Array.isArray(r.data.appointments) ? /** @type {Appointment[]} */ (r.data.appointments) : [];
  $('appts-error').textContent = r.ok ? '' : errorText(r);
  $('appts-rows').replaceChildren(...list.map((a) => line(a, loadRooftop)));
  $('appts-empty').hidden = list.length > 0;
}

$('appts-rooftop').addEventListener('change', loadRooftop);
$('appts-from').addEventListener('change', loadRooftop);
