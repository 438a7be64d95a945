// @ts-check
/* A payment estimate in the chat's Details: a small form (finance or lease, price, down
 * payment, term; empty: the vehicle's price and the rooftop's defaults) that asks the server
 * (POST /api/v1/conversations/{id}/payment-estimate), shows what it computed, and sends it into
 * the chat as a card (`send` with `estimate_id`: the shopper only ever sees the server's
 * figures). Shown to the chat's agent while they can write in it. */

import { $, el, h } from './dom.js';
import { api, errorText } from './api.js';
import { canWrite } from './state.js';
import { send, uid } from './send.js';

/** @typedef {import('./frames.js').Conversation} Conversation */
/** @typedef {import('./frames.js').PaymentEstimate} PaymentEstimate */

/** The chat the form was built for (rebuilt only when another chat is shown). */
let builtFor = '';

/** Cents as dollars: "$1,234.56". @param {number} cents @param {string} currency */
export const money = (cents, currency) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: currency || 'USD' });

/** An estimate in one line. @param {PaymentEstimate} e */
export function estimateLine(e) {
  const head = money(e.monthly_cents, e.currency) + '/month · ' + e.term_months + ' months · ';
  return head + (e.kind === 'lease'
    ? 'lease, ' + money(e.due_at_signing_cents || 0, e.currency) + ' due at signing'
    : 'finance at ' + ((e.apr_bp || 0) / 100).toFixed(2) + '% APR, ' + money(e.down_cents, e.currency) + ' down');
}

/** @param {Conversation} c */
export function renderPayment(c) {
  const box = $('t-payment');
  box.hidden = !canWrite(c);
  if (box.hidden || builtFor === c.id) return;
  builtFor = c.id;
  const kind = el('select', { 'aria-label': 'Finance or lease', id: 'pay-kind' }, el('option', { value: 'finance', text: 'Finance' }), el('option', { value: 'lease', text: 'Lease' }));
  /** @param {string} id @param {string} label */
  const num = (id, label) => el('input', { type: 'text', inputMode: 'decimal', id, placeholder: label, 'aria-label': label, size: 7 });
  const price = num('pay-price', 'Price $'), down = num('pay-down', 'Down $'), term = num('pay-term', 'Months');
  const result = el('p', { class: 'pay-result', id: 'pay-result', role: 'status' });
  const sendBtn = el('button', { type: 'button', id: 'pay-send', text: 'Send to chat', hidden: true });
  /** @type {string | null} */
  let estimateId = null;
  const cents = (/** @type {HTMLInputElement} */ i) => (i.value.trim() ? Math.round(Number(i.value) * 100) : undefined);
  const form = el('form', { class: 'pay-form', id: 'pay-form' }, kind, price, down, term, el('button', { type: 'submit', text: 'Estimate' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    estimateId = null; sendBtn.hidden = true; result.textContent = 'Computing…';
    const body = { kind: kind.value, price_cents: cents(price), down_cents: cents(down), term_months: term.value.trim() ? Math.round(Number(term.value)) : undefined };
    let r = null;
    try { r = await api('POST', '/api/v1/conversations/' + encodeURIComponent(c.id) + '/payment-estimate', body); } catch (_) { /* below */ }
    if (!r || !r.ok) { result.textContent = errorText(r, 'Cannot reach the server.'); return; }
    estimateId = r.data.id;
    result.replaceChildren(h('strong', '', estimateLine(r.data.estimate)), h('small', 'hint', ' ' + r.data.estimate.disclaimer));
    sendBtn.hidden = false;
  });
  sendBtn.addEventListener('click', () => {
    if (!estimateId) return;
    send({ type: 'send', conversation_id: c.id, client_msg_id: uid(), text: '', estimate_id: estimateId });
    sendBtn.hidden = true; result.textContent = 'Sent to the chat.';
  });
  box.replaceChildren(h('summary', '', 'Payment estimate'), form, result, sendBtn);
}
