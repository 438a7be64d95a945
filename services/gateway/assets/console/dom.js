// @ts-check
/* The one DOM helper of the console and its Admin tab: elements of console.html by id, and new
 * elements built from data. There used to be three (one per script, the widget's included),
 * under names that collided; this is the only one now, and the widget keeps its own because it
 * is one classic script on other people's pages.
 *
 * Everything typed by people (chat texts, names, labels) goes in with textContent or as a
 * property, never as markup: `el` and `h` have no way to set innerHTML. */

/**
 * The element of the page with this id, checked to be of `type` (so `$input('email').value`
 * type-checks, and a page whose element changed kind fails here, loudly, not somewhere later).
 * @template {Element} T
 * @param {string} id
 * @param {{new (): T, prototype: T}} type
 * @returns {T}
 */
export function byId(id, type) {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error('console.html has no ' + type.name + ' #' + id);
  return e;
}
/** @param {string} id */
export const $ = (id) => byId(id, HTMLElement);
/** @param {string} id */
export const $input = (id) => byId(id, HTMLInputElement);
/** @param {string} id */
export const $select = (id) => byId(id, HTMLSelectElement);
/** @param {string} id */
export const $textarea = (id) => byId(id, HTMLTextAreaElement);
/** @param {string} id */
export const $button = (id) => byId(id, HTMLButtonElement);
/** @param {string} id */
export const $form = (id) => byId(id, HTMLFormElement);

/**
 * What `el` takes as children: nodes, text (strings and numbers), nothing (null, undefined,
 * false) and arrays of these, flattened.
 * @typedef {Node | string | number | false | null | undefined | KidList} Kid
 */
/** @typedef {Kid[]} KidList */

/**
 * A listener of `el`'s `on`. Most listen on form fields and read `ev.target.value`.
 * @typedef {(ev: Event & {target: HTMLInputElement}) => void} Listener
 */

/**
 * What `el` sets: `class`, `text` (textContent), `on` (listeners), and as attributes `for`,
 * `role`, `list`, `aria-*` and `data-*`; anything else as a property (`value`, `hidden`,
 * `disabled`, `type`, `id`, …). null, undefined and false are left out.
 * @typedef {{[name: string]: unknown, on?: {[event: string]: Listener}}} Props
 */

/**
 * A new element: props as above, then children (nodes, or strings as text).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Kid} kids
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = String(v);
      else if (k === 'text') e.textContent = String(v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(/** @type {{[event: string]: EventListener}} */ (v))) e.addEventListener(ev, fn);
      else if (k === 'for' || k === 'role' || k === 'list' || k.startsWith('aria-') || k.startsWith('data-')) e.setAttribute(k, v === true ? 'true' : String(v));
      else /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (e))[k] = v;
    }
  }
  e.append(...flat(kids));
  return e;
}

/**
 * The short form of `el` that the console's views use: a class and a text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string | null} [cls]
 * @param {string | number | null} [text]
 */
export const h = (tag, cls, text) => el(tag, { class: cls || null, text: text ?? null });

/**
 * Empties `node` and puts `kids` in (flattened; nothing left out).
 * @template {Element} T
 * @param {T} node
 * @param {...Kid} kids
 * @returns {T}
 */
export function clear(node, ...kids) {
  node.replaceChildren(...flat(kids));
  return node;
}

/** Kids as `append` takes them: flattened, nothing left out, numbers as text. @param {Kid[]} kids */
function flat(kids) {
  /** @type {(Node | string)[]} */
  const out = [];
  const walk = (/** @type {Kid} */ k) => {
    if (Array.isArray(k)) k.forEach(walk);
    else if (k != null && k !== false) out.push(k instanceof Node ? k : String(k));
  };
  kids.forEach(walk);
  return out;
}

/** Replaces a list's children only when they changed, and keeps keyboard focus where it was. */
export function patchChildren(/** @type {Element} */ parent, /** @type {Element[]} */ kids) {
  const cur = parent.children;
  if (cur.length === kids.length && kids.every((k, i) => cur[i] === k)) return;
  const focused = parent.contains(document.activeElement) ? document.activeElement : null;
  parent.replaceChildren(...kids);
  if (focused instanceof HTMLElement && focused.isConnected && document.activeElement !== focused) focused.focus();
}

/**
 * Whether what a picker would show is the same as last time (kept in its data-sig). A picker is
 * rebuilt only when it changed, so an open popup stays open otherwise.
 * @param {HTMLElement} sel
 * @param {unknown} what
 */
export function unchanged(sel, what) {
  const sig = JSON.stringify(what);
  if (sel.dataset.sig === sig) return true;
  sel.dataset.sig = sig;
  return false;
}

/**
 * The control whose data-key is `key`. Lists are rebuilt from data; a key names the same
 * control across rebuilds, so the focus can go back to it.
 * @param {string} key
 * @param {ParentNode} [within]
 * @returns {HTMLElement | null}
 */
export function byKey(key, within = document) {
  return /** @type {HTMLElement[]} */ ([...within.querySelectorAll('[data-key]')]).find((x) => x.dataset.key === key) || null;
}

/**
 * Shows (or, with '', clears) a field's error line, and marks the field invalid for screen readers.
 * @param {Element} input
 * @param {HTMLElement} errEl
 * @param {string} msg
 */
export function fieldError(input, errEl, msg) {
  errEl.textContent = msg || '';
  errEl.hidden = !msg;
  if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
}

/**
 * Enter submits the form a textarea belongs to; Shift+Enter makes a new line (and nothing is
 * sent while an input method is composing).
 * @param {string} textareaId
 * @param {string} formId
 */
export function submitOnEnter(textareaId, formId) {
  $textarea(textareaId).addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $form(formId).requestSubmit(); }
  });
}
