// @ts-check
/* A website's limits and routing rules (Admin ▸ Websites ▸ Limits and routing rules): how many
 * chats may be open on it at once, and rules that send a chat whose routing variable has a
 * value (from the pre-chat form) to a department or a team; the first match wins.
 * GET/PUT /api/v1/websites/{id}/routing. */

import { el, clear } from '../dom.js';
import { api, errorText } from '../api.js';
import { A, allDepartments, loadTeams } from './state.js';
import { Fields, field, textInput, numberInput, dropdown, saver, formEl, num } from './forms.js';

/** A rule: when the routing variable has the value, the chat goes to the department or the team. */
/** @typedef {{variable: string, value: string, department_id: string | null, team_id: string | null}} Rule */

/** @param {import('./websites.js').Website} w */
export async function websiteRouting(w) {
  const [r, teams] = await Promise.all([api('GET', '/api/v1/websites/' + w.id + '/routing'), loadTeams()]);
  if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errorText(r, 'Cannot read the routing.') });
  /** @type {{max_sessions?: number | null, rules?: Rule[]}} */
  const st = r.data || {};
  const fields = new Fields(), s = saver();
  const max = numberInput(st.max_sessions, { min: 1, placeholder: 'no cap' });
  let rules = (st.rules || []).map((x) => Object.assign({}, x));
  const rt = A.directory && A.directory.rooftops.find((x) => x.id === w.rooftop_id);
  const deps = (rt ? rt.departments : allDepartments()) || [];
  const targets = /** @type {[string, string][]} */ ([['', 'Choose…']]).concat(deps.map((d) => ['d:' + d.id, 'Department: ' + d.label]), teams.map((t) => ['t:' + t.id, 'Team: ' + t.name]));
  const ul = el('ul', { class: 'a-list a-rules' });
  const ruleFields = new Fields();
  /** @param {boolean} [focusLast] */
  const renderRules = (focusLast) => {
    ruleFields.map.clear();
    clear(ul);
    rules.forEach((rule, i) => {
      const v = textInput(rule.variable, { maxLength: 64, placeholder: 'interest', 'aria-label': 'Rule ' + (i + 1) + ' variable', on: { input: (e) => { rule.variable = e.target.value.trim(); } } });
      const val = textInput(rule.value, { maxLength: 256, placeholder: 'trade-in', 'aria-label': 'Rule ' + (i + 1) + ' value', on: { input: (e) => { rule.value = e.target.value; } } });
      const tg = dropdown(targets, rule.department_id ? 'd:' + rule.department_id : rule.team_id ? 't:' + rule.team_id : '', { 'aria-label': 'Rule ' + (i + 1) + ' routes to',
        on: { change: (e) => { const x = e.target.value; rule.department_id = x.startsWith('d:') ? x.slice(2) : null; rule.team_id = x.startsWith('t:') ? x.slice(2) : null; } } });
      const li = el('li', { class: 'a-iv' }, 'When', v, '=', val, '→', tg,
        el('button', { type: 'button', class: 'small', text: 'Remove', 'aria-label': 'Remove rule ' + (i + 1), on: { click: () => { rules.splice(i, 1); renderRules(); addRule.focus(); } } }));
      ul.append(li);
      ruleFields.add('rules[' + i + ']', v, li);
    });
    if (!rules.length) ul.append(el('li', { class: 'a-meta', text: 'No rules: chats go to the department the shopper picks.' }));
    if (focusLast) { const ins = ul.querySelectorAll('input'); if (ins.length) ins[ins.length - 2].focus(); }
  };
  const addRule = el('button', { type: 'button', class: 'small', text: 'Add rule', on: { click: () => { rules.push({ variable: '', value: '', department_id: null, team_id: null }); renderRules(true); } } });
  renderRules();
  /** @type {import('./forms.js').FieldSet} */
  const both = { clear() { fields.clear(); ruleFields.clear(); }, show(e) { return fields.show(e) || ruleFields.show(e); } };
  const form = formEl('a-form', s, async () => {
    const b = { max_sessions: num(max.value), rules: rules.map((x) => ({ variable: x.variable, value: x.value, department_id: x.department_id || null, team_id: x.team_id || null })) };
    await s.run(both, () => api('PUT', '/api/v1/websites/' + w.id + '/routing', b));
  });
  const rulesBox = el('fieldset', { class: 'a-fieldset' }, el('legend', { text: 'Routing rules (first match wins)' }), ul, addRule);
  fields.add('rules', addRule, rulesBox);
  form.append(field(fields, 'max_sessions', 'Max open chats on this website', max, 'Past it, new chats go to the offline flow. The wait time is set per department (Rooftops & departments → Routing).'),
    rulesBox, s.wrap);
  return form;
}

