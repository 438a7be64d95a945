// @ts-check
/* The Details column beside a customer chat: the vehicle the shopper was looking at, the
 * contact the Lead Gate collected, call and text links once the chat closed, and the answers
 * of the website's pre-chat form, the trade-in (trade-in.js) and its appointments (appointments.js). Shopper and dealer data: text only; links are built from the
 * values (http(s) pages, mailto:, tel:, sms:, attachment ids), never from markup. */

import { $, h } from './dom.js';
import { fileSize } from './fmt.js';
import { isOpen } from './state.js';
import { renderPayment } from './payment.js';
import { showTradeIn } from './trade-in.js';
import { renderAppointments } from './appointments.js';

/** @typedef {import('./frames.js').Conversation} Conversation */
/** @typedef {import('./frames.js').FormAnswer} FormAnswer */

/** Everything in the column, for the chat shown. @param {Conversation} c */
export function renderDetails(c) {
  renderVehicle(c);
  renderContact(c);
  renderFollowup(c);
  renderPayment(c);
  renderForm(c);
  showTradeIn(c.id);
  renderAppointments(c);
}

/**
 * "2023 Honda Civic EX · $24,900 · Stock H4412 · VIN …".
 * @param {import('./frames.js').Vehicle | null | undefined} v
 */
function vehicleLine(v) {
  if (!v) return null;
  const name = [v.year, v.make, v.model, v.trim].filter(Boolean).join(' ');
  const parts = [name || 'Vehicle'];
  if (v.price) parts.push('$' + Number(v.price).toLocaleString('en-US'));
  if (v.stock_number) parts.push('Stock ' + v.stock_number);
  if (v.vin) parts.push('VIN ' + v.vin);
  return parts.join(' · ');
}

/** The vehicle, with a link to the page the shopper was on. @param {Conversation} c */
function renderVehicle(c) {
  const box = $('t-vehicle');
  const line = vehicleLine(c.vehicle);
  box.hidden = !line;
  box.replaceChildren();
  if (!line || !c.vehicle) return;
  box.append(h('span', '', '🚗 ' + line));
  const url = c.vehicle.url;
  if (url && /^https?:\/\//i.test(url)) {
    const a = h('a', '', 'page');
    a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer';
    box.append(' · ', a);
  }
}

const LANGUAGE_NAMES = /** @type {Record<string, string>} */ ({ en: 'English', es: 'Español' });

/** Name, e-mail and phone as links, and the shopper's language. @param {Conversation} c */
function renderContact(c) {
  const box = $('t-contact');
  const k = c.contact;
  box.replaceChildren();
  box.hidden = !k;
  if (!k) return;
  const link = (/** @type {string} */ href, /** @type {string} */ text) => { const a = h('a', '', text); a.href = href; return a; };
  /** @type {HTMLElement[]} */
  const parts = [];
  const name = [k.first_name, k.last_name].filter(Boolean).join(' ');
  if (name) parts.push(h('span', '', '👤 ' + name));
  if (k.email) parts.push(link('mailto:' + k.email.replace(/[^\w.@+-]/g, encodeURIComponent), k.email));
  if (k.phone) parts.push(link('tel:' + k.phone.replace(/[^\d+]/g, ''), k.phone));
  if (c.language) parts.push(h('span', '', LANGUAGE_NAMES[c.language] || c.language));
  parts.forEach((p, i) => box.append(...(i ? [' · ', p] : [p])));
}

/** Call and text links on a closed chat with a phone: text only with the consent the shopper gave. @param {Conversation} c */
function renderFollowup(c) {
  const box = $('t-followup'), k = c.contact;
  const phone = k && typeof k.phone === 'string' ? k.phone.replace(/[^\d+]/g, '') : '';
  $('t-nocontact').hidden = !!k;
  box.replaceChildren();
  box.hidden = isOpen(c) || !phone;
  if (box.hidden || !k) return;
  const call = h('a', 'action', 'Call');
  call.href = 'tel:' + phone;
  call.setAttribute('aria-label', 'Call ' + k.phone);
  box.append(h('span', '', 'Follow up: '), call);
  if (k.consent) {
    const sms = h('a', 'action', 'Text');
    sms.href = 'sms:' + phone;
    sms.setAttribute('aria-label', 'Text ' + k.phone);
    box.append(' · ', sms);
  } else box.append(' · ', h('span', 'hint', 'no consent to text'));
}

/**
 * An answer as nodes: checkbox lists joined, an agreement as its text ticked, files as download
 * links (the session cookie authorises them).
 * @param {FormAnswer} a
 * @returns {(Node | string)[]}
 */
function answerNodes(a) {
  const v = a.value;
  if (v === true) return [a.agreement_text ? '✓ ' + a.agreement_text : '✓'];
  if (Array.isArray(v) && v.some((x) => x && typeof x === 'object')) {
    /** @type {(Node | string)[]} */
    const out = [];
    /** @type {import('./frames.js').AttachmentRef[]} */ (v).filter((x) => x && x.id).forEach((x, i) => {
      const link = h('a', '', x.filename || 'file');
      link.href = '/api/v1/attachments/' + encodeURIComponent(x.id);
      link.download = x.filename || '';
      out.push(...(i ? [', '] : []), link, typeof x.size === 'number' ? ' (' + fileSize(x.size) + ')' : '');
    });
    return out;
  }
  if (Array.isArray(v)) return [v.join(', ')];
  return [v == null ? '' : String(v)];
}

/** The answers of the website's pre-chat form: "label: answer". @param {Conversation} c */
function renderForm(c) {
  const list = $('t-form-list');
  const answers = Array.isArray(c.form) ? c.form : [];
  $('t-form').hidden = !answers.length;
  list.replaceChildren();
  answers.forEach((a) => {
    const dd = h('dd');
    dd.append(...answerNodes(a));
    list.append(h('dt', '', a.label || a.field), dd);
  });
}
