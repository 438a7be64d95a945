/* Showroom agent console. Speaks protocol v1 (docs/protocol.md) over /ws/console,
 * authenticated by the showroom_session cookie set by POST /api/v1/auth/login.
 * Plain ES2020, no dependencies. All chat text goes in with textContent, never innerHTML. */
(() => {
  'use strict';

  const BACKOFF = [1000, 2000, 5000, 10000];
  const WS_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/console';
  const $ = (id) => document.getElementById(id);

  const S = {
    me: null,             // the agent: {id, name, email, role, status}
    photo: null,          // the agent's photo URL (from /api/v1/me), shown in the header
    live: false,          // logged in and wanting a socket
    ws: null, ready: false, attempt: 0, retryTimer: 0, deadTimer: 0,
    convs: new Map(),     // conversation id -> entry (see newEntry)
    selected: null,       // id of the conversation in the middle panel
    view: null,           // {id, pendingEls: Map client_msg_id -> <li>} for the selected conversation
    status: null,
    typingFor: null, typingSentAt: 0, idleTimer: 0,
    bannerTimer: 0,
    tab: null,            // 'chats' or 'board'
    board: null,          // the Live Agent Status board: {rooftops, departments, agents}, agents merged live
    boardPending: 0,      // `board` requests sent on this socket and not answered yet
    boardBuffer: [],      // agent_presence frames received while a request was pending (replayed on the reply)
    boardTimer: 0,        // the 30 s floor
    boardUpdated: 0,      // when the board was last known good (server clock, ms)
    skew: 0,              // local clock minus server clock (ms), from generated_at
    unknownAsked: new Map(), // agent id -> when we last asked the board again because of it
    saving: new Map(),    // agent id -> PUTs in flight
    transfers: new Map(), // transfer id -> {t, answering}: transfers offered to me, waiting for my answer
    group: new Map(),     // managers: conversation id -> the group's waiting and active chats (REST)
    groupTimer: 0,
    reassigning: null,    // managers: id of the group chat whose Reassign form is open
    reassignTo: '',       // the agent chosen in that form
    reassignBusy: false,
    internal: new Map(),  // internal chat id -> entry (see newInternal): chats with colleagues I am in now
    ichat: null,          // id of the internal chat in the middle panel (exclusive with `selected` and `inew`)
    iview: null,          // {id, pendingEls: Map client_msg_id -> <li>} for the internal chat shown
    inew: false,          // the New chat form is in the middle panel
    iopenRef: '',         // ref of the internal_open sent from that form and not answered yet
    iinviteBusy: false,   // an internal_invite is on its way
    ileaving: null,       // id of the chat an internal_leave was sent for
    iloading: new Set(),  // chats we asked internal_history for because a message of an unknown chat came
    iseen: {},            // chat id -> the highest seq this agent has seen (localStorage, per agent)
    iact: 0,              // activity counter: the list shows the most recently active chat first
    iseq: 0,
    wantOpen: null,       // a chat asked for from a notification, a lead or the address (#conversation=…), not held yet
    hashOpen: null,       // the chat named in the address when the page loaded, opened after the first welcome
  };

  const newEntry = (c) => ({
    c,                    // the conversation object, as last sent by the gateway
    msgs: new Map(),      // seq -> message; a seq is never shown twice
    pending: new Map(),   // client_msg_id -> {frame, failed}: sent, not yet acked
    loaded: false,        // `history` received since the last (re)connect
    unread: 0, typing: '', typingTimer: 0, accepting: false, draft: '',
    transfer: null,       // the last transfer of this chat we heard of (shown as a notice)
    transferSending: false,
    gapTimer: 0,          // a seq jump is being waited out (see watchGap)
  });

  // ---- small helpers ----
  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = String(text);
    return el;
  }
  // Dates and times in the agent's own time zone and language (their Profile), else the browser's.
  function fmtAt(at, opts) {
    const d = at instanceof Date ? at : new Date(at);
    if (isNaN(d)) return '';
    const o = Object.assign({}, opts || {});
    if (S.me && S.me.time_zone) o.timeZone = S.me.time_zone;
    const loc = S.me && S.me.locale === 'es' ? 'es' : [];
    try { return d.toLocaleString(loc, o); } catch (_) { delete o.timeZone; return d.toLocaleString(loc, o); }
  }
  window.ShowroomWhen = fmtAt; // the admin pages format with it too
  const time = (at) => fmtAt(at, { hour: '2-digit', minute: '2-digit' });
  const uid = () => (crypto.randomUUID ? crypto.randomUUID() : 'm-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 12));
  const ts = (s) => Date.parse(s) || 0;
  const shopperName = (c) => (c.shopper && c.shopper.name) || 'Visitor';
  const subline = (c) => [c.department && c.department.label, c.rooftop && c.rooftop.name].filter(Boolean).join(' · ');
  const isMine = (author) => !!author && author.kind === 'agent' && !!S.me && author.id === S.me.id;
  const canWrite = (c) => c.state === 'active' && (!c.agent || !S.me || c.agent.id === S.me.id);
  const current = () => (S.selected ? S.convs.get(S.selected) : null);
  const contig = (e) => { let n = 0; while (e.msgs.has(n + 1)) n++; return n; }; // highest seq with no gap below
  const topSeq = (e) => { let n = 0; for (const s of e.msgs.keys()) if (s > n) n = s; return n; };

  // A seq jump in a chat we hold: the gateway sends each chat's messages in order with no gap,
  // so one that lasts means a frame was lost on the way. After a short wait (the gateway itself
  // waits 250 ms for a late frame), `ask` for what follows our last contiguous seq.
  function watchGap(e, ask) {
    const behind = () => e.loaded && topSeq(e) > contig(e);
    if (e.gapTimer || !behind()) return;
    e.gapTimer = setTimeout(() => {
      e.gapTimer = 0;
      if (S.ready && behind()) ask(e);
    }, 1500);
  }

  // Which list a conversation belongs to. Unknown (future) states count as closed, i.e. Recent.
  function category(c) {
    if (c.state === 'incoming') return 'incoming';
    if (c.state === 'active') return canWrite(c) ? 'active' : null;
    return 'recent';
  }

  // ---- REST ----
  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) { opts.headers['content-type'] = 'application/json'; opts.body = JSON.stringify(body); }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty or not JSON */ }
    return { status: res.status, ok: res.ok, data };
  }
  const errorMessage = (r, fallback) => (r.data && r.data.error && r.data.error.message) || fallback;
  const agentOf = (d) => (d && d.agent) || d || {}; // /me may answer the agent itself or {agent}

  // ---- login / logout ----
  async function boot() {
    let r = null;
    try { r = await api('GET', '/api/v1/me'); } catch (_) { /* offline */ }
    $('loading').hidden = true;
    if (r && r.ok) startApp(agentOf(r.data));
    else showLogin(r ? '' : 'Cannot reach the server.');
  }

  function showLogin(message) {
    S.live = false;
    dropSocket();
    clearTimeout(S.retryTimer);
    S.convs.clear(); S.selected = null; S.me = null;
    S.transfers.clear(); S.group.clear(); S.reassigning = null; S.reassignBusy = false;
    clearInterval(S.groupTimer); S.groupTimer = 0;
    S.internal.clear(); S.ichat = null; S.inew = false; S.iopenRef = ''; S.iinviteBusy = false; S.ileaving = null;
    S.iloading.clear(); S.iseen = {};
    S.wantOpen = null;
    renderThread(); renderInternal(); renderLists();
    resetBoard();
    resetNotices(); resetLeadsTab();
    if (window.ShowroomAdmin) window.ShowroomAdmin.reset();
    S.photo = null; $('agent-photo').hidden = true; $('agent-photo').removeAttribute('src');
    $('tab-admin').hidden = true;
    document.title = 'Showroom — agent console';
    $('app').hidden = true; $('login').hidden = false;
    loginError(message);
    $('email').focus();
  }

  function loginError(message) { $('login-error').textContent = message || ''; $('login-error').hidden = !message; }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = $('email').value.trim(), password = $('password').value;
    if (!email || !password) return loginError('Enter your email and password.');
    loginError(''); $('login-btn').disabled = true;
    try {
      const r = await api('POST', '/api/v1/auth/login', { email, password });
      if (r.ok) { $('password').value = ''; startApp(agentOf(r.data)); }
      else loginError(errorMessage(r, r.status === 401 ? 'Wrong email or password.' : 'Login failed (' + r.status + ').'));
    } catch (_) {
      loginError('Cannot reach the server.');
    } finally {
      $('login-btn').disabled = false;
    }
  });

  function startApp(agent) {
    S.me = agent; S.live = true; S.attempt = 0;
    $('login').hidden = true; $('app').hidden = false;
    $('agent-name').textContent = agent.name || [agent.first_name, agent.last_name].filter(Boolean).join(' ') || agent.email || '';
    $('tab-admin').hidden = !canManage();
    showPhoto(agent);
    if (agent.status) setStatus(agent.status);
    renderLists(); renderThread();
    S.tab = null;
    showTab(savedTab(), false);
    loadPrefs(); renderPermission();
    connect();
  }

  $('logout').addEventListener('click', async () => {
    stopTyping();
    S.live = false; dropSocket();
    try { await api('POST', '/api/v1/auth/logout', {}); } catch (_) { /* the session dies with the cookie anyway */ }
    showLogin('');
  });

  // ---- socket ----
  function send(frame) { if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify(frame)); }

  function setConn(text, cls) { const c = $('conn'); c.textContent = text; c.className = 'conn ' + (cls || ''); }

  function connect() {
    clearTimeout(S.retryTimer); S.retryTimer = 0;
    setConn(S.attempt ? 'Reconnecting…' : 'Connecting…', 'trouble');
    $('status').disabled = true;
    const sock = S.ws = new WebSocket(WS_URL);
    sock.onopen = () => send({ type: 'hello', v: 1 });
    sock.onmessage = (ev) => {
      clearTimeout(S.deadTimer);
      let f; try { f = JSON.parse(ev.data); } catch (_) { return; }
      if (f && typeof f.type === 'string') handle(f);
    };
    sock.onclose = () => { if (S.ws === sock) lost(); };
  }

  function dropSocket() {
    const s = S.ws;
    S.ws = null; S.ready = false;
    clearTimeout(S.deadTimer);
    if (s) { s.onclose = null; try { s.close(); } catch (_) { /* ignore */ } }
    $('status').disabled = true;
    S.boardPending = 0; S.boardBuffer = []; // a new socket must ask again to get agent_presence
    renderLists(); // Respond buttons need a socket
    renderBoardMeta();
  }

  // Reconnect with backoff 1 s, 2 s, 5 s, then every 10 s. A refused upgrade (401) looks like any
  // other close to a browser, so ask REST whether the session is still good before each attempt.
  function lost() {
    dropSocket();
    S.typingFor = null;
    S.convs.forEach((e) => { e.typing = ''; });
    renderTypingLine();
    if (!S.live) return;
    setConn('Reconnecting…', 'trouble');
    S.retryTimer = setTimeout(async () => {
      try {
        const r = await api('GET', '/api/v1/me');
        if (r.status === 401) return showLogin('Your session has ended. Please log in again.');
      } catch (_) { /* network down: just try the socket */ }
      if (S.live && !S.ws) connect();
    }, BACKOFF[Math.min(S.attempt++, BACKOFF.length - 1)]);
  }

  // Keep-alive: a ping every 25 s; no frame at all within 10 s after it means the socket is dead.
  setInterval(() => {
    if (!S.ready) return;
    send({ type: 'ping', ref: 'ping:' });
    clearTimeout(S.deadTimer);
    S.deadTimer = setTimeout(lost, 10000);
  }, 25000);

  function handle(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'status': return setStatus(f.status);
      case 'offer': if (f.conversation) { upsert(f.conversation); renderLists(); } return;
      case 'offer_withdrawn': return onOfferWithdrawn(f);
      case 'accepted': return onAccepted(f);
      case 'history': return onHistory(f);
      case 'ack': return f.chat_id ? onInternalAck(f) : onAck(f);
      case 'message': return onMessage(f.message);
      case 'conversation':
        if ((f.ref || '').startsWith('reassign:')) { S.reassignBusy = false; S.reassigning = null; loadGroup(); }
        return onConversation(f.conversation);
      case 'typing': return onPeerTyping(f);
      case 'board': return onBoard(f);
      case 'agent_presence': return onAgentPresence(f);
      case 'transfer_offer': return onTransferOffer(f);
      case 'transfer': return onTransfer(f);
      case 'internal': return onInternal(f);
      case 'internal_history': return onInternalHistory(f);
      case 'internal_message': return onInternalMessage(f.message);
      case 'notify': return onNotify(f.notice);
      case 'error': return onError(f);
      default: return; // pong and anything newer
    }
  }

  function upsert(c) {
    let e = S.convs.get(c.id);
    if (e) e.c = c; else S.convs.set(c.id, e = newEntry(c));
    return e;
  }

  // welcome is the full picture: replace the lists, keep transcripts we already have, catch up, resend.
  function onWelcome(w) {
    S.ready = true; S.attempt = 0;
    setConn('Online', 'online');
    if (w.agent) {
      S.me = Object.assign({}, S.me, w.agent);
      $('agent-name').textContent = w.agent.name || w.agent.email || '';
      $('tab-admin').hidden = !canManage();
      if (S.tab === 'admin' && !canManage()) showTab('chats', false);
      setStatus(w.agent.status);
      showAutoAway();
    }
    S.idleSent = false; // a new socket is a new device: it starts active
    $('status').disabled = false;
    const seen = new Set();
    [w.incoming, w.active, w.recent].forEach((list) => (list || []).forEach((c) => { upsert(c); seen.add(c.id); }));
    // Transfers waiting for my answer: the welcome has them all (a reload loses none).
    S.transfers = new Map((Array.isArray(w.transfers) ? w.transfers : []).filter((t) => t && t.id).map((t) => [t.id, { t, answering: false }]));
    S.transfers.forEach(({ t }) => {
      if (S.convs.has(t.conversation_id)) seen.add(t.conversation_id);
      else fetchConversation(t.conversation_id);
    });
    S.convs.forEach((e, id) => {
      if (!seen.has(id) && id !== S.selected) S.convs.delete(id);
      else { // we may have missed messages, and a transfer's answer, while away
        e.loaded = false; e.accepting = false; e.transferSending = false;
        if (e.transfer && e.transfer.state === 'requested') e.transfer = null;
      }
    });
    if (S.selected && S.convs.has(S.selected)) openConversation(S.convs.get(S.selected));
    // Resend every unacked message, same client_msg_id: the gateway stores it at most once.
    S.convs.forEach((e) => e.pending.forEach((p) => { if (!p.failed) send(p.frame); }));
    welcomeInternal(w);
    // A chat asked for before this socket was ready (a notification, a lead, the address).
    if (S.hashOpen) { const id = S.hashOpen; S.hashOpen = null; openChat(id); }
    else if (S.wantOpen && !S.convs.has(S.wantOpen)) send({ type: 'open', conversation_id: S.wantOpen, after_seq: 0, ref: 'open:' + S.wantOpen });
    renderLists(); renderThreadHead();
    if (S.tab === 'board' || $('transfer-form').hidden === false || S.reassigning || S.inew || S.ichat) requestBoard(); // this socket is not subscribed to agent_presence yet
    else renderBoardMeta();
    startGroup();
  }

  function onOfferWithdrawn(f) {
    const e = S.convs.get(f.conversation_id);
    if (e && e.c.state === 'incoming') S.convs.delete(f.conversation_id);
    S.transfers.forEach((x, id) => { if (x.t.conversation_id === f.conversation_id) S.transfers.delete(id); });
    renderLists();
  }

  function accept(id) {
    const e = S.convs.get(id);
    if (!e || !S.ready) return;
    e.accepting = true;
    send({ type: 'accept', conversation_id: id, ref: 'accept:' + id });
    renderLists();
  }

  function onAccepted(f) {
    if (!f.conversation) return;
    const e = upsert(f.conversation);
    e.accepting = false;
    if (e.c.state === 'incoming') e.c = Object.assign({}, e.c, { state: 'active', agent: e.c.agent || S.me });
    select(e.c.id);
  }

  // Ask for the transcript after what we already hold (0 the first time).
  function openConversation(e) {
    send({ type: 'open', conversation_id: e.c.id, after_seq: contig(e), ref: 'open:' + e.c.id });
  }

  function onHistory(f) {
    if (!f.conversation) return;
    const e = upsert(f.conversation);
    (f.messages || []).forEach((m) => addMessage(e, m, false));
    e.loaded = true;
    if (S.wantOpen === e.c.id) { S.wantOpen = null; select(e.c.id); return; }
    if (S.selected === e.c.id) renderThreadHead();
    renderLists();
  }

  function onMessage(m) {
    const e = m && S.convs.get(m.conversation_id);
    if (e) addMessage(e, m, true); // unknown conversation: its history comes with `open`
  }

  function onConversation(c) {
    if (!c) return;
    if (S.group.has(c.id)) { if (c.state === 'incoming' || c.state === 'active') S.group.set(c.id, c); else S.group.delete(c.id); }
    const was = S.convs.get(c.id);
    if (was && isOpen(was.c) && !isOpen(c)) chatClosed(c.id); // a missed or offline chat may have made a lead
    const e = upsert(c);
    if (!canWrite(c)) {
      e.pending.forEach((p, id) => { if (!p.failed) failPending(e, id); });
      e.typing = '';
      if (S.typingFor === c.id) S.typingFor = null;
    }
    if (S.selected === c.id) { renderThreadHead(); renderTypingLine(); }
    renderLists();
  }

  function onAck(a) {
    const e = S.convs.get(a.conversation_id);
    const p = e && e.pending.get(a.client_msg_id);
    if (!p) return;
    addMessage(e, {
      conversation_id: a.conversation_id, seq: a.seq, id: a.id, at: a.at, client_msg_id: a.client_msg_id,
      author: { kind: 'agent', id: S.me && S.me.id, name: S.me && S.me.name }, text: p.frame.text,
    }, false);
  }

  function onError(f) {
    // Logged out elsewhere, password changed or deactivated: the gateway closes this socket.
    if (f.code === 'session_ended') return showLogin('Your session has ended. Please log in again.');
    const ref = f.ref || '';
    // A `send` (its ref is its client_msg_id)?
    for (const e of S.convs.values()) {
      const p = e.pending.get(ref);
      if (!p) continue;
      if (f.code === 'unavailable') { // not stored: retry the very same frame
        setTimeout(() => { if (e.pending.get(ref) === p && !p.failed) send(p.frame); }, 2000);
        return;
      }
      failPending(e, ref);
      return banner(f.message || 'Your message was not sent.');
    }
    const cut = ref.indexOf(':');
    const kind = cut < 0 ? '' : ref.slice(0, cut), id = ref.slice(cut + 1);
    if (INTERNAL_REFS.includes(kind)) return onInternalError(kind, id, f);
    if (kind === 'accept') {
      const e = S.convs.get(id);
      if (e) e.accepting = false;
      if (f.code === 'already_taken' || f.code === 'not_found' || f.code === 'conversation_closed') S.convs.delete(id);
      renderLists();
      if (f.code === 'already_taken') return banner('Another agent took this chat');
    } else if (kind === 'open' && f.code === 'not_found') {
      if (S.wantOpen === id) S.wantOpen = null;
      S.convs.delete(id);
      if (S.selected === id) { S.selected = null; renderThread(); }
      renderLists();
    } else if (kind === 'transfer') {
      const e = S.convs.get(id);
      if (e) e.transferSending = false;
      if (S.selected === id) renderThreadHead();
      return banner('The transfer was not sent: ' + (f.message || f.code));
    } else if (kind === 'treply') {
      const x = S.transfers.get(id);
      if (x) x.answering = false;
      if (f.code === 'not_found' || f.code === 'not_allowed' || f.code === 'conversation_closed' || f.code === 'already_taken') S.transfers.delete(id);
      renderLists();
      return banner('Could not answer the transfer: ' + (f.message || f.code));
    } else if (kind === 'reassign') {
      S.reassignBusy = false;
      renderLists();
      return banner('Could not reassign the chat: ' + (f.message || f.code));
    } else if (kind === 'status') {
      setStatus(S.status); // put the select back
    } else if (kind === 'board') {
      S.boardPending = Math.max(0, S.boardPending - 1);
      if (!S.boardPending) S.boardBuffer = [];
      boardError('The agent board could not be loaded: ' + (f.message || f.code));
      if (f.code === 'unavailable' && S.tab === 'board') setTimeout(() => { if (S.tab === 'board' && !S.boardPending) requestBoard(); }, 3000);
      return; // shown on the board, not in the banner
    }
    banner(f.message || 'Error: ' + f.code);
  }

  // ---- status ----
  function setStatus(status) {
    if (!status) return;
    S.status = status;
    const sel = $('status');
    if (![...sel.options].some((o) => o.value === status)) sel.append(new Option(status, status)); // a newer status
    sel.value = status;
  }
  $('status').addEventListener('change', (ev) => send({ type: 'set_status', status: ev.target.value, ref: 'status:' }));

  // ---- banner (errors) ----
  function banner(text) {
    clearTimeout(S.bannerTimer);
    $('banner-text').textContent = text || '';
    $('banner').hidden = !text;
    if (text) S.bannerTimer = setTimeout(() => banner(''), 10000);
  }
  $('banner-close').addEventListener('click', () => banner(''));

  // ---- lists ----
  function renderLists() {
    const groups = { incoming: [], active: [], recent: [] };
    S.convs.forEach((e) => { const k = category(e.c); if (k) groups[k].push(e); });
    groups.incoming.sort((a, b) => ts(a.c.created_at) - ts(b.c.created_at));
    groups.active.sort((a, b) => ts(a.c.created_at) - ts(b.c.created_at));
    groups.recent.sort((a, b) => ts(b.c.ended_at || b.c.created_at) - ts(a.c.ended_at || a.c.created_at));
    groups.recent = groups.recent.slice(0, 20);

    const focusKey = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
    for (const k of Object.keys(groups)) {
      const items = groups[k].map((e) => (k === 'incoming' ? offerItem(e) : conversationItem(e)));
      if (!items.length) items.push(h('li', 'empty-list', k === 'incoming' ? 'No chats waiting' : 'None'));
      $('list-' + k).replaceChildren(...items);
    }
    $('count-incoming').textContent = groups.incoming.length ? '(' + groups.incoming.length + ')' : '';
    $('count-active').textContent = groups.active.length ? '(' + groups.active.length + ')' : '';
    renderTransfers();
    renderGroup();
    renderInternalList();
    renderInternalHead();
    $('tab-chats-count').textContent = $('count-incoming').textContent; // waiting chats stay visible from the board
    document.title = (groups.incoming.length ? '(' + groups.incoming.length + ') ' : '') + 'Showroom — agent console';
    if (focusKey) { // keep keyboard focus on the same control across the rebuild
      const again = [...document.querySelectorAll('[data-key]')].find((x) => x.dataset.key === focusKey);
      if (again) again.focus();
    }
  }

  function offerItem(e) {
    const li = h('li', 'offer');
    const info = h('div', 'info');
    info.append(h('span', 'name', shopperName(e.c)), h('span', 'meta', subline(e.c)));
    const b = h('button', '', e.accepting ? 'Joining…' : 'Respond');
    b.type = 'button';
    b.disabled = e.accepting || !S.ready;
    b.dataset.key = 'respond:' + e.c.id;
    b.setAttribute('aria-label', 'Respond to ' + shopperName(e.c));
    b.addEventListener('click', () => accept(e.c.id));
    li.append(info, b);
    return li;
  }

  function conversationItem(e) {
    const li = h('li');
    const b = h('button', 'item' + (S.selected === e.c.id ? ' selected' : ''));
    b.type = 'button';
    b.dataset.key = 'open:' + e.c.id;
    if (S.selected === e.c.id) b.setAttribute('aria-current', 'true');
    if (e.unread) b.append(h('span', 'badge', e.unread));
    b.append(h('span', 'name', shopperName(e.c)), h('span', 'meta', subline(e.c)));
    b.addEventListener('click', () => select(e.c.id));
    li.append(b);
    return li;
  }

  function select(id) {
    const e = S.convs.get(id);
    if (!e) return;
    if (S.ichat || S.inew) { S.ichat = null; S.inew = false; S.iopenRef = ''; renderInternal(); }
    if (S.selected !== id) { stopTyping(); S.selected = id; renderThread(); }
    closeDesktopNotice(id); // what is on screen needs no notification
    e.unread = 0;
    if (!e.loaded) openConversation(e);
    renderLists();
    if (canWrite(e.c)) $('reply-text').focus();
  }

  // ---- thread ----
  function bubble(m, meta) {
    const kind = (m.author && m.author.kind) || 'system';
    const mine = isMine(m.author);
    const li = h('li', 'msg ' + kind + (mine ? ' mine' : ''));
    if (kind !== 'system' && !mine) {
      const fallback = kind === 'shopper' ? 'Visitor' : kind === 'bot' ? 'Assistant' : 'Agent';
      li.append(h('span', 'who', (m.author && m.author.name) || fallback));
    }
    li.append(h('span', 'text', m.text), h('span', 'meta', meta));
    if (m.at) li.title = fmtAt(m.at);
    return li;
  }

  // Insert before the first bubble with a higher seq or without one (pending bubbles stay last).
  function place(li, log = $('log')) {
    const seq = +li.dataset.seq;
    const next = [...log.children].find((c) => c !== li && (!c.dataset.seq || +c.dataset.seq > seq));
    log.insertBefore(li, next || null);
    log.scrollTop = log.scrollHeight;
  }

  // Add a message once (dedupe by seq per conversation). Our own pending bubble is reused when it comes back.
  function addMessage(e, m, live) {
    if (!m || typeof m.seq !== 'number' || e.msgs.has(m.seq)) return;
    e.msgs.set(m.seq, m);
    watchGap(e, openConversation);
    const mine = isMine(m.author);
    const wasPending = mine && m.client_msg_id != null && e.pending.delete(m.client_msg_id);
    if (S.view && S.view.id === e.c.id) {
      let li = wasPending && S.view.pendingEls.get(m.client_msg_id);
      if (li) {
        S.view.pendingEls.delete(m.client_msg_id);
        li.classList.remove('failed');
        li.querySelector('.meta').textContent = time(m.at);
        if (m.at) li.title = fmtAt(m.at);
      } else li = bubble(m, time(m.at));
      li.dataset.seq = m.seq;
      place(li);
      if (!mine) { clearTimeout(e.typingTimer); e.typing = ''; renderTypingLine(); }
    } else if (live && !mine && m.author && m.author.kind !== 'system') {
      e.unread++;
      renderLists();
    }
  }

  function failPending(e, clientMsgId) {
    const p = e.pending.get(clientMsgId);
    if (!p) return;
    p.failed = true; // kept on screen as "Not sent"; never resent
    const li = S.view && S.view.id === e.c.id && S.view.pendingEls.get(clientMsgId);
    if (li) { li.classList.add('failed'); li.querySelector('.meta').textContent = 'Not sent'; }
  }

  // Full render of the selected conversation (on selection only; live updates are incremental).
  function renderThread() {
    const e = current();
    $('empty').hidden = panelShown(); $('thread').hidden = !e;
    if (!e) { S.view = null; resetChatLeads(null); return; }
    S.view = { id: e.c.id, pendingEls: new Map() };
    if (L.conv !== e.c.id) resetChatLeads(e.c.id);
    showTransferForm(false);
    const log = $('log');
    log.setAttribute('aria-busy', 'true'); // do not read the whole transcript out as "new"
    log.replaceChildren();
    [...e.msgs.values()].sort((a, b) => a.seq - b.seq).forEach((m) => {
      const li = bubble(m, time(m.at));
      li.dataset.seq = m.seq;
      log.append(li);
    });
    e.pending.forEach((p, id) => {
      const li = bubble({ author: S.me ? { kind: 'agent', id: S.me.id } : null, text: p.frame.text }, p.failed ? 'Not sent' : 'sending…');
      if (p.failed) li.classList.add('failed');
      S.view.pendingEls.set(id, li);
      log.append(li);
    });
    log.scrollTop = log.scrollHeight;
    setTimeout(() => log.removeAttribute('aria-busy'), 0);
    $('reply-text').value = e.draft;
    renderThreadHead(); renderTypingLine();
  }

  const STATE_LABELS = { incoming: 'Waiting', active: 'Active', ended: 'Ended', missed: 'Missed', offline: 'Offline', timed_out: 'Timed out' };

  // The vehicle the shopper was looking at: "2023 Honda Civic EX · $24,900 · Stock H4412 · VIN …",
  // with a link to the page they were on. Dealer data: text only, and only http(s) links.
  function vehicleLine(v) {
    if (!v) return null;
    const name = [v.year, v.make, v.model, v.trim].filter(Boolean).join(' ');
    const parts = [name || 'Vehicle'];
    if (v.price) parts.push('$' + Number(v.price).toLocaleString('en-US'));
    if (v.stock_number) parts.push('Stock ' + v.stock_number);
    if (v.vin) parts.push('VIN ' + v.vin);
    return parts.join(' · ');
  }

  function renderVehicle(c) {
    const el = $('t-vehicle');
    const line = vehicleLine(c.vehicle);
    el.hidden = !line;
    el.replaceChildren();
    if (!line) return;
    el.append(h('span', '', '🚗 ' + line));
    const url = c.vehicle.url;
    if (url && /^https?:\/\//i.test(url)) {
      const a = h('a', '', 'page');
      a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer';
      el.append(' · ', a);
    }
  }

  // What the Lead Gate (or a form) collected: name, e-mail and phone as links, and the shopper's
  // language. Shopper data: text only; the links are built from the values, never markup.
  const LANGUAGE_NAMES = { en: 'English', es: 'Español' };
  function renderContact(c) {
    const el = $('t-contact');
    const k = c.contact;
    el.replaceChildren();
    el.hidden = !k;
    if (!k) return;
    const link = (href, text) => { const a = h('a', '', text); a.href = href; return a; };
    const parts = [];
    const name = [k.first_name, k.last_name].filter(Boolean).join(' ');
    if (name) parts.push(h('span', '', '👤 ' + name));
    if (k.email) parts.push(link('mailto:' + k.email.replace(/[^\w.@+-]/g, encodeURIComponent), k.email));
    if (k.phone) parts.push(link('tel:' + k.phone.replace(/[^\d+]/g, ''), k.phone));
    if (c.language) parts.push(h('span', '', LANGUAGE_NAMES[c.language] || c.language));
    parts.forEach((p, i) => el.append(...(i ? [' · ', p] : [p])));
  }

  // The answers of the website's pre-chat form: "label: answer". Checkbox lists joined, an
  // agreement as its text ticked, files as download links (the session cookie authorises them).
  // Shopper and dealer data: text only; the links are built from the attachment ids.
  const fileSize = (n) => (n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB');
  function answerNodes(a) {
    const v = a.value;
    if (v === true) return [a.agreement_text ? '✓ ' + a.agreement_text : '✓'];
    if (Array.isArray(v) && v.some((x) => x && typeof x === 'object')) {
      const out = [];
      v.filter((x) => x && x.id).forEach((x, i) => {
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

  function renderThreadHead() {
    const e = current();
    if (!e) return;
    const c = e.c;
    renderVehicle(c);
    renderContact(c);
    renderFollowup(c);
    renderForm(c);
    $('t-title').textContent = shopperName(c);
    $('t-sub').textContent = [subline(c), c.agent && c.agent.name].filter(Boolean).join(' · ');
    $('t-state').textContent = STATE_LABELS[c.state] || c.state;
    $('t-state').className = 'state ' + c.state;
    const focusWasIn = $('reply').contains(document.activeElement) || $('transfer-form').contains(document.activeElement)
      || document.activeElement === $('end') || document.activeElement === $('transfer');
    const writable = canWrite(c);
    $('reply').hidden = $('end').hidden = $('transfer').hidden = !writable;
    $('readonly').hidden = writable;
    $('readonly').textContent = readonlyText(c);
    const busy = e.transferSending || (!!e.transfer && e.transfer.state === 'requested');
    $('transfer').disabled = busy || !S.ready;
    if (!writable || busy) showTransferForm(false);
    const notice = transferNotice(e);
    $('t-notice').textContent = notice;
    $('t-notice').hidden = !notice;
    if (!writable && focusWasIn) {
      const item = [...document.querySelectorAll('[data-key]')].find((x) => x.dataset.key === 'open:' + c.id);
      if (item) item.focus();
    }
  }

  $('end').addEventListener('click', () => {
    const e = current();
    if (!e || !canWrite(e.c)) return;
    stopTyping();
    send({ type: 'end', conversation_id: e.c.id, ref: 'end:' + e.c.id });
  });

  // ---- transfers: hand my chat to a colleague or a department; answer transfers offered to me ----
  const nameOf = (x) => (x && (x.name || x.label)) || '';
  const targetOf = (t) => nameOf(t.to_agent) || nameOf(t.to_department) || 'your colleague';

  function readonlyText(c) {
    if (c.state === 'active' && c.agent) return 'This chat is now with ' + (c.agent.name || 'another agent') + '. The transcript is read-only.';
    if (c.state === 'incoming') return 'This chat is waiting for an agent. The transcript is read-only.';
    return 'This chat has ended. The transcript is read-only.';
  }

  // The line above the transcript about the chat's last transfer, from where I stand.
  function transferNotice(e) {
    const t = e.transfer, me = S.me && S.me.id;
    if (!t) return '';
    const mine = !!t.from_agent && t.from_agent.id === me;
    const note = t.note ? ' Note: “' + t.note + '”' : '';
    switch (t.state) {
      case 'requested': return mine ? 'Transfer to ' + targetOf(t) + ' requested. Waiting for an answer…' : '';
      case 'declined': return mine ? targetOf(t) + ' declined the transfer. The chat stays with you.' : '';
      case 'expired': return mine ? 'No one accepted the transfer in time. The chat stays with you.' : '';
      case 'cancelled': return mine ? 'The transfer was cancelled.' : '';
      case 'accepted':
      case 'reassigned': {
        const to = e.c.agent || t.to_agent;
        if (to && to.id === me) return (t.state === 'reassigned' ? nameOf(t.from_agent) + ' gave this chat to you.' : nameOf(t.from_agent) + ' transferred this chat to you.') + note;
        return (t.state === 'reassigned' ? 'A manager gave this chat to ' : 'This chat was transferred to ') + (nameOf(to) || targetOf(t)) + '.';
      }
      default: return '';
    }
  }

  // Agents of the group from the board, as options: those who cannot take a chat now are shown, disabled.
  function agentOptions(keep) {
    const me = S.me && S.me.id;
    const agents = (S.board ? S.board.agents : []).filter((a) => a.agent_id !== me)
      .sort((a, b) => String(a.name || '').localeCompare(String(b.name || '')));
    return agents.map((a) => {
      const eff = a.effective || 'offline';
      const o = new Option((a.name || 'Unknown agent') + ' — ' + statusLabel(eff), a.agent_id);
      o.disabled = !(eff === 'available' || eff === 'away'); // only they can be given a chat
      if (a.agent_id === keep && !o.disabled) o.selected = true;
      return o;
    });
  }

  // Rebuilds a picker only when what it would show changed (an open popup stays open otherwise).
  function unchanged(sel, what) {
    const sig = JSON.stringify(what);
    if (sel.dataset.sig === sig) return true;
    sel.dataset.sig = sig;
    return false;
  }
  const boardSig = () => S.board && S.board.agents.map((a) => [a.agent_id, a.name, a.effective]);

  function fillTransferTargets() {
    const sel = $('transfer-to'), keep = sel.value;
    if (unchanged(sel, [boardSig(), S.board && S.board.departments.length])) return;
    if (!S.board) { sel.replaceChildren(new Option('Loading agents and departments…', '')); sel.disabled = true; return; }
    sel.disabled = false;
    const agents = h('optgroup'); agents.label = 'Agents';
    agents.append(...agentOptions(keep.startsWith('agent:') ? keep.slice(6) : ''));
    [...agents.children].forEach((o) => { o.value = 'agent:' + o.value; });
    const depts = h('optgroup'); depts.label = 'Departments';
    S.board.departments.forEach((d) => depts.append(new Option([d.label, rooftopName(d.rooftop_id)].filter(Boolean).join(' · '), 'department:' + d.id)));
    sel.replaceChildren(new Option('Choose…', ''), agents, depts);
    sel.value = [...sel.options].some((o) => o.value === keep && !o.disabled) ? keep : '';
  }

  function showTransferForm(open) {
    const form = $('transfer-form');
    if (form.hidden === !open) return;
    const hadFocus = form.contains(document.activeElement);
    form.hidden = !open;
    $('transfer').setAttribute('aria-expanded', String(open));
    if (open) {
      $('transfer-note').value = '';
      $('transfer-to').value = '';
      if (!S.board) requestBoard();
      fillTransferTargets();
      $('transfer-to').focus();
    } else if (hadFocus && !$('transfer').hidden) $('transfer').focus();
  }

  $('transfer').addEventListener('click', () => showTransferForm($('transfer-form').hidden));
  $('transfer-cancel').addEventListener('click', () => showTransferForm(false));
  $('transfer-form').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') showTransferForm(false); });
  $('transfer-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const e = current(), v = $('transfer-to').value;
    if (!e || !canWrite(e.c) || !S.ready) return;
    if (!v) return banner('Choose an agent or a department to transfer to.');
    const cut = v.indexOf(':');
    const f = { type: 'transfer', conversation_id: e.c.id, ref: 'transfer:' + e.c.id };
    f[v.slice(0, cut) === 'agent' ? 'to_agent' : 'to_department'] = v.slice(cut + 1);
    const note = $('transfer-note').value.trim();
    if (note) f.note = note;
    e.transferSending = true;
    send(f);
    showTransferForm(false);
    renderThreadHead();
  });

  function onTransferOffer(f) {
    const t = f.transfer;
    if (!t || !t.id) return;
    if (f.conversation) upsert(f.conversation);
    S.transfers.set(t.id, { t, answering: false });
    renderLists();
  }

  // A transfer's news: the answer to my transfer or transfer_reply, or where one I am part of stands.
  function onTransfer(f) {
    const t = f.transfer;
    if (!t || !t.id) return;
    const me = S.me && S.me.id;
    const e = S.convs.get(t.conversation_id);
    const ref = f.ref || '';
    if (e && ref === 'transfer:' + t.conversation_id) e.transferSending = false;
    // An offer to me is over once it is decided, or once I answered it (declining a department's
    // transfer leaves it `requested` for its other members).
    if (t.state !== 'requested' || ref === 'treply:' + t.id) S.transfers.delete(t.id);
    else if (S.transfers.has(t.id)) S.transfers.get(t.id).t = t;
    const mine = !!t.from_agent && t.from_agent.id === me;
    if (e && (mine || (e.transfer && e.transfer.id === t.id) || t.state === 'accepted' || t.state === 'reassigned')) {
      const was = e.transfer && e.transfer.id === t.id ? e.transfer.state : null;
      e.transfer = t;
      // The sender hears the chat came back; a notice in the chat, and a banner when it is not the one shown.
      if (mine && was !== t.state && S.selected !== e.c.id) {
        if (t.state === 'declined') banner(targetOf(t) + ' declined the transfer of your chat with ' + shopperName(e.c) + '. It stays with you.');
        if (t.state === 'expired') banner('No one accepted the transfer of your chat with ' + shopperName(e.c) + ' in time. It stays with you.');
      }
    }
    if (ref === 'treply:' + t.id && t.state === 'accepted') {
      if (e) { e.c = Object.assign({}, e.c, { state: 'active', agent: S.me ? { id: S.me.id, name: S.me.name } : e.c.agent }); select(e.c.id); }
      else fetchConversation(t.conversation_id).then((x) => { if (x) select(x.c.id); });
    }
    renderLists();
    if (e && S.selected === e.c.id) renderThreadHead();
  }

  // A conversation the socket has not told us about (a transfer's, after a reload), through REST.
  async function fetchConversation(id) {
    try {
      const r = await api('GET', '/api/v1/conversations/' + encodeURIComponent(id));
      if (r.ok && r.data && r.data.conversation) { const e = upsert(r.data.conversation); renderLists(); return e; }
      if (r.status === 401) showLogin('Your session has ended. Please log in again.');
    } catch (_) { /* shown without the shopper's name */ }
    return null;
  }

  function answerTransfer(id, accept) {
    const x = S.transfers.get(id);
    if (!x || x.answering || !S.ready) return;
    x.answering = true;
    send({ type: 'transfer_reply', transfer_id: id, accept, ref: 'treply:' + id });
    renderLists();
  }

  function renderTransfers() {
    const list = [...S.transfers.values()];
    $('sec-transfers').hidden = !list.length;
    $('count-transfers').textContent = list.length ? '(' + list.length + ')' : '';
    $('list-transfers').replaceChildren(...list.map(transferItem));
  }

  function transferItem(x) {
    const t = x.t, e = S.convs.get(t.conversation_id);
    const li = h('li', 'offer transfer-offer');
    const info = h('div', 'info');
    const who = e ? shopperName(e.c) : 'A chat';
    info.append(h('span', 'name', who));
    const from = 'From ' + (nameOf(t.from_agent) || 'a colleague') + (t.to_department ? ' to ' + nameOf(t.to_department) : '');
    info.append(h('span', 'meta', [from, e && subline(e.c)].filter(Boolean).join(' · ')));
    if (t.note) info.append(h('span', 'note', '“' + t.note + '”'));
    const yes = h('button', '', x.answering ? 'Answering…' : 'Accept'), no = h('button', 'secondary', 'Decline');
    [[yes, true], [no, false]].forEach(([b, accept]) => {
      b.type = 'button';
      b.disabled = x.answering || !S.ready;
      b.dataset.key = (accept ? 'taccept:' : 'tdecline:') + t.id;
      b.setAttribute('aria-label', (accept ? 'Accept' : 'Decline') + ' the transfer of ' + who);
      b.addEventListener('click', () => answerTransfer(t.id, accept));
    });
    const buttons = h('div', 'buttons');
    buttons.append(yes, no);
    li.append(info, buttons);
    return li;
  }

  // ---- managers: the group's waiting and active chats, each with a Reassign control ----
  function startGroup() {
    clearInterval(S.groupTimer); S.groupTimer = 0;
    if (!canManage()) { S.group.clear(); renderGroup(); return; }
    loadGroup();
    S.groupTimer = setInterval(() => { if (S.ready && S.tab === 'chats' && !S.reassigning) loadGroup(); }, 15000);
  }

  async function loadGroup() {
    try {
      const [a, b] = await Promise.all(['incoming', 'active'].map((st) => api('GET', '/api/v1/conversations?limit=200&state=' + st)));
      if (a.status === 401 || b.status === 401) return showLogin('Your session has ended. Please log in again.');
      if (!a.ok || !b.ok || !Array.isArray(a.data) || !Array.isArray(b.data)) return;
      S.group = new Map(a.data.concat(b.data).map((c) => [c.id, c]));
      if (S.reassigning && !S.group.has(S.reassigning)) S.reassigning = null;
      renderLists();
    } catch (_) { /* try again on the next round */ }
  }

  function renderGroup() {
    const on = canManage();
    $('sec-group').hidden = !on;
    if (!on) return;
    const list = [...S.group.values()].sort((a, b) => ts(a.created_at) - ts(b.created_at));
    // Rebuilt only when it changed, so an open Reassign picker is not closed by unrelated news.
    const what = [list.map((c) => [c.id, c.state, c.agent && c.agent.id, shopperName(c)]), S.reassigning, S.reassignBusy, S.ready];
    if (unchanged($('list-group'), what)) return;
    $('count-group').textContent = list.length ? '(' + list.length + ')' : '';
    const items = list.map(groupItem);
    if (!items.length) items.push(h('li', 'empty-list', 'No chats waiting or active'));
    $('list-group').replaceChildren(...items);
  }

  function groupItem(c) {
    const li = h('li', 'group-item');
    const info = h('div', 'info');
    const where = c.state === 'incoming' ? 'Waiting' : 'With ' + ((c.agent && c.agent.name) || 'an agent');
    info.append(h('span', 'name', shopperName(c)), h('span', 'meta', [subline(c), where].filter(Boolean).join(' · ')));
    li.append(info);
    const open = S.reassigning === c.id;
    const b = h('button', 'secondary', open ? 'Cancel' : 'Reassign');
    b.type = 'button';
    b.dataset.key = 'reassign:' + c.id;
    b.setAttribute('aria-expanded', String(open));
    b.setAttribute('aria-label', (open ? 'Cancel reassigning ' : 'Reassign ') + 'the chat with ' + shopperName(c));
    b.addEventListener('click', () => {
      S.reassigning = open ? null : c.id; S.reassignTo = '';
      if (!open && !S.board) requestBoard();
      renderLists();
      if (!open) { const sel = document.querySelector('[data-key="reassign-to:' + c.id + '"]'); if (sel) sel.focus(); }
    });
    li.append(b);
    if (!open) return li;
    const form = h('form', 'reassign-form');
    const sel = h('select', 'reassign-to');
    sel.dataset.key = 'reassign-to:' + c.id;
    sel.dataset.conversation = c.id;
    sel.setAttribute('aria-label', 'Give the chat with ' + shopperName(c) + ' to');
    fillReassign(sel, c);
    sel.addEventListener('change', () => { S.reassignTo = sel.value; });
    const go = h('button', '', S.reassignBusy ? 'Reassigning…' : 'Give chat');
    go.type = 'submit';
    go.disabled = S.reassignBusy || !S.ready;
    go.dataset.key = 'reassign-go:' + c.id;
    form.append(sel, go);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!sel.value) return banner('Choose the agent who gets the chat.');
      S.reassignBusy = true;
      send({ type: 'reassign', conversation_id: c.id, agent_id: sel.value, ref: 'reassign:' + c.id });
      renderLists();
    });
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { S.reassigning = null; renderLists(); b.focus(); } });
    li.append(form);
    return li;
  }

  function fillReassign(sel, c) {
    const now = c.agent && c.agent.id; // the agent who has it now is not a choice
    if (unchanged(sel, [boardSig(), now])) return;
    sel.replaceChildren(new Option(S.board ? 'Choose an agent…' : 'Loading agents…', ''), ...agentOptions(S.reassignTo).filter((o) => o.value !== now));
    sel.value = S.reassignTo && [...sel.options].some((o) => o.value === S.reassignTo && !o.disabled) ? S.reassignTo : '';
  }

  // New board data: refresh the agent pickers that are open.
  function refreshPickers() {
    if (!$('transfer-form').hidden) fillTransferTargets();
    if (S.inew) fillNewChat();
    if (!$('iinvite').hidden) fillInvite();
    renderInternalHead();
    document.querySelectorAll('#list-group select.reassign-to').forEach((sel) => {
      const c = S.group.get(sel.dataset.conversation);
      if (c) fillReassign(sel, c);
    });
  }

  // ---- replying ----
  $('reply').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const e = current(), ta = $('reply-text');
    const text = ta.value.trim();
    if (!e || !text || !canWrite(e.c)) return;
    if (text.length > 4000) return banner('That message is too long (4000 characters at most).');
    ta.value = ''; e.draft = '';
    stopTyping();
    const id = uid();
    const frame = { type: 'send', conversation_id: e.c.id, client_msg_id: id, text, ref: id };
    e.pending.set(id, { frame, failed: false });
    const li = bubble({ author: { kind: 'agent', id: S.me && S.me.id }, text }, 'sending…');
    S.view.pendingEls.set(id, li);
    $('log').append(li);
    $('log').scrollTop = $('log').scrollHeight;
    send(frame); // if the socket is down, it goes out after the next welcome
  });

  // Enter sends, Shift+Enter makes a new line.
  $('reply-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $('reply').requestSubmit(); }
  });

  // typing: true at most every 2 s while typing; false after 3 s idle, on send, or on switching chats.
  $('reply-text').addEventListener('input', () => {
    const e = current();
    if (!e) return;
    e.draft = $('reply-text').value;
    if (!S.ready || !canWrite(e.c)) return;
    const now = Date.now();
    if (S.typingFor !== e.c.id || now - S.typingSentAt >= 2000) {
      if (S.typingFor && S.typingFor !== e.c.id) stopTyping();
      send({ type: 'typing', conversation_id: e.c.id, typing: true });
      S.typingFor = e.c.id; S.typingSentAt = now;
    }
    clearTimeout(S.idleTimer);
    S.idleTimer = setTimeout(stopTyping, 3000);
  });

  function stopTyping() {
    clearTimeout(S.idleTimer);
    if (S.typingFor) send({ type: 'typing', conversation_id: S.typingFor, typing: false });
    S.typingFor = null; S.typingSentAt = 0;
  }

  // Typing is best-effort: hide it after 8 s even if `typing:false` never comes.
  function onPeerTyping(f) {
    const e = S.convs.get(f.conversation_id);
    if (!e || !f.author || isMine(f.author)) return;
    clearTimeout(e.typingTimer);
    e.typing = f.typing ? f.author.name || (f.author.kind === 'shopper' ? 'Visitor' : 'Someone') : '';
    if (e.typing) e.typingTimer = setTimeout(() => { e.typing = ''; renderTypingLine(); }, 8000);
    renderTypingLine();
  }

  function renderTypingLine() {
    const e = current();
    $('typing').textContent = e && e.typing ? e.typing + ' is typing…' : '';
  }

  // ---- internal chats: agents of the group chatting with each other (Colleagues) ----
  const newInternal = (chat) => ({
    chat,                 // the InternalChat, as last sent by the gateway
    msgs: new Map(),      // seq -> message; a seq is never shown twice
    pending: new Map(),   // client_msg_id -> {frame, failed}: sent, not yet acked
    loaded: false,        // `internal_history` received since the last (re)connect
    top: 0,               // the highest seq we know of (the chat's last_seq or a message's)
    seen: 0,              // the highest seq this agent has seen
    act: 0,               // ordering: higher = more recently active
    draft: '', notice: '',
    gapTimer: 0,          // a seq jump is being waited out (see watchGap)
  });
  const INTERNAL_REFS = ['iopen', 'iinvite', 'ileave', 'ihist', 'iload', 'isend'];
  const chatMembers = (chat) => (Array.isArray(chat.members) ? chat.members.filter((m) => m && m.agent_id) : []);
  const currentMembers = (chat) => chatMembers(chat).filter((m) => !m.left_at);
  const amIn = (chat) => !!S.me && currentMembers(chat).some((m) => m.agent_id === S.me.id);
  const shownChat = () => (S.ichat ? S.internal.get(S.ichat) || null : null);
  const panelShown = () => !!current() || !!shownChat() || S.inew;
  const looking = (e) => S.ichat === e.chat.id && S.tab === 'chats'; // the agent has this chat in front of them
  const reachable = (a) => a.effective === 'available' || a.effective === 'away'; // the server's rule
  const boardAgent = (id) => (S.board ? S.board.agents.find((a) => a.agent_id === id) : null);

  // A chat's name: its topic, else the colleagues in it (for a chat of two, the other one's name).
  function internalTitle(chat) {
    if (chat.topic) return chat.topic;
    const me = S.me && S.me.id;
    const others = chatMembers(chat).filter((m) => m.agent_id !== me);
    const now = others.filter((m) => !m.left_at);
    return (now.length ? now : others).map((m) => m.name || 'A colleague').join(', ') || 'Just you';
  }

  function internalMeta(e) {
    const last = e.msgs.get(e.top);
    if (last && typeof last.text === 'string') {
      const who = isMine(last.author) ? 'You' : String((last.author && last.author.name) || 'A colleague').split(' ')[0];
      const text = last.text.replace(/\s+/g, ' ');
      return who + ': ' + (text.length > 80 ? text.slice(0, 80) + '…' : text);
    }
    const n = currentMembers(e.chat).length;
    return !e.chat.topic && chatMembers(e.chat).length <= 2 ? 'Chat of two' : n + (n === 1 ? ' member' : ' members');
  }

  // What this agent has seen of each chat, kept per agent in this browser.
  const seenKey = () => 'showroom.console.iseen.' + (S.me ? S.me.id : '');
  function loadSeen() {
    try { const o = JSON.parse(localStorage.getItem(seenKey()) || '{}'); return o && typeof o === 'object' ? o : {}; } catch (_) { return {}; }
  }
  function saveSeen() {
    const o = {};
    S.internal.forEach((e, id) => { if (e.seen) o[id] = e.seen; });
    S.iseen = o;
    try { localStorage.setItem(seenKey(), JSON.stringify(o)); } catch (_) { /* storage disabled: not remembered */ }
  }
  function markSeen(e) {
    if (e.seen >= e.top) return;
    e.seen = e.top;
    saveSeen();
  }
  // Messages after what the agent has seen, but not their own (one we do not hold counts).
  function unreadOf(e) {
    if (e.top - e.seen > 999) return e.top - e.seen;
    let n = 0;
    for (let s = e.seen + 1; s <= e.top; s++) { const m = e.msgs.get(s); if (!m || !isMine(m.author)) n++; }
    return n;
  }

  function upsertInternal(chat) {
    let e = S.internal.get(chat.id);
    if (e) e.chat = chat;
    else {
      S.internal.set(chat.id, e = newInternal(chat));
      e.seen = Math.max(0, Number(S.iseen[chat.id]) || 0);
      e.act = ++S.iact;
    }
    e.top = Math.max(e.top, Number(chat.last_seq) || 0);
    return e;
  }

  function removeInternal(id) {
    S.internal.delete(id);
    S.iloading.delete(id);
    if (S.ichat === id) { S.ichat = null; renderInternal(); renderThread(); }
    saveSeen();
  }

  // welcome lists the chats I am in now, most recently active first: replace ours, keep
  // transcripts we hold, catch up on the one shown, resend what was not acked.
  function welcomeInternal(w) {
    S.iseen = loadSeen();
    const list = (Array.isArray(w.internal) ? w.internal : []).filter((c) => c && c.id);
    const listed = new Set(list.map((c) => c.id));
    S.internal.forEach((e, id) => { if (!listed.has(id)) S.internal.delete(id); });
    list.slice().reverse().forEach((c) => { const e = upsertInternal(c); e.act = ++S.iact; e.loaded = false; });
    S.iloading.clear();
    S.iinviteBusy = false; S.ileaving = null;
    if (S.iopenRef) { S.iopenRef = ''; newChatError('The connection was lost. Check the chat list, or start the chat again.'); }
    renderNewChatBusy(); renderInviteBusy();
    if (S.ichat && !S.internal.has(S.ichat)) { S.ichat = null; renderInternal(); renderThread(); }
    const e = shownChat();
    if (e) loadInternal(e);
    S.internal.forEach((x) => x.pending.forEach((p) => { if (!p.failed) send(p.frame); }));
    saveSeen();
  }

  function loadInternal(e) {
    send({ type: 'internal_history', chat_id: e.chat.id, after_seq: contig(e), ref: 'ihist:' + e.chat.id });
  }

  // The answer to internal_open / internal_invite / internal_leave, or news of a chat I am (or was) in.
  function onInternal(f) {
    const chat = f.chat;
    if (!chat || !chat.id) return;
    const ref = f.ref || '';
    if (!amIn(chat)) { // I left it (here or on another device)
      const was = S.internal.has(chat.id), shown = S.ichat === chat.id;
      if (was) removeInternal(chat.id);
      if (ref === 'ileave:' + chat.id) {
        S.ileaving = null;
        if (shown) $('inew-open').focus();
      } else if (was && shown) banner('You left the chat “' + internalTitle(chat) + '” on another device.');
      renderLists();
      return;
    }
    const known = S.internal.has(chat.id);
    const e = upsertInternal(chat);
    if (known && (f.kind === 'created' || f.kind === 'joined')) e.act = ++S.iact;
    if (f.kind === 'joined' || f.kind === 'left') {
      const who = chatMembers(chat).find((m) => m.agent_id === f.agent_id);
      const name = !who ? 'A colleague' : S.me && who.agent_id === S.me.id ? 'You' : who.name || 'A colleague';
      e.notice = name + (f.kind === 'joined' ? ' joined the chat.' : ' left the chat.');
    }
    if (ref && ref === S.iopenRef) { // the chat I just started from the form
      S.iopenRef = ''; S.inew = false;
      renderNewChatBusy();
      selectInternal(chat.id);
      return;
    }
    if (ref === 'iinvite:' + chat.id) {
      S.iinviteBusy = false;
      renderInviteBusy();
      if (S.ichat === chat.id) showInvite(false);
    }
    if (S.ichat === chat.id && !$('iinvite').hidden) fillInvite();
    renderLists();
  }

  function onInternalHistory(f) {
    const chat = f.chat;
    if (!chat || !chat.id) return;
    S.iloading.delete(chat.id);
    if (!amIn(chat)) return;
    const e = upsertInternal(chat);
    (Array.isArray(f.messages) ? f.messages : []).forEach((m) => addInternalMessage(e, m, false));
    e.loaded = true;
    if (looking(e)) markSeen(e);
    renderLists();
  }

  function onInternalMessage(m) {
    if (!m || !m.conversation_id) return;
    const e = S.internal.get(m.conversation_id);
    if (e) return addInternalMessage(e, m, true);
    // A chat we have not heard of yet (its `internal` frame comes on another stream): load it.
    if (S.iloading.has(m.conversation_id) || !S.ready) return;
    S.iloading.add(m.conversation_id);
    send({ type: 'internal_history', chat_id: m.conversation_id, ref: 'iload:' + m.conversation_id });
  }

  function onInternalAck(a) {
    const e = S.internal.get(a.chat_id);
    const p = e && e.pending.get(a.client_msg_id);
    if (!p) return;
    addInternalMessage(e, {
      conversation_id: a.chat_id, seq: a.seq, id: a.id, at: a.at, client_msg_id: a.client_msg_id,
      author: { kind: 'agent', id: S.me && S.me.id, name: S.me && S.me.name }, text: p.frame.text,
    }, false);
  }

  const imeta = (m) => (isMine(m.author) ? 'Sent · ' : '') + time(m.at);

  // Add a message once (dedupe by seq per chat). Our own pending line is reused when it comes back.
  function addInternalMessage(e, m, live) {
    if (!m || typeof m.seq !== 'number' || e.msgs.has(m.seq)) return;
    e.msgs.set(m.seq, m);
    watchGap(e, loadInternal);
    if (m.seq > e.top) e.top = m.seq;
    const mine = isMine(m.author);
    const wasPending = mine && m.client_msg_id != null && e.pending.delete(m.client_msg_id);
    if (S.iview && S.iview.id === e.chat.id) {
      let li = wasPending && S.iview.pendingEls.get(m.client_msg_id);
      if (li) {
        S.iview.pendingEls.delete(m.client_msg_id);
        li.classList.remove('pending', 'failed');
        li.querySelector('.meta').textContent = imeta(m);
        if (m.at) li.title = fmtAt(m.at);
      } else li = bubble(m, imeta(m));
      li.dataset.seq = m.seq;
      place(li, $('ilog'));
    }
    if (looking(e)) markSeen(e);
    else if (mine && e.seen === m.seq - 1) { e.seen = m.seq; saveSeen(); } // I wrote it elsewhere: seen
    if (live || wasPending) { e.act = ++S.iact; renderLists(); }
  }

  function failInternal(e, clientMsgId) {
    const p = e.pending.get(clientMsgId);
    if (!p) return;
    p.failed = true; // kept on screen as "Not sent"; never resent
    const li = S.iview && S.iview.id === e.chat.id && S.iview.pendingEls.get(clientMsgId);
    if (li) { li.classList.remove('pending'); li.classList.add('failed'); li.querySelector('.meta').textContent = 'Not sent'; }
  }

  function onInternalError(kind, id, f) {
    const msg = f.message || f.code || 'something went wrong';
    switch (kind) {
      case 'isend':
        for (const e of S.internal.values()) {
          const p = e.pending.get(id);
          if (!p) continue;
          if (f.code === 'unavailable') { // not stored: retry the very same frame
            setTimeout(() => { if (e.pending.get(id) === p && !p.failed) send(p.frame); }, 2000);
            return;
          }
          failInternal(e, id);
          return banner('Your message was not sent: ' + msg);
        }
        return;
      case 'iopen':
        if (f.ref !== S.iopenRef) return;
        S.iopenRef = '';
        renderNewChatBusy();
        return newChatError(msg);
      case 'iinvite':
        S.iinviteBusy = false;
        renderInviteBusy();
        if (S.ichat === id && !$('iinvite').hidden) return inviteError(msg);
        return banner('The colleague was not invited: ' + msg);
      case 'ileave':
        S.ileaving = null;
        renderInternalHead();
        return banner('Could not leave the chat: ' + msg);
      case 'ihist':
      case 'iload':
        S.iloading.delete(id);
        if (f.code === 'not_found') { // no longer in it
          if (S.internal.has(id)) {
            if (kind === 'ihist' && S.ichat === id) banner('You are no longer in that chat.');
            removeInternal(id);
            renderLists();
          }
          return;
        }
        if (kind === 'ihist') return banner('The chat could not be loaded: ' + msg);
        return;
      default:
        return banner(msg);
    }
  }

  // ---- Colleagues list ----
  function renderInternalList() {
    const list = [...S.internal.values()].sort((a, b) => b.act - a.act);
    let total = 0;
    const items = list.map((e) => { const n = unreadOf(e); total += n; return internalItem(e, n); });
    if (!items.length) items.push(h('li', 'empty-list', 'No chats with colleagues yet'));
    $('list-internal').replaceChildren(...items);
    $('count-internal').textContent = total ? '(' + total + ' unread)' : '';
  }

  function internalItem(e, unread) {
    const li = h('li');
    const on = S.ichat === e.chat.id;
    const b = h('button', 'item' + (on ? ' selected' : ''));
    b.type = 'button';
    b.dataset.key = 'ichat:' + e.chat.id;
    b.dataset.chat = e.chat.id;
    if (on) b.setAttribute('aria-current', 'true');
    if (unread) {
      const badge = h('span', 'badge', unread);
      badge.append(h('span', 'sr-only', unread === 1 ? ' unread message' : ' unread messages'));
      b.append(badge);
    }
    b.append(h('span', 'name', internalTitle(e.chat)), h('span', 'meta preview', internalMeta(e)));
    b.addEventListener('click', () => selectInternal(e.chat.id));
    li.append(b);
    return li;
  }

  function selectInternal(id) {
    const e = S.internal.get(id);
    if (!e) return;
    if (S.ichat !== id || S.inew) {
      stopTyping();
      S.selected = null; S.inew = false; S.iopenRef = ''; S.ichat = id;
      renderThread(); renderInternal();
    }
    markSeen(e);
    if (!e.loaded) loadInternal(e);
    if (!S.board) requestBoard(); // colleagues' statuses, for the members line and Invite
    renderLists();
    $('itext').focus();
  }

  // ---- the internal chat in the middle panel ----
  // Full render of the chat shown, or the New chat form (on selection only; live updates are incremental).
  function renderInternal() {
    const e = shownChat();
    $('inew').hidden = !S.inew;
    $('inew-open').setAttribute('aria-expanded', String(S.inew));
    $('ithread').hidden = !e;
    $('empty').hidden = panelShown();
    if (!e) { S.iview = null; return; }
    S.iview = { id: e.chat.id, pendingEls: new Map() };
    showInvite(false);
    const log = $('ilog');
    log.setAttribute('aria-busy', 'true'); // do not read the whole transcript out as "new"
    log.replaceChildren();
    [...e.msgs.values()].sort((a, b) => a.seq - b.seq).forEach((m) => {
      const li = bubble(m, imeta(m));
      li.dataset.seq = m.seq;
      log.append(li);
    });
    e.pending.forEach((p, id) => {
      const li = bubble({ author: S.me ? { kind: 'agent', id: S.me.id } : null, text: p.frame.text }, p.failed ? 'Not sent' : 'sending…');
      li.classList.add(p.failed ? 'failed' : 'pending');
      S.iview.pendingEls.set(id, li);
      log.append(li);
    });
    log.scrollTop = log.scrollHeight;
    setTimeout(() => log.removeAttribute('aria-busy'), 0);
    $('itext').value = e.draft;
    renderInternalHead();
  }

  function renderInternalHead() {
    const e = shownChat();
    if (!e) return;
    const chat = e.chat, me = S.me && S.me.id, title = internalTitle(chat);
    $('i-title').textContent = title;
    $('i-members').textContent = 'Members: ' + currentMembers(chat).map((m) => {
      if (m.agent_id === me) return 'You';
      const a = boardAgent(m.agent_id);
      return (m.name || 'A colleague') + (a ? ' (' + statusLabel(a.effective || 'offline') + ')' : '');
    }).join(', ');
    $('i-notice').textContent = e.notice;
    $('i-notice').hidden = !e.notice;
    $('i-invite').disabled = !S.ready;
    $('i-leave').disabled = !S.ready || S.ileaving === chat.id;
    $('i-leave').textContent = S.ileaving === chat.id ? 'Leaving…' : 'Leave';
    $('i-leave').setAttribute('aria-label', 'Leave the chat ' + title);
    $('itext-label').textContent = 'Message to ' + title;
  }

  $('i-leave').addEventListener('click', () => {
    const e = shownChat();
    if (!e || !S.ready || S.ileaving) return;
    S.ileaving = e.chat.id;
    send({ type: 'internal_leave', chat_id: e.chat.id, ref: 'ileave:' + e.chat.id });
    renderInternalHead();
  });

  // ---- New chat: pick colleagues (from the board) and an optional topic ----
  function colleagues() {
    const me = S.me && S.me.id;
    return (S.board ? S.board.agents : []).filter((a) => a.agent_id !== me)
      .sort((a, b) => String(a.name || '').localeCompare(String(b.name || '')));
  }

  function newChatError(text) { $('inew-error').textContent = text || ''; $('inew-error').hidden = !text; }
  function renderNewChatBusy() {
    $('inew-start').disabled = !!S.iopenRef;
    $('inew-start').textContent = S.iopenRef ? 'Starting…' : 'Start chat';
  }

  function showNewChat(open) {
    if (open) {
      stopTyping();
      S.selected = null; S.ichat = null; S.inew = true; S.iopenRef = '';
      $('inew-topic').value = '';
      $('inew-list').dataset.sig = ''; // rebuilt with nothing ticked
      newChatError(''); renderNewChatBusy();
      if (!S.board) requestBoard();
      renderThread(); renderInternal(); fillNewChat(); renderLists();
      const first = $('inew-list').querySelector('input:not(:disabled)');
      (first || $('inew-topic')).focus();
    } else {
      S.inew = false; S.iopenRef = '';
      renderInternal(); renderThread(); renderLists();
      $('inew-open').focus();
    }
  }

  // Every colleague with their status; those the server would refuse (Do Not Disturb, Offline) are
  // shown, not choosable, with a note. What is ticked stays ticked across live updates.
  function fillNewChat() {
    const list = $('inew-list');
    if (unchanged(list, [boardSig(), S.me && S.me.id])) return;
    $('inew-loading').hidden = !!S.board;
    const ticked = new Set([...list.querySelectorAll('input:checked')].map((x) => x.value));
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    const rows = colleagues().map((a) => {
      const eff = a.effective || 'offline', ok = reachable(a);
      const li = h('li', 'pick-item' + (ok ? '' : ' unreachable'));
      const label = h('label');
      const cb = h('input');
      cb.type = 'checkbox'; cb.name = 'colleague'; cb.value = a.agent_id;
      cb.dataset.key = 'ipick:' + a.agent_id;
      cb.disabled = !ok;
      cb.checked = ok && ticked.has(a.agent_id);
      cb.addEventListener('change', () => newChatError(''));
      const dot = h('span', 'dot ' + statusClass(eff));
      dot.setAttribute('aria-hidden', 'true');
      label.append(cb, dot, h('span', 'pick-name', a.name || 'Unknown agent'), h('span', 'row-status-label ' + statusClass(eff), statusLabel(eff)));
      li.append(label);
      if (!ok) {
        const note = h('span', 'pick-note', 'Cannot be brought into a chat while ' + statusLabel(eff) + '.');
        note.id = 'ipick-note-' + a.agent_id;
        cb.setAttribute('aria-describedby', note.id);
        li.append(note);
      }
      return li;
    });
    if (S.board && !rows.length) rows.push(h('li', 'pick-empty', 'No colleagues in your dealer group yet.'));
    list.replaceChildren(...rows);
    if (focused) { const again = list.querySelector('[data-key="' + focused + '"]'); if (again) again.focus(); }
  }

  $('inew-open').addEventListener('click', () => showNewChat(!S.inew));
  $('inew-cancel').addEventListener('click', () => showNewChat(false));
  $('inew').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') showNewChat(false); });
  $('inew').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (S.iopenRef) return;
    // The server decides who can be reached; a colleague who went Do Not Disturb meanwhile is refused there.
    const chosen = [...$('inew-list').querySelectorAll('input[type=checkbox]:checked')].map((x) => x.value);
    const topic = $('inew-topic').value.trim();
    if (!chosen.length) return newChatError('Choose at least one colleague to chat with.');
    if ([...topic].length > 120) return newChatError('The topic can be 120 characters at most.');
    if (!S.ready) return newChatError('Not connected right now. Try again in a moment.');
    newChatError('');
    S.iopenRef = 'iopen:' + (++S.iseq);
    const f = { type: 'internal_open', with: chosen, ref: S.iopenRef };
    if (topic) f.topic = topic;
    send(f);
    renderNewChatBusy();
  });

  // ---- Invite a colleague into the chat shown ----
  function inviteError(text) { $('iinvite-error').textContent = text || ''; $('iinvite-error').hidden = !text; }
  function renderInviteBusy() {
    $('iinvite-send').disabled = S.iinviteBusy;
    $('iinvite-send').textContent = S.iinviteBusy ? 'Inviting…' : 'Send invite';
  }

  function showInvite(open) {
    const form = $('iinvite');
    if (form.hidden === !open) return;
    const hadFocus = form.contains(document.activeElement);
    form.hidden = !open;
    $('i-invite').setAttribute('aria-expanded', String(open));
    inviteError('');
    if (open) {
      if (!S.board) requestBoard();
      $('iinvite-to').dataset.sig = '';
      $('iinvite-to').value = '';
      fillInvite(); renderInviteBusy();
      $('iinvite-to').focus();
    } else if (hadFocus) $('i-invite').focus();
  }

  // Colleagues not in the chat; those who cannot be reached now are listed, disabled.
  function fillInvite() {
    const e = shownChat(), sel = $('iinvite-to'), keep = sel.value;
    if (!e) return;
    const inIt = currentMembers(e.chat).map((m) => m.agent_id);
    if (unchanged(sel, [boardSig(), inIt])) return;
    if (!S.board) { sel.replaceChildren(new Option('Loading colleagues…', '')); sel.disabled = true; return; }
    sel.disabled = false;
    const opts = colleagues().filter((a) => !inIt.includes(a.agent_id)).map((a) => {
      const ok = reachable(a);
      const o = new Option((a.name || 'Unknown agent') + ' — ' + statusLabel(a.effective || 'offline') + (ok ? '' : ' (cannot be reached now)'), a.agent_id);
      o.disabled = !ok;
      return o;
    });
    sel.replaceChildren(new Option(opts.length ? 'Choose a colleague…' : 'Everyone is in this chat already', ''), ...opts);
    sel.value = opts.some((o) => o.value === keep && !o.disabled) ? keep : '';
  }

  $('i-invite').addEventListener('click', () => showInvite($('iinvite').hidden));
  $('iinvite-cancel').addEventListener('click', () => showInvite(false));
  $('iinvite').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') showInvite(false); });
  $('iinvite-to').addEventListener('change', () => inviteError(''));
  $('iinvite').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const e = shownChat(), who = $('iinvite-to').value;
    if (!e || S.iinviteBusy) return;
    if (!who) return inviteError('Choose a colleague to invite.');
    if (!S.ready) return inviteError('Not connected right now. Try again in a moment.');
    inviteError('');
    S.iinviteBusy = true;
    send({ type: 'internal_invite', chat_id: e.chat.id, agent_id: who, ref: 'iinvite:' + e.chat.id });
    renderInviteBusy();
  });

  // ---- writing to colleagues ----
  $('ireply').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const e = shownChat(), ta = $('itext');
    const text = ta.value.trim();
    if (!e || !text) return;
    if ([...text].length > 4000) return banner('That message is too long (4000 characters at most).');
    ta.value = ''; e.draft = '';
    const id = uid();
    const frame = { type: 'internal_send', chat_id: e.chat.id, client_msg_id: id, text, ref: 'isend:' + id };
    e.pending.set(id, { frame, failed: false });
    const li = bubble({ author: { kind: 'agent', id: S.me && S.me.id }, text }, 'sending…');
    li.classList.add('pending');
    S.iview.pendingEls.set(id, li);
    $('ilog').append(li);
    $('ilog').scrollTop = $('ilog').scrollHeight;
    send(frame); // if the socket is down, it goes out after the next welcome
  });

  // Enter sends, Shift+Enter makes a new line.
  $('itext').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $('ireply').requestSubmit(); }
  });
  $('itext').addEventListener('input', () => { const e = shownChat(); if (e) e.draft = $('itext').value; });

  // ---- the agent's photo and the Profile dialog (admin.js) ----
  // /api/v1/me and the login answer carry `photo_url`; the socket's welcome does not, so the
  // photo is kept apart from S.me's socket fields.
  async function showPhoto(agent) {
    if (agent && 'photo_url' in agent) setPhoto(agent.photo_url);
    else {
      try { const r = await api('GET', '/api/v1/me'); if (r.ok && S.live) setPhoto(agentOf(r.data).photo_url); } catch (_) { /* no photo then */ }
    }
  }
  function setPhoto(url) {
    S.photo = url || null;
    if (S.me) S.me.photo_url = S.photo;
    const img = $('agent-photo');
    if (S.photo) { img.src = S.photo; img.hidden = false; } else { img.hidden = true; img.removeAttribute('src'); }
  }
  $('profile-open').addEventListener('click', () => {
    if (!window.ShowroomAdmin || !S.me) return;
    window.ShowroomAdmin.openProfile({
      api, me: Object.assign({}, S.me, { photo_url: S.photo }),
      onChange(p) {
        if ('photo_url' in p) setPhoto(p.photo_url);
        if (S.me && 'time_zone' in p) S.me.time_zone = p.time_zone || null;
        if (S.me && p.locale) S.me.locale = p.locale;
        if (p.first_name != null || p.last_name != null) {
          const name = [p.first_name, p.last_name].filter(Boolean).join(' ');
          if (name) { $('agent-name').textContent = name; if (S.me) S.me.name = name; }
        }
      },
    });
  });

  // ---- view tabs: Chats | Live Agent Status | Leads | Admin (managers and admins) ----
  const TAB_KEY = 'showroom.console.tab';
  const TABS = ['chats', 'board', 'leads', 'admin'];
  function savedTab() { try { return sessionStorage.getItem(TAB_KEY) || 'chats'; } catch (_) { return 'chats'; } }

  function showTab(tab, focus) {
    if (!TABS.includes(tab) || $('tab-' + tab).hidden) tab = 'chats';
    const was = S.tab;
    S.tab = tab;
    try { sessionStorage.setItem(TAB_KEY, tab); } catch (_) { /* storage disabled: just not remembered */ }
    TABS.forEach((name) => {
      const on = name === tab, t = $('tab-' + name);
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $('view-' + name).hidden = !on;
    });
    if (focus) $('tab-' + tab).focus();
    if (tab === 'leads') { if (was !== 'leads') loadLeadsTab(); }
    if (tab === 'admin' && was !== 'admin' && window.ShowroomAdmin) window.ShowroomAdmin.show(api, S.me);
    if (tab === 'board') {
      renderBoard();
      if (was !== 'board') requestBoard(); // also (re)subscribes this socket to agent_presence
    } else {
      clearTimeout(S.boardTimer); S.boardTimer = 0;
      const e = tab === 'chats' && S.ichat && S.internal.get(S.ichat);
      if (e && unreadOf(e)) { markSeen(e); renderLists(); } // what is on screen now counts as seen
    }
  }

  TABS.forEach((name) => $('tab-' + name).addEventListener('click', () => showTab(name, false)));
  // Arrow keys move between tabs (and show them), Home/End go to the first/last one.
  $('tab-chats').parentElement.addEventListener('keydown', (ev) => {
    const shown = TABS.filter((name) => !$('tab-' + name).hidden);
    let i = shown.indexOf(S.tab);
    if (ev.key === 'ArrowRight') i = (i + 1) % shown.length;
    else if (ev.key === 'ArrowLeft') i = (i + shown.length - 1) % shown.length;
    else if (ev.key === 'Home') i = 0;
    else if (ev.key === 'End') i = shown.length - 1;
    else return;
    ev.preventDefault();
    showTab(shown[i], true);
  });

  // ---- Live Agent Status board ----
  const STATUS_LABELS = { available: 'Available', away: 'Away', dnd: 'Do Not Disturb', offline: 'Offline' };
  const STATUSES = Object.keys(STATUS_LABELS);
  const statusLabel = (st) => STATUS_LABELS[st] || String(st || 'Unknown');
  const statusClass = (st) => 'st-' + (STATUS_LABELS[st] ? st : 'unknown');
  const canManage = () => !!S.me && (S.me.role === 'manager' || S.me.role === 'admin');
  const serverNow = () => Date.now() - S.skew;
  const B = { sections: new Map(), rows: new Map() }; // DOM kept across renders, so focus and open selects survive

  function resetBoard() {
    clearTimeout(S.boardTimer); S.boardTimer = 0;
    S.board = null; S.boardPending = 0; S.boardBuffer = []; S.boardUpdated = 0;
    S.unknownAsked.clear(); S.saving.clear();
    B.sections.clear(); B.rows.clear();
    $('board-sections').replaceChildren();
    boardError('');
  }

  // Ask for the whole board: when the view is shown, after every welcome while it is shown, and at
  // least every 30 s while it is shown (the socket may have missed something; this is the floor).
  function requestBoard() {
    clearTimeout(S.boardTimer); S.boardTimer = 0;
    if (S.tab === 'board') S.boardTimer = setTimeout(requestBoard, 30000);
    if (!S.ready) return; // the next welcome asks
    if (!S.boardPending) S.boardBuffer = [];
    S.boardPending++;
    send({ type: 'board', ref: 'board:' });
  }

  function onBoard(f) {
    const b = f.board;
    if (!b || typeof b !== 'object' || !Array.isArray(b.agents)) return;
    S.boardPending = Math.max(0, S.boardPending - 1);
    const gen = Date.parse(b.generated_at);
    if (!isNaN(gen)) { S.skew = Date.now() - gen; S.boardUpdated = gen; } else S.boardUpdated = serverNow();
    S.board = {
      rooftops: Array.isArray(b.rooftops) ? b.rooftops : [],
      departments: Array.isArray(b.departments) ? b.departments : [],
      agents: b.agents.filter((a) => a && a.agent_id).map((a) => Object.assign({}, a)),
    };
    // agent_presence frames that came while we waited may be newer than the snapshot. Each is a
    // whole agent, in order, so replaying them gives the latest state either way.
    const unknown = S.boardBuffer.filter((p) => !mergePresence(p)).map((p) => p.agent_id);
    if (!S.boardPending) S.boardBuffer = [];
    boardError('');
    fillFilters();
    renderBoard();
    refreshPickers();
    unknown.forEach(askAgainFor);
  }

  // Merge one agent's presence; the name stays the board's. False when the agent is not on the board.
  function mergePresence(p) {
    if (!S.board || !p || !p.agent_id) return false;
    const i = S.board.agents.findIndex((a) => a.agent_id === p.agent_id);
    if (i < 0) return false;
    const old = S.board.agents[i];
    S.board.agents[i] = Object.assign({}, old, p, { name: old.name });
    return true;
  }

  function onAgentPresence(f) {
    const p = f.agent;
    if (!p || typeof p !== 'object' || !p.agent_id) return;
    if (S.boardPending) S.boardBuffer.push(p);
    if (!S.board) return;
    if (mergePresence(p)) {
      S.boardUpdated = serverNow();
      renderBoard();
      refreshPickers();
    } else askAgainFor(p.agent_id);
  }

  // A colleague we do not know (new, or moved into the group): get the board again, at most once
  // per 30 s per agent so an agent the board never lists cannot make us loop.
  function askAgainFor(id) {
    if (S.tab !== 'board' || S.boardPending) return; // shown later = asked then; pending = its reply will tell
    const last = S.unknownAsked.get(id) || 0;
    if (Date.now() - last < 30000) return;
    S.unknownAsked.set(id, Date.now());
    requestBoard();
  }

  function boardError(text) { $('board-error').textContent = text || ''; $('board-error').hidden = !text; }

  // "just now", "3 min ago", … against the server's clock; "—" when never seen.
  function ago(at) {
    const t = at ? Date.parse(at) : NaN;
    if (isNaN(t)) return '—';
    const sec = Math.max(0, (serverNow() - t) / 1000);
    if (sec < 60) return 'just now';
    const min = Math.floor(sec / 60);
    if (min < 60) return min + ' min ago';
    const hr = Math.floor(min / 60);
    if (hr < 24) return hr + ' h ago';
    const days = Math.floor(hr / 24);
    return days === 1 ? 'yesterday' : days + ' days ago';
  }

  // ---- filters (client-side, on the board we hold) ----
  function fillSelect(sel, allText, opts) {
    const sig = JSON.stringify(opts);
    if (sel.dataset.sig === sig) return; // unchanged: leave it alone (focus, open popup)
    sel.dataset.sig = sig;
    const keep = sel.value;
    sel.replaceChildren(new Option(allText, ''), ...opts.map(([v, t]) => new Option(t, v)));
    sel.value = opts.some(([v]) => v === keep) ? keep : '';
  }

  function rooftopName(id) {
    const r = S.board && S.board.rooftops.find((x) => x.id === id);
    return r ? r.name : '';
  }

  function fillFilters() {
    if (!S.board) return;
    fillSelect($('board-rooftop'), 'All rooftops', S.board.rooftops.map((r) => [r.id, r.name]));
    fillDepartments();
  }

  // Department labels repeat across rooftops ("Sales"), so they carry the rooftop unless one is chosen.
  function fillDepartments() {
    if (!S.board) return;
    const fr = $('board-rooftop').value;
    fillSelect($('board-department'), 'All departments', S.board.departments
      .filter((d) => !fr || d.rooftop_id === fr)
      .map((d) => [d.id, fr ? d.label : [d.label, rooftopName(d.rooftop_id)].filter(Boolean).join(' · ')]));
  }

  $('board-status').addEventListener('change', () => renderBoard());
  $('board-rooftop').addEventListener('change', () => { fillDepartments(); renderBoard(); });
  $('board-department').addEventListener('change', () => renderBoard());

  // What to show: sections in the order their departments come, each with the agents covering one of
  // its departments (among those the rooftop/department filters leave), filtered by effective status.
  function boardModel() {
    const b = S.board;
    const fs = $('board-status').value, fr = $('board-rooftop').value, fd = $('board-department').value;
    const order = [], members = new Map(); // section key -> Set of department ids
    b.departments.filter((d) => (!fr || d.rooftop_id === fr) && (!fd || d.id === fd)).forEach((d) => {
      const name = d.section || d.label || 'Other';
      const key = 's:' + name;
      if (!members.has(key)) { members.set(key, new Set()); order.push({ key, name }); }
      members.get(key).add(d.id);
    });
    const depts = (a) => (Array.isArray(a.departments) ? a.departments : []);
    const inScope = b.agents.filter((a) => (!fr || (a.rooftops || []).includes(fr)) && (!fd || depts(a).includes(fd)));
    const counts = {};
    inScope.forEach((a) => { counts[a.effective] = (counts[a.effective] || 0) + 1; });
    const shown = inScope.filter((a) => !fs || a.effective === fs);
    const sections = order.map((s) => ({ key: s.key, name: s.name, agents: shown.filter((a) => depts(a).some((id) => members.get(s.key).has(id))) }));
    if (!fr && !fd) { // agents who cover no department still belong on the board
      const known = new Set(b.departments.map((d) => d.id));
      const rest = shown.filter((a) => !depts(a).some((id) => known.has(id)));
      if (rest.length) sections.push({ key: 'none', name: 'No department', agents: rest });
    }
    return { counts, total: inScope.length, sections: sections.filter((s) => s.agents.length) };
  }

  function renderBoardMeta() {
    const u = $('board-updated');
    if (!S.board) { u.textContent = S.ready ? 'Loading…' : 'Connecting…'; return; }
    const at = fmtAt(S.boardUpdated, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
    u.textContent = 'Updated ' + at + (S.ready ? '' : ' · not live, reconnecting…');
    u.classList.toggle('stale', !S.ready);
  }

  function renderBoard() {
    if (S.tab !== 'board') return;
    renderBoardMeta();
    $('view-board').classList.toggle('can-set', canManage());
    if (!S.board) { $('board-counts').replaceChildren(); $('board-empty').hidden = true; return; }
    const m = boardModel();
    const extra = Object.keys(m.counts).filter((st) => !STATUS_LABELS[st]);
    $('board-counts').replaceChildren(...STATUSES.concat(extra).map((st) => {
      const c = h('span', 'count-item');
      const dot = h('span', 'dot ' + statusClass(st));
      dot.setAttribute('aria-hidden', 'true');
      c.append(dot, h('span', '', (m.counts[st] || 0) + ' ' + statusLabel(st)));
      return c;
    }));
    const usedSections = new Set(), usedRows = new Set();
    const sectionEls = m.sections.map((s) => {
      usedSections.add(s.key);
      const se = sectionEl(s.key, s.name);
      se.count.textContent = '(' + s.agents.length + ')';
      patchChildren(se.list, s.agents.map((a) => {
        const key = s.key + '|' + a.agent_id;
        usedRows.add(key);
        return rowEl(key, a).li;
      }));
      return se.el;
    });
    patchChildren($('board-sections'), sectionEls);
    [...B.sections.keys()].forEach((k) => { if (!usedSections.has(k)) B.sections.delete(k); });
    [...B.rows.keys()].forEach((k) => { if (!usedRows.has(k)) B.rows.delete(k); });
    $('board-empty').hidden = m.sections.length > 0;
  }

  // Replace a list's children only when they changed, and keep keyboard focus where it was.
  function patchChildren(parent, kids) {
    const cur = parent.children;
    if (cur.length === kids.length && kids.every((k, i) => cur[i] === k)) return;
    const focused = parent.contains(document.activeElement) ? document.activeElement : null;
    parent.replaceChildren(...kids);
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus();
  }

  let sectionSeq = 0;
  function sectionEl(key, name) {
    let s = B.sections.get(key);
    if (!s) {
      const el = h('section', 'board-section');
      const head = h('h2');
      head.id = 'board-sec-' + (++sectionSeq);
      el.setAttribute('aria-labelledby', head.id);
      const title = h('span', 'section-name'), count = h('span', 'count');
      head.append(title, ' ', count);
      const list = h('ul', 'board-list');
      el.append(head, list);
      B.sections.set(key, s = { el, title, count, list });
    }
    s.title.textContent = name;
    return s;
  }

  function rowEl(key, a) {
    let r = B.rows.get(key);
    if (!r) {
      const li = h('li', 'board-row');
      const name = h('span', 'row-name'), dot = h('span', 'dot'), nameText = h('span', 'row-name-text'), you = h('span', 'row-you');
      dot.setAttribute('aria-hidden', 'true');
      name.append(dot, nameText, you);
      const status = h('span', 'row-status'), label = h('span', 'row-status-label'), note = h('span', 'row-note');
      status.append(label, note);
      const chats = h('span', 'row-chats'), roofs = h('span', 'row-rooftops'), seen = h('span', 'row-seen');
      li.append(name, status, chats, roofs, seen);
      B.rows.set(key, r = { li, dot, nameText, you, label, note, chats, roofs, seen, set: null, id: a.agent_id });
    }
    const eff = a.effective || 'offline';
    const mine = !!S.me && a.agent_id === S.me.id;
    r.li.dataset.agentId = a.agent_id;
    r.li.dataset.status = eff;
    r.dot.className = 'dot ' + statusClass(eff);
    r.nameText.textContent = a.name || 'Unknown agent';
    r.you.textContent = mine ? '(you)' : '';
    r.label.textContent = statusLabel(eff);
    r.label.className = 'row-status-label ' + statusClass(eff);
    const note = a.status && a.status !== eff
      ? 'chose ' + statusLabel(a.status) + (eff === 'offline' ? ', not connected' : '')
      : '';
    r.note.textContent = note;
    r.note.hidden = !note;
    const n = Math.max(0, Number(a.active_chats) || 0);
    r.chats.textContent = n + (n === 1 ? ' active chat' : ' active chats');
    const roofs = (Array.isArray(a.rooftops) ? a.rooftops : []).map(rooftopName).filter(Boolean);
    r.roofs.textContent = roofs.length ? roofs.join(', ') : 'No rooftop';
    r.seen.textContent = 'Last seen ' + ago(a.last_seen);
    r.seen.title = a.last_seen && !isNaN(Date.parse(a.last_seen)) ? fmtAt(a.last_seen) : '';

    // Managers and admins set colleagues' statuses here; their own is the header select.
    const want = canManage() && !mine;
    if (want && !r.set) {
      r.set = h('select', 'row-set');
      STATUSES.forEach((st) => r.set.append(new Option(STATUS_LABELS[st], st)));
      r.set.addEventListener('change', () => putStatus(r.id, r.set.value));
      r.li.append(r.set);
    } else if (!want && r.set) {
      r.set.remove(); r.set = null;
    }
    if (r.set) {
      r.set.setAttribute('aria-label', 'Set status of ' + (a.name || 'agent'));
      if (a.status && ![...r.set.options].some((o) => o.value === a.status)) r.set.append(new Option(statusLabel(a.status), a.status));
      if (!S.saving.get(a.agent_id)) r.set.value = a.status || 'offline'; // not while our own change is on its way
    }
    return r;
  }

  async function putStatus(id, status) {
    const a = S.board && S.board.agents.find((x) => x.agent_id === id);
    const name = (a && a.name) || 'this agent';
    S.saving.set(id, (S.saving.get(id) || 0) + 1);
    let problem = '';
    try {
      const r = await api('PUT', '/api/v1/agents/' + encodeURIComponent(id) + '/status', { status });
      if (r.ok) {
        // The answer may be the agent's presence; if not, at least the chosen status is now this.
        const p = r.data && (r.data.agent_id ? r.data : r.data.agent || r.data.presence);
        if (p && p.agent_id === id && p.status) mergePresence(p);
        else if (a) mergePresence({ agent_id: id, status, effective: a.devices > 0 ? status : 'offline' });
      } else if (r.status === 401) {
        return showLogin('Your session has ended. Please log in again.');
      } else {
        problem = errorMessage(r, 'the server said ' + r.status + '.');
      }
    } catch (_) {
      problem = 'cannot reach the server.';
    } finally {
      const left = (S.saving.get(id) || 1) - 1;
      if (left > 0) S.saving.set(id, left); else S.saving.delete(id);
    }
    if (problem) banner('Could not change the status of ' + name + ': ' + problem);
    renderBoard(); // puts the select back to the real status after a failure
  }

  // "3 min ago" ages while nothing happens.
  setInterval(() => { if (S.tab === 'board' && S.board) renderBoard(); }, 15000);

  // ---- the chat named in the address (#conversation=<id>, the link in a lead's transcript_url) ----
  {
    const m = /^#conversation=([0-9a-fA-F-]{36})$/.exec(location.hash || '');
    if (m) S.hashOpen = m[1].toLowerCase();
  }

  const isOpen = (c) => c.state === 'bot' || c.state === 'incoming' || c.state === 'active';

  // Opens a chat of the group in the middle panel: one we hold at once, any other through the
  // socket's `open` (its `history` answer selects it; before the socket is ready, the welcome asks).
  function openChat(id) {
    if (!id) return;
    if (S.tab !== 'chats') showTab('chats', false);
    if (S.convs.has(id)) { S.wantOpen = null; select(id); return; }
    S.wantOpen = id;
    if (S.ready) send({ type: 'open', conversation_id: id, after_seq: 0, ref: 'open:' + id });
  }

  // ---- desktop notices: `notify` frames, the browser's permission, the agent's choices ----
  const PERM_KEY = 'showroom.console.notify-permission'; // the agent's answer here: granted, denied or later
  const N = {
    prefs: null,          // {desktop, email, sound} as last saved (GET/PUT /api/v1/me/notifications)
    loading: false, saving: false, again: false, saved: false, error: '',
    notes: new Map(),     // conversation id -> the desktop Notification shown for it
    toasts: new Map(),    // conversation id -> the in-page notice shown for it
    audio: null,          // the AudioContext for the beep
  };
  const permission = () => ('Notification' in window ? String(window.Notification.permission) : 'unsupported');
  function remembered() { try { return localStorage.getItem(PERM_KEY) || ''; } catch (_) { return ''; } }
  function remember(v) { try { localStorage.setItem(PERM_KEY, v); } catch (_) { /* storage disabled: asked again next time */ } }

  // The "Enable desktop notifications" bar shows until the browser has an answer (or the agent
  // said "Not now"); the settings panel says where things stand and can ask later.
  function renderPermission() {
    const p = permission();
    const bar = $('perm-banner');
    const show = S.live && p === 'default' && remembered() !== 'later' && !(N.prefs && !N.prefs.desktop);
    const had = bar.contains(document.activeElement);
    bar.hidden = !show;
    if (had && !show) $('notify-open').focus();
    $('perm-ask').hidden = p !== 'default';
    $('perm-line').textContent = p === 'granted' ? 'This browser shows the console’s desktop notifications.'
      : p === 'denied' ? 'This browser blocks notifications from the console, so they show inside the page. Allow them in the site settings to get them on the desktop.'
      : p === 'unsupported' ? 'This browser cannot show desktop notifications; they show inside the page.'
      : 'Desktop notifications are not enabled in this browser yet; until then they show inside the page.';
    const off = !!N.prefs && !N.prefs.desktop;
    $('notify-off').toggleAttribute('hidden', !off);
    $('notify-label').textContent = 'Notification settings' + (off ? ' (desktop notifications off)' : '');
  }

  async function askPermission() {
    if (!('Notification' in window)) return renderPermission();
    let answer;
    try {
      answer = await new Promise((resolve) => {
        const r = window.Notification.requestPermission(resolve); // older browsers: the callback; newer: a promise
        if (r && typeof r.then === 'function') r.then(resolve, () => resolve(permission()));
      });
    } catch (_) { answer = permission(); }
    answer = String(answer || permission());
    if (answer === 'granted' || answer === 'denied') remember(answer);
    renderPermission();
    if (answer === 'denied') banner('Desktop notifications are blocked in this browser. They will show inside the console instead.');
  }
  $('perm-enable').addEventListener('click', askPermission);
  $('perm-ask').addEventListener('click', askPermission);
  $('perm-later').addEventListener('click', () => { remember('later'); renderPermission(); });

  // The agent's choices: three checkboxes, each saved on change.
  const readPrefs = (d) => (d && typeof d === 'object'
    ? { desktop: d.desktop !== false, email: d.email !== false, sound: d.sound !== false } : null);
  const PREFS = ['desktop', 'sound', 'email'];

  async function loadPrefs() {
    N.loading = true; N.error = ''; N.saved = false;
    renderPrefs();
    let problem = '';
    try {
      const r = await api('GET', '/api/v1/me/notifications');
      if (!S.live) return;
      if (r.status === 401) return showLogin('Your session has ended. Please log in again.');
      if (r.ok && readPrefs(r.data)) N.prefs = readPrefs(r.data);
      else problem = errorMessage(r, 'the server said ' + r.status + '.');
    } catch (_) { problem = 'cannot reach the server.'; }
    N.loading = false;
    N.error = problem ? 'Your notification settings could not be loaded: ' + problem : '';
    renderPrefs(); renderPermission();
  }

  function renderPrefs() {
    PREFS.forEach((k) => {
      const cb = $('pref-' + k);
      cb.disabled = !N.prefs;
      if (N.prefs && !N.saving) cb.checked = !!N.prefs[k]; // while saving, the boxes show what was asked
    });
    const st = $('pref-state');
    st.textContent = N.loading ? 'Loading…' : N.saving ? 'Saving…' : N.saved ? 'Saved' : '';
    st.className = 'pref-state' + (N.saved && !N.saving ? ' saved' : '');
    $('pref-error').textContent = N.error;
    $('pref-error').hidden = !N.error;
    $('pref-retry').hidden = !N.error || !!N.prefs || N.loading;
  }

  async function savePrefs() {
    if (!N.prefs) return;
    if (N.saving) { N.again = true; return; } // saved with the latest boxes when this one is done
    const want = { desktop: $('pref-desktop').checked, email: $('pref-email').checked, sound: $('pref-sound').checked };
    N.saving = true; N.saved = false; N.error = '';
    renderPrefs();
    let problem = '';
    try {
      const r = await api('PUT', '/api/v1/me/notifications', want);
      if (!S.live) return;
      if (r.status === 401) { N.saving = false; return showLogin('Your session has ended. Please log in again.'); }
      if (r.ok) N.prefs = readPrefs(r.data) || want;
      else problem = errorMessage(r, 'the server said ' + r.status + '.');
    } catch (_) { problem = 'cannot reach the server.'; }
    N.saving = false;
    if (N.again && !problem) { N.again = false; return savePrefs(); }
    N.again = false;
    N.saved = !problem;
    N.error = problem ? 'Not saved: ' + problem : '';
    renderPrefs(); // after a failure the boxes go back to what is saved
    renderPermission();
  }

  function showNotifyPanel(open) {
    const panel = $('notify-panel');
    if (panel.hidden === !open) return;
    const had = panel.contains(document.activeElement);
    panel.hidden = !open;
    $('notify-open').setAttribute('aria-expanded', String(open));
    if (open) {
      N.saved = false;
      if (!N.prefs && !N.loading) loadPrefs();
      renderPrefs(); renderPermission();
      if (!$('pref-desktop').disabled) $('pref-desktop').focus();
    } else if (had) $('notify-open').focus();
  }
  $('notify-open').addEventListener('click', () => showNotifyPanel($('notify-panel').hidden));
  $('notify-open').parentElement.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !$('notify-panel').hidden) { ev.stopPropagation(); showNotifyPanel(false); $('notify-open').focus(); }
  });
  $('notify-open').parentElement.addEventListener('focusout', (ev) => {
    if (ev.relatedTarget && !ev.currentTarget.contains(ev.relatedTarget)) showNotifyPanel(false);
  });
  document.addEventListener('mousedown', (ev) => {
    if (!$('notify-panel').hidden && !(ev.target instanceof Element && ev.target.closest('.notify-wrap'))) showNotifyPanel(false);
  });
  PREFS.forEach((k) => $('pref-' + k).addEventListener('change', () => {
    if (k === 'sound' && $('pref-sound').checked) beep(); // what it sounds like
    savePrefs();
  }));
  $('pref-retry').addEventListener('click', loadPrefs);

  // A short two-tone beep made with the Web Audio API (no file). Browsers let a page make sound
  // only after a gesture, so the audio is made ready on the first click or key.
  function audio() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    try { if (!N.audio) N.audio = new AC(); } catch (_) { return null; }
    if (N.audio.state === 'suspended') N.audio.resume().catch(() => {});
    return N.audio;
  }
  function unlockAudio() {
    audio();
    window.removeEventListener('pointerdown', unlockAudio, true);
    window.removeEventListener('keydown', unlockAudio, true);
  }
  window.addEventListener('pointerdown', unlockAudio, true);
  window.addEventListener('keydown', unlockAudio, true);
  function beep() {
    const ctx = audio();
    if (!ctx) return;
    try {
      const t = ctx.currentTime + 0.01;
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(1175, t + 0.12);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
      gain.gain.setValueAtTime(0.18, t + 0.2);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.32);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.34);
    } catch (_) { /* no sound, then */ }
  }

  // The agent has this chat in front of them: no notice needed.
  const lookingAtChat = (id) => S.tab === 'chats' && S.selected === id && document.visibilityState === 'visible' && document.hasFocus();

  // A notice the server decided this agent should get (it coalesced bursts and applied the
  // agent's choices): a desktop notification when the browser allows it, else one in the page.
  function onNotify(n) {
    if (!n || typeof n !== 'object' || typeof n.conversation_id !== 'string' || !n.conversation_id) return;
    if (S.me && n.agent_id && n.agent_id !== S.me.id) return;
    if (lookingAtChat(n.conversation_id)) return;
    if (n.sound) beep();
    const title = String(n.title || 'Showroom'), body = String(n.body || '');
    if (permission() === 'granted' && showDesktop(n, title, body)) return;
    showToast(n, title, body);
  }

  function showDesktop(n, title, body) {
    const id = n.conversation_id;
    let note;
    try {
      // One per chat: the tag makes a newer notice replace the older one. Our own beep is the sound.
      note = new window.Notification(title, { body, tag: id, renotify: true, silent: true });
    } catch (_) {
      return false; // e.g. a browser that shows them only from a service worker
    }
    N.notes.set(id, note);
    note.onclick = (ev) => {
      if (ev && typeof ev.preventDefault === 'function') ev.preventDefault();
      try { window.focus(); } catch (_) { /* not allowed: the chat opens anyway */ }
      closeDesktopNotice(id);
      openFromNotice(n);
    };
    note.onclose = () => { if (N.notes.get(id) === note) N.notes.delete(id); };
    return true;
  }

  function closeDesktopNotice(id) {
    const note = N.notes.get(id);
    if (note) { N.notes.delete(id); try { note.close(); } catch (_) { /* gone already */ } }
    dismissToast(id, false);
  }

  // Opens the notice's chat; for one waiting for an answer, the button that answers gets the focus.
  function openFromNotice(n) {
    const id = n.conversation_id;
    openChat(id);
    let key = null;
    if (n.kind === 'incoming') key = 'respond:' + id;
    if (n.kind === 'transfer') {
      const x = [...S.transfers.values()].find((y) => y.t.conversation_id === id);
      if (x) key = 'taccept:' + x.t.id;
    }
    const b = key && [...document.querySelectorAll('[data-key]')].find((x) => x.dataset.key === key);
    if (b) b.focus();
  }

  // In-page notices (no desktop permission): bottom right, one per chat, gone after 12 s unless
  // the pointer or the focus is on it.
  function showToast(n, title, body) {
    const id = n.conversation_id;
    let t = N.toasts.get(id);
    if (!t) {
      const el = h('div', 'toast');
      const text = h('div', 'toast-text');
      const tt = h('strong', 'toast-title'), tb = h('span', 'toast-body');
      text.append(tt, tb);
      const open = h('button', 'small primary', 'Open');
      open.type = 'button';
      const close = h('button', 'toast-close', '×');
      close.type = 'button';
      close.setAttribute('aria-label', 'Dismiss');
      el.append(text, open, close);
      t = { el, tt, tb, open, close, timer: 0, n };
      open.addEventListener('click', () => { dismissToast(id, false); openFromNotice(t.n); });
      close.addEventListener('click', () => dismissToast(id, true));
      el.addEventListener('mouseenter', () => clearTimeout(t.timer));
      el.addEventListener('mouseleave', () => { if (!el.contains(document.activeElement)) armToast(id); });
      el.addEventListener('focusin', () => clearTimeout(t.timer));
      el.addEventListener('focusout', (ev) => { if (!el.contains(ev.relatedTarget)) armToast(id); });
      el.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') dismissToast(id, true); });
      N.toasts.set(id, t);
      $('toasts').append(el);
    }
    t.n = n;
    t.tt.textContent = title;
    t.tb.textContent = body;
    t.open.setAttribute('aria-label', 'Open: ' + title);
    t.close.setAttribute('aria-label', 'Dismiss: ' + title);
    armToast(id);
  }
  function armToast(id) {
    const t = N.toasts.get(id);
    if (!t) return;
    clearTimeout(t.timer);
    t.timer = setTimeout(() => dismissToast(id, false), 12000);
  }
  function dismissToast(id, refocus) {
    const t = N.toasts.get(id);
    if (!t) return;
    const had = t.el.contains(document.activeElement);
    clearTimeout(t.timer);
    t.el.remove();
    N.toasts.delete(id);
    if (had && refocus) {
      const next = $('toasts').querySelector('button');
      (next || $('notify-open')).focus();
    }
  }

  function resetNotices() {
    N.notes.forEach((note) => { try { note.close(); } catch (_) { /* gone already */ } });
    N.notes.clear();
    N.toasts.forEach((t) => { clearTimeout(t.timer); t.el.remove(); });
    N.toasts.clear();
    N.prefs = null; N.loading = false; N.saving = false; N.again = false; N.saved = false; N.error = '';
    showNotifyPanel(false);
    renderPrefs(); renderPermission();
  }

  // ---- leads: labels shared by the chat's "Results created" and the Leads view ----
  const ORIGIN_LABELS = { missed_chat: 'Missed chat', message_left: 'Message left', offline: 'Offline', agent: 'Created by agent' };
  const originLabel = (o) => ORIGIN_LABELS[o] || String(o || 'Unknown');
  const originClass = (o) => 'origin o-' + (ORIGIN_LABELS[o] ? o : 'other');
  const leadName = (l) => (l.contact && [l.contact.first_name, l.contact.last_name].filter(Boolean).join(' ')) || 'Unnamed contact';
  const leadReach = (l) => (l.contact ? [l.contact.email, l.contact.phone].filter(Boolean).join(' · ') : '');
  const money = (cents) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });
  const dollars = (cents) => (cents % 100 === 0 ? String(cents / 100) : (cents / 100).toFixed(2));
  const qualifiedText = (q) => (q === true ? 'Qualified' : q === false ? 'Not qualified' : 'Not classified');
  const clock = (ms) => fmtAt(ms, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  function when(at) {
    const d = new Date(at);
    if (isNaN(d)) return '';
    return (d.toDateString() === new Date().toDateString() ? 'Today' : fmtAt(d, { month: 'short', day: 'numeric' })) + ' ' + time(at);
  }
  const fullDate = (at) => fmtAt(at);
  function qualifiedBadge(q) {
    return h('span', 'qbadge ' + (q === true ? 'q-yes' : q === false ? 'q-no' : 'q-unknown'), qualifiedText(q));
  }
  function classificationText(c) {
    if (!c) return '';
    const tags = Array.isArray(c.tags) ? c.tags : [];
    return [qualifiedText(c.qualified), tags.length ? 'tags ' + tags.join(', ') : '',
      typeof c.value_cents === 'number' ? money(c.value_cents) : '', c.notes ? '“' + (c.notes.length > 80 ? c.notes.slice(0, 80) + '…' : c.notes) + '”' : '']
      .filter(Boolean).join(' · ');
  }
  // "is required" -> "First name is required"; any other message as a sentence.
  function fieldText(label, msg) {
    const m = String(msg || '');
    return /^(is|must|has|should|can)\b/.test(m) ? label + ' ' + m : m.charAt(0).toUpperCase() + m.slice(1);
  }
  function fieldError(input, errEl, msg) {
    errEl.textContent = msg || '';
    errEl.hidden = !msg;
    if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  }
  const errorFields = (r) => (r && r.data && r.data.error && r.data.error.fields && typeof r.data.error.fields === 'object' ? r.data.error.fields : null);

  // ---- the chat's leads ("Results created"), its "Create lead", each lead's classification ----
  const L = {
    conv: null,           // the conversation whose leads are shown
    list: [],             // its leads
    local: new Set(),     // ids of leads made here (kept if a list loaded meanwhile lacks them)
    state: 'idle',        // idle, loading, ready, error
    error: '', note: '',
    creating: false,
    seq: 0,
    cards: new Map(),     // lead id -> card (DOM kept across renders: an editor being filled survives)
    closeTimer: 0,
  };
  const LEAD_FIELDS = { first_name: ['lead-first', 'First name'], last_name: ['lead-last', 'Last name'], email: ['lead-email', 'E-mail'], phone: ['lead-phone', 'Mobile phone'] };

  function resetChatLeads(id) {
    if (L.conv === id && id === null) return;
    L.seq++;
    L.conv = id; L.list = []; L.local.clear(); L.error = ''; L.note = ''; L.creating = false;
    L.state = id ? 'loading' : 'idle';
    L.cards.clear();
    clearTimeout(L.closeTimer);
    $('t-leads-list').replaceChildren();
    showNewLead(false, false);
    renderChatLeads();
    if (id) loadChatLeads(id);
  }

  async function loadChatLeads(id) {
    const seq = ++L.seq;
    let problem = '', list = null;
    try {
      const r = await api('GET', '/api/v1/conversations/' + encodeURIComponent(id) + '/leads');
      if (seq !== L.seq || L.conv !== id) return;
      if (r.status === 401) return showLogin('Your session has ended. Please log in again.');
      if (r.ok && Array.isArray(r.data)) list = r.data.filter((l) => l && l.id);
      else problem = errorMessage(r, 'the server said ' + r.status + '.');
    } catch (_) {
      if (seq !== L.seq || L.conv !== id) return;
      problem = 'cannot reach the server.';
    }
    if (list) {
      // Keep what this console knows newer: a lead made or saved here while the list was on its way.
      const mine = new Map(L.list.map((l) => [l.id, l]));
      list = list.map((l) => { const m = mine.get(l.id); return m && (m.version || 0) > (l.version || 0) ? m : l; });
      L.list.forEach((l) => { if (L.local.has(l.id) && !list.some((x) => x.id === l.id)) list.push(l); });
      L.list = list; L.state = 'ready'; L.error = '';
    } else {
      L.state = L.list.length ? 'ready' : 'error';
      L.error = 'The leads could not be loaded: ' + problem;
    }
    renderChatLeads();
  }

  // A chat that just closed (missed, offline) may have made a lead, a moment later.
  function chatClosed(id) {
    if (L.conv !== id) return;
    clearTimeout(L.closeTimer);
    L.closeTimer = setTimeout(() => { if (L.conv === id) loadChatLeads(id); }, 2000);
  }

  function renderChatLeads() {
    const list = L.list.slice().sort((a, b) => ts(b.created_at) - ts(a.created_at));
    $('t-leads-count').textContent = list.length ? '(' + list.length + ')' : '';
    const label = L.creating ? 'Creating…' : 'Create lead';
    $('lead-create').textContent = label;
    $('lead-create').setAttribute('aria-disabled', String(L.creating || !L.conv));
    $('lead-new-save').textContent = label;
    $('lead-new-save').setAttribute('aria-disabled', String(L.creating));
    const st = $('t-leads-state');
    st.textContent = L.state === 'loading' ? 'Loading leads…' : L.error || L.note;
    st.className = 'leads-state' + (L.error ? ' error' : L.note ? ' ok' : '');
    const used = new Set();
    const kids = list.map((lead) => {
      used.add(lead.id);
      let card = L.cards.get(lead.id);
      if (!card) L.cards.set(lead.id, card = leadCard(lead));
      else if (card.lead !== lead) card.update(lead);
      return card.li;
    });
    [...L.cards.keys()].forEach((k) => { if (!used.has(k)) L.cards.delete(k); });
    if (!kids.length && L.state !== 'loading') kids.push(h('li', 'empty-list', L.state === 'error' ? 'None shown.' : 'No leads from this chat yet.'));
    patchChildren($('t-leads-list'), kids);
  }

  const hasContact = (c) => { const k = c && c.contact; return !!k && !!k.first_name && !!k.last_name && !!(k.email || k.phone); };

  // The inline form, for a chat without (complete) contact details, or to correct them.
  function showNewLead(open, focus) {
    const form = $('lead-new');
    const had = form.contains(document.activeElement);
    Object.values(LEAD_FIELDS).forEach(([id]) => fieldError($(id), $(id + '-err'), ''));
    if (open && form.hidden) {
      const k = (current() && current().c.contact) || {};
      $('lead-first').value = k.first_name || '';
      $('lead-last').value = k.last_name || '';
      $('lead-email').value = k.email || '';
      $('lead-phone').value = k.phone || '';
    }
    form.hidden = !open;
    if (open && focus) {
      const empty = Object.values(LEAD_FIELDS).map(([id]) => $(id)).find((x) => !x.value);
      (empty || $('lead-first')).focus();
    } else if (!open && had) $('lead-create').focus();
  }

  function leadFieldErrors(fields) {
    let first = null;
    Object.entries(LEAD_FIELDS).forEach(([k, [id, label]]) => {
      const msg = fields[k] ? fieldText(label, fields[k]) : '';
      fieldError($(id), $(id + '-err'), msg);
      if (msg && !first) first = $(id);
    });
    return first;
  }

  $('lead-create').addEventListener('click', () => {
    const e = current();
    if (!e || L.creating) return;
    if (!$('lead-new').hidden) { $('lead-first').focus(); return; }
    if (hasContact(e.c)) createLead(e.c.id, {});
    else { L.error = ''; L.note = ''; renderChatLeads(); showNewLead(true, true); }
  });
  $('lead-new-cancel').addEventListener('click', () => showNewLead(false, false));
  $('lead-new').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); showNewLead(false, false); $('lead-create').focus(); } });
  $('lead-new').addEventListener('input', (ev) => {
    const id = ev.target && ev.target.id;
    if (id && $(id + '-err')) fieldError(ev.target, $(id + '-err'), '');
  });
  $('lead-new').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const e = current();
    if (!e || L.creating) return;
    const body = {};
    const first = $('lead-first').value.trim(), last = $('lead-last').value.trim(), email = $('lead-email').value.trim();
    let phone = $('lead-phone').value.trim();
    if (phone.startsWith('+')) phone = '+' + phone.slice(1).replace(/[\s().-]/g, ''); // "+1 (312) 555-2368" is E.164 once tidied
    if (first) body.first_name = first;
    if (last) body.last_name = last;
    if (email) body.email = email;
    if (phone) body.phone = phone;
    createLead(e.c.id, body);
  });

  async function createLead(convId, body) {
    L.creating = true; L.error = ''; L.note = '';
    renderChatLeads();
    let r = null, problem = '';
    try { r = await api('POST', '/api/v1/conversations/' + encodeURIComponent(convId) + '/leads', body); } catch (_) { problem = 'cannot reach the server.'; }
    if (L.conv !== convId) return; // another chat is shown now; its list loads on its own
    L.creating = false;
    if (r && r.status === 401) return showLogin('Your session has ended. Please log in again.');
    if (r && r.ok && r.data && r.data.id) {
      const lead = r.data;
      const merged = L.list.some((l) => l.id === lead.id) || (Array.isArray(lead.sources) && lead.sources.length > 1);
      L.list = [lead].concat(L.list.filter((l) => l.id !== lead.id));
      L.local.add(lead.id);
      L.state = 'ready';
      L.note = merged ? 'Added to the open lead of ' + leadName(lead) + '.' : 'Lead created.';
      showNewLead(false, false);
      renderChatLeads();
      tabLead(lead);
      return;
    }
    const fields = r && r.status === 400 ? errorFields(r) : null;
    if (fields && Object.keys(fields).length) {
      showNewLead(true, false);
      const first = leadFieldErrors(fields);
      const other = Object.keys(fields).filter((k) => !LEAD_FIELDS[k]).map((k) => fieldText(k, fields[k]));
      L.error = 'The lead was not created. ' + (other.length ? other.join('. ') + '.' : 'Check the fields marked below.');
      renderChatLeads();
      if (first) first.focus();
      return;
    }
    L.error = 'The lead was not created: ' + (problem || errorMessage(r, 'the server said ' + r.status + '.'));
    renderChatLeads();
  }

  // A lead changed here (saved, merged): the chat's list and the Leads view show the new one.
  function replaceLead(lead) {
    if (L.list.some((l) => l.id === lead.id)) {
      L.list = L.list.map((l) => (l.id === lead.id ? lead : l));
      renderChatLeads();
    }
    tabLead(lead);
  }

  // One lead of "Results created": who and where from, its classification, and the editor.
  let cardSeq = 0;
  function leadCard(lead) {
    const pid = 'lead' + (++cardSeq);
    const li = h('li', 'lead-card');
    li.dataset.leadId = lead.id;
    const head = h('div', 'lead-head');
    const origin = h('span', 'origin'), name = h('strong', 'lead-name'), at = h('span', 'lead-when');
    head.append(origin, name, at);
    const reach = h('div', 'lead-reach');
    const left = h('p', 'lead-message'); // the message the shopper left, if any
    const summary = h('div', 'lead-summary');
    const actions = h('div', 'lead-actions');
    const edit = h('button', 'small', 'Classify');
    edit.type = 'button';
    edit.setAttribute('aria-expanded', 'false');
    edit.setAttribute('aria-controls', pid + '-form');
    const hist = h('button', 'small secondary', 'History');
    hist.type = 'button';
    hist.setAttribute('aria-expanded', 'false');
    hist.setAttribute('aria-controls', pid + '-hist');
    actions.append(edit, hist);
    const f = leadEditor(pid);
    const state = h('p', 'lead-state');
    state.setAttribute('role', 'status');
    const histEl = h('div', 'lead-history');
    histEl.id = pid + '-hist';
    histEl.hidden = true;
    li.append(head, reach, left, summary, actions, f.form, state, histEl);
    const card = { li, lead, f, dirty: false, saving: false };

    const setState = (text, cls) => { state.textContent = text || ''; state.className = 'lead-state' + (cls ? ' ' + cls : ''); };
    card.setState = setState;
    card.update = (l) => {
      card.lead = l;
      origin.textContent = originLabel(l.origin);
      origin.className = originClass(l.origin);
      name.textContent = leadName(l);
      at.textContent = when(l.created_at);
      at.title = fullDate(l.created_at);
      reach.textContent = leadReach(l);
      reach.hidden = !reach.textContent;
      left.textContent = l.message ? '“' + l.message + '”' : '';
      left.hidden = !l.message;
      const c = l.classification || {};
      const parts = [qualifiedBadge(c.qualified)];
      (Array.isArray(c.tags) ? c.tags : []).forEach((t) => parts.push(h('span', 'tag', t)));
      if (typeof c.value_cents === 'number') parts.push(h('span', 'value', money(c.value_cents)));
      summary.replaceChildren(...parts);
      if (c.notes) summary.append(h('p', 'notes', c.notes));
      edit.setAttribute('aria-label', 'Classify the lead of ' + leadName(l));
      hist.setAttribute('aria-label', 'History of the lead of ' + leadName(l));
      if (!f.form.hidden && !card.dirty && !card.saving) fillEditor(card);
      if (!histEl.hidden) loadHistory(card, histEl); // what it shows is out of date now
    };

    const openEditor = (open) => {
      const had = f.form.contains(document.activeElement);
      if (open && f.form.hidden && !card.dirty) fillEditor(card);
      f.form.hidden = !open;
      edit.setAttribute('aria-expanded', String(open));
      if (open) (f.form.querySelector('input[type=radio]:checked') || f.radios[0]).focus();
      else if (had) edit.focus();
    };
    edit.addEventListener('click', () => openEditor(f.form.hidden));
    f.cancel.addEventListener('click', () => openEditor(false));
    f.form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); openEditor(false); } });
    f.form.addEventListener('input', (ev) => {
      card.dirty = true;
      if (state.classList.contains('saved')) setState('', '');
      const err = ev.target && f.errs[ev.target.id];
      if (err) fieldError(ev.target.type === 'radio' ? f.radios[0] : ev.target, err, '');
    });
    f.form.addEventListener('change', () => { card.dirty = true; });
    f.form.addEventListener('submit', (ev) => { ev.preventDefault(); saveClassification(card); });
    hist.addEventListener('click', () => {
      const open = histEl.hidden;
      histEl.hidden = !open;
      hist.setAttribute('aria-expanded', String(open));
      if (open) loadHistory(card, histEl);
    });
    card.update(lead);
    return card;
  }

  function leadEditor(pid) {
    const form = h('form', 'lead-edit');
    form.id = pid + '-form';
    form.noValidate = true;
    form.hidden = true;
    const fs = h('fieldset', 'qualified');
    fs.append(h('legend', '', 'Lead quality'));
    const radios = [['', 'Unknown'], ['true', 'Qualified'], ['false', 'Not qualified']].map(([v, text], i) => {
      const label = h('label', 'radio');
      const r = h('input');
      r.type = 'radio'; r.name = pid + '-q'; r.value = v; r.id = pid + '-q' + i;
      label.append(r, ' ' + text);
      fs.append(label);
      return r;
    });
    const qerr = h('p', 'field-error');
    qerr.id = pid + '-qualified-err';
    qerr.hidden = true;
    fs.append(qerr);
    const errs = {}; // input id -> its error line
    const field = (key, labelText, hint, el) => {
      const wrap = h('div', 'field');
      const label = h('label', '', labelText);
      label.htmlFor = el.id = pid + '-' + key;
      if (hint) label.append(' ', h('span', 'hint', hint));
      const err = h('p', 'field-error');
      err.id = el.id + '-err';
      err.hidden = true;
      el.setAttribute('aria-describedby', err.id);
      errs[el.id] = err;
      wrap.append(label, el, err);
      form.append(wrap);
      return el;
    };
    form.append(fs);
    const tags = h('input');
    tags.autocomplete = 'off';
    field('tags', 'Tags', '(comma-separated)', tags);
    const value = h('input');
    value.inputMode = 'decimal';
    value.autocomplete = 'off';
    field('value', 'Value in dollars', '(the deal’s value)', value);
    const notes = h('textarea');
    notes.rows = 3;
    notes.maxLength = 4000;
    field('notes', 'Notes', '', notes);
    const buttons = h('div', 'form-buttons');
    const save = h('button', 'primary', 'Save');
    save.type = 'submit';
    const cancel = h('button', '', 'Close');
    cancel.type = 'button';
    buttons.append(save, cancel);
    form.append(buttons);
    radios.forEach((r) => { errs[r.id] = qerr; });
    return { form, radios, qerr, errs, tags, value, notes, save, cancel };
  }

  function fillEditor(card) {
    const c = card.lead.classification || {}, f = card.f;
    const q = c.qualified === true ? 'true' : c.qualified === false ? 'false' : '';
    f.radios.forEach((r) => { r.checked = r.value === q; });
    f.tags.value = (Array.isArray(c.tags) ? c.tags : []).join(', ');
    f.value.value = typeof c.value_cents === 'number' ? dollars(c.value_cents) : '';
    f.notes.value = c.notes || '';
    classificationErrors(card, {});
    card.dirty = false;
  }

  // "32,500", "$32500.5" -> cents; empty -> null.
  function parseDollars(text) {
    const t = String(text).replace(/[\s$,]/g, '');
    if (!t) return { cents: null };
    if (!/^\d+(\.\d{0,2})?$/.test(t)) return { error: 'Enter an amount in dollars, like 32500 or 32,500.00.' };
    const [whole, frac = ''] = t.split('.');
    const cents = Number(whole) * 100 + Number((frac + '00').slice(0, 2));
    return Number.isSafeInteger(cents) ? { cents } : { error: 'That amount is too large.' };
  }

  // Field errors from the server (keys `tags`, `value_cents`, `notes`, `qualified`, maybe with a
  // `classification.` prefix) next to their fields; the first one wrong gets the focus.
  function classificationErrors(card, fields) {
    const f = card.f;
    const map = { qualified: [f.radios[0], 'Lead quality'], tags: [f.tags, 'Tags'], value_cents: [f.value, 'Value'], notes: [f.notes, 'Notes'] };
    const given = {};
    Object.entries(fields).forEach(([k, v]) => { given[k.replace(/^classification\./, '')] = v; });
    let first = null;
    Object.entries(map).forEach(([k, [input, label]]) => {
      const msg = given[k] ? fieldText(label, given[k]) : '';
      fieldError(input, f.errs[input.id], msg);
      if (msg && !first) first = input;
    });
    const other = Object.keys(given).filter((k) => !map[k]).map((k) => fieldText(k, given[k]));
    return { first, other };
  }

  async function saveClassification(card) {
    if (card.saving) return;
    const f = card.f;
    classificationErrors(card, {});
    const v = parseDollars(f.value.value);
    if (v.error) {
      fieldError(f.value, f.errs[f.value.id], v.error);
      card.setState('Not saved: check the value.', 'error');
      f.value.focus();
      return;
    }
    const q = f.radios.find((r) => r.checked);
    const body = {
      qualified: !q || q.value === '' ? null : q.value === 'true',
      tags: [...new Set(f.tags.value.split(',').map((t) => t.trim()).filter(Boolean))],
      value_cents: v.cents,
      notes: f.notes.value,
    };
    card.saving = true;
    f.save.textContent = 'Saving…';
    f.save.setAttribute('aria-disabled', 'true');
    card.setState('Saving…', '');
    let r = null, problem = '';
    try { r = await api('PUT', '/api/v1/leads/' + encodeURIComponent(card.lead.id) + '/classification', body); } catch (_) { problem = 'cannot reach the server.'; }
    card.saving = false;
    f.save.textContent = 'Save';
    f.save.removeAttribute('aria-disabled');
    if (r && r.status === 401) return showLogin('Your session has ended. Please log in again.');
    if (r && r.ok && r.data && r.data.id) {
      card.dirty = false;
      replaceLead(r.data);
      if (card.lead !== r.data) card.update(r.data); // a lead not in the list any more
      card.setState('Saved', 'saved');
      return;
    }
    const fields = r && r.status === 400 ? errorFields(r) : null;
    if (fields && Object.keys(fields).length) {
      const { first, other } = classificationErrors(card, fields);
      card.setState('Not saved: ' + (other.length ? other.join('. ') + '.' : 'check the fields marked above.'), 'error');
      if (first) first.focus();
      return;
    }
    card.setState('Not saved: ' + (problem || errorMessage(r, 'the server said ' + r.status + '.')), 'error');
  }

  const HISTORY_LABELS = { created: 'Created', merged: 'Merged with another chat or message', classified: 'Classified' };
  async function loadHistory(card, el) {
    const seq = (card.histSeq = (card.histSeq || 0) + 1);
    if (!el.childElementCount) el.replaceChildren(h('p', 'hint', 'Loading history…'));
    let r = null, problem = '';
    try { r = await api('GET', '/api/v1/leads/' + encodeURIComponent(card.lead.id)); } catch (_) { problem = 'cannot reach the server.'; }
    if (seq !== card.histSeq) return;
    if (r && r.status === 401) return showLogin('Your session has ended. Please log in again.');
    if (!r || !r.ok || !r.data || !Array.isArray(r.data.history)) {
      el.replaceChildren(h('p', 'error', 'The history could not be loaded: ' + (problem || errorMessage(r, 'the server said ' + r.status + '.'))));
      return;
    }
    const items = r.data.history.map((x) => {
      const li = h('li');
      const who = x.agent && x.agent.name ? ' by ' + x.agent.name : x.what === 'classified' ? '' : ' automatically';
      const what = (HISTORY_LABELS[x.what] || String(x.what || 'Changed')) + who;
      const t = h('span', 'when', when(x.at));
      t.title = fullDate(x.at);
      li.append(t, ' ', h('span', '', what + (x.what === 'classified' && x.after ? ': ' + classificationText(x.after) : '')));
      return li;
    });
    const ol = h('ol', 'history-list');
    ol.setAttribute('aria-label', 'History of the lead of ' + leadName(card.lead));
    ol.append(...(items.length ? items : [h('li', 'hint', 'Nothing yet.')]));
    el.replaceChildren(ol);
  }

  // Call and text links on a closed chat with a phone: text only with the consent the shopper gave.
  function renderFollowup(c) {
    const el = $('t-followup'), k = c.contact;
    const phone = k && typeof k.phone === 'string' ? k.phone.replace(/[^\d+]/g, '') : '';
    $('t-nocontact').hidden = !!k;
    el.replaceChildren();
    el.hidden = isOpen(c) || !phone;
    if (el.hidden) return;
    const call = h('a', 'action', 'Call');
    call.href = 'tel:' + phone;
    call.setAttribute('aria-label', 'Call ' + k.phone);
    el.append(h('span', '', 'Follow up: '), call);
    if (k.consent) {
      const sms = h('a', 'action', 'Text');
      sms.href = 'sms:' + phone;
      sms.setAttribute('aria-label', 'Text ' + k.phone);
      el.append(' · ', sms);
    } else el.append(' · ', h('span', 'hint', 'no consent to text'));
  }

  // ---- the Leads view: the group's latest leads, newest first ----
  const LT = { list: null, loading: false, error: '', updated: 0, seq: 0 };

  function resetLeadsTab() {
    LT.seq++;
    LT.list = null; LT.loading = false; LT.error = ''; LT.updated = 0;
    renderLeadsTab();
  }

  async function loadLeadsTab() {
    if (!S.live) return;
    const seq = ++LT.seq;
    LT.loading = true;
    renderLeadsMeta();
    let problem = '';
    try {
      const r = await api('GET', '/api/v1/leads?limit=100');
      if (seq !== LT.seq) return;
      if (r.status === 401) return showLogin('Your session has ended. Please log in again.');
      if (r.ok && Array.isArray(r.data)) { LT.list = r.data.filter((l) => l && l.id); LT.updated = Date.now(); }
      else problem = errorMessage(r, 'the server said ' + r.status + '.');
    } catch (_) {
      if (seq !== LT.seq) return;
      problem = 'cannot reach the server.';
    }
    LT.loading = false;
    LT.error = problem ? 'The leads could not be loaded: ' + problem : '';
    renderLeadsTab();
  }
  // New leads come from chats nobody took and messages left: look again every 15 s while shown.
  setInterval(() => { if (S.tab === 'leads' && S.live && !LT.loading) loadLeadsTab(); }, 15000);
  $('leads-refresh').addEventListener('click', () => loadLeadsTab());

  function tabLead(lead) {
    if (!LT.list) return;
    const i = LT.list.findIndex((l) => l.id === lead.id);
    if (i >= 0) LT.list[i] = lead; else LT.list.unshift(lead);
    if (S.tab === 'leads') renderLeadsTab();
  }

  function renderLeadsMeta() {
    const u = $('leads-updated');
    u.textContent = LT.loading ? (LT.list ? 'Refreshing…' : 'Loading…') : LT.updated ? 'Updated ' + clock(LT.updated) : '';
    $('view-leads').setAttribute('aria-busy', String(LT.loading));
    $('leads-error').textContent = LT.error;
    $('leads-error').hidden = !LT.error;
  }

  function renderLeadsTab() {
    renderLeadsMeta();
    const body = $('leads-rows');
    const focusKey = body.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    const list = LT.list || [];
    body.replaceChildren(...list.map(leadRow));
    $('leads-empty').hidden = !LT.list || list.length > 0;
    if (focusKey) {
      const again = [...body.querySelectorAll('[data-key]')].find((x) => x.dataset.key === focusKey);
      if (again) again.focus();
    }
  }

  function leadRow(l) {
    const tr = h('tr', 'lead-row' + (l.conversation_id ? ' has-chat' : ''));
    tr.dataset.leadId = l.id;
    const name = h('td', 'lead-name-cell');
    if (l.conversation_id) {
      const b = h('button', 'linkish', leadName(l));
      b.type = 'button';
      b.dataset.key = 'lead:' + l.id;
      b.setAttribute('aria-label', 'Open the chat with ' + leadName(l));
      b.addEventListener('click', () => openChat(l.conversation_id));
      name.append(b);
      tr.addEventListener('click', (ev) => { if (!(ev.target instanceof Element && ev.target.closest('button, a'))) openChat(l.conversation_id); });
    } else name.append(h('span', 'lead-name', leadName(l)));
    const reach = leadReach(l);
    if (reach) name.append(h('span', 'sub', reach));
    // The message left, also on a lead with a chat (after hours, missed): the transcript has not got it.
    if (l.message) name.append(h('span', 'sub lead-message', '“' + (l.message.length > 80 ? l.message.slice(0, 80) + '…' : l.message) + '”'));
    else if (!l.conversation_id) name.append(h('span', 'sub', 'No chat'));
    const origin = h('td');
    origin.append(h('span', originClass(l.origin), originLabel(l.origin)));
    const at = h('td', 'lead-time', when(l.created_at));
    at.title = fullDate(l.created_at);
    const q = h('td');
    q.append(qualifiedBadge(l.classification && l.classification.qualified));
    tr.append(name, origin, h('td', '', (l.rooftop && l.rooftop.name) || '—'), h('td', '', (l.department && l.department.label) || '—'), at, q);
    return tr;
  }

  boot();
  // ---- auto-away: after the agent's chosen idle time without activity in this console, tell
  // the gateway this device is idle (presence shows the agent Away while every console is idle);
  // any activity makes it active again.
  const autoAway = $('auto-away');
  let lastActivity = Date.now();
  function showAutoAway() {
    const secs = S.me && S.me.auto_away_secs;
    autoAway.value = secs ? String(secs) : '';
    if (autoAway.value !== (secs ? String(secs) : '')) { // a value not in the list: add it
      const o = document.createElement('option');
      o.value = String(secs); o.textContent = Math.round(secs / 60) + ' min';
      autoAway.append(o); autoAway.value = String(secs);
    }
  }
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
      const r = await fetch('/api/v1/me/auto-away', {
        method: 'PUT', credentials: 'same-origin',
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seconds }),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
      if (S.me) S.me.auto_away_secs = body.auto_away_secs;
      onActivity();
    } catch (e) {
      showAutoAway();
      banner('Auto-away not saved: ' + e.message);
    }
  });

})();
