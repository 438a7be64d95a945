// @ts-check
/* The agent in the header: their name, their photo, and the Profile button that opens the
 * Profile dialog (admin/profile.js) and shows what the agent changed there at once.
 * /api/v1/me and the login answer carry `photo_url`; the socket's welcome does not, so the
 * photo is kept apart from S.me's socket fields. */

import { $, byId } from './dom.js';
import { S } from './state.js';
import { api, agentOf } from './api.js';
import { openProfile } from './admin/profile.js';

/** @param {string} name */
export function showName(name) { $('agent-name').textContent = name; }

/** The agent's photo: from `agent` when it has one, else from /api/v1/me. @param {{photo_url?: string | null}} agent */
export async function showPhoto(agent) {
  if (agent && 'photo_url' in agent) setPhoto(agent.photo_url);
  else {
    try { const r = await api('GET', '/api/v1/me'); if (r.ok && S.live) setPhoto(agentOf(r.data).photo_url); } catch (_) { /* no photo then */ }
  }
}

/** @param {string | null | undefined} url */
export function setPhoto(url) {
  S.photo = url || null;
  if (S.me) S.me.photo_url = S.photo;
  const img = byId('agent-photo', HTMLImageElement);
  if (S.photo) { img.src = S.photo; img.hidden = false; } else { img.hidden = true; img.removeAttribute('src'); }
}

$('profile-open').addEventListener('click', () => {
  if (!S.me) return;
  openProfile({
    me: Object.assign({}, S.me, { photo_url: S.photo }),
    onChange(p) {
      if ('photo_url' in p) setPhoto(p.photo_url);
      if (S.me && 'time_zone' in p) S.me.time_zone = p.time_zone || null;
      if (S.me && p.locale) S.me.locale = p.locale;
      if (p.first_name != null || p.last_name != null) {
        const name = [p.first_name, p.last_name].filter(Boolean).join(' ');
        if (name) { showName(name); if (S.me) S.me.name = name; }
      }
    },
  });
});
