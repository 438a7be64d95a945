// @ts-check
/* The Admin tab's and the Profile dialog's forms: labelled fields, each with an error line, and
 * a Save button with a status line. Server errors ({error: {code, message, fields?}}) are shown
 * next to the field they name. Everything typed by people goes in as a value or as text, never
 * as markup. */

import { el } from '../dom.js';
import { errorText } from '../api.js';

/** @typedef {import('../api.js').Reply} Reply */
/** @typedef {import('../dom.js').Props} Props */
/** @typedef {{code?: string, message?: string, field?: string, fields?: Record<string, string>}} ServerError */
/** Anything with `clear()` and `show(error)` as Fields has: several sets of fields saved together. */
/** @typedef {{clear(): void, show(error: ServerError | null | undefined): boolean}} FieldSet */

let idSeq = 0;
/** A new element id of the admin pages. @param {string} p */
export const nid = (p) => 'adm-' + p + '-' + (++idSeq);

/** The lines of a textarea, trimmed, without empty ones. @param {string} text */
export const lines = (text) => String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
/** A number input's value: null when empty. @param {string | null | undefined} v */
export const num = (v) => (v === '' || v == null ? null : Number(v));

/**
 * A set of named fields. Server errors are matched to them by name: an exact name, else the
 * longest registered prefix (`hours.intervals[2].opens` → `hours.intervals[2]`).
 * @implements {FieldSet}
 */
export class Fields {
  constructor() {
    /** @type {Map<string, {input: HTMLElement, err: HTMLElement}>} */
    this.map = new Map();
  }
  /**
   * Registers `input` under `name`; its error line goes at the end of `wrap`.
   * @template {HTMLElement} T
   * @param {string} name
   * @param {T} input
   * @param {HTMLElement | null} [wrap]
   * @returns {T}
   */
  add(name, input, wrap) {
    const err = el('p', { class: 'a-err', id: nid('err'), hidden: true });
    (wrap || input.parentElement || input).append(err);
    const prev = input.getAttribute('aria-describedby');
    input.setAttribute('aria-describedby', (prev ? prev + ' ' : '') + err.id);
    this.map.set(name, { input, err });
    return input;
  }
  clear() {
    for (const f of this.map.values()) { f.err.hidden = true; f.err.textContent = ''; f.input.removeAttribute('aria-invalid'); }
  }
  /** @param {string} path */
  find(path) {
    // The whole path, then without leading parts (`appearance.text_color` → `text_color`);
    // each trimmed at the end until one is registered.
    const whole = String(path || '');
    const starts = [whole];
    for (let i = whole.indexOf('.'); i > 0; i = whole.indexOf('.', i + 1)) starts.push(whole.slice(i + 1));
    for (const start of starts) { const f = this.map.get(start); if (f) return f; }
    for (const start of starts) {
      let p = start;
      while (p) {
        const f = this.map.get(p);
        if (f) return f;
        const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
        if (cut <= 0) break;
        p = p.slice(0, cut);
      }
    }
    return null;
  }
  /** Shows a server error next to the field(s) it names; true when one was found. @param {ServerError | null | undefined} error */
  show(error) {
    if (!error) return false;
    /** @type {[string, string][]} */
    const targets = [];
    if (error.fields && typeof error.fields === 'object') {
      for (const [k, v] of Object.entries(error.fields)) targets.push([k, v]);
    } else if (error.field) {
      targets.push([error.field, String(error.message || '')]);
    } else {
      const m = String(error.message || '');
      const lead = m.match(/^`?([A-Za-z_][\w.[\]]*)`?(?::|\s)/);
      const tick = m.match(/`([A-Za-z_][\w.[\]]*)`/);
      if (lead) targets.push([lead[1], m]);
      if (tick) targets.push([tick[1], m]);
    }
    let found = false;
    /** @type {HTMLElement | null} */
    let first = null;
    for (const [path, msg] of targets) {
      const f = this.find(path);
      if (!f || !f.err.hidden) continue;
      f.err.textContent = msg;
      f.err.hidden = false;
      f.input.setAttribute('aria-invalid', 'true');
      found = true;
      if (!first) first = f.input;
    }
    if (first) /** @type {HTMLElement} */ (first).focus();
    return found;
  }
}

/**
 * A labelled field: <div><label>…</label>input<hint/><error/></div>, registered in `fields`.
 * @param {Fields | null} fields
 * @param {string | null} name
 * @param {string} label
 * @param {HTMLElement} input
 * @param {string} [hint]
 */
export function field(fields, name, label, input, hint) {
  if (!input.id) input.id = nid('f');
  const wrap = el('div', { class: 'a-field' }, el('label', { for: input.id, text: label }), input);
  if (hint) {
    const hp = el('p', { class: 'a-hint', id: nid('hint'), text: hint });
    wrap.append(hp);
    input.setAttribute('aria-describedby', hp.id);
  }
  if (fields && name) fields.add(name, input, wrap);
  return wrap;
}

/**
 * A checkbox with its label text after it.
 * @param {Fields | null} fields
 * @param {string | null} name
 * @param {string} label
 * @param {boolean | null | undefined} checked
 * @param {string} [hint]
 */
export function check(fields, name, label, checked, hint) {
  const input = el('input', { type: 'checkbox', checked: !!checked, id: nid('c') });
  const wrap = el('div', { class: 'a-check' }, el('label', { for: input.id }, input, ' ', label));
  if (hint) wrap.append(el('p', { class: 'a-hint', text: hint }));
  if (fields && name) fields.add(name, input, wrap);
  return { wrap, input };
}
/** @param {unknown} value @param {Props} [extra] */
export const textInput = (value, extra) => el('input', Object.assign({ type: 'text', value: value == null ? '' : String(value), autocomplete: 'off' }, extra || {}));
/** @param {unknown} value @param {Props} [extra] */
export const numberInput = (value, extra) => el('input', Object.assign({ type: 'number', value: value == null ? '' : String(value), inputMode: 'numeric' }, extra || {}));

/**
 * A drop-down of `options` ([value, text] pairs, or values shown as they are), `value` chosen.
 * @param {(string | [string, string])[]} options
 * @param {unknown} [value]
 * @param {Props} [extra]
 */
export function dropdown(options, value, extra) {
  const s = el('select', extra || {});
  for (const o of options) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    s.append(el('option', { value: v, text: t }));
  }
  if (value != null) s.value = String(value);
  return s;
}

function timeZones() {
  try { if (Intl.supportedValuesOf) return Intl.supportedValuesOf('timeZone'); } catch (_) { /* older browser */ }
  return ['America/New_York', 'America/Chicago', 'America/Denver', 'America/Phoenix', 'America/Los_Angeles', 'America/Anchorage', 'Pacific/Honolulu', 'America/Puerto_Rico', 'America/Mexico_City', 'America/Toronto', 'UTC'];
}
/** Every time zone, `value` chosen (this computer's when none). @param {string | null | undefined} value */
export function zoneSelect(value) {
  const zones = timeZones().slice();
  if (value && !zones.includes(value)) zones.unshift(value);
  return dropdown(zones, value || Intl.DateTimeFormat().resolvedOptions().timeZone || 'America/New_York');
}

/**
 * A Save button with a status line: "Saving…" then "Saved", or the server's message.
 * @param {string} [label]
 */
export function saver(label) {
  const text = label || 'Save';
  const btn = el('button', { type: 'submit', class: 'primary', text });
  const status = el('span', { class: 'a-status', role: 'status', 'aria-live': 'polite' });
  const wrap = el('div', { class: 'a-actions' }, btn, status);
  /** @type {ReturnType<typeof setTimeout> | 0} */
  let timer = 0;
  const reset = () => { clearTimeout(timer); if (!btn.disabled) btn.textContent = text; };
  /** @param {string} line @param {boolean} [bad] */
  const say = (line, bad) => { status.textContent = line || ''; status.classList.toggle('bad', !!bad); };
  return {
    btn, status, wrap, reset, say,
    /**
     * Runs `fn` (answering an api result); shows the outcome. Answers the result when ok.
     * @param {FieldSet | null} fields
     * @param {() => Promise<Reply>} fn
     * @returns {Promise<Reply | null>}
     */
    async run(fields, fn) {
      if (btn.disabled) return null;
      clearTimeout(timer);
      if (fields) fields.clear();
      btn.disabled = true; btn.textContent = 'Saving…'; say('Saving…');
      try {
        const r = await fn();
        if (r && r.ok) {
          btn.textContent = 'Saved'; say('Saved');
          timer = setTimeout(() => { btn.textContent = text; }, 4000);
          return r;
        }
        btn.textContent = text;
        const error = r && r.data && r.data.error;
        const named = fields ? fields.show(error) : false;
        say(named ? 'Not saved: ' + errorText(r) + ' (see the marked field)' : 'Not saved: ' + errorText(r), true);
        return null;
      } catch (_) {
        btn.textContent = text;
        say('Not saved: cannot reach the server.', true);
        return null;
      } finally {
        btn.disabled = false;
      }
    },
  };
}
/** @typedef {ReturnType<typeof saver>} Saver */

/**
 * A form element whose changes turn a "Saved" button back into "Save".
 * @param {string | null} cls
 * @param {Saver | null} s
 * @param {() => void} onSubmit
 */
export function formEl(cls, s, onSubmit) {
  const f = el('form', { class: cls || 'a-form', noValidate: true });
  f.addEventListener('submit', (ev) => { ev.preventDefault(); onSubmit(); });
  if (s) f.addEventListener('input', () => { s.reset(); if (s.status.textContent === 'Saved') s.say(''); });
  return f;
}

/**
 * Copies `text`; without the clipboard API (not a secure context), selects `source` and copies
 * the old way. `stateEl` says how it went for 3 s.
 * @param {string} text
 * @param {HTMLInputElement | HTMLTextAreaElement} source
 * @param {HTMLElement} stateEl
 */
export async function copyText(text, source, stateEl) {
  try {
    await navigator.clipboard.writeText(text);
    stateEl.textContent = 'Copied';
  } catch (_) {
    let ok;
    try { source.focus(); source.select(); ok = document.execCommand('copy'); } catch (__) { ok = false; }
    stateEl.textContent = ok ? 'Copied' : 'Selected: press Ctrl+C to copy.';
  }
  setTimeout(() => { stateEl.textContent = ''; }, 3000);
}
