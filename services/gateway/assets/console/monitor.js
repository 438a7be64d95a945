// @ts-check
/* Monitoring a live chat (issue 19): a manager who opens a colleague's chat reads it live, may
 * whisper to the agent (the socket's `whisper`: stored with the chat for agents only, never shown
 * to the shopper) and may take it over (a `reassign` to themselves); the agent sees who is
 * watching (`watching` frames) and the whispers in the transcript. conversation.js calls
 * renderMonitor() with the chat's head and addWhispers() with its history. */

import { $, $button, $form, $textarea, h, submitOnEnter } from './dom.js';
import { time, fmtAt } from './fmt.js';
import { S, current, canWrite, canAdminister } from './state.js';
import { send, uid } from './send.js';
import { banner } from './banner.js';
import { place } from './transcript.js';

/** @typedef {import('./frames.js').Whisper} Whisper */

/** Whispers by chat, by id. */
const whispers = /** @type {Map<string, Map<string, Whisper>>} */ (new Map());
/** Who watches each chat (besides its agent): agent id → name. */
const watchers = /** @type {Map<string, Map<string, string>>} */ (new Map());

/** @template V @param {Map<string, Map<string, V>>} m @param {string} id */
const inner = (m, id) => { let v = m.get(id); if (!v) m.set(id, v = new Map()); return v; };

/** The whispers of a chat's history. @param {string} id @param {Whisper[] | undefined} list */
export function addWhispers(id, list) {
  (list || []).forEach((w) => inner(whispers, id).set(w.id, w));
  if (S.view && S.view.id === id) renderWhispers();
}

/** A whisper in a chat we follow (also the answer to ours). @param {import('./frames.js').WhisperFrame} f */
export function onWhisper(f) {
  const w = f.whisper;
  if (!w) return;
  if (f.ref === 'whisper:' + w.conversation_id) { $textarea('whisper-text').value = ''; $button('whisper-send').disabled = false; }
  const known = inner(whispers, w.conversation_id);
  if (known.has(w.id)) return;
  known.set(w.id, w);
  if (S.view && S.view.id === w.conversation_id) renderWhispers();
}

/** `whisper` was refused. True: the banner said why. @param {string} _id @param {import('./frames.js').ErrorFrame} f */
export function onWhisperError(_id, f) {
  $button('whisper-send').disabled = false;
  banner('Whisper not sent: ' + (f.message || f.code));
  return true;
}

/** Someone started or stopped watching a chat we follow. @param {import('./frames.js').WatchingFrame} f */
export function onWatching(f) {
  if (!f.conversation_id || !f.agent_id || (S.me && f.agent_id === S.me.id)) return;
  const m = inner(watchers, f.conversation_id);
  if (f.watching) m.set(f.agent_id, f.name || 'A manager'); else m.delete(f.agent_id);
  if (S.view && S.view.id === f.conversation_id) renderMonitor();
}

/** Where a whisper goes in the transcript: after the last message written before it. @param {Whisper} w */
function slot(w) {
  const e = current();
  let seq = 0;
  if (e) e.msgs.forEach((m, s) => { if (m.at && m.at <= w.at && s > seq) seq = s; });
  return seq + 0.5;
}

/** The whispers of the chat on screen, in the transcript among its messages. */
export function renderWhispers() {
  document.querySelectorAll('#log li.whisper').forEach((li) => li.remove());
  if (!S.view) return;
  for (const w of (whispers.get(S.view.id) || new Map()).values()) {
    const li = h('li', 'msg whisper');
    li.append(h('span', 'who', 'Whisper from ' + ((w.author && w.author.name) || 'a manager')), h('span', 'text', w.text), h('span', 'meta', time(w.at)));
    li.title = fmtAt(w.at) + ' · only agents see whispers';
    li.dataset.seq = String(slot(w));
    place(li);
  }
}

/** Who is watching, and for a manager reading a colleague's live chat: the whisper box and "Take over". */
export function renderMonitor() {
  const e = current();
  const c = e && e.c;
  const names = c ? [...(watchers.get(c.id) || new Map()).values()] : [];
  $('watchers').hidden = !names.length;
  $('watchers').textContent = names.length ? names.join(', ') + (names.length > 1 ? ' are' : ' is') + ' watching this chat.' : '';
  const monitoring = !!c && canAdminister() && !canWrite(c) && (c.state === 'active' || c.state === 'incoming');
  $form('whisper').hidden = !monitoring;
  $button('take-over').hidden = !monitoring || !c || c.state !== 'active';
}

$form('whisper').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = current();
  const text = $textarea('whisper-text').value.trim();
  if (!e || !text || !S.ready) return;
  $button('whisper-send').disabled = true;
  send({ type: 'whisper', conversation_id: e.c.id, client_msg_id: uid(), text, ref: 'whisper:' + e.c.id });
});
submitOnEnter('whisper-text', 'whisper');

$button('take-over').addEventListener('click', () => {
  const e = current();
  if (!e || !S.me || !S.ready) return;
  send({ type: 'reassign', conversation_id: e.c.id, agent_id: S.me.id, ref: 'reassign:' + e.c.id });
});
