/* Showroom shopper chat widget. Speaks protocol v1 (docs/protocol.md).
 * Install: <script src="https://<gateway>/widget.js" data-key="<website key>" async></script>
 * Vehicle context (optional): data-vin, data-stock-number, data-year, data-make, data-model,
 * data-trim, data-price on that tag; or window.showroomVehicle = {vin, stock_number, year, make,
 * model, trim, price} before it; or Showroom.setVehicle({...}) once it has loaded.
 * Plain ES2020, no dependencies. All chat text goes in with textContent, never innerHTML. */
(() => {
  'use strict';
  const script = document.currentScript || document.querySelector('script[data-key][src*="widget.js"]');
  const KEY = script && script.dataset.key;
  if (!KEY || window.__showroomWidget) return;
  window.__showroomWidget = true;

  const src = new URL(script.src, location.href); // the gateway is wherever this file came from
  const WS_URL = (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host + '/ws/widget?key=' + encodeURIComponent(KEY);
  const TOKEN_KEY = 'showroom.visitor.' + KEY;   // localStorage: visitor_token from welcome
  const CACHE_KEY = 'showroom.transcript.' + KEY; // sessionStorage: {conv, msgs} shown in this tab
  const BACKOFF = [1000, 2000, 5000, 10000];

  // ---- vehicle context: from the snippet's data attributes, a global, or Showroom.setVehicle ----
  const VEHICLE_FIELDS = ['vin', 'stock_number', 'year', 'make', 'model', 'trim', 'price'];
  function cleanVehicle(o) {
    if (!o || typeof o !== 'object') return null;
    const v = {};
    for (const k of VEHICLE_FIELDS) {
      let x = o[k] ?? o[k.replace(/_(.)/g, (_, c) => c.toUpperCase())];
      if (x == null || x === '') continue;
      if (k === 'year' || k === 'price') {
        x = Math.round(Number(String(x).replace(/[^0-9.]/g, '')));
        if (!Number.isFinite(x) || x <= 0) continue;
      } else {
        x = String(x).trim().slice(0, k === 'vin' ? 17 : 100);
        if (!x) continue;
      }
      v[k] = x;
    }
    return Object.keys(v).length ? v : null;
  }
  let vehicle = cleanVehicle(script.dataset) || cleanVehicle(window.showroomVehicle);
  window.Showroom = Object.assign(window.Showroom || {}, {
    /** The vehicle the shopper is looking at, for the next chat they start (null clears it). */
    setVehicle(v) { vehicle = cleanVehicle(v); },
  });

  // ---- storage (may throw in sandboxed frames / private modes) ----
  const getItem = (area, k) => { try { return window[area].getItem(k); } catch (_) { return null; } };
  const setItem = (area, k, v) => { try { v == null ? window[area].removeItem(k) : window[area].setItem(k, v); } catch (_) { /* ignore */ } };

  // ---- state ----
  let ws = null, ready = false, attempt = 0, stopped = false;
  let retryTimer = 0, deadTimer = 0, peerTypingTimer = 0, idleTimer = 0;
  let view = 'loading';              // 'loading' | 'pick' | 'chat'
  let departments = [];
  let conv = null;                   // conversation on screen
  let shown = new Map();             // seq -> <li>, messages of `conv` on screen
  let lastSeq = 0;                   // every seq <= lastSeq is on screen (what hello.last_seq claims)
  let kept = [];                     // message objects of `conv`, for the tab cache
  const pending = new Map();         // client_msg_id -> {frame, el}: sent, not yet acked
  let helloFor = null, helloSeq = 0; // what our last hello claimed
  let startRef = null, early = [], startDept = null;   // a `start` in flight; messages that came before `started`
  let typingSentAt = 0, typingOn = false, refN = 0;

  // ---- DOM helpers ----
  const h = (tag, cls, text) => {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = String(text);
    return el;
  };
  const nm = (x) => (typeof x === 'string' ? x : (x && x.name) || '');
  const time = (at) => { const d = new Date(at); return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); };
  const uid = () => (crypto.randomUUID ? crypto.randomUUID() : 'm-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 12));
  const isOpen = (c) => !!c && (c.state === 'incoming' || c.state === 'active'); // unknown states count as closed

  const CSS = `:host{all:initial;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
*{box-sizing:border-box}
[hidden]{display:none!important}
button,input{font:inherit}button{cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;background:#1a56db;color:#fff;font-size:15px;font-weight:600;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.dot{display:inline-block;width:9px;height:9px;margin-left:8px;border-radius:50%;background:#f43f5e}
.panel{position:fixed;right:12px;bottom:72px;z-index:2147483000;width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 96px);display:flex;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 10px 40px rgba(0,0,0,.3);overflow:hidden;font-size:14px;line-height:1.4}
.head{display:flex;align-items:center;gap:8px;padding:10px 12px;background:#1a56db;color:#fff}
.head h2{flex:1;margin:0;font-size:16px}
.head button{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.6);border-radius:6px;padding:3px 8px}
.x{border:0!important;font-size:20px;line-height:1}
.line{margin:0;padding:6px 12px;font-size:13px;background:#f1f5f9;color:#334155}
.conn{background:#fef3c7;color:#92400e}.err{background:#fee2e2;color:#991b1b}
.body{flex:1;overflow:auto;padding:12px}
.pick p{margin:0 0 10px}
.pick label{display:block;margin-bottom:12px;font-size:13px}
input{width:100%;padding:8px 10px;border:1px solid #cbd5e1;border-radius:8px;margin-top:4px}
.dept{display:block;width:100%;text-align:left;margin:0 0 8px;padding:10px 12px;border:1px solid #cbd5e1;border-radius:8px;background:#fff}
.dept:hover{border-color:#1a56db}.dept small{display:block;color:#64748b}
.chat{display:flex;flex-direction:column;padding:0}
.log{flex:1;overflow:auto;list-style:none;margin:0;padding:12px;display:flex;flex-direction:column;gap:8px}
.msg{max-width:85%;padding:7px 10px;border-radius:10px;background:#f1f5f9;align-self:flex-start;white-space:pre-wrap;overflow-wrap:anywhere}
.msg.shopper{align-self:flex-end;background:#dbeafe}
.msg.system{align-self:center;background:none;color:#64748b;font-size:12px;font-style:italic}
.who{display:block;font-size:12px;font-weight:600;color:#475569}
.meta{display:block;font-size:11px;color:#64748b;text-align:right}
.failed .meta{color:#b91c1c}
.typing{margin:0;padding:0 12px 4px;min-height:18px;font-size:12px;color:#64748b}
form{display:flex;gap:6px;padding:8px;border-top:1px solid #e2e8f0}
form input{margin:0;flex:1;min-width:0}
.send,.new{border:0;border-radius:8px;padding:8px 14px;background:#1a56db;color:#fff}
.new{margin:8px 12px}`;

  // ---- build the UI inside a shadow root ----
  const host = document.createElement('showroom-widget');
  const root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets && 'replaceSync' in CSSStyleSheet.prototype) { // also works under a strict CSP
    const sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet];
  } else root.append(h('style', '', CSS));

  const launch = h('button', 'launch', 'Chat with us');
  const dot = h('span', 'dot'); dot.hidden = true; launch.append(dot);
  const panel = h('section', 'panel'); panel.hidden = true; panel.id = 'sr-panel';
  panel.setAttribute('role', 'dialog'); panel.setAttribute('aria-label', 'Chat');
  launch.setAttribute('aria-controls', 'sr-panel'); launch.setAttribute('aria-expanded', 'false');

  const head = h('div', 'head'), title = h('h2', '', 'Chat');
  const endBtn = h('button', '', 'End chat'), closeBtn = h('button', 'x', '×');
  closeBtn.setAttribute('aria-label', 'Close chat');
  head.append(title, endBtn, closeBtn);
  const connLine = h('p', 'line conn', 'Connecting…'); connLine.setAttribute('role', 'status');
  const errLine = h('p', 'line err'); errLine.hidden = true; errLine.setAttribute('role', 'alert');

  const pick = h('div', 'body pick');
  const nameInput = h('input'); nameInput.maxLength = 100; nameInput.autocomplete = 'name';
  const nameLabel = h('label', '', 'Your name (optional)'); nameLabel.append(nameInput);
  const depts = h('div');
  pick.append(h('p', '', 'How can we help you today?'), nameLabel, depts);

  const chat = h('div', 'body chat');
  const stateLine = h('p', 'line'); stateLine.setAttribute('role', 'status');
  const log = h('ol', 'log');
  log.setAttribute('aria-live', 'polite'); log.setAttribute('aria-relevant', 'additions'); log.setAttribute('aria-label', 'Messages');
  const typingLine = h('p', 'typing');
  const form = h('form'), input = h('input'), sendBtn = h('button', 'send', 'Send');
  input.maxLength = 4000; input.autocomplete = 'off'; input.setAttribute('aria-label', 'Type your message');
  form.append(input, sendBtn);
  const newBtn = h('button', 'new', 'Start a new chat'); newBtn.type = 'button';
  chat.append(stateLine, log, typingLine, form, newBtn);

  pick.hidden = chat.hidden = endBtn.hidden = true;
  panel.append(head, connLine, errLine, pick, chat);
  root.append(launch, panel);

  const mount = () => document.body.append(host);
  document.body ? mount() : document.addEventListener('DOMContentLoaded', mount);

  // ---- panel open / close ----
  function setPanel(open) {
    panel.hidden = !open;
    launch.setAttribute('aria-expanded', String(open));
    if (!open) return launch.focus();
    dot.hidden = true;
    if (!ws && !retryTimer && !stopped) connect();
    focusView();
  }
  function focusView() {
    if (view === 'chat' && isOpen(conv)) input.focus();
    else if (view === 'pick') (depts.querySelector('button') || nameInput).focus();
  }
  launch.onclick = () => setPanel(panel.hidden);
  closeBtn.onclick = () => setPanel(false);
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') setPanel(false); });

  const setConn = (text) => { connLine.textContent = text; connLine.hidden = !text; };
  const showError = (text) => { errLine.textContent = text || ''; errLine.hidden = !text; };

  // ---- socket ----
  const raw = (frame) => { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); };

  function connect() {
    clearTimeout(retryTimer); retryTimer = 0;
    setConn(attempt ? 'Reconnecting…' : 'Connecting…');
    const sock = ws = new WebSocket(WS_URL);
    sock.onopen = hello;
    sock.onmessage = (ev) => {
      clearTimeout(deadTimer);
      let f; try { f = JSON.parse(ev.data); } catch (_) { return; }
      if (f && typeof f.type === 'string') handle(f);
    };
    sock.onclose = () => { if (ws === sock) lost(); };
  }

  // The socket is gone (or we dropped it): reconnect with backoff 1 s, 2 s, 5 s, then every 10 s.
  function lost() {
    if (ws) { const s = ws; ws = null; s.onclose = null; try { s.close(); } catch (_) { /* ignore */ } }
    ready = false; typingOn = false;
    clearTimeout(deadTimer); showPeerTyping(null);
    if (stopped) return setConn('');
    setConn('Reconnecting…');
    retryTimer = setTimeout(connect, BACKOFF[Math.min(attempt++, BACKOFF.length - 1)]);
  }

  // Start over from seq 0 (the server's idea of "our" conversation differs from ours).
  // Goes through the backoff (attempt was reset by the last welcome), so it cannot spin.
  function resync() { resetConv(null); lost(); }

  // Keep-alive: a ping every 25 s; no frame at all within 10 s after it means the socket is dead.
  setInterval(() => {
    if (!ready) return;
    raw({ type: 'ping', ref: 'ka' });
    clearTimeout(deadTimer);
    deadTimer = setTimeout(() => lost(), 10000);
  }, 25000);
  window.addEventListener('online', () => { if (retryTimer) { attempt = 0; connect(); } });

  // hello: last_seq is the highest seq we have *contiguously* shown for `conv`.
  function hello() {
    const f = { type: 'hello', v: 1, last_seq: conv ? lastSeq : 0 };
    const token = getItem('localStorage', TOKEN_KEY);
    if (token) f.visitor_token = token;
    if (navigator.language) f.locale = navigator.language;
    helloFor = conv ? conv.id : null; helloSeq = f.last_seq;
    raw(f);
  }

  function handle(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'started': return onStarted(f);
      case 'ack': return onAck(f);
      case 'message': return onMessage(f.message);
      case 'conversation': return onConversation(f.conversation);
      case 'typing': return onPeerTyping(f);
      case 'error': return onError(f);
      default: return; // pong and anything newer
    }
  }

  function onWelcome(w) {
    ready = true; attempt = 0; setConn(''); showError('');
    if (w.visitor_token) setItem('localStorage', TOKEN_KEY, w.visitor_token);
    if (w.website) title.textContent = nm(w.website.rooftop) || nm(w.website) || 'Chat';
    departments = w.departments || [];
    const c = w.conversation;
    // Our last_seq was about another conversation: the messages we got may start mid-way. Ask again from 0.
    if (c && helloSeq > 0 && c.id !== helloFor) return resync();
    if (isOpen(c)) {
      if (!conv || conv.id !== c.id) resetConv(c); else conv = c;
      (w.messages || []).forEach(addMessage);
      showChat();
      pending.forEach((p) => raw(p.frame)); // resend unacked frames, same client_msg_id
    } else if (c && conv && conv.id === c.id && view === 'chat') {
      conv = c; // the chat on screen ended while we were away: keep the transcript visible
      (w.messages || []).forEach(addMessage);
      failPending(); showChat();
    } else {
      failPending();
      if (view !== 'pick') { resetConv(null); showPick(); } else renderDepartments();
    }
  }

  function onStarted(s) {
    startRef = null;
    resetConv(s.conversation);
    early.filter((m) => m.conversation_id === conv.id).forEach(addMessage);
    early = [];
    showChat(); input.focus();
  }

  function onMessage(m) {
    if (!m) return;
    if (conv && m.conversation_id === conv.id) return addMessage(m);
    if (startRef) early.push(m); // may precede our `started`
    else resync();               // a conversation we do not know (started in another tab)
  }

  function onConversation(c) {
    if (!c) return;
    if (!conv || c.id !== conv.id) { if (isOpen(c) && !startRef) resync(); return; }
    conv = c; save();
    if (!isOpen(c)) { failPending(); stopTyping(); showPeerTyping(null); }
    if (view !== 'chat') return;
    const focused = root.activeElement;
    renderState();
    if (!isOpen(c) && (focused === endBtn || focused === input || focused === sendBtn)) newBtn.focus();
  }

  function onAck(a) {
    const p = pending.get(a.client_msg_id);
    if (!p || !conv) return;
    addMessage({ conversation_id: a.conversation_id, seq: a.seq, id: a.id, at: a.at, client_msg_id: a.client_msg_id,
      author: { kind: 'shopper', name: nameInput.value.trim() }, text: p.frame.text });
  }

  function onError(e) {
    const p = e.ref && pending.get(e.ref);
    if (p && e.code === 'unavailable') { // not stored: retry the very same frame
      setTimeout(() => { if (pending.has(e.ref)) raw(p.frame); }, 2000);
      return;
    }
    if (p) { pending.delete(e.ref); markFailed(p.el); }
    if (e.ref && e.ref === startRef) {
      startRef = null; early = [];
      // The dealer page's vehicle data was refused: the chat matters more; start without it.
      if (e.code === 'bad_request' && /vehicle/.test(e.message || '') && vehicle && startDept) {
        console.warn('Showroom: vehicle context ignored:', e.message);
        vehicle = null;
        return start(startDept);
      }
      depts.querySelectorAll('button').forEach((b) => { b.disabled = false; });
      if (e.code === 'not_allowed') return resync(); // we already have an open chat: go fetch it
    }
    if (e.code === 'unauthorized' || e.code === 'unsupported_version') stopped = true; // the socket closes; retrying will not help
    showError(e.message || 'Something went wrong (' + e.code + ')');
  }

  // ---- transcript ----
  function resetConv(c) {
    conv = c; shown = new Map(); lastSeq = 0; kept = [];
    log.replaceChildren(); failPending(); pending.clear();
    save();
  }

  // Add a message of `conv`, once, in seq order. Our own pending bubble is reused when it comes back.
  function addMessage(m) {
    if (!m || typeof m.seq !== 'number' || m.seq <= lastSeq || shown.has(m.seq)) return;
    const kind = (m.author && m.author.kind) || 'system';
    const p = kind === 'shopper' && m.client_msg_id && pending.get(m.client_msg_id);
    let el;
    if (p) { pending.delete(m.client_msg_id); el = p.el; el.querySelector('.meta').textContent = time(m.at); }
    else el = bubble(m, time(m.at));
    el.dataset.seq = m.seq;
    place(el);
    shown.set(m.seq, el);
    while (shown.has(lastSeq + 1)) lastSeq++;
    kept.push(m); save();
    if (kind !== 'shopper') { showPeerTyping(null); if (panel.hidden && ready) dot.hidden = false; }
  }

  function bubble(m, meta) {
    const kind = (m.author && m.author.kind) || 'system';
    const li = h('li', 'msg ' + kind);
    if (kind === 'agent' || kind === 'bot') li.append(h('span', 'who', nm(m.author) || (kind === 'bot' ? 'Assistant' : 'Agent')));
    li.append(h('span', 'text', m.text), h('span', 'meta', meta));
    return li;
  }

  // Insert before the first bubble with a higher seq or without one (pending bubbles stay last).
  function place(el) {
    const seq = +el.dataset.seq;
    const next = [...log.children].find((c) => c !== el && (!c.dataset.seq || +c.dataset.seq > seq));
    log.insertBefore(el, next || null);
    log.scrollTop = log.scrollHeight;
  }

  function markFailed(el) { el.classList.add('failed'); el.querySelector('.meta').textContent = 'Not sent'; }
  function failPending() { pending.forEach((p) => markFailed(p.el)); pending.clear(); }

  // The tab cache lets a reload show the transcript at once and ask only for newer messages.
  function save() {
    kept.sort((a, b) => a.seq - b.seq);
    if (kept.length > 200) kept = kept.slice(-200);
    setItem('sessionStorage', CACHE_KEY, conv ? JSON.stringify({ conv, msgs: kept }) : null);
  }
  function restore() {
    let c; try { c = JSON.parse(getItem('sessionStorage', CACHE_KEY)); } catch (_) { return; }
    if (!c || !c.conv || !Array.isArray(c.msgs)) return;
    conv = c.conv;
    if (c.msgs.length) lastSeq = c.msgs[0].seq - 1; // a trimmed cache starts mid-way
    c.msgs.forEach(addMessage);
  }

  // ---- views ----
  function showPick() {
    view = 'pick'; pick.hidden = false; chat.hidden = endBtn.hidden = true;
    renderDepartments();
    if (!panel.hidden) focusView();
  }

  function renderDepartments() {
    depts.replaceChildren();
    if (!departments.length) depts.append(h('p', '', 'Nobody is available right now. Please try again later.'));
    departments.forEach((d) => {
      const b = h('button', 'dept'); b.type = 'button';
      b.append(h('strong', '', d.label));
      if (nm(d.rooftop)) b.append(h('small', '', nm(d.rooftop)));
      b.onclick = () => start(d);
      depts.append(b);
    });
  }

  function start(d) {
    if (!ready) return showError('Not connected yet, please wait a moment.');
    showError('');
    startRef = 'start-' + (++refN); early = [];
    const f = { type: 'start', department_id: d.id, ref: startRef };
    const name = nameInput.value.trim().slice(0, 100);
    if (name) f.name = name;
    if (vehicle) f.vehicle = Object.assign({ url: location.href.slice(0, 2000) }, vehicle);
    startDept = d;
    depts.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    raw(f);
  }

  function showChat() {
    const wasPick = view !== 'chat';
    view = 'chat'; pick.hidden = true; chat.hidden = false;
    renderState();
    if (wasPick && !panel.hidden) focusView();
  }

  // What the shopper is told when the chat did not (or no longer) reach an agent.
  const LEAVE = " Leave a message and we'll get back to you.";
  const CLOSED_LINES = {
    after_hours: "We're closed right now." + LEAVE,
    nobody_available: 'No one is available to chat right now.' + LEAVE,
  };
  function stateText(c) {
    if (c.state === 'incoming') return 'Waiting for an agent…';
    if (c.state === 'active') return c.agent ? nm(c.agent) + ' joined the chat' : 'An agent joined the chat';
    if (c.state === 'offline') return CLOSED_LINES[c.offline_reason] || CLOSED_LINES.nobody_available; // wait_expired, max_sessions, …
    if (c.state === 'missed') return 'No one could take your chat in time.' + LEAVE;
    if (c.state === 'timed_out') return 'This chat was closed after a period of inactivity.';
    return 'This chat has ended';
  }

  function renderState() {
    const open = isOpen(conv);
    stateLine.textContent = stateText(conv);
    stateLine.dataset.state = conv.state || '';
    form.hidden = endBtn.hidden = !open;
    newBtn.hidden = open;
  }

  newBtn.onclick = showPick;
  endBtn.onclick = () => { stopTyping(); raw({ type: 'end', ref: 'end-' + (++refN) }); };

  // ---- sending ----
  form.onsubmit = (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || !isOpen(conv)) return;
    if (text.length > 4000) return showError('That message is too long (4000 characters at most).');
    input.value = '';
    stopTyping();
    const id = uid();
    const frame = { type: 'send', client_msg_id: id, text, ref: id };
    const el = bubble({ author: { kind: 'shopper' }, text }, 'sending…');
    log.append(el); log.scrollTop = log.scrollHeight;
    pending.set(id, { frame, el });
    if (ready) raw(frame); // otherwise it goes out after the next welcome
  };

  // typing: true at most every 2 s while typing; false after 3 s idle or on send.
  input.addEventListener('input', () => {
    if (!ready || !isOpen(conv)) return;
    const now = Date.now();
    if (now - typingSentAt >= 2000) { raw({ type: 'typing', typing: true }); typingSentAt = now; typingOn = true; }
    clearTimeout(idleTimer); idleTimer = setTimeout(stopTyping, 3000);
  });
  function stopTyping() {
    clearTimeout(idleTimer);
    if (typingOn) raw({ type: 'typing', typing: false });
    typingOn = false; typingSentAt = 0;
  }

  function onPeerTyping(f) {
    if (!f.author || f.author.kind === 'shopper') return;
    showPeerTyping(f.typing ? nm(f.author) || 'Agent' : null);
  }
  // Typing is best-effort: hide it after 8 s even if `typing:false` never comes.
  function showPeerTyping(name) {
    clearTimeout(peerTypingTimer);
    typingLine.textContent = name ? name + ' is typing…' : '';
    if (name) peerTypingTimer = setTimeout(() => showPeerTyping(null), 8000);
  }

  // ---- boot: a returning visitor (stored token) reconnects at once; a new one when opening the panel ----
  restore();
  if (getItem('localStorage', TOKEN_KEY)) connect();
})();
