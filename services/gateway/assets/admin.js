/* Showroom agent console: the Admin tab (managers and admins) and every agent's Profile dialog.
 * Plain ES2020, no dependencies, loaded by console.html before console.js, which calls
 * window.ShowroomAdmin.show(api, me) when the Admin tab opens and
 * window.ShowroomAdmin.openProfile({api, me, onChange}) from the header's Profile button.
 * `api(method, path, body)` is the console's REST helper: it answers {status, ok, data}.
 * Everything typed by people (names, labels, texts) goes in with textContent or value, never
 * innerHTML. Server errors ({error: {code, message, fields?}}) are shown next to the field
 * they name. */
(() => {
  'use strict';

  // ---- small DOM helpers ----
  let idSeq = 0;
  const nid = (p) => 'adm-' + p + '-' + (++idSeq);
  /** A date and time in the agent's time zone and language (the console's formatter). */
  const fmtWhen = (at) => (window.ShowroomWhen ? window.ShowroomWhen(at) : new Date(at).toLocaleString());

  /** An element: props are set as properties, except class, text, on (listeners), aria-*,
   * data-*, role and for (attributes). Children: nodes or strings (as text). */
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
        else if (k === 'for' || k === 'role' || k === 'list' || k.startsWith('aria-') || k.startsWith('data-')) e.setAttribute(k, v === true ? 'true' : String(v));
        else e[k] = v;
      }
    }
    for (const k of kids.flat(Infinity)) if (k != null && k !== false) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const clear = (node, ...kids) => { node.replaceChildren(...kids.flat(Infinity).filter((k) => k != null && k !== false)); return node; };
  const loadingLine = (what) => el('p', { class: 'a-loading', role: 'status', text: 'Loading' + (what ? ' ' + what : '') + '…' });
  const errText = (r, fallback) => (r && r.data && r.data.error && r.data.error.message) || fallback || ('The server answered ' + (r ? r.status : '?') + '.');
  const lines = (text) => String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
  const num = (v) => (v === '' || v == null ? null : Number(v));
  const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

  // ---- forms: named fields with an error line each; saving with a button and a status ----

  /** A set of named fields. Server errors are matched to them by name: an exact name, else
   * the longest registered prefix (`hours.intervals[2].opens` → `hours.intervals[2]`). */
  class Fields {
    constructor() { this.map = new Map(); }
    /** Registers `input` under `name`; its error line goes at the end of `wrap`. */
    add(name, input, wrap) {
      const err = el('p', { class: 'a-err', id: nid('err'), hidden: true });
      (wrap || input.parentElement).append(err);
      const prev = input.getAttribute('aria-describedby');
      input.setAttribute('aria-describedby', (prev ? prev + ' ' : '') + err.id);
      this.map.set(name, { input, err });
      return input;
    }
    clear() {
      for (const f of this.map.values()) { f.err.hidden = true; f.err.textContent = ''; f.input.removeAttribute('aria-invalid'); }
    }
    find(path) {
      // The whole path, then without leading parts (`appearance.text_color` → `text_color`);
      // each trimmed at the end until one is registered.
      const whole = String(path || '');
      const starts = [whole];
      for (let i = whole.indexOf('.'); i > 0; i = whole.indexOf('.', i + 1)) starts.push(whole.slice(i + 1));
      for (const start of starts) if (this.map.has(start)) return this.map.get(start);
      for (const start of starts) {
        let p = start;
        while (p) {
          if (this.map.has(p)) return this.map.get(p);
          const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
          if (cut <= 0) break;
          p = p.slice(0, cut);
        }
      }
      return null;
    }
    /** Shows a server error next to the field(s) it names; true when one was found. */
    show(error) {
      if (!error) return false;
      const targets = [];
      if (error.fields && typeof error.fields === 'object') {
        for (const [k, v] of Object.entries(error.fields)) targets.push([k, v]);
      } else if (error.field) {
        targets.push([error.field, error.message]);
      } else {
        const m = String(error.message || '');
        const lead = m.match(/^`?([A-Za-z_][\w.[\]]*)`?(?::|\s)/);
        const tick = m.match(/`([A-Za-z_][\w.[\]]*)`/);
        if (lead) targets.push([lead[1], m]);
        if (tick) targets.push([tick[1], m]);
      }
      let found = false, first = null;
      for (const [path, msg] of targets) {
        const f = this.find(path);
        if (!f || !f.err.hidden) continue;
        f.err.textContent = msg;
        f.err.hidden = false;
        f.input.setAttribute('aria-invalid', 'true');
        found = true;
        if (!first) first = f.input;
      }
      if (first && typeof first.focus === 'function') first.focus();
      return found;
    }
  }

  /** A labelled field: <div><label>…</label>input<hint/><error/></div>, registered in `fields`. */
  function field(fields, name, label, input, hint) {
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
  /** A checkbox with its label text after it. */
  function check(fields, name, label, checked, hint) {
    const input = el('input', { type: 'checkbox', checked: !!checked, id: nid('c') });
    const wrap = el('div', { class: 'a-check' }, el('label', { for: input.id }, input, ' ', label));
    if (hint) wrap.append(el('p', { class: 'a-hint', text: hint }));
    if (fields && name) fields.add(name, input, wrap);
    return { wrap, input };
  }
  const textInput = (value, extra) => el('input', Object.assign({ type: 'text', value: value == null ? '' : String(value), autocomplete: 'off' }, extra || {}));
  const numberInput = (value, extra) => el('input', Object.assign({ type: 'number', value: value == null ? '' : String(value), inputMode: 'numeric' }, extra || {}));
  function select(options, value, extra) {
    const s = el('select', extra || {});
    for (const o of options) {
      const [v, t] = Array.isArray(o) ? o : [o, o];
      s.append(el('option', { value: v, text: t }));
    }
    if (value != null) s.value = String(value);
    return s;
  }

  /** A Save button with a status line: "Saving…" then "Saved", or the server's message. */
  function saver(label) {
    label = label || 'Save';
    const btn = el('button', { type: 'submit', class: 'primary', text: label });
    const status = el('span', { class: 'a-status', role: 'status', 'aria-live': 'polite' });
    const wrap = el('div', { class: 'a-actions' }, btn, status);
    let timer = 0;
    const reset = () => { clearTimeout(timer); if (!btn.disabled) btn.textContent = label; };
    return {
      btn, status, wrap, reset,
      say(text, bad) { status.textContent = text || ''; status.classList.toggle('bad', !!bad); },
      /** Runs `fn` (answering an api result); shows the outcome. Answers the result when ok. */
      async run(fields, fn) {
        if (btn.disabled) return null;
        clearTimeout(timer);
        if (fields) fields.clear();
        btn.disabled = true; btn.textContent = 'Saving…'; this.say('Saving…');
        try {
          const r = await fn();
          if (r && r.ok) {
            btn.textContent = 'Saved'; this.say('Saved');
            timer = setTimeout(() => { btn.textContent = label; }, 4000);
            return r;
          }
          btn.textContent = label;
          const error = r && r.data && r.data.error;
          const named = fields ? fields.show(error) : false;
          this.say(named ? 'Not saved: ' + errText(r) + ' (see the marked field)' : 'Not saved: ' + errText(r), true);
          return null;
        } catch (e) {
          btn.textContent = label;
          this.say('Not saved: cannot reach the server.', true);
          return null;
        } finally {
          btn.disabled = false;
        }
      },
    };
  }
  /** A form element whose changes turn a "Saved" button back into "Save". */
  function formEl(cls, s, onSubmit) {
    const f = el('form', { class: cls || 'a-form', noValidate: true });
    f.addEventListener('submit', (ev) => { ev.preventDefault(); onSubmit(); });
    if (s) f.addEventListener('input', () => { s.reset(); if (s.status.textContent === 'Saved') s.say(''); });
    return f;
  }

  // ---- state ----
  const SECTIONS = [
    ['dashboard', 'Dashboard'],
    ['rooftops', 'Rooftops & departments'],
    ['agents', 'Agents'],
    ['websites', 'Websites'],
    ['crm', 'CRM'],
  ];
  const SECTION_KEY = 'showroom.console.admin';
  const A = {
    api: null, me: null, root: null, nav: null, body: null, section: null,
    directory: null,  // {rooftops:[{id,name,time_zone,country,departments:[…],websites:[…]}], partial}
    teams: null,
    range: 'week',
    website: null,    // id of the website shown in Websites
    token: 0,         // bumped on every section change: late answers of an old one are dropped
  };
  const api = (m, p, b) => A.api(m, p, b);

  /** The group's rooftops, departments and websites. Reads /api/v1/rooftops; without it (an
   * older gateway), puts them together from the board and the website list. */
  async function loadDirectory() {
    const r = await api('GET', '/api/v1/rooftops');
    if (r.ok && r.data) {
      const list = Array.isArray(r.data) ? r.data : r.data.rooftops || [];
      A.directory = { rooftops: list, partial: false };
      return A.directory;
    }
    if (r.status !== 404 && r.status !== 405) throw new Error(errText(r, 'Cannot read the rooftops.'));
    const [b, w] = await Promise.all([api('GET', '/api/v1/presence/board'), api('GET', '/api/v1/websites')]);
    const board = (b.ok && b.data) || { rooftops: [], departments: [] };
    const sites = (w.ok && Array.isArray(w.data) && w.data) || [];
    const rooftops = (board.rooftops || []).map((rt) => ({
      id: rt.id, name: rt.name, time_zone: '', country: '',
      departments: (board.departments || []).filter((d) => d.rooftop_id === rt.id)
        .map((d, i) => ({ id: d.id, label: d.label, board_section: d.section || null, position: i })),
      websites: sites.filter((s) => s.rooftop_id === rt.id).map((s) => ({ id: s.id, name: s.name, widget_key: s.widget_key })),
    }));
    A.directory = { rooftops, partial: true };
    return A.directory;
  }
  const allDepartments = () => (A.directory ? A.directory.rooftops.flatMap((rt) => (rt.departments || []).map((d) => Object.assign({ rooftop: rt }, d))) : []);
  const departmentName = (id) => { const d = allDepartments().find((x) => x.id === id); return d ? d.label + ' · ' + d.rooftop.name : 'Unknown department'; };
  async function loadTeams() {
    if (A.teams) return A.teams;
    const r = await api('GET', '/api/v1/teams');
    A.teams = r.ok && Array.isArray(r.data) ? r.data : [];
    return A.teams;
  }

  // ---- the tab ----
  function build(root) {
    A.root = root;
    A.nav = el('nav', { class: 'a-nav', 'aria-label': 'Admin sections' });
    for (const [key, label] of SECTIONS) {
      A.nav.append(el('button', { type: 'button', id: 'admin-nav-' + key, 'data-section': key, text: label, on: { click: () => showSection(key, true) } }));
    }
    A.body = el('div', { class: 'a-body', id: 'admin-body', tabIndex: -1 });
    clear(root, A.nav, A.body);
  }

  function show(apiFn, me) {
    A.api = apiFn; A.me = me;
    const root = document.getElementById('admin-root');
    if (!root) return;
    if (A.root !== root || !A.nav) build(root);
    let saved = null;
    try { saved = sessionStorage.getItem(SECTION_KEY); } catch (_) { /* not remembered */ }
    showSection(A.section || saved || 'dashboard', false);
  }

  function showSection(key, focus) {
    if (!SECTIONS.some(([k]) => k === key)) key = 'dashboard';
    A.section = key;
    try { sessionStorage.setItem(SECTION_KEY, key); } catch (_) { /* fine */ }
    for (const b of A.nav.querySelectorAll('button')) {
      if (b.dataset.section === key) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
    }
    const token = ++A.token;
    const body = A.body;
    clear(body, el('h2', { class: 'a-h', text: SECTIONS.find(([k]) => k === key)[1] }), loadingLine());
    const render = { dashboard: renderDashboard, rooftops: renderRooftops, agents: renderAgents, websites: renderWebsites, crm: renderCrm }[key];
    Promise.resolve().then(() => render(body, () => token === A.token)).catch((e) => {
      if (token !== A.token) return;
      body.querySelectorAll('.a-loading').forEach((n) => n.remove());
      body.append(el('p', { class: 'a-error', role: 'alert', text: 'Could not load this section: ' + (e && e.message ? e.message : 'cannot reach the server.') }));
    });
    if (focus) body.focus();
  }

  function reset() {
    A.directory = null; A.teams = null; A.section = null; A.website = null; A.token++;
    if (A.root) clear(A.root);
    A.root = null; A.nav = null; A.body = null;
    closeProfile();
  }

  /** The section's heading and, below it, what `fill` puts in a fresh container. */
  function sectionShell(body, title, intro) {
    const box = el('div', { class: 'a-section' });
    clear(body, el('h2', { class: 'a-h', text: title }), intro ? el('p', { class: 'a-intro', text: intro }) : null, box);
    return box;
  }

  // ==== 1. Dashboard ====
  const RANGES = [['today', 'Today'], ['week', 'Last 7 days'], ['month', 'Last 30 days']];
  function rangeOf(key) {
    const to = new Date();
    let from;
    if (key === 'today') { from = new Date(to); from.setHours(0, 0, 0, 0); if (to - from < 60000) from = new Date(to.getTime() - 60000); }
    else from = new Date(to.getTime() - (key === 'month' ? 30 : 7) * 86400000);
    return { from: from.toISOString(), to: to.toISOString() };
  }
  const pct = (v) => (v == null || isNaN(v) ? '—' : (Math.round(v * 1000) / 10).toFixed(1) + ' %');
  function secs(v) {
    if (v == null || isNaN(v)) return '—';
    const s = Math.round(v);
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60), r = s % 60;
    if (m < 60) return m + ' min ' + String(r).padStart(2, '0') + ' s';
    return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
  }
  const pickup = (d) => {
    const t = d && d.time_to_pickup_secs;
    return t ? secs(t.p50) + ' (avg ' + secs(t.avg) + ')' : '—';
  };
  const count = (v) => (v == null ? '—' : String(v));

  async function renderDashboard(body, current) {
    const box = sectionShell(body, 'Dashboard', 'Chats created in the range, per rooftop and department.');
    const group = el('div', { class: 'a-seg', role: 'group', 'aria-label': 'Range' });
    const state = el('p', { class: 'a-meta', role: 'status', id: 'admin-dash-state' });
    const out = el('div', { class: 'a-dash', id: 'admin-dash' });
    for (const [key, label] of RANGES) {
      group.append(el('button', { type: 'button', 'data-range': key, 'aria-pressed': String(A.range === key), text: label,
        on: { click: () => { A.range = key; group.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.range === key))); load(); } } }));
    }
    const refresh = el('button', { type: 'button', text: 'Refresh', on: { click: () => load() } });
    box.append(el('div', { class: 'a-toolbar' }, group, refresh, state), out);
    let seq = 0;
    async function load() {
      const mine = ++seq;
      const { from, to } = rangeOf(A.range);
      state.textContent = 'Loading…';
      const r = await api('GET', '/api/v1/reports/departments?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to));
      if (!current() || mine !== seq) return;
      if (!r.ok) { state.textContent = ''; clear(out, el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot load the report.') })); return; }
      const rep = r.data || {};
      const deps = rep.departments || [];
      const total = deps.reduce((n, d) => n + (d.chats || 0), 0);
      state.textContent = total + (total === 1 ? ' chat' : ' chats') + ' · ' + fmtWhen(rep.from || from) + ' – ' + fmtWhen(rep.to || to);
      clear(out, dashboardTable(rep));
    }
    await load();
  }

  function dashboardTable(rep) {
    const deps = rep.departments || [];
    if (!deps.length) return el('p', { class: 'a-empty', text: 'No departments yet.' });
    const hasLeads = deps.some((d) => d.leads != null || d.chat_to_lead_rate !== undefined);
    const rollups = new Map();
    for (const rt of rep.rooftops || []) rollups.set((rt.rooftop && rt.rooftop.id) || rt.id, rt);
    const head = ['Department', 'Chats', 'Answered', 'Time to pickup (median)', 'Missed-chat rate'];
    if (hasLeads) head.push('Leads', 'Chat-to-lead rate');
    head.push('Chats per agent');
    const table = el('table', { class: 'a-table a-dash-table' },
      el('caption', { class: 'sr-only', text: 'Numbers per rooftop and department' }),
      el('thead', null, el('tr', null, head.map((t) => el('th', { scope: 'col', text: t })))));
    const tbody = el('tbody');
    let rooftop = null;
    for (const d of deps) {
      const rid = d.rooftop && d.rooftop.id;
      if (rid !== rooftop) {
        rooftop = rid;
        const roll = rollups.get(rid);
        const row = el('tr', { class: 'a-rooftop-row' }, el('th', { scope: 'rowgroup', text: (d.rooftop && d.rooftop.name) || 'Rooftop' }));
        if (roll) {
          row.append(el('td', { text: count(roll.chats) }), el('td', { text: count(roll.answered) }), el('td', { text: pickup(roll) }), el('td', { text: pct(roll.missed_rate) }));
          if (hasLeads) row.append(el('td', { text: count(roll.leads) }), el('td', { text: pct(roll.chat_to_lead_rate) }));
          row.append(el('td', { text: '' }));
        } else {
          row.firstChild.colSpan = head.length;
        }
        tbody.append(row);
      }
      const per = (d.chats_per_agent || []).map((a) => ((a.agent && a.agent.name) || 'Agent') + ': ' + a.chats);
      const tr = el('tr', { 'data-department': (d.department && d.department.id) || '' },
        el('th', { scope: 'row', class: 'a-dep-name', text: (d.department && d.department.label) || '—' }),
        el('td', { class: 'a-num', 'data-k': 'chats', text: count(d.chats) }),
        el('td', { class: 'a-num', text: count(d.answered) }),
        el('td', { text: pickup(d) }),
        el('td', { class: 'a-num', text: pct(d.missed_rate) }));
      if (hasLeads) tr.append(el('td', { class: 'a-num', text: count(d.leads) }), el('td', { class: 'a-num', text: pct(d.chat_to_lead_rate) }));
      tr.append(el('td', { class: 'a-per' }, per.length ? el('ul', { class: 'a-per-list' }, per.map((t) => el('li', { text: t }))) : '—'));
      tbody.append(tr);
    }
    table.append(tbody);
    return el('div', { class: 'a-table-wrap' }, table);
  }

  // ==== 2. Rooftops & departments ====
  const COUNTRIES = [['US', 'United States'], ['CA', 'Canada'], ['MX', 'Mexico'], ['PR', 'Puerto Rico'], ['GB', 'United Kingdom'], ['ES', 'Spain']];
  function timeZones() {
    try { if (Intl.supportedValuesOf) return Intl.supportedValuesOf('timeZone'); } catch (_) { /* older browser */ }
    return ['America/New_York', 'America/Chicago', 'America/Denver', 'America/Phoenix', 'America/Los_Angeles', 'America/Anchorage', 'Pacific/Honolulu', 'America/Puerto_Rico', 'America/Mexico_City', 'America/Toronto', 'UTC'];
  }
  function zoneSelect(value) {
    const zones = timeZones().slice();
    if (value && !zones.includes(value)) zones.unshift(value);
    return select(zones, value || Intl.DateTimeFormat().resolvedOptions().timeZone || 'America/New_York');
  }
  function countrySelect(value) {
    const opts = COUNTRIES.slice();
    if (value && !opts.some(([c]) => c === value)) opts.unshift([value, value]);
    return select(opts, value || 'US');
  }

  async function renderRooftops(body, current) {
    const dir = await loadDirectory();
    if (!current()) return;
    const box = sectionShell(body, 'Rooftops & departments', 'Each rooftop is a dealership with its departments; a department’s routing says how and when its chats are offered.');
    if (dir.partial) box.append(el('p', { class: 'a-note', text: 'Rooftops cannot be changed on this server yet; departments’ routing can.' }));
    const list = el('div', { class: 'a-cards', id: 'admin-rooftops' });
    box.append(list);
    if (!dir.partial) box.append(newRooftopForm(body, current));
    for (const rt of dir.rooftops) list.append(rooftopCard(rt, dir.partial, body, current));
    if (!dir.rooftops.length) list.append(el('p', { class: 'a-empty', text: 'No rooftops yet.' }));
  }
  const rerender = (body, current) => { if (current()) renderRooftops(body, current); };

  function rooftopFields(fields, rt) {
    const name = textInput(rt && rt.name, { maxLength: 80, required: true });
    const tz = zoneSelect(rt && rt.time_zone);
    const country = countrySelect(rt && rt.country);
    return {
      nodes: [field(fields, 'name', 'Name', name), field(fields, 'time_zone', 'Time zone', tz), field(fields, 'country', 'Country', country)],
      value: () => ({ name: name.value.trim(), time_zone: tz.value, country: country.value }),
      focus: () => name.focus(),
    };
  }

  function newRooftopForm(body, current) {
    const fields = new Fields(), s = saver('Add rooftop');
    const f = rooftopFields(fields, null);
    const form = formEl('a-form a-inline-form', s, async () => {
      const r = await s.run(fields, () => api('POST', '/api/v1/rooftops', f.value()));
      if (r) rerender(body, current);
    });
    form.append(el('h3', { text: 'Add a rooftop' }), el('div', { class: 'a-row' }, f.nodes), s.wrap);
    return el('section', { class: 'a-card', 'aria-label': 'Add a rooftop' }, form);
  }

  function rooftopCard(rt, partial, body, current) {
    const card = el('section', { class: 'a-card', 'data-rooftop': rt.id, 'aria-label': rt.name });
    const head = el('div', { class: 'a-card-head' },
      el('h3', { text: rt.name }),
      el('span', { class: 'a-meta', text: [rt.time_zone, rt.country].filter(Boolean).join(' · ') }));
    card.append(head);
    if (!partial) {
      const editBtn = el('button', { type: 'button', class: 'small', text: 'Edit rooftop', 'aria-expanded': 'false' });
      head.append(editBtn);
      let form = null;
      editBtn.addEventListener('click', () => {
        if (form) { form.remove(); form = null; editBtn.setAttribute('aria-expanded', 'false'); return; }
        const fields = new Fields(), s = saver();
        const f = rooftopFields(fields, rt);
        form = formEl('a-form a-inline-form', s, async () => {
          const r = await s.run(fields, () => api('PUT', '/api/v1/rooftops/' + rt.id, f.value()));
          if (r) setTimeout(() => rerender(body, current), 600);
        });
        const cancel = el('button', { type: 'button', text: 'Cancel', on: { click: () => editBtn.click() } });
        s.wrap.insertBefore(cancel, s.status);
        form.append(el('div', { class: 'a-row' }, f.nodes), s.wrap);
        head.after(form);
        editBtn.setAttribute('aria-expanded', 'true');
        f.focus();
      });
    }
    const deps = (rt.departments || []).slice().sort((a, b) => (a.position || 0) - (b.position || 0) || String(a.label).localeCompare(b.label));
    const ul = el('ul', { class: 'a-deps' });
    for (const d of deps) ul.append(departmentItem(rt, d, partial, body, current));
    if (!deps.length) ul.append(el('li', { class: 'a-empty', text: 'No departments yet.' }));
    card.append(el('h4', { class: 'a-subh', text: 'Departments' }), ul);
    if (!partial) card.append(newDepartmentForm(rt, body, current));
    return card;
  }

  function newDepartmentForm(rt, body, current) {
    const fields = new Fields(), s = saver('Add department');
    const label = textInput('', { maxLength: 60 });
    const section = textInput('', { maxLength: 60, placeholder: 'e.g. Front End' });
    const form = formEl('a-form a-inline-form a-new-dep', s, async () => {
      const b = { label: label.value.trim() };
      if (section.value.trim()) b.board_section = section.value.trim();
      const r = await s.run(fields, () => api('POST', '/api/v1/rooftops/' + rt.id + '/departments', b));
      if (r) rerender(body, current);
    });
    form.append(el('div', { class: 'a-row' },
      field(fields, 'label', 'New department', label),
      field(fields, 'board_section', 'Board section (optional)', section)), s.wrap);
    return form;
  }

  function departmentItem(rt, d, partial, body, current) {
    const li = el('li', { class: 'a-dep', 'data-department': d.id });
    const name = el('span', { class: 'a-dep-label', text: d.label });
    const sec = el('span', { class: 'a-meta', text: d.board_section ? 'Board: ' + d.board_section : '' });
    const routeBtn = el('button', { type: 'button', class: 'small', text: 'Routing', 'aria-expanded': 'false' });
    const editBtn = partial ? null : el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-expanded': 'false' });
    const delBtn = partial ? null : el('button', { type: 'button', class: 'small danger', text: 'Delete' });
    const delState = el('span', { class: 'a-status', role: 'status' });
    const row = el('div', { class: 'a-dep-row' }, name, sec, el('span', { class: 'a-grow' }), routeBtn, editBtn, delBtn);
    const panel = el('div', { class: 'a-dep-panel' });
    li.append(row, delState, panel);
    const setOpen = (which) => {
      routeBtn.setAttribute('aria-expanded', String(which === 'routing'));
      if (editBtn) editBtn.setAttribute('aria-expanded', String(which === 'edit'));
    };
    routeBtn.addEventListener('click', () => {
      if (routeBtn.getAttribute('aria-expanded') === 'true') { clear(panel); setOpen(null); return; }
      setOpen('routing');
      clear(panel, loadingLine('routing'));
      routingEditor(d, rt).then((node) => clear(panel, node)).catch(() => clear(panel, el('p', { class: 'a-error', role: 'alert', text: 'Cannot reach the server.' })));
    });
    if (editBtn) {
      editBtn.addEventListener('click', () => {
        if (editBtn.getAttribute('aria-expanded') === 'true') { clear(panel); setOpen(null); return; }
        setOpen('edit');
        const fields = new Fields(), s = saver();
        const label = textInput(d.label, { maxLength: 60 });
        const section = textInput(d.board_section || '', { maxLength: 60 });
        const pos = numberInput(d.position != null ? d.position : 0, { min: 0, max: 1000 });
        const form = formEl('a-form a-inline-form', s, async () => {
          const b = { label: label.value.trim(), board_section: section.value.trim() || null, position: num(pos.value) || 0 };
          const r = await s.run(fields, () => api('PUT', '/api/v1/departments/' + d.id, b));
          if (r) setTimeout(() => rerender(body, current), 600);
        });
        form.append(el('div', { class: 'a-row' },
          field(fields, 'label', 'Label', label), field(fields, 'board_section', 'Board section', section),
          field(fields, 'position', 'Position', pos)), s.wrap);
        clear(panel, form);
        label.focus();
      });
      delBtn.addEventListener('click', async () => {
        if (!window.confirm('Delete the department “' + d.label + '”?')) return;
        delBtn.disabled = true; delState.textContent = 'Deleting…'; delState.classList.remove('bad');
        try {
          const r = await api('DELETE', '/api/v1/departments/' + d.id);
          if (r.ok) { delState.textContent = 'Deleted'; setTimeout(() => rerender(body, current), 400); return; }
          delState.textContent = 'Not deleted: ' + errText(r); delState.classList.add('bad');
        } catch (_) {
          delState.textContent = 'Not deleted: cannot reach the server.'; delState.classList.add('bad');
        }
        delBtn.disabled = false;
      });
    }
    return li;
  }

  // ---- a department's routing ----
  async function routingEditor(d, rt) {
    const [r, teams] = await Promise.all([api('GET', '/api/v1/departments/' + d.id + '/routing'), loadTeams()]);
    if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the routing.') });
    let view = r.data;
    const st = view.settings || {};
    const fields = new Fields(), s = saver('Save routing');
    const open = el('p', { class: 'a-meta', role: 'status' });
    const showOpen = (v) => {
      open.textContent = (v.open_now ? 'Open now' : 'Closed now' + (v.next_open ? ' — opens ' + fmtWhen(v.next_open) : '')) +
        ' · hours in ' + (v.time_zone || rt.time_zone || 'the rooftop’s time zone');
    };
    showOpen(view);
    const modeName = nid('mode');
    const modeBox = el('fieldset', { class: 'a-fieldset' }, el('legend', { text: 'Offer mode' }));
    const modeInputs = {};
    for (const [v, t, hint] of [['broadcast', 'Broadcast', 'every eligible agent is offered the chat; the first to respond takes it'], ['ring', 'Ring', 'one agent at a time, fewest chats first']]) {
      const input = el('input', { type: 'radio', name: modeName, value: v, checked: (st.mode || 'broadcast') === v, id: nid('m') });
      modeInputs[v] = input;
      modeBox.append(el('div', { class: 'a-check' }, el('label', { for: input.id }, input, ' ', t, el('span', { class: 'a-hint', text: ' — ' + hint }))));
    }
    fields.add('mode', modeInputs.broadcast, modeBox);
    const ring = numberInput(st.ring_secs, { min: 1, max: 3600 });
    const maxChats = numberInput(st.max_chats_per_agent, { min: 1, max: 100, placeholder: 'no cap' });
    const incoming = numberInput(st.incoming_timeout_secs, { min: 1, max: 86400 });
    const wait = numberInput(st.wait_secs, { min: 1, max: 86400, placeholder: 'no limit' });
    const inactivity = numberInput(st.inactivity_secs, { min: 1, max: 604800 });
    const transfer = numberInput(st.transfer_secs, { min: 1, max: 3600 });
    const team = select([['', 'No overflow']].concat(teams.map((t) => [t.id, t.name])), st.overflow_team_id || '');
    const after = numberInput(st.overflow_after_secs, { min: 0, max: 86400, placeholder: '0 = at once' });

    // Hours: a weekly schedule with several intervals a day, and closed days.
    const hoursOn = check(fields, 'hours', 'Only during business hours (otherwise always open)', !!st.hours);
    const byDay = new Map(WEEKDAYS.map((_, i) => [i + 1, []]));
    for (const iv of (st.hours && st.hours.intervals) || []) if (byDay.has(iv.weekday)) byDay.get(iv.weekday).push({ opens: iv.opens, closes: iv.closes });
    let closures = ((st.hours && st.hours.closures) || []).map((c) => ({ date: c.date, label: c.label || '' }));
    const hoursBox = el('div', { class: 'a-hours' });
    const week = el('table', { class: 'a-table a-week' });
    const closuresBox = el('div', { class: 'a-closures' });
    hoursBox.append(el('h5', { text: 'Weekly hours' }), el('p', { class: 'a-hint', text: 'Times as HH:MM in the rooftop’s time zone; 24:00 is the end of the day. A day without hours is closed.' }), week,
      el('h5', { text: 'Holidays (closed all day)' }), closuresBox);
    const hoursFields = new Fields();
    function renderWeek() {
      hoursFields.map.clear();
      clear(week, el('caption', { class: 'sr-only', text: 'Opening hours per weekday' }));
      let n = 0;
      for (const [wd, ivs] of byDay) {
        const cell = el('td', { class: 'a-ivs' });
        ivs.forEach((iv, i) => {
          const idx = n++;
          const o = textInput(iv.opens, { size: 5, maxLength: 5, placeholder: '09:00', 'aria-label': WEEKDAYS[wd - 1] + ' interval ' + (i + 1) + ' opens', on: { input: (e) => { iv.opens = e.target.value.trim(); } } });
          const c = textInput(iv.closes, { size: 5, maxLength: 5, placeholder: '18:00', 'aria-label': WEEKDAYS[wd - 1] + ' interval ' + (i + 1) + ' closes', on: { input: (e) => { iv.closes = e.target.value.trim(); } } });
          const rm = el('button', { type: 'button', class: 'small icon', text: '×', 'aria-label': 'Remove ' + WEEKDAYS[wd - 1] + ' interval ' + (i + 1),
            on: { click: () => { ivs.splice(i, 1); renderWeek(); week.querySelector('[data-add="' + wd + '"]').focus(); } } });
          const span = el('span', { class: 'a-iv' }, o, '–', c, rm);
          cell.append(span);
          hoursFields.add('hours.intervals[' + idx + '].opens', o, span);
          hoursFields.add('hours.intervals[' + idx + '].closes', c, span);
          hoursFields.add('hours.intervals[' + idx + ']', o, span);
        });
        if (!ivs.length) cell.append(el('span', { class: 'a-meta', text: 'Closed' }));
        const add = el('button', { type: 'button', class: 'small', 'data-add': String(wd), text: 'Add hours', 'aria-label': 'Add hours on ' + WEEKDAYS[wd - 1],
          on: { click: () => { const last = ivs[ivs.length - 1]; ivs.push(last ? { opens: last.closes, closes: '' } : { opens: '09:00', closes: '18:00' }); renderWeek(); const inputs = week.querySelectorAll('tr[data-day="' + wd + '"] input'); if (inputs.length) inputs[inputs.length - 2].focus(); } } });
        const copy = wd > 1 ? el('button', { type: 'button', class: 'small', text: 'Same as ' + WEEKDAYS[wd - 2].slice(0, 3), 'aria-label': 'Same hours on ' + WEEKDAYS[wd - 1] + ' as on ' + WEEKDAYS[wd - 2],
          on: { click: () => { byDay.set(wd, byDay.get(wd - 1).map((x) => Object.assign({}, x))); renderWeek(); } } }) : null;
        week.append(el('tr', { 'data-day': String(wd) }, el('th', { scope: 'row', text: WEEKDAYS[wd - 1] }), cell, el('td', { class: 'a-day-actions' }, add, copy)));
      }
      renderClosures();
    }
    function renderClosures() {
      clear(closuresBox);
      const ul = el('ul', { class: 'a-list' });
      closures.forEach((c, i) => {
        const date = el('input', { type: 'date', value: c.date || '', 'aria-label': 'Holiday ' + (i + 1) + ' date', on: { input: (e) => { c.date = e.target.value; } } });
        const label = textInput(c.label, { maxLength: 100, placeholder: 'e.g. Thanksgiving', 'aria-label': 'Holiday ' + (i + 1) + ' name', on: { input: (e) => { c.label = e.target.value; } } });
        const rm = el('button', { type: 'button', class: 'small', text: 'Remove', 'aria-label': 'Remove holiday ' + (i + 1), on: { click: () => { closures.splice(i, 1); renderClosures(); addHoliday.focus(); } } });
        const li = el('li', { class: 'a-iv' }, date, label, rm);
        ul.append(li);
        hoursFields.add('hours.closures[' + i + ']', date, li);
      });
      const addHoliday = el('button', { type: 'button', class: 'small', text: 'Add holiday', on: { click: () => { closures.push({ date: '', label: '' }); renderClosures(); const d = closuresBox.querySelectorAll('input[type=date]'); d[d.length - 1].focus(); } } });
      closuresBox.append(ul, addHoliday);
    }
    renderWeek();
    const syncHours = () => { hoursBox.hidden = !hoursOn.input.checked; };
    hoursOn.input.addEventListener('change', syncHours);
    syncHours();

    const both = { clear() { fields.clear(); hoursFields.clear(); }, show(e) { return fields.show(e) || hoursFields.show(e); } };
    const form = formEl('a-form a-routing', s, async () => {
      const settings = {
        mode: modeInputs.ring.checked ? 'ring' : 'broadcast',
        max_chats_per_agent: num(maxChats.value), wait_secs: num(wait.value),
        overflow_team_id: team.value || null, overflow_after_secs: team.value ? (num(after.value) == null ? 0 : num(after.value)) : null,
        hours: null,
      };
      for (const [k, input] of [['ring_secs', ring], ['incoming_timeout_secs', incoming], ['inactivity_secs', inactivity], ['transfer_secs', transfer]]) {
        if (input.value !== '') settings[k] = Number(input.value);
      }
      if (hoursOn.input.checked) {
        settings.hours = {
          intervals: [...byDay].flatMap(([weekday, ivs]) => ivs.map((iv) => ({ weekday, opens: iv.opens, closes: iv.closes }))),
          closures: closures.filter((c) => c.date).map((c) => ({ date: c.date, label: c.label.trim() })),
        };
      }
      const res = await s.run(both, () => api('PUT', '/api/v1/departments/' + d.id + '/routing', settings));
      if (res && res.data) { view = res.data; showOpen(view); }
    });
    form.append(
      open, modeBox,
      el('div', { class: 'a-row' },
        field(fields, 'ring_secs', 'Ring seconds', ring, 'Ring mode: before the next agent'),
        field(fields, 'max_chats_per_agent', 'Max chats per agent', maxChats, 'Empty: each agent’s own maximum'),
        field(fields, 'incoming_timeout_secs', 'Incoming time-out (s)', incoming, 'Not taken by then: missed'),
        field(fields, 'wait_secs', 'Wait time (s)', wait, 'Then the offline flow; empty: none')),
      el('div', { class: 'a-row' },
        field(fields, 'inactivity_secs', 'Inactivity time-out (s)', inactivity),
        field(fields, 'transfer_secs', 'Transfer answer time (s)', transfer),
        field(fields, 'overflow_team_id', 'Overflow to team', team),
        field(fields, 'overflow_after_secs', 'Overflow after (s)', after)),
      hoursOn.wrap, hoursBox, s.wrap);
    return form;
  }

  // ==== 3. Agents ====
  const ROLES = [['agent', 'Agent'], ['manager', 'Manager'], ['admin', 'Admin']];
  const roleLabel = (r) => (ROLES.find(([k]) => k === r) || [r, r])[1];

  /** Checkboxes per rooftop and department; `value()` answers the checked department ids. */
  function membershipPicker(fields, checked) {
    const set = new Set(checked || []);
    const box = el('fieldset', { class: 'a-fieldset a-members' }, el('legend', { text: 'Departments' }));
    const inputs = [];
    for (const rt of A.directory.rooftops) {
      const group = el('div', { class: 'a-member-group', role: 'group', 'aria-label': rt.name }, el('span', { class: 'a-member-rooftop', text: rt.name }));
      for (const d of rt.departments || []) {
        const input = el('input', { type: 'checkbox', value: d.id, checked: set.has(d.id), id: nid('dep') });
        input.dataset.label = d.label + ' · ' + rt.name;
        inputs.push(input);
        group.append(el('label', { for: input.id, class: 'a-member' }, input, ' ', d.label));
      }
      box.append(group);
    }
    if (fields) fields.add('department_ids', inputs[0] || box, box);
    return { node: box, value: () => inputs.filter((i) => i.checked).map((i) => i.value) };
  }

  async function renderAgents(body, current) {
    const [dir, r] = await Promise.all([loadDirectory(), api('GET', '/api/v1/agents')]);
    if (!current()) return;
    const box = sectionShell(body, 'Agents', 'Who can log in to the console, their role, how many chats they take at once and the departments they answer for.');
    if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: r.status === 404 ? 'Agents cannot be managed on this server yet.' : errText(r, 'Cannot read the agents.') })); return; }
    const agents = (Array.isArray(r.data) ? r.data : r.data.agents) || [];
    agents.sort((a, b) => (a.last_name + a.first_name).localeCompare(b.last_name + b.first_name));
    const table = el('table', { class: 'a-table a-agents', id: 'admin-agents' },
      el('caption', { class: 'sr-only', text: 'Agents of the group' }),
      el('thead', null, el('tr', null, ['Name', 'E-mail', 'Role', 'Max chats', 'Departments', ''].map((t) => el('th', { scope: 'col', text: t })))));
    const tbody = el('tbody');
    for (const a of agents) tbody.append(...agentRows(a, body, current, dir));
    table.append(tbody);
    box.append(el('div', { class: 'a-table-wrap' }, table), newAgentForm(body, current));
  }

  function agentRows(a, body, current) {
    const name = ((a.first_name || '') + ' ' + (a.last_name || '')).trim() || a.email;
    const deps = (a.department_ids || []).map(departmentName);
    const editBtn = el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-expanded': 'false', 'aria-label': 'Edit ' + name });
    const gone = !!a.deactivated_at;
    const tr = el('tr', { 'data-agent': a.id, class: gone ? 'a-deactivated' : '' },
      el('th', { scope: 'row' }, el('span', { class: 'a-agent-name' }, a.photo_url ? el('img', { class: 'a-avatar', src: a.photo_url, alt: '', width: 24, height: 24 }) : null, el('span', { text: name }),
        gone ? el('span', { class: 'a-badge', text: 'Deactivated' }) : null)),
      el('td', { class: 'a-wrap a-email', text: a.email }),
      el('td', { text: roleLabel(a.role) }),
      el('td', { class: 'a-num', text: a.max_chats == null ? '—' : String(a.max_chats) }),
      el('td', { class: 'a-wrap', text: gone ? '—' : deps.length ? deps.join(', ') : 'None' }),
      el('td', null, gone ? reactivateButton(a, name, body, current) : editBtn));
    const editRow = el('tr', { class: 'a-edit-row', hidden: true }, el('td', { colSpan: 6 }));
    editBtn.addEventListener('click', () => {
      const opening = editRow.hidden;
      editRow.hidden = !opening;
      editBtn.setAttribute('aria-expanded', String(opening));
      if (!opening) { clear(editRow.firstChild); return; }
      const fields = new Fields(), s = saver();
      const first = textInput(a.first_name, { maxLength: 80 }), last = textInput(a.last_name, { maxLength: 80 });
      const role = select(ROLES, a.role);
      const max = numberInput(a.max_chats, { min: 1, max: 50 });
      const members = membershipPicker(fields, a.department_ids);
      const form = formEl('a-form', s, async () => {
        const res = await s.run(fields, async () => {
          const r1 = await api('PUT', '/api/v1/agents/' + a.id, { first_name: first.value.trim(), last_name: last.value.trim(), role: role.value, max_chats: num(max.value) });
          if (!r1.ok) return r1;
          return api('PUT', '/api/v1/agents/' + a.id + '/memberships', { department_ids: members.value() });
        });
        if (res) setTimeout(() => { if (current()) renderAgents(body, current); }, 700);
      });
      const cancel = el('button', { type: 'button', text: 'Cancel', on: { click: () => { editBtn.click(); editBtn.focus(); } } });
      s.wrap.insertBefore(cancel, s.status);
      // An agent who left: no login, no departments, off the board; their history stays.
      const off = el('button', { type: 'button', class: 'danger', text: 'Deactivate…' });
      off.addEventListener('click', async () => {
        if (!window.confirm('Deactivate ' + name + '? They can no longer log in, their consoles close and they leave every department. Their chats and leads keep their name.')) return;
        off.disabled = true; s.say('Deactivating…');
        let r;
        try { r = await api('POST', '/api/v1/agents/' + a.id + '/deactivate', {}); } catch (_) { r = null; }
        off.disabled = false;
        if (r && r.ok) { s.say('Deactivated'); setTimeout(() => { if (current()) renderAgents(body, current); }, 500); }
        else s.say(r ? 'Not deactivated: ' + errText(r) : 'Not deactivated: cannot reach the server.', true);
      });
      s.wrap.insertBefore(off, s.status);
      form.append(el('div', { class: 'a-row' },
        field(fields, 'first_name', 'First name', first), field(fields, 'last_name', 'Last name', last),
        field(fields, 'role', 'Role', role), field(fields, 'max_chats', 'Max chats at once', max)), members.node, s.wrap);
      clear(editRow.firstChild, form);
      first.focus();
    });
    return [tr, editRow];
  }

  /** Lets a deactivated agent log in again (they get their departments back by an edit). */
  function reactivateButton(a, name, body, current) {
    const b = el('button', { type: 'button', class: 'small', text: 'Reactivate', 'aria-label': 'Reactivate ' + name });
    const status = el('span', { class: 'a-status', role: 'status', 'aria-live': 'polite' });
    b.addEventListener('click', async () => {
      b.disabled = true; status.textContent = 'Reactivating…'; status.classList.remove('bad');
      let r;
      try { r = await api('POST', '/api/v1/agents/' + a.id + '/reactivate', {}); } catch (_) { r = null; }
      b.disabled = false;
      if (r && r.ok) { if (current()) renderAgents(body, current); return; }
      status.textContent = r ? errText(r) : 'Cannot reach the server.'; status.classList.add('bad');
    });
    return el('span', null, b, ' ', status);
  }

  function newAgentForm(body, current) {
    const fields = new Fields(), s = saver('Add agent');
    const email = el('input', { type: 'email', maxLength: 254, autocomplete: 'off' });
    const first = textInput('', { maxLength: 80 }), last = textInput('', { maxLength: 80 });
    const role = select(ROLES, 'agent');
    const password = el('input', { type: 'password', autocomplete: 'new-password', minLength: 10 });
    const max = numberInput('', { min: 1, max: 50, placeholder: '3' });
    const members = membershipPicker(fields, []);
    const form = formEl('a-form', s, async () => {
      const b = { email: email.value.trim(), first_name: first.value.trim(), last_name: last.value.trim(), role: role.value, password: password.value, department_ids: members.value() };
      if (max.value !== '') b.max_chats = Number(max.value);
      const r = await s.run(fields, () => api('POST', '/api/v1/agents', b));
      if (r) { password.value = ''; setTimeout(() => { if (current()) renderAgents(body, current); }, 700); }
    });
    form.append(el('h3', { text: 'Add an agent' }),
      el('div', { class: 'a-row' },
        field(fields, 'email', 'E-mail', email), field(fields, 'first_name', 'First name', first), field(fields, 'last_name', 'Last name', last)),
      el('div', { class: 'a-row' },
        field(fields, 'role', 'Role', role), field(fields, 'password', 'Password', password, 'At least 10 characters'), field(fields, 'max_chats', 'Max chats at once', max)),
      members.node, s.wrap);
    return el('section', { class: 'a-card', id: 'admin-new-agent', 'aria-label': 'Add an agent' }, form);
  }

  // ==== 4. Websites ====
  async function renderWebsites(body, current) {
    const [dir, r] = await Promise.all([loadDirectory(), api('GET', '/api/v1/websites')]);
    if (!current()) return;
    const box = sectionShell(body, 'Websites', 'The dealer sites the chat widget runs on: where it may run, how it looks, what the bot asks and which forms it shows.');
    if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the websites.') })); return; }
    const sites = Array.isArray(r.data) ? r.data : r.data.websites || [];
    const layout = el('div', { class: 'a-split' });
    const list = el('ul', { class: 'a-site-list', 'aria-label': 'Websites' });
    const detail = el('div', { class: 'a-site-detail', id: 'admin-site' });
    layout.append(el('div', { class: 'a-site-side' }, list, newWebsiteForm(dir, body, current)), detail);
    box.append(layout);
    if (!sites.find((x) => x.id === A.website)) A.website = sites.length ? sites[0].id : null;
    const open = (id, focus) => {
      A.website = id;
      list.querySelectorAll('button').forEach((b) => { if (b.dataset.site === id) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current'); });
      websiteDetail(detail, sites.find((x) => x.id === id), current);
      if (focus) detail.focus();
    };
    for (const w of sites) {
      list.append(el('li', null, el('button', { type: 'button', class: 'a-site-btn', 'data-site': w.id, on: { click: () => open(w.id, true) } },
        el('strong', { text: w.name }), el('span', { class: 'a-meta', text: w.rooftop_name || '' }))));
    }
    detail.tabIndex = -1;
    if (A.website) open(A.website, false);
    else detail.append(el('p', { class: 'a-empty', text: 'No websites yet.' }));
  }

  function newWebsiteForm(dir, body, current) {
    const fields = new Fields(), s = saver('Add website');
    const rooftop = select(dir.rooftops.map((rt) => [rt.id, rt.name]));
    const name = textInput('', { maxLength: 120, placeholder: 'www.dealer.example' });
    const origins = el('textarea', { rows: 2, placeholder: 'https://www.dealer.example' });
    const form = formEl('a-form', s, async () => {
      const r = await s.run(fields, () => api('POST', '/api/v1/websites', { rooftop_id: rooftop.value, name: name.value.trim(), allowed_origins: lines(origins.value) }));
      if (r) { if (r.data && r.data.id) A.website = r.data.id; setTimeout(() => { if (current()) renderWebsites(body, current); }, 500); }
    });
    form.append(el('h3', { text: 'Add a website' }), field(fields, 'rooftop_id', 'Rooftop', rooftop), field(fields, 'name', 'Name', name),
      field(fields, 'allowed_origins', 'Allowed origins (one per line)', origins), s.wrap);
    return el('details', { class: 'a-card a-new-site', id: 'admin-new-site' }, el('summary', { text: 'Add a website' }), form);
  }

  function websiteDetail(detail, w, current) {
    const cards = {
      general: el('section', { class: 'a-card', id: 'admin-site-general', 'aria-labelledby': 'admin-site-general-h' }),
      bot: el('section', { class: 'a-card', id: 'admin-site-bot', 'aria-labelledby': 'admin-site-bot-h' }),
      pre: el('section', { class: 'a-card', id: 'admin-form-pre_chat', 'aria-labelledby': 'admin-form-pre_chat-h' }),
      offline: el('section', { class: 'a-card', id: 'admin-form-offline', 'aria-labelledby': 'admin-form-offline-h' }),
      routing: el('section', { class: 'a-card', id: 'admin-site-routing', 'aria-labelledby': 'admin-site-routing-h' }),
      mail: el('section', { class: 'a-card', id: 'admin-site-mail', 'aria-labelledby': 'admin-site-mail-h' }),
    };
    const titles = { general: ['admin-site-general-h', 'Website and appearance'], bot: ['admin-site-bot-h', 'Bot and Lead Gate'], pre: ['admin-form-pre_chat-h', 'Pre-chat form'],
      offline: ['admin-form-offline-h', 'Offline form'], routing: ['admin-site-routing-h', 'Limits and routing rules'], mail: ['admin-site-mail-h', 'E-mails'] };
    for (const [k, c] of Object.entries(cards)) c.append(el('h3', { id: titles[k][0], text: titles[k][1] }), loadingLine());
    clear(detail, el('h3', { class: 'a-site-title', text: w.name }), Object.values(cards));
    const fill = (card, p) => p.then((node) => { if (current() && A.website === w.id) { card.querySelectorAll('.a-loading').forEach((n) => n.remove()); card.append(node); } })
      .catch(() => { card.querySelectorAll('.a-loading').forEach((n) => n.remove()); card.append(el('p', { class: 'a-error', role: 'alert', text: 'Cannot reach the server.' })); });
    fill(cards.general, websiteGeneral(w));
    fill(cards.bot, botEditor(w));
    fill(cards.pre, formBuilder(w, 'pre_chat'));
    fill(cards.offline, formBuilder(w, 'offline'));
    fill(cards.routing, websiteRouting(w));
    fill(cards.mail, websiteMail(w));
  }

  // ---- name, origins, snippet, appearance ----
  const ICONS = [['chat', 'Speech bubble'], ['car', 'Car'], ['question', 'Question mark']];
  const ICON_PATHS = {
    chat: 'M4 5h16v11H9l-5 4z',
    car: 'M5 16v-4l2-5h10l2 5v4zM7 16v2M17 16v2M5 12h14',
    question: 'M9 9a3 3 0 1 1 4 2.8c-.7.3-1 .8-1 1.5V14M12 17.5v.5',
  };
  function iconSvg(icon, color) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24'); svg.setAttribute('width', '20'); svg.setAttribute('height', '20'); svg.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', ICON_PATHS[icon] || ICON_PATHS.chat);
    p.setAttribute('fill', 'none'); p.setAttribute('stroke', color); p.setAttribute('stroke-width', '2'); p.setAttribute('stroke-linejoin', 'round'); p.setAttribute('stroke-linecap', 'round');
    svg.append(p);
    return svg;
  }
  function snippetOf(w) {
    return '<script src="' + location.origin + '/widget.js" data-key="' + w.widget_key + '" async></' + 'script>';
  }
  async function copyText(text, source, stateEl) {
    try {
      await navigator.clipboard.writeText(text);
      stateEl.textContent = 'Copied';
    } catch (_) {
      // No clipboard API (not a secure context): select the text and copy it the old way.
      let ok = false;
      try { source.focus(); source.select(); ok = document.execCommand('copy'); } catch (__) { ok = false; }
      stateEl.textContent = ok ? 'Copied' : 'Selected: press Ctrl+C to copy.';
    }
    setTimeout(() => { stateEl.textContent = ''; }, 3000);
  }

  async function websiteGeneral(w0) {
    const r = await api('GET', '/api/v1/websites/' + w0.id);
    const modern = r.ok && r.data;
    const w = modern ? r.data : w0;
    const ap = Object.assign({ color: '#1f4fd1', text_color: '#ffffff', position: 'right', icon: 'chat', language: 'auto', launcher_label: null }, (w && w.appearance) || {});
    const fields = new Fields(), s = saver();
    const name = textInput(w.name, { maxLength: 120, id: 'admin-site-name' });
    const origins = el('textarea', { rows: 3, id: 'admin-site-origins', value: (w.allowed_origins || []).join('\n') });
    const snippet = el('textarea', { rows: 2, readOnly: true, class: 'a-code', id: 'admin-snippet', value: w.snippet || snippetOf(w) });
    const copyState = el('span', { class: 'a-status', role: 'status' });
    const copy = el('button', { type: 'button', class: 'small', text: 'Copy', on: { click: () => copyText(snippet.value, snippet, copyState) } });

    const color = el('input', { type: 'color', id: 'admin-color', value: ap.color });
    const colorText = textInput(ap.color, { size: 8, maxLength: 7, 'aria-label': 'Colour as #rrggbb' });
    const textColor = el('input', { type: 'color', id: 'admin-text-color', value: ap.text_color });
    const textColorText = textInput(ap.text_color, { size: 8, maxLength: 7, 'aria-label': 'Text colour as #rrggbb' });
    const pair = (picker, txt) => {
      picker.addEventListener('input', () => { txt.value = picker.value; preview(); });
      txt.addEventListener('input', () => { if (/^#[0-9a-fA-F]{6}$/.test(txt.value.trim())) picker.value = txt.value.trim().toLowerCase(); preview(); });
    };
    pair(color, colorText); pair(textColor, textColorText);
    const icon = select(ICONS, ap.icon, { id: 'admin-icon' });
    const position = select([['right', 'Bottom right'], ['left', 'Bottom left']], ap.position, { id: 'admin-position' });
    const language = select([['auto', 'The browser’s (English or Spanish)'], ['en', 'English'], ['es', 'Español']], ap.language, { id: 'admin-language' });
    const label = textInput(ap.launcher_label || '', { maxLength: 40, id: 'admin-launcher-label', placeholder: 'e.g. Chat with us' });
    const swatch = el('div', { class: 'a-preview', id: 'admin-preview', role: 'img' });
    function preview() {
      const c = colorText.value.trim(), t = textColorText.value.trim();
      const launcher = el('span', { class: 'a-launcher' }, iconSvg(icon.value, t), label.value.trim() ? el('span', { text: label.value.trim() }) : null);
      launcher.style.background = c; launcher.style.color = t;
      swatch.style.justifyContent = position.value === 'left' ? 'flex-start' : 'flex-end';
      swatch.setAttribute('aria-label', 'Preview: the launcher at the bottom ' + position.value + (label.value.trim() ? ', labelled “' + label.value.trim() + '”' : ''));
      clear(swatch, launcher);
    }
    [icon, position, label].forEach((x) => x.addEventListener('input', preview));
    icon.addEventListener('change', preview); position.addEventListener('change', preview);
    preview();

    const form = formEl('a-form', s, async () => {
      const appearance = { color: colorText.value.trim(), text_color: textColorText.value.trim(), position: position.value, icon: icon.value, language: language.value };
      if (label.value.trim()) appearance.launcher_label = label.value.trim();
      const b = { name: name.value.trim(), allowed_origins: lines(origins.value) };
      if (modern) b.appearance = appearance;
      const res = await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id, b));
      if (res && res.data && res.data.snippet) snippet.value = res.data.snippet;
    });
    const colorWrap = (fname, text, picker, txt) => {
      const wrap = el('div', { class: 'a-field' }, el('label', { for: picker.id, text }), el('span', { class: 'a-color' }, picker, txt));
      fields.add(fname, txt, wrap);
      return wrap;
    };
    form.append(
      el('div', { class: 'a-row' }, field(fields, 'name', 'Name', name), field(fields, 'allowed_origins', 'Allowed origins (one per line)', origins, 'Pages of these origins may show the widget, e.g. https://www.dealer.example')),
      el('div', { class: 'a-field' }, el('label', { for: snippet.id, text: 'Snippet: paste it before </body> on every page' }), snippet, el('span', { class: 'a-row-inline' }, copy, copyState)));
    if (modern) {
      form.append(el('fieldset', { class: 'a-fieldset a-appearance' }, el('legend', { text: 'Appearance' }),
        el('div', { class: 'a-row' },
          colorWrap('color', 'Colour', color, colorText), colorWrap('text_color', 'Text colour', textColor, textColorText),
          field(fields, 'icon', 'Icon', icon), field(fields, 'position', 'Position', position)),
        el('div', { class: 'a-row' }, field(fields, 'language', 'Language', language), field(fields, 'launcher_label', 'Launcher label (optional)', label)),
        el('div', { class: 'a-preview-wrap' }, el('span', { class: 'a-hint', text: 'Preview' }), swatch)));
    } else {
      form.append(el('p', { class: 'a-note', text: 'The widget’s appearance cannot be changed on this server yet.' }));
    }
    fields.add('appearance', name, form);
    form.append(s.wrap);
    return form;
  }

  // ---- bot ----
  const TEXT_KEYS = [
    ['greeting', 'Greeting'], ['ask_department', 'Ask department'], ['bad_department', 'Unknown department'],
    ['ask_first_name', 'Ask first name'], ['ask_last_name', 'Ask last name'], ['bad_name', 'Bad name'],
    ['ask_contact', 'Ask e-mail or phone'], ['bad_email', 'Bad e-mail'], ['bad_phone', 'Bad phone'],
    ['consent', 'Consent (shown with the phone)'], ['online', 'Agent sought'], ['offline', 'Nobody answered'],
    ['after_hours', 'After hours'], ['unavailable', 'Nobody available'], ['message_left', 'Message left'], ['agent_joined', 'Agent joined'],
  ];
  async function botEditor(w) {
    const r = await api('GET', '/api/v1/websites/' + w.id + '/bot');
    if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the bot settings.') });
    let bot = r.data;
    const fields = new Fields(), s = saver();
    const gate = check(fields, 'lead_gate', 'Lead Gate: ask department, names and an e-mail or phone before an agent is sought', bot.lead_gate);
    const leave = check(fields, 'leave_message_form', 'Leave-a-message form when a chat cannot go live', bot.leave_message_form);
    const name = textInput(bot.bot_name || '', { maxLength: 60, placeholder: 'Assistant' });
    const avatar = el('input', { type: 'url', value: bot.avatar_url || '', placeholder: 'https://…' });
    const texts = {};
    const table = el('table', { class: 'a-table a-texts' }, el('caption', { class: 'sr-only', text: 'The bot’s texts in English and Spanish' }),
      el('thead', null, el('tr', null, el('th', { scope: 'col', text: 'Text' }), el('th', { scope: 'col', text: 'English' }), el('th', { scope: 'col', text: 'Español' }))));
    const tb = el('tbody');
    for (const [key, label] of TEXT_KEYS) {
      const tr = el('tr', null, el('th', { scope: 'row', text: label }));
      for (const lang of ['en', 'es']) {
        const ta = el('textarea', { rows: 2, maxLength: 1000, placeholder: 'Built-in text', 'aria-label': label + ' (' + (lang === 'en' ? 'English' : 'Español') + ')',
          value: (bot.texts && bot.texts[lang] && bot.texts[lang][key]) || '' });
        texts[lang + '.' + key] = ta;
        const td = el('td', null, ta);
        fields.add('texts.' + lang + '.' + key, ta, td);
        tr.append(td);
      }
      tb.append(tr);
    }
    table.append(tb);
    const form = formEl('a-form', s, async () => {
      const out = { en: {}, es: {} };
      for (const [k, ta] of Object.entries(texts)) {
        const [lang, key] = k.split('.');
        if (ta.value.trim()) out[lang][key] = ta.value;
      }
      for (const l of ['en', 'es']) if (!Object.keys(out[l]).length) delete out[l];
      const b = { lead_gate: gate.input.checked, leave_message_form: leave.input.checked, bot_name: name.value.trim() || null,
        avatar_url: avatar.value.trim() || null, texts: out, consent_version: bot.consent_version || 1 };
      const res = await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id + '/bot', b));
      if (res && res.data) bot = res.data;
    });
    form.append(gate.wrap, leave.wrap,
      el('div', { class: 'a-row' }, field(fields, 'bot_name', 'Bot name', name), field(fields, 'avatar_url', 'Bot picture (https address)', avatar)),
      el('details', { class: 'a-details' }, el('summary', { text: 'Texts in English and Spanish (empty: the built-in text)' }),
        el('p', { class: 'a-hint', text: 'Placeholders: {bot}, {rooftop}, {first_name}, {agent}, {options}, {country}.' }), el('div', { class: 'a-table-wrap' }, table)),
      s.wrap);
    return form;
  }

  // ---- the form builder ----
  const FIELD_TYPES = [['label', 'Text / heading'], ['input', 'One line'], ['textarea', 'Paragraph'], ['select', 'Drop-down'], ['radio', 'Radio buttons'],
    ['checkboxes', 'Checkboxes'], ['agreement', 'Agreement (must tick)'], ['attachment', 'File upload']];
  const WITH_OPTIONS = ['select', 'radio', 'checkboxes'];
  const NO_MAPPING = ['label', 'attachment', 'agreement'];
  const CONTACT = [['first_name', 'first name'], ['last_name', 'last name'], ['email', 'e-mail'], ['phone', 'mobile phone'], ['message', 'message']];
  const slug = (s) => String(s || '').toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);

  function newField(type, taken) {
    const base = { label: { label: 'About you' }, input: { label: 'Your answer', input: 'text' }, textarea: { label: 'Your message' },
      select: { label: 'Choose one', options: ['Option 1', 'Option 2'] }, radio: { label: 'Choose one', options: ['Yes', 'No'] },
      checkboxes: { label: 'Choose any', options: ['Option 1', 'Option 2'] }, agreement: { label: 'Agreement', text: 'I agree to be contacted about my inquiry.' },
      attachment: { label: 'Attach a file', accept: '.pdf,image/*', multiple: false } }[type];
    const f = Object.assign({ type, required: false, maps_to: null, autoId: true }, JSON.parse(JSON.stringify(base)));
    let id = slug(f.label) || type, n = 1;
    while (taken.has(id)) id = slug(f.label).slice(0, 36) + '_' + (++n);
    f.id = id;
    return f;
  }
  function fieldIn(f) {
    const m = f.maps_to || null;
    return { id: f.id, label: f.label, type: f.type, required: !!f.required, options: f.options ? f.options.slice() : undefined, input: f.input, text: f.text,
      accept: f.accept, multiple: !!f.multiple, maps_to: m && (m.contact ? { contact: m.contact } : m.variable != null ? { variable: m.variable } : null), autoId: false };
  }
  function fieldOut(f) {
    const o = { id: f.id.trim(), label: f.label, type: f.type, required: f.type === 'agreement' ? true : f.type === 'label' ? false : !!f.required };
    if (WITH_OPTIONS.includes(f.type)) o.options = (f.options || []).map((x) => x.trim());
    if (f.type === 'input') o.input = f.input || 'text';
    if (f.type === 'agreement') o.text = f.text || '';
    if (f.type === 'attachment') { o.accept = (f.accept || '').trim(); o.multiple = !!f.multiple; }
    if (f.maps_to && !NO_MAPPING.includes(f.type)) o.maps_to = f.maps_to;
    return o;
  }

  async function formBuilder(w, kind) {
    const r = await api('GET', '/api/v1/websites/' + w.id + '/forms/' + kind);
    if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the form.') });
    let model = ((r.data && r.data.fields) || []).map(fieldIn);
    const s = saver(kind === 'pre_chat' ? 'Save pre-chat form' : 'Save offline form');
    let fields = new Fields();
    const intro = kind === 'pre_chat'
      ? 'Shown before the chat starts. Answers mapped to the contact skip those Lead Gate questions; mapped variables steer routing. No fields: no form.'
      : 'Shown instead of the built-in leave-a-message form. It must fill the contact’s first name, last name, e-mail and message. No fields: the built-in form.';
    const list = el('ol', { class: 'a-fb', 'aria-label': (kind === 'pre_chat' ? 'Pre-chat' : 'Offline') + ' form fields' });
    const addType = select(FIELD_TYPES, 'input', { 'aria-label': 'Kind of field to add' });
    const addBtn = el('button', { type: 'button', class: 'small', text: 'Add field' });
    const generalBox = el('div', { class: 'a-fb-general' });
    addBtn.addEventListener('click', () => {
      model.push(newField(addType.value, new Set(model.map((f) => f.id))));
      render();
      const rows = list.querySelectorAll('.a-fb-field');
      const inp = rows[rows.length - 1] && rows[rows.length - 1].querySelector('input[data-prop="label"]');
      if (inp) { inp.focus(); inp.select(); }
    });

    function render(focusSel) {
      fields = new Fields();
      addType.removeAttribute('aria-describedby');
      clear(generalBox);
      fields.add('fields', addType, generalBox);
      clear(list);
      model.forEach((f, i) => list.append(fieldRow(f, i)));
      if (!model.length) list.append(el('li', { class: 'a-empty', text: 'No fields: this form is off.' }));
      if (focusSel) {
        // A move button that is now disabled (the field reached an end) hands focus to its sibling.
        let t = list.querySelector(focusSel);
        if (t && t.disabled) t = t.parentElement.querySelector('button[data-move]:not(:disabled)') || t.parentElement.querySelector('select');
        if (t) t.focus();
      }
    }

    function fieldRow(f, i) {
      const at = (p) => 'fields[' + i + '].' + p;
      const li = el('li', { class: 'a-fb-field', 'data-index': String(i) });
      const n = i + 1;
      const move = (d) => { const j = i + d; if (j < 0 || j >= model.length) return; [model[i], model[j]] = [model[j], model[i]]; render('li[data-index="' + j + '"] button[data-move="' + d + '"]'); };
      const head = el('div', { class: 'a-fb-head' },
        el('span', { class: 'a-fb-n', text: String(n) }),
        select(FIELD_TYPES, f.type, { 'aria-label': 'Field ' + n + ' kind', 'data-prop': 'type', on: { change: (e) => {
          const fresh = newField(e.target.value, new Set());
          Object.assign(f, { type: e.target.value, options: fresh.options, input: fresh.input, text: fresh.text, accept: fresh.accept, multiple: fresh.multiple });
          if (NO_MAPPING.includes(f.type)) f.maps_to = null;
          render('li[data-index="' + i + '"] select[data-prop="type"]');
        } } }),
        el('span', { class: 'a-grow' }),
        el('button', { type: 'button', class: 'small icon', 'data-move': '-1', text: '↑', disabled: i === 0, 'aria-label': 'Move field ' + n + ' up', on: { click: () => move(-1) } }),
        el('button', { type: 'button', class: 'small icon', 'data-move': '1', text: '↓', disabled: i === model.length - 1, 'aria-label': 'Move field ' + n + ' down', on: { click: () => move(1) } }),
        el('button', { type: 'button', class: 'small danger', text: 'Remove', 'aria-label': 'Remove field ' + n, on: { click: () => {
          model.splice(i, 1); render(); (list.querySelector('li[data-index="' + Math.min(i, model.length - 1) + '"] select') || addBtn).focus();
        } } }));
      li.append(head);
      const label = textInput(f.label, { maxLength: 200, 'data-prop': 'label' });
      const id = textInput(f.id, { maxLength: 40, 'data-prop': 'id', class: 'a-mono' });
      label.addEventListener('input', () => { f.label = label.value; if (f.autoId) { f.id = slug(label.value) || f.type; id.value = f.id; } });
      id.addEventListener('input', () => { f.id = id.value; f.autoId = false; });
      const row = el('div', { class: 'a-row' },
        field(fields, at('label'), f.type === 'label' ? 'Text' : 'Label', label),
        field(fields, at('id'), 'Key', id, 'a-z, 0-9 and _'));
      if (f.type !== 'label' && f.type !== 'agreement') {
        const req = check(fields, at('required'), 'Required', f.required);
        req.input.addEventListener('change', () => { f.required = req.input.checked; });
        row.append(req.wrap);
      }
      fields.add(at('type'), head.querySelector('select'), head);
      li.append(row);
      if (f.type === 'input') {
        const kindSel = select([['text', 'Text'], ['number', 'Number'], ['email', 'E-mail']], f.input || 'text', { on: { change: (e) => { f.input = e.target.value; } } });
        li.append(field(fields, at('input'), 'Takes', kindSel));
      }
      if (f.type === 'agreement') {
        const ta = el('textarea', { rows: 2, maxLength: 2000, value: f.text || '', on: { input: (e) => { f.text = e.target.value; } } });
        li.append(field(fields, at('text'), 'Text beside the box', ta));
      }
      if (f.type === 'attachment') {
        const acc = textInput(f.accept || '', { placeholder: '.pdf,image/*', on: { input: (e) => { f.accept = e.target.value; } } });
        const mult = check(fields, at('multiple'), 'Several files (up to 5)', f.multiple);
        mult.input.addEventListener('change', () => { f.multiple = mult.input.checked; });
        li.append(el('div', { class: 'a-row' }, field(fields, at('accept'), 'Accepted files', acc, 'Comma-separated: .pdf, image/*, application/pdf'), mult.wrap));
      }
      if (WITH_OPTIONS.includes(f.type)) li.append(optionsEditor(f, i, at));
      if (!NO_MAPPING.includes(f.type)) li.append(mappingEditor(f, i, at));
      return li;
    }

    function optionsEditor(f, i, at) {
      f.options = f.options || [];
      const fs = el('fieldset', { class: 'a-fieldset a-options' }, el('legend', { text: 'Options' }));
      const ul = el('ul', { class: 'a-list' });
      const renderOpts = (focusIdx) => {
        clear(ul);
        f.options.forEach((o, k) => {
          const inp = textInput(o, { maxLength: 100, 'aria-label': 'Field ' + (i + 1) + ' option ' + (k + 1), on: { input: (e) => { f.options[k] = e.target.value; } } });
          const mv = (d) => { const j = k + d; if (j < 0 || j >= f.options.length) return; [f.options[k], f.options[j]] = [f.options[j], f.options[k]]; renderOpts(j); };
          ul.append(el('li', { class: 'a-opt' }, inp,
            el('button', { type: 'button', class: 'small icon', text: '↑', disabled: k === 0, 'aria-label': 'Move option ' + (k + 1) + ' up', on: { click: () => mv(-1) } }),
            el('button', { type: 'button', class: 'small icon', text: '↓', disabled: k === f.options.length - 1, 'aria-label': 'Move option ' + (k + 1) + ' down', on: { click: () => mv(1) } }),
            el('button', { type: 'button', class: 'small icon', text: '×', 'aria-label': 'Remove option ' + (k + 1), on: { click: () => { f.options.splice(k, 1); renderOpts(Math.min(k, f.options.length - 1)); } } })));
        });
        if (focusIdx != null && focusIdx >= 0) { const t = ul.querySelectorAll('input')[focusIdx]; if (t) t.focus(); }
      };
      renderOpts();
      const add = el('button', { type: 'button', class: 'small', text: 'Add option', on: { click: () => { f.options.push(''); renderOpts(f.options.length - 1); } } });
      fs.append(ul, add);
      fields.add(at('options'), add, fs);
      return fs;
    }

    function mappingEditor(f, i, at) {
      const opts = [['', 'Nothing (kept with the form only)']].concat(CONTACT.filter(([c]) => c !== 'message' || kind === 'offline').map(([c, t]) => ['contact:' + c, 'The contact’s ' + t]), [['variable', 'A routing variable…']]);
      const cur = f.maps_to ? (f.maps_to.contact ? 'contact:' + f.maps_to.contact : 'variable') : '';
      const sel = select(opts, cur);
      const varName = textInput(f.maps_to && f.maps_to.variable != null ? f.maps_to.variable : '', { maxLength: 64, placeholder: 'interest', 'aria-label': 'Field ' + (i + 1) + ' variable name', class: 'a-mono' });
      const varWrap = el('span', { class: 'a-var' }, varName);
      const sync = () => {
        varWrap.hidden = sel.value !== 'variable';
        if (!sel.value) f.maps_to = null;
        else if (sel.value === 'variable') f.maps_to = { variable: varName.value.trim() };
        else f.maps_to = { contact: sel.value.slice(8) };
      };
      sel.addEventListener('change', () => { sync(); if (sel.value === 'variable') varName.focus(); });
      varName.addEventListener('input', sync);
      sync();
      const wrap = field(fields, at('maps_to'), 'Answer also goes to', sel);
      wrap.insertBefore(varWrap, sel.nextSibling);
      return wrap;
    }

    const form = formEl('a-form a-fb-form', s, async () => {
      const b = { fields: model.map(fieldOut) };
      const res = await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id + '/forms/' + kind, b));
      if (res && res.data) { model = (res.data.fields || []).map(fieldIn); render(); }
    });
    form.addEventListener('click', (ev) => { if (ev.target.closest('button[type=button]')) { s.reset(); } });
    form.append(el('p', { class: 'a-hint', text: intro }), list, el('div', { class: 'a-row-inline a-fb-add' }, addType, addBtn), generalBox, s.wrap);
    render();
    return form;
  }

  // ---- website routing: max sessions and rules ----
  async function websiteRouting(w) {
    const [r, teams] = await Promise.all([api('GET', '/api/v1/websites/' + w.id + '/routing'), loadTeams()]);
    if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the routing.') });
    const st = r.data || {};
    const fields = new Fields(), s = saver();
    const max = numberInput(st.max_sessions, { min: 1, placeholder: 'no cap' });
    let rules = (st.rules || []).map((x) => Object.assign({}, x));
    const rt = A.directory && A.directory.rooftops.find((x) => x.id === w.rooftop_id);
    const deps = (rt ? rt.departments : allDepartments()) || [];
    const targets = [['', 'Choose…']].concat(deps.map((d) => ['d:' + d.id, 'Department: ' + d.label]), teams.map((t) => ['t:' + t.id, 'Team: ' + t.name]));
    const ul = el('ul', { class: 'a-list a-rules' });
    const ruleFields = new Fields();
    const renderRules = (focusLast) => {
      ruleFields.map.clear();
      clear(ul);
      rules.forEach((rule, i) => {
        const v = textInput(rule.variable, { maxLength: 64, placeholder: 'interest', 'aria-label': 'Rule ' + (i + 1) + ' variable', on: { input: (e) => { rule.variable = e.target.value.trim(); } } });
        const val = textInput(rule.value, { maxLength: 256, placeholder: 'trade-in', 'aria-label': 'Rule ' + (i + 1) + ' value', on: { input: (e) => { rule.value = e.target.value; } } });
        const tg = select(targets, rule.department_id ? 'd:' + rule.department_id : rule.team_id ? 't:' + rule.team_id : '', { 'aria-label': 'Rule ' + (i + 1) + ' routes to',
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

  // ---- website e-mails ----
  async function websiteMail(w) {
    const r = await api('GET', '/api/v1/websites/' + w.id + '/notifications');
    if (!r.ok) return el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the e-mail settings.') });
    const st = r.data || {};
    const fields = new Fields(), s = saver();
    const transcript = check(fields, 'transcript_email', 'E-mail the shopper a transcript when a chat ends', st.transcript_email !== false);
    const fwd = el('textarea', { rows: 3, value: (st.forward_messages_to || []).join('\n'), placeholder: 'sales@dealer.example' });
    const form = formEl('a-form', s, async () => {
      const b = { transcript_email: transcript.input.checked, forward_messages_to: lines(fwd.value) };
      await s.run(fields, () => api('PUT', '/api/v1/websites/' + w.id + '/notifications', b));
    });
    form.append(transcript.wrap, field(fields, 'forward_messages_to', 'Forward messages left to (one address per line, at most 10)', fwd), s.wrap);
    return form;
  }

  // ==== 5. CRM ====
  function newSecret() {
    const bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    return 'whsec_' + btoa(String.fromCharCode(...bytes));
  }
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (c) => (c ^ crypto.getRandomValues(new Uint8Array(1))[0] & 15 >> c / 4).toString(16)));
  const STATUS_TEXT = { pending: 'Pending', delivered: 'Delivered', dead_lettered: 'Dead letter', failed: 'Failed', cancelled: 'Cancelled' };

  async function renderCrm(body, current) {
    const [dir, r] = await Promise.all([loadDirectory(), api('GET', '/api/v1/crm/destinations')]);
    if (!current()) return;
    const box = sectionShell(body, 'CRM', 'Where new leads are delivered: ADF e-mails to a CRM’s lead intake, or signed webhooks.');
    if (!r.ok) { box.append(el('p', { class: 'a-error', role: 'alert', text: errText(r, 'Cannot read the destinations.') })); return; }
    const dests = Array.isArray(r.data) ? r.data : [];
    const list = el('div', { class: 'a-cards', id: 'admin-destinations' });
    for (const d of dests) list.append(destinationCard(d, dir, body, current));
    if (!dests.length) list.append(el('p', { class: 'a-empty', text: 'No destinations yet: leads stay in Showroom.' }));
    const add = el('details', { class: 'a-card', id: 'admin-new-destination' }, el('summary', { text: 'Add a destination' }));
    add.append(destinationForm(null, dir, body, current));
    const log = el('section', { class: 'a-card', id: 'admin-deliveries', 'aria-labelledby': 'admin-deliveries-h' });
    const integrations = el('section', { class: 'a-card', id: 'admin-integrations', 'aria-labelledby': 'admin-integrations-h' });
    box.append(list, add, log, integrations);
    deliveryLog(log, current);
    integrationsCard(integrations, current);
  }

  // Integrations: NATS credentials for an integrator to read this group's lead events. Admins
  // issue and revoke them; managers see the list. The .creds text is shown once, at issue.
  async function integrationsCard(box, current) {
    const admin = !!(A.me && A.me.role === 'admin');
    const state = el('p', { class: 'a-meta', role: 'status' });
    const fresh = el('div');
    const out = el('div', { class: 'a-table-wrap' });
    const fields = new Fields(), s = saver('Issue credential');
    const name = textInput('', { maxLength: 100, placeholder: 'e.g. DealerSocket' });
    const form = formEl('a-form', s, async () => {
      const r = await s.run(fields, () => api('POST', '/api/v1/integrations', { name: name.value.trim() }));
      if (r) { name.value = ''; showFresh(r.data); load(); }
    });
    form.append(el('div', { class: 'a-row' }, field(fields, 'name', 'Name of the integration', name)), s.wrap);
    clear(box, el('div', { class: 'a-card-head' }, el('h3', { id: 'admin-integrations-h', text: 'Integrations' })),
      el('p', { class: 'a-meta', text: 'Credentials for an integrator (a CRM, a data warehouse) to receive this group’s new and updated leads over NATS, live and from its own queue while it is away. Each reads this group only.' }),
      admin ? form : el('p', { class: 'a-meta', text: 'An admin issues and revokes them.' }), fresh, state, out);
    function showFresh(x) {
      const text = x && x.creds;
      if (!text) return;
      const area = el('textarea', { readOnly: true, class: 'a-mono', rows: 6, id: nid('creds'), value: text });
      const st = el('span', { class: 'a-status', role: 'status' });
      const file = (x.integration.name || 'integration').replace(/[^A-Za-z0-9_-]+/g, '-') + '.creds';
      const link = el('a', { class: 'a-download', download: file, text: 'Download ' + file,
        href: URL.createObjectURL(new Blob([text], { type: 'text/plain' })) });
      const a = x.integration.access || {};
      clear(fresh, el('div', { class: 'a-field a-fresh-secret', id: 'admin-integration-creds' },
        el('label', { for: area.id, text: 'Credentials of “' + x.integration.name + '” — shown only now: download them or copy them to the integrator' }), area,
        el('span', { class: 'a-row-inline' }, link, el('button', { type: 'button', class: 'small', text: 'Copy', on: { click: () => copyText(text, area, st) } }), st),
        el('p', { class: 'a-hint', text: 'Subjects: ' + (a.subjects || []).join(', ') + ' · queue: consumer ' + a.consumer + ' on stream ' + a.stream + ' · inbox prefix ' + a.inbox_prefix + ' (see docs/leads.md)' })));
    }
    async function load() {
      state.textContent = 'Loading…';
      const r = await api('GET', '/api/v1/integrations').catch(() => null);
      if (!current()) return;
      if (!r || !r.ok) { state.textContent = 'Cannot load the integrations: ' + errText(r, 'cannot reach the server.'); return; }
      const rows = Array.isArray(r.data) ? r.data : [];
      state.textContent = rows.length ? '' : 'No integrations yet.';
      const tb = el('tbody');
      for (const x of rows) {
        const act = el('td');
        if (admin && !x.revoked_at) {
          const btn = el('button', { type: 'button', class: 'small danger', text: 'Revoke', 'aria-label': 'Revoke ' + x.name });
          const st = el('span', { class: 'a-status', role: 'status' });
          btn.addEventListener('click', async () => {
            if (!window.confirm('Revoke “' + x.name + '”? It is disconnected now and can never connect again.')) return;
            btn.disabled = true; st.textContent = 'Revoking…';
            const res = await api('DELETE', '/api/v1/integrations/' + x.id).catch(() => null);
            if (res && res.ok) { if (current()) load(); return; }
            st.textContent = 'Not revoked: ' + errText(res, 'cannot reach the server.'); btn.disabled = false;
          });
          act.append(btn, st);
        }
        const by = (p) => (p && p.name ? ' by ' + p.name : '');
        tb.append(el('tr', { 'data-integration': x.id },
          el('td', { class: 'a-wrap', text: x.name }),
          el('td', { text: fmtWhen(x.created_at) + by(x.created_by) }),
          el('td', { text: x.last_used_at ? fmtWhen(x.last_used_at) : 'Never' }),
          el('td', null, el('span', { class: 'a-badge ' + (x.revoked_at ? 'off' : 'ok'), text: x.revoked_at ? 'Revoked ' + fmtWhen(x.revoked_at) + by(x.revoked_by) : 'Active' })),
          act));
      }
      clear(out, rows.length ? el('table', { class: 'a-table', id: 'admin-integrations-list' },
        el('caption', { class: 'sr-only', text: 'Integrator credentials, newest first' }),
        el('thead', null, el('tr', null, ['Name', 'Issued', 'Last used', 'Status', ''].map((h) => el('th', { scope: 'col', text: h })))), tb) : null);
    }
    load();
  }

  function destinationCard(d, dir, body, current) {
    const card = el('section', { class: 'a-card a-dest', 'data-destination': d.id, 'aria-label': d.name });
    const t = d.target || {};
    const where = t.kind === 'webhook' ? 'Webhook → ' + t.url : 'ADF e-mail → ' + t.to;
    const scope = ((d.rooftop && d.rooftop.name) || '') + (d.department ? ' · ' + d.department.label : ' · every department');
    const testBtn = el('button', { type: 'button', class: 'small', text: 'Send test' });
    const editBtn = el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-expanded': 'false' });
    const delBtn = el('button', { type: 'button', class: 'small danger', text: 'Delete' });
    const result = el('p', { class: 'a-test-result', role: 'status', 'aria-live': 'polite' });
    const panel = el('div');
    clear(card,
      el('div', { class: 'a-card-head' }, el('h3', { text: d.name }), el('span', { class: 'a-badge ' + (d.enabled ? 'ok' : 'off'), text: d.enabled ? 'Enabled' : 'Disabled' }),
        el('span', { class: 'a-grow' }), testBtn, editBtn, delBtn),
      el('p', { class: 'a-meta a-wrap', text: where }), el('p', { class: 'a-meta', text: scope }),
      t.kind === 'webhook' && t.secret_hints && t.secret_hints.length ? el('p', { class: 'a-meta', text: 'Signing secrets: ' + t.secret_hints.join(', ') }) : null,
      d.disabled_reason ? el('p', { class: 'a-error', text: 'Turned off: ' + d.disabled_reason }) : null,
      freshSecret(d), result, panel);
    testBtn.addEventListener('click', async () => {
      testBtn.disabled = true; testBtn.textContent = 'Sending…';
      result.className = 'a-test-result'; result.textContent = 'Sending a test lead…';
      try {
        const r = await api('POST', '/api/v1/crm/destinations/' + d.id + '/test');
        if (!r.ok) { result.className = 'a-test-result bad'; result.textContent = 'Test failed: ' + errText(r); }
        else {
          const x = r.data || {};
          const ok = x.status === 'delivered';
          const detail = [x.last_status_code ? 'status ' + x.last_status_code : '', x.last_error || ''].filter(Boolean).join(' — ');
          result.className = 'a-test-result ' + (ok ? 'good' : 'bad');
          result.textContent = ok ? 'Test delivered' + (detail ? ' (' + detail + ')' : '') + '.' : 'Test failed' + (detail ? ': ' + detail : '') + '.';
        }
      } catch (_) {
        result.className = 'a-test-result bad'; result.textContent = 'Test failed: cannot reach the server.';
      }
      testBtn.disabled = false; testBtn.textContent = 'Send test';
    });
    editBtn.addEventListener('click', () => {
      const opening = editBtn.getAttribute('aria-expanded') !== 'true';
      editBtn.setAttribute('aria-expanded', String(opening));
      clear(panel, opening ? destinationForm(d, dir, body, current) : null);
      if (opening) { const f = panel.querySelector('input'); if (f) f.focus(); }
    });
    delBtn.addEventListener('click', async () => {
      if (!window.confirm('Delete the destination “' + d.name + '”? It receives no more leads; its log stays.')) return;
      delBtn.disabled = true; result.className = 'a-test-result'; result.textContent = 'Deleting…';
      const r = await api('DELETE', '/api/v1/crm/destinations/' + d.id).catch(() => null);
      if (r && r.ok) { result.textContent = 'Deleted'; setTimeout(() => { if (current()) renderCrm(body, current); }, 400); return; }
      result.className = 'a-test-result bad'; result.textContent = 'Not deleted: ' + errText(r, 'cannot reach the server.');
      delBtn.disabled = false;
    });
    return card;
  }

  /** The signing secret just saved with a webhook, shown this once on its card (never again:
   * the server keeps only a hint to show). */
  function freshSecret(d) {
    const f = A.freshSecret;
    if (!f || f.id !== d.id) return null;
    A.freshSecret = null;
    const out = el('input', { type: 'text', readOnly: true, class: 'a-mono', value: f.secret, id: nid('fresh') });
    const st = el('span', { class: 'a-status', role: 'status' });
    return el('div', { class: 'a-field a-fresh-secret' },
      el('label', { for: out.id, text: 'Signing secret — shown only now: copy it to the receiver' }), out,
      el('span', { class: 'a-row-inline' }, el('button', { type: 'button', class: 'small', text: 'Copy secret', on: { click: () => copyText(out.value, out, st) } }), st));
  }

  function destinationForm(d, dir, body, current) {
    const fields = new Fields(), s = saver(d ? 'Save destination' : 'Add destination');
    const t = (d && d.target) || { kind: 'webhook' };
    const name = textInput(d ? d.name : '', { maxLength: 100, placeholder: 'e.g. DealerSocket Sales' });
    const rooftop = select(dir.rooftops.map((rt) => [rt.id, rt.name]), d ? d.rooftop.id : null);
    const department = el('select');
    const fillDeps = () => {
      const rt = dir.rooftops.find((x) => x.id === rooftop.value);
      clear(department, el('option', { value: '', text: 'Every department' }), ((rt && rt.departments) || []).map((x) => el('option', { value: x.id, text: x.label })));
      department.value = d && d.department && rt && rt.departments.some((x) => x.id === d.department.id) ? d.department.id : '';
    };
    rooftop.addEventListener('change', fillDeps); fillDeps();
    const enabled = check(fields, 'enabled', 'Enabled: receives new leads', d ? d.enabled : true);
    const kindName = nid('kind');
    const kinds = {};
    const kindBox = el('fieldset', { class: 'a-fieldset' }, el('legend', { text: 'Kind' }));
    for (const [v, label] of [['webhook', 'Webhook (signed HTTP POST)'], ['adf_email', 'ADF e-mail']]) {
      kinds[v] = el('input', { type: 'radio', name: kindName, value: v, checked: t.kind === v, id: nid('k'), disabled: !!d });
      kindBox.append(el('div', { class: 'a-check' }, el('label', { for: kinds[v].id }, kinds[v], ' ', label)));
    }
    const url = el('input', { type: 'url', value: t.url || '', placeholder: 'https://crm.example/leads' });
    const secret = el('input', { type: 'text', readOnly: true, class: 'a-mono', value: newSecret() });
    const secretState = el('span', { class: 'a-status', role: 'status' });
    const copySecret = el('button', { type: 'button', class: 'small', text: 'Copy secret', on: { click: () => copyText(secret.value, secret, secretState) } });
    const regen = el('button', { type: 'button', class: 'small', text: 'New secret', on: { click: () => { secret.value = newSecret(); s.reset(); } } });
    const to = el('input', { type: 'email', value: t.to || '', placeholder: 'leads@crm.example' });
    const dealer = textInput(t.dealership_name || '', { maxLength: 200, placeholder: 'Defaults to the rooftop’s name' });
    const vendor = el('input', { type: 'email', value: t.vendor_email || '', placeholder: 'Defaults to the address above' });
    const hookBox = el('div', { class: 'a-kind-webhook' },
      field(fields, 'target.url', 'URL', url),
      el('div', { class: 'a-field' }, el('label', { for: secret.id = nid('sec'), text: 'Signing secret' }), secret, el('span', { class: 'a-row-inline' }, copySecret, regen, secretState),
        el('p', { class: 'a-hint a-once', text: d ? 'Saving replaces the signing secret with this one. It is shown only now: give it to the receiver.' : 'Shown only now: copy it to the receiver, which checks every delivery’s signature with it.' })));
    fields.add('target.secrets', secret, hookBox.lastChild);
    const adfBox = el('div', { class: 'a-kind-adf' }, el('div', { class: 'a-row' },
      field(fields, 'target.to', 'CRM lead intake address', to), field(fields, 'target.dealership_name', 'Dealership name', dealer), field(fields, 'target.vendor_email', 'Dealership contact e-mail', vendor)));
    const syncKind = () => { hookBox.hidden = !kinds.webhook.checked; adfBox.hidden = !kinds.adf_email.checked; };
    Object.values(kinds).forEach((k) => k.addEventListener('change', syncKind)); syncKind();
    const form = formEl('a-form', s, async () => {
      const target = kinds.webhook.checked
        ? { kind: 'webhook', url: url.value.trim(), secrets: [secret.value] }
        : Object.assign({ kind: 'adf_email', to: to.value.trim() }, dealer.value.trim() ? { dealership_name: dealer.value.trim() } : {}, vendor.value.trim() ? { vendor_email: vendor.value.trim() } : {});
      const b = { rooftop_id: rooftop.value, department_id: department.value || null, name: name.value.trim(), enabled: enabled.input.checked, target };
      const id = d ? d.id : (form.dataset.id || (form.dataset.id = uuid()));
      const r = await s.run(fields, () => api('PUT', '/api/v1/crm/destinations/' + id, b));
      if (r) {
        if (target.kind === 'webhook') A.freshSecret = { id, secret: secret.value };
        setTimeout(() => { if (current()) renderCrm(body, current); }, 800);
      }
    });
    form.append(el('div', { class: 'a-row' }, field(fields, 'name', 'Name', name), field(fields, 'rooftop_id', 'Rooftop', rooftop), field(fields, 'department_id', 'Department', department)),
      enabled.wrap, kindBox, hookBox, adfBox, s.wrap);
    return form;
  }

  async function deliveryLog(box, current) {
    const state = el('p', { class: 'a-meta', role: 'status' });
    const refresh = el('button', { type: 'button', class: 'small', text: 'Refresh' });
    const out = el('div', { class: 'a-table-wrap' });
    clear(box, el('div', { class: 'a-card-head' }, el('h3', { id: 'admin-deliveries-h', text: 'Delivery log' }), el('span', { class: 'a-grow' }), refresh), state, out);
    async function load() {
      state.textContent = 'Loading…';
      const r = await api('GET', '/api/v1/crm/deliveries?limit=50').catch(() => null);
      if (!current()) return;
      if (!r || !r.ok) { state.textContent = 'Cannot load the log: ' + errText(r, 'cannot reach the server.'); return; }
      const rows = Array.isArray(r.data) ? r.data : [];
      state.textContent = rows.length ? 'The latest ' + rows.length + (rows.length === 1 ? ' delivery' : ' deliveries') + ', newest first.' : 'No deliveries yet.';
      const table = el('table', { class: 'a-table a-log' }, el('caption', { class: 'sr-only', text: 'Deliveries of leads to CRMs, newest first' }),
        el('thead', null, el('tr', null, ['When', 'Destination', 'Lead', 'Status', 'Attempts', 'Last answer', ''].map((x) => el('th', { scope: 'col', text: x })))));
      const tb = el('tbody');
      for (const x of rows) {
        const act = el('td');
        if (x.status === 'dead_lettered') {
          const btn = el('button', { type: 'button', class: 'small', text: 'Redeliver' });
          const st = el('span', { class: 'a-status', role: 'status' });
          btn.addEventListener('click', async () => {
            btn.disabled = true; st.textContent = 'Sending…';
            const res = await api('POST', '/api/v1/crm/deliveries/' + x.id + '/redeliver').catch(() => null);
            st.textContent = res && res.ok ? 'Queued again' : 'Not redelivered: ' + errText(res, 'cannot reach the server.');
            if (res && res.ok) setTimeout(load, 1500); else btn.disabled = false;
          });
          act.append(btn, st);
        }
        const attempts = el('details', null, el('summary', { text: String(x.attempts) }),
          el('ol', { class: 'a-attempts' }, (x.log || []).map((a) => el('li', { text: fmtWhen(a.started_at) + ' — ' + a.outcome + (a.status_code ? ' ' + a.status_code : '') + (a.error ? ': ' + a.error : '') }))));
        tb.append(el('tr', { 'data-delivery': x.id },
          el('td', { text: fmtWhen(x.created_at) }),
          el('td', { class: 'a-wrap', text: x.destination_name }),
          el('td', { text: x.test ? 'Test lead' : String(x.lead_id).slice(0, 8) }),
          el('td', null, el('span', { class: 'a-badge st-' + x.status, text: STATUS_TEXT[x.status] || x.status })),
          el('td', null, (x.log || []).length ? attempts : String(x.attempts)),
          el('td', { class: 'a-wrap', text: [x.last_status_code, x.last_error].filter((v) => v != null && v !== '').join(' — ') || '—' }),
          act));
      }
      table.append(tb);
      clear(out, rows.length ? table : null);
    }
    refresh.addEventListener('click', load);
    await load();
  }

  // ==== Profile (every agent) ====
  const P = { dialog: null, img: null, zoom: 1, x: 0, y: 0, drag: null, onChange: null, api: null };
  const OUT = 222;       // the exported headshot, in pixels
  const VIEW = 240;      // the crop canvas on screen

  function closeProfile() { if (P.dialog && P.dialog.open) P.dialog.close(); }

  async function openProfile(opts) {
    P.api = opts.api; P.onChange = opts.onChange || (() => {});
    if (!P.dialog) buildProfile();
    const d = P.dialog;
    clear(d.querySelector('.p-body'), loadingLine('your profile'));
    if (typeof d.showModal === 'function') d.showModal(); else d.setAttribute('open', '');
    let r = null;
    try { r = await P.api('GET', '/api/v1/me/profile'); } catch (_) { /* below */ }
    let prof = r && r.ok ? r.data : null;
    if (!prof) {
      const me = opts.me || {};
      prof = { first_name: me.first_name || (me.name || '').split(' ')[0] || '', last_name: me.last_name || (me.name || '').split(' ').slice(1).join(' '), email: me.email || '', locale: me.locale || 'en', time_zone: me.time_zone || '' };
    }
    fillProfile(prof, opts.me || {}, r && r.ok);
  }

  function buildProfile() {
    const d = el('dialog', { class: 'p-dialog', id: 'profile-dialog', 'aria-labelledby': 'profile-h' });
    d.append(el('div', { class: 'p-head' }, el('h2', { id: 'profile-h', text: 'Your profile' }),
      el('button', { type: 'button', class: 'p-close', 'aria-label': 'Close', text: '×', on: { click: () => d.close() } })), el('div', { class: 'p-body' }));
    document.body.append(d);
    P.dialog = d;
  }

  function fillProfile(prof, me, canSave) {
    const fields = new Fields(), s = saver('Save profile');
    const first = textInput(prof.first_name, { maxLength: 80, id: 'profile-first', autocomplete: 'given-name' });
    const last = textInput(prof.last_name, { maxLength: 80, id: 'profile-last', autocomplete: 'family-name' });
    const email = el('input', { type: 'email', id: 'profile-email', value: prof.email || '', autocomplete: 'email' });
    const locale = select([['en', 'English'], ['es', 'Español']], prof.locale && prof.locale.startsWith('es') ? 'es' : 'en', { id: 'profile-locale' });
    const tz = zoneSelect(prof.time_zone || ''); tz.id = 'profile-tz';
    tz.prepend(el('option', { value: '', text: 'This computer’s time zone' }));
    tz.value = prof.time_zone || '';
    const form = formEl('a-form p-form', s, async () => {
      const b = { first_name: first.value.trim(), last_name: last.value.trim(), email: email.value.trim(), locale: locale.value, time_zone: tz.value || null };
      const r = await s.run(fields, () => P.api('PUT', '/api/v1/me/profile', b));
      if (r) P.onChange(Object.assign({ name: b.first_name + ' ' + b.last_name }, b, r.data || {}));
    });
    form.append(el('div', { class: 'a-row' }, field(fields, 'first_name', 'First name', first), field(fields, 'last_name', 'Last name', last)),
      field(fields, 'email', 'E-mail', email),
      el('div', { class: 'a-row' }, field(fields, 'locale', 'Language', locale), field(fields, 'time_zone', 'Time zone', tz)));
    if (!canSave) form.append(el('p', { class: 'a-note', text: 'Your profile cannot be changed on this server yet.' }));
    form.append(s.wrap);
    clear(P.dialog.querySelector('.p-body'), photoEditor(me.photo_url || prof.photo_url || null), form, passwordForm());
  }

  // ---- the password: the current one is checked by the server; other devices are logged out ----
  function passwordForm() {
    const fields = new Fields(), s = saver('Change password');
    const current = el('input', { type: 'password', id: 'profile-current-password', autocomplete: 'current-password' });
    const next = el('input', { type: 'password', id: 'profile-new-password', autocomplete: 'new-password', minLength: 10 });
    const form = formEl('a-form p-form p-password', s, async () => {
      const r = await s.run(fields, () => P.api('PUT', '/api/v1/me/password', { current_password: current.value, new_password: next.value }));
      if (r) { current.value = next.value = ''; s.say('Password changed; your other devices are logged out.'); }
    });
    form.append(el('h3', { text: 'Password' }),
      el('div', { class: 'a-row' }, field(fields, 'current_password', 'Current password', current),
        field(fields, 'new_password', 'New password', next, 'At least 10 characters')), s.wrap);
    return form;
  }

  // ---- the headshot: pick a file, crop it to a square (drag to move, slider or wheel to zoom), export 222×222 PNG ----
  function photoEditor(currentUrl) {
    const box = el('section', { class: 'p-photo', 'aria-labelledby': 'profile-photo-h' });
    const now = el('img', { class: 'p-current', id: 'profile-current', alt: 'Your photo', width: 72, height: 72, src: currentUrl || '', hidden: !currentUrl });
    const none = el('span', { class: 'p-none', text: 'No photo', hidden: !!currentUrl });
    const file = el('input', { type: 'file', id: 'profile-file', accept: 'image/png,image/jpeg,image/webp,image/gif' });
    const canvas = el('canvas', { width: VIEW, height: VIEW, class: 'p-canvas', id: 'profile-canvas', tabIndex: 0, role: 'img',
      'aria-label': 'Crop preview: drag or use the arrow keys to move the picture, + and − to zoom' });
    const zoom = el('input', { type: 'range', id: 'profile-zoom', min: 1, max: 4, step: 0.01, value: 1 });
    const status = el('p', { class: 'a-status', role: 'status', 'aria-live': 'polite', id: 'profile-photo-state' });
    const upload = el('button', { type: 'button', class: 'primary', id: 'profile-upload', text: 'Upload photo', disabled: true });
    const remove = el('button', { type: 'button', id: 'profile-remove', text: 'Remove photo', hidden: !currentUrl });
    const crop = el('div', { class: 'p-crop', hidden: true }, canvas,
      el('div', { class: 'a-field' }, el('label', { for: zoom.id, text: 'Zoom' }), zoom), el('p', { class: 'a-hint', text: 'Drag the picture to choose what is in the square.' }));
    box.append(el('h3', { id: 'profile-photo-h', text: 'Photo' }), el('div', { class: 'p-photo-row' }, now, none,
      el('div', { class: 'a-field' }, el('label', { for: file.id, text: 'Choose a picture' }), file)), crop,
      el('div', { class: 'a-actions' }, upload, remove, status));

    P.img = null; P.drag = null;
    // The picture's scale at zoom 1 covers the square; (P.x, P.y) is the centre shown, in image pixels.
    const base = () => Math.max(VIEW / P.w, VIEW / P.h);
    const clamp = () => {
      const sc = base() * P.zoom, half = VIEW / 2 / sc;
      P.x = Math.min(Math.max(P.x, half), P.w - half);
      P.y = Math.min(Math.max(P.y, half), P.h - half);
    };
    function draw(target, size) {
      const c = target.getContext('2d');
      const sc = base() * P.zoom * (size / VIEW);
      c.fillStyle = '#fff'; c.fillRect(0, 0, size, size);
      c.imageSmoothingQuality = 'high';
      c.drawImage(P.img, size / 2 - P.x * sc, size / 2 - P.y * sc, P.w * sc, P.h * sc);
    }
    const redraw = () => { clamp(); draw(canvas, VIEW); };
    file.addEventListener('change', () => {
      const f = file.files && file.files[0];
      if (!f) return;
      if (!/^image\//.test(f.type)) { status.textContent = 'Choose an image file (PNG or JPEG).'; return; }
      const url = URL.createObjectURL(f);
      const img = new Image();
      img.onload = () => {
        P.img = img; P.w = img.naturalWidth; P.h = img.naturalHeight; P.zoom = 1; zoom.value = '1'; P.x = P.w / 2; P.y = P.h / 2;
        crop.hidden = false; upload.disabled = false; redraw();
        status.textContent = 'Move and zoom the picture, then upload it.';
        URL.revokeObjectURL(url);
      };
      img.onerror = () => { status.textContent = 'This file cannot be read as a picture.'; URL.revokeObjectURL(url); };
      img.src = url;
    });
    zoom.addEventListener('input', () => { if (!P.img) return; P.zoom = Number(zoom.value); redraw(); });
    canvas.addEventListener('pointerdown', (e) => { if (!P.img) return; canvas.setPointerCapture(e.pointerId); P.drag = { x: e.clientX, y: e.clientY }; });
    canvas.addEventListener('pointermove', (e) => {
      if (!P.drag || !P.img) return;
      const sc = base() * P.zoom * (canvas.getBoundingClientRect().width / VIEW || 1);
      P.x -= (e.clientX - P.drag.x) / sc; P.y -= (e.clientY - P.drag.y) / sc;
      P.drag = { x: e.clientX, y: e.clientY };
      redraw();
    });
    const endDrag = () => { P.drag = null; };
    canvas.addEventListener('pointerup', endDrag); canvas.addEventListener('pointercancel', endDrag);
    canvas.addEventListener('wheel', (e) => {
      if (!P.img) return;
      e.preventDefault();
      P.zoom = Math.min(4, Math.max(1, P.zoom * (e.deltaY < 0 ? 1.08 : 1 / 1.08))); zoom.value = String(P.zoom); redraw();
    }, { passive: false });
    canvas.addEventListener('keydown', (e) => {
      if (!P.img) return;
      const step = 10 / (base() * P.zoom);
      const k = e.key;
      if (k === 'ArrowLeft') P.x -= step; else if (k === 'ArrowRight') P.x += step;
      else if (k === 'ArrowUp') P.y -= step; else if (k === 'ArrowDown') P.y += step;
      else if (k === '+' || k === '=') { P.zoom = Math.min(4, P.zoom * 1.1); zoom.value = String(P.zoom); }
      else if (k === '-') { P.zoom = Math.max(1, P.zoom / 1.1); zoom.value = String(P.zoom); }
      else return;
      e.preventDefault(); redraw();
    });
    const shown = (url) => {
      now.src = url || ''; now.hidden = !url; none.hidden = !!url; remove.hidden = !url;
    };
    upload.addEventListener('click', async () => {
      if (!P.img) return;
      const out = el('canvas', { width: OUT, height: OUT });
      clamp(); draw(out, OUT);
      upload.disabled = true; upload.textContent = 'Uploading…'; status.textContent = 'Uploading…';
      try {
        // A PNG; a busy photo can make a PNG over the server's 256 KiB, then a JPEG goes instead.
        let blob = await new Promise((res) => out.toBlob(res, 'image/png'));
        if (!blob || blob.size > 250 * 1024) blob = await new Promise((res) => out.toBlob(res, 'image/jpeg', 0.9));
        const res = await fetch('/api/v1/me/photo', { method: 'PUT', credentials: 'same-origin', headers: { 'content-type': blob.type || 'image/png' }, body: blob });
        const data = await res.json().catch(() => null);
        if (!res.ok) { status.textContent = 'Not uploaded: ' + errText({ status: res.status, data }); upload.textContent = 'Upload photo'; upload.disabled = false; return; }
        const url = data && data.photo_url;
        shown(url); P.onChange({ photo_url: url || null });
        upload.textContent = 'Uploaded'; status.textContent = 'Your photo is saved.';
        setTimeout(() => { upload.textContent = 'Upload photo'; upload.disabled = false; }, 2000);
      } catch (_) {
        status.textContent = 'Not uploaded: cannot reach the server.'; upload.textContent = 'Upload photo'; upload.disabled = false;
      }
    });
    remove.addEventListener('click', async () => {
      remove.disabled = true; status.textContent = 'Removing…';
      try {
        const r = await P.api('DELETE', '/api/v1/me/photo');
        if (r.ok) { shown(null); P.onChange({ photo_url: null }); status.textContent = 'Photo removed.'; file.focus(); }
        else status.textContent = 'Not removed: ' + errText(r);
      } catch (_) { status.textContent = 'Not removed: cannot reach the server.'; }
      remove.disabled = false;
    });
    return box;
  }

  window.ShowroomAdmin = { show, reset, openProfile, closeProfile };
})();
