// @ts-check
/* The agent's own status in the header (the socket's `set_status`; `status` frames from any of
 * their consoles set it here), and auto-away: after the agent's chosen idle time without
 * activity in this console, tell the gateway this device is idle (presence shows the agent Away
 * while every console is idle); any activity makes it active again. */

import { $select } from './dom.js';
import { S } from './state.js';
import { api, errorText } from './api.js';
import { send } from './send.js';
import { banner } from './banner.js';

/** Shows `status` in the select (adding it when it is one this console does not know). @param {string | null | undefined} status */
export function setStatus(status) {
  if (!status) return;
  S.status = status;
  const sel = $select('status');
  if (![...sel.options].some((o) => o.value === status)) sel.append(new Option(status, status)); // a newer status
  sel.value = status;
}
$select('status').addEventListener('change', () => send({ type: 'set_status', status: $select('status').value, ref: 'status:' }));

/** @param {import('./frames.js').StatusFrame} f */
export function onStatus(f) { setStatus(f.status); }

/** `set_status` failed: the select goes back. False: the banner says what the gateway said. */
export function onStatusError() {
  setStatus(S.status);
  return false;
}

/** The socket is up (`ready`) or down: the select works only while it is up. @param {boolean} ready */
export function statusUsable(ready) { $select('status').disabled = !ready; }

// ---- auto-away ----
const autoAway = $select('auto-away');
let lastActivity = Date.now();

/** The agent's auto-away time in its select (added when it is not one of the choices). */
export function showAutoAway() {
  const secs = S.me && S.me.auto_away_secs;
  autoAway.value = secs ? String(secs) : '';
  if (secs && autoAway.value !== String(secs)) { // a value not in the list: add it
    const o = document.createElement('option');
    o.value = String(secs); o.textContent = Math.round(secs / 60) + ' min';
    autoAway.append(o); autoAway.value = String(secs);
  }
}

/** A new socket is a new device: it starts active. */
export function resetIdle() { S.idleSent = false; }

function onActivity() {
  lastActivity = Date.now();
  if (S.idleSent) { S.idleSent = false; send({ type: 'idle', idle: false }); }
}
['mousemove', 'mousedown', 'keydown', 'wheel', 'touchstart', 'focus'].forEach((ev) =>
  window.addEventListener(ev, onActivity, { passive: true, capture: true }));
document.addEventListener('visibilitychange', () => { if (!document.hidden) onActivity(); });
setInterval(() => {
  const secs = S.me && S.me.auto_away_secs;
  if (!secs || S.idleSent || !S.ready) return;
  if (Date.now() - lastActivity >= secs * 1000) { S.idleSent = true; send({ type: 'idle', idle: true }); }
}, 5000);
autoAway.addEventListener('change', async () => {
  const seconds = autoAway.value ? Number(autoAway.value) : null;
  try {
    const r = await api('PUT', '/api/v1/me/auto-away', { seconds });
    if (!r.ok) throw new Error(errorText(r, 'HTTP ' + r.status));
    if (S.me) S.me.auto_away_secs = (r.data || {}).auto_away_secs;
    onActivity();
  } catch (e) {
    showAutoAway();
    banner('Auto-away not saved: ' + (e instanceof Error ? e.message : String(e)));
  }
});
