// @ts-check
/* Showroom shopper chat widget. Speaks protocol v1 (docs/protocol.md).
 * Install: <script src="https://<gateway>/widget.js" data-key="<website key>" async></script>
 * Vehicle context (optional): data-vin, data-stock-number, data-year, data-make, data-model,
 * data-trim, data-price on that tag; or window.showroomVehicle = {vin, stock_number, year, make,
 * model, trim, price} before it; or Showroom.setVehicle({...}) once it has loaded.
 * English and Spanish (from the browser, or the shopper's EN/ES switch). With the website's Lead
 * Gate on, the bot asks the shopper's name and contact in the chat; when a chat cannot go live,
 * the leave-a-message form. A website's own pre-chat and offline forms (the form builder's,
 * in welcome.forms) replace the built-in ones; their files are uploaded before the form is sent.
 * The website's look (welcome.appearance: colours, corner, icon, launcher label, language) is kept
 * in localStorage, so the launcher looks right on the next page before the socket connects. The
 * agent's photo heads the chat once one joined; "Email me this chat" mails the transcript.
 * Plain ES2020, no dependencies. All chat text goes in with textContent, never innerHTML. */
(() => {
  'use strict';
  const script = /** @type {HTMLScriptElement} */ (document.currentScript || document.querySelector('script[data-key][src*="widget.js"]'));
  const KEY = script && script.dataset.key;
  if (!KEY || window.__showroomWidget) return;
  window.__showroomWidget = true;

  const src = new URL(script.src, location.href); // the gateway is wherever this file came from
  const UPLOAD_URL = src.origin + '/api/v1/widget/' + encodeURIComponent(KEY) + '/attachments';
  const MAX_FILE = 10 * 1024 * 1024;
  // Files in the chat: sent to UPLOAD_URL?form=chat, then named in a `send` frame; fetched back
  // with the visitor token (a header, so never in a URL).
  const FILE_URL = (id) => src.origin + '/api/v1/widget/' + encodeURIComponent(KEY) + '/files/' + encodeURIComponent(id);
  const CHAT_TYPES = 'image/jpeg,image/png,image/webp,image/heic,.heic,application/pdf,text/plain';
  const WS_URL = (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host + '/ws/widget?key=' + encodeURIComponent(KEY);
  // The socket's route (the dealer group), sent so that a proxy keeps a group on one gateway:
  // asked once (ROUTE_URL) before a new visitor's first socket, then each welcome's route.
  const ROUTE_KEY = 'showroom.route.' + KEY;
  const ROUTE_URL = src.origin + '/api/v1/widget/' + encodeURIComponent(KEY) + '/route';
  const TOKEN_KEY = 'showroom.visitor.' + KEY;   // localStorage: visitor_token from welcome
  const LANG_KEY = 'showroom.lang.' + KEY;       // localStorage: the language the shopper chose
  const CACHE_KEY = 'showroom.transcript.' + KEY; // sessionStorage: {conv, msgs, left} shown in this tab
  const LOOK_KEY = 'showroom.look.' + KEY;       // localStorage: welcome.appearance, applied at the next load
  const PHOTO = (id) => src.origin + '/api/v1/agents/' + encodeURIComponent(id) + '/photo';
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
  const getItem = (/** @type {'localStorage' | 'sessionStorage'} */ area, k) => { try { return window[area].getItem(k); } catch (_) { return null; } };
  const setItem = (/** @type {'localStorage' | 'sessionStorage'} */ area, k, v) => { try { v == null ? window[area].removeItem(k) : window[area].setItem(k, v); } catch (_) { /* ignore */ } };

  // ---- the widget's own words, in each language; the bot's come in welcome.bot.texts ----
  const STR = {
    en: {
      launch: 'Chat with us', chat: 'Chat', end: 'End chat', close: 'Close chat', lang: 'Language',
      connecting: 'Connecting…', reconnecting: 'Reconnecting…',
      help: 'How can we help you today?', name: 'Your name (optional)', go: 'Start chatting',
      nobody: 'Nobody is available right now. Please try again later.',
      type: 'Type your message', send: 'Send', again: 'Start a new chat', messages: 'Messages', picks: 'Departments',
      bot: 'Assistant · a few quick questions', waiting: 'Waiting for an agent…',
      with: "You're chatting with {agent}", joined: 'An agent joined the chat',
      closed: "We're closed right now. Leave a message and we'll get back to you.",
      unavailable: "No one is available to chat right now. Leave a message and we'll get back to you.",
      missed: "No one could take your chat in time. Leave a message and we'll get back to you.",
      timed_out: 'This chat was closed after a period of inactivity.', ended: 'This chat has ended',
      agent: 'Agent', assistant: 'Assistant', typing: '{who} is typing…', sending: 'sending…', failed: 'Not sent', seen: 'Seen',
      rate_q: 'How was your chat?', rate_comment: 'Anything to add? (optional)', rate_send: 'Send rating', rate_thanks: 'Thanks for your rating!', stars: '{n} of 5',
      attach: 'Attach a file', sending_file: 'uploading {n}%', download: 'Download {name}', chat_types: 'images, PDF and text files',
      long: 'That message is too long (4000 characters at most).', wait: 'Not connected yet, please wait a moment.',
      busy: 'Everyone is busy for a moment. Connecting you…',
      busy_leave: "Everyone is busy with other customers right now. Leave a message and we'll get back to you soon.",
      busy_later: 'Everyone is busy with other customers right now. Please try again in a few minutes.',
      wrong: 'Something went wrong', leave: 'Leave a message', department_id: 'Department',
      first_name: 'First name', last_name: 'Last name', email: 'E-mail', phone: 'Mobile phone', optional: '(optional)',
      message: 'Message', submit: 'Send message', submitting: 'Sending…', fix: 'Please check the fields marked below.',
      thanks: 'Thanks! We got your message and will get back to you soon.',
      // The website's own forms (pre-chat, offline): their labels come from the dealer.
      choose: 'Choose…', uploading: 'Uploading…', remove: 'Remove {name}',
      too_large: '{name} is too large: a file may be at most 10 MB.',
      bad_type: "{name} can't be attached here: this field takes {accept}.",
      up_failed: "{name} couldn't be uploaded. Please try again.", too_many: 'At most {n} files.',
      still: 'Please wait until the upload finishes.', e_required: 'This field is required.',
      e_agree: 'Please tick this box to continue.',
      mail: 'Email me this chat', mail_to: 'Send this chat to', cancel: 'Cancel', mail_sent: 'Sent to {email}',
      mail_bad: "That e-mail address doesn't look complete (like jane@example.com).",
      mail_limit: 'This chat was already e-mailed 3 times in the last hour. Please try again later.',
      mail_empty: 'There is nothing to send yet.', mail_fail: "The e-mail couldn't be sent. Please try again.",
      pay: 'Estimate my payment', pay_go: 'Estimate', pay_dn: 'Down', pay_term: 'Months', finance: 'Finance', lease: 'Lease',
      pay_month: '{m}/month · {n} months', pay_bad: 'Please check the down payment and the months.',
      times: 'Pick a time', no_times: 'No free times this week.', booked: 'Booked: {when}', full: 'That time was just taken. Pick another.',
    },
    es: {
      launch: 'Chatee con nosotros', chat: 'Chat', end: 'Terminar chat', close: 'Cerrar chat', lang: 'Idioma',
      connecting: 'Conectando…', reconnecting: 'Reconectando…',
      help: '¿Cómo podemos ayudarle hoy?', name: 'Su nombre (opcional)', go: 'Empezar a chatear',
      nobody: 'No hay nadie disponible ahora. Inténtelo más tarde.',
      type: 'Escriba su mensaje', send: 'Enviar', again: 'Empezar un chat nuevo', messages: 'Mensajes', picks: 'Departamentos',
      bot: 'Asistente · unas preguntas rápidas', waiting: 'Esperando a un agente…',
      with: 'Está chateando con {agent}', joined: 'Un agente se unió al chat',
      closed: 'En este momento estamos cerrados. Déjenos un mensaje y le responderemos.',
      unavailable: 'No hay nadie disponible para chatear ahora. Déjenos un mensaje y le responderemos.',
      missed: 'Nadie pudo atender su chat a tiempo. Déjenos un mensaje y le responderemos.',
      timed_out: 'Este chat se cerró por inactividad.', ended: 'Este chat terminó',
      agent: 'Agente', assistant: 'Asistente', typing: '{who} está escribiendo…', sending: 'enviando…', failed: 'No enviado', seen: 'Visto',
      rate_q: '¿Qué tal fue su chat?', rate_comment: '¿Algo más? (opcional)', rate_send: 'Enviar valoración', rate_thanks: '¡Gracias por su valoración!', stars: '{n} de 5',
      attach: 'Adjuntar un archivo', sending_file: 'subiendo {n}%', download: 'Descargar {name}', chat_types: 'imágenes, PDF y archivos de texto',
      long: 'Ese mensaje es demasiado largo (4000 caracteres como máximo).', wait: 'Aún no hay conexión, espere un momento.',
      busy: 'Todos están ocupados en este momento. Le estamos conectando…',
      busy_leave: 'Todos están atendiendo a otros clientes en este momento. Déjenos un mensaje y le responderemos pronto.',
      busy_later: 'Todos están atendiendo a otros clientes en este momento. Inténtelo de nuevo en unos minutos.',
      wrong: 'Algo salió mal', leave: 'Déjenos un mensaje', department_id: 'Departamento',
      first_name: 'Nombre', last_name: 'Apellido', email: 'Correo electrónico', phone: 'Celular', optional: '(opcional)',
      message: 'Mensaje', submit: 'Enviar mensaje', submitting: 'Enviando…', fix: 'Revise los campos marcados abajo.',
      thanks: '¡Gracias! Recibimos su mensaje y le responderemos pronto.',
      // The server explains a wrong form field in English; these say it in Spanish.
      e_required: 'Este campo es obligatorio.', e_long: 'Es demasiado largo.',
      e_first_name: 'Escriba solo su nombre, con letras.', e_last_name: 'Escriba solo su apellido, con letras.',
      e_email: 'No es un correo electrónico completo (por ejemplo ana@ejemplo.com).',
      e_phone: 'No es un número válido. Incluya la lada, o empiece con + y el código del país.',
      e_message: 'Escriba su mensaje (hasta 4000 caracteres).', e_department_id: 'Elija un departamento.',
      choose: 'Elija…', uploading: 'Subiendo…', remove: 'Quitar {name}',
      too_large: '{name} es demasiado grande: un archivo puede tener 10 MB como máximo.',
      bad_type: 'No se puede adjuntar {name}: este campo acepta {accept}.',
      up_failed: 'No se pudo subir {name}. Inténtelo de nuevo.', too_many: 'Como máximo {n} archivos.',
      still: 'Espere a que termine de subirse el archivo.', e_agree: 'Marque esta casilla para continuar.',
      e_name: 'Escriba un nombre, solo con letras.', e_option: 'Elija una de las opciones.',
      e_number: 'Escriba un número.', e_field: 'Revise este campo.',
      mail: 'Enviarme este chat por correo', mail_to: 'Enviar este chat a', cancel: 'Cancelar', mail_sent: 'Enviado a {email}',
      mail_bad: 'Ese correo electrónico no parece completo (por ejemplo ana@ejemplo.com).',
      mail_limit: 'Este chat ya se envió 3 veces en la última hora. Inténtelo más tarde.',
      mail_empty: 'Todavía no hay nada que enviar.', mail_fail: 'No se pudo enviar el correo. Inténtelo de nuevo.',
      pay: 'Calcular mi pago', pay_go: 'Calcular', pay_dn: 'Enganche', pay_term: 'Meses', finance: 'Financiamiento', lease: 'Arrendamiento',
      pay_month: '{m}/mes · {n} meses', pay_bad: 'Revise el enganche y los meses.',
      times: 'Elija una hora', no_times: 'No hay horas libres esta semana.', booked: 'Reservada: {when}', full: 'Esa hora se acaba de ocupar. Elija otra.',
    },
  };

  // ---- state ----
  let ws = null, ready = false, attempt = 0, stopped = false;
  let retryTimer = 0, deadTimer = 0, peerTypingTimer = 0, idleTimer = 0, gapTimer = 0, gapAsked = -1, gapFixed = -1;
  let view = 'loading';              // 'loading' | 'pick' | 'chat'
  let departments = [], rooftop = '', bot = null;
  const okLang = (l) => (l === 'en' || l === 'es' ? l : null);
  const readLook = () => { try { return JSON.parse(getItem('localStorage', LOOK_KEY) || 'null') || {}; } catch (_) { return {}; } };
  let look = readLook();             // the website's appearance (cached until the welcome brings it)
  // The shopper's own choice, else the website's fixed language, else the browser's.
  let lang = okLang(getItem('localStorage', LANG_KEY)) || okLang(look.language) || (/^es\b/i.test(navigator.language || '') ? 'es' : 'en');
  let conv = null;                   // conversation on screen
  let shown = new Map();             // seq -> <li>, messages of `conv` on screen
  let lastSeq = 0;                   // every seq <= lastSeq is on screen (what hello.last_seq claims)
  let seenBy = 0, seenSent = 0;      // the agent's read mark of `conv`; the highest we told
  let seenEl = null;                 // the "Seen" line, under one of our messages
  let kept = [];                     // message objects of `conv`, for the tab cache
  const pending = new Map();         // client_msg_id -> {frame, el, file?}: sent, not yet acked
  let helloFor = null, helloSeq = 0; // what our last hello claimed
  let startRef = null, early = [], startDept = null, startForm = null; // a `start` in flight; messages that came before `started`
  let startTries = 0; // the starts refused `unavailable` in a row (busy, or the service restarting)
  const START_TRIES = 5;
  let earlyConv = null;              // the latest `conversation` frame that came before `started`
  let vtoken = null;                 // the visitor token of the last welcome (file uploads send it)
  const FORMS = {};                  // 'pre_chat' | 'offline' -> the website's form, built (see buildForm), or null
  let typingSentAt = 0, typingOn = false, refN = 0;
  let leave = null;                  // the leave-a-message form: {conv, formId, frame, busy, done}
  let leftFor = null;                // the conversation whose message was left (from the tab cache)
  let connKey = 'connecting', headKey = '';
  let mail = null, mailSays = null;  // "Email me this chat": {frame, busy} in flight; [key, vars, bad] shown
  const noPhoto = new Set();         // agents whose photo did not load: their initial instead

  // ---- DOM helpers ----
  const h = (tag, cls, text) => {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = String(text);
    return el;
  };
  const fill = (s, vars) => { for (const k in vars) s = s.split('{' + k + '}').join(vars[k]); return s; };
  const t = (k, vars) => fill(STR[lang][k] ?? STR.en[k] ?? '', vars || {});
  // A text of the bot in the current language, {rooftop} filled ('' when the server sent none).
  const bt = (k) => { const x = bot && bot.texts && (bot.texts[lang] || bot.texts.en); return x && x[k] ? fill(x[k], { rooftop }) : ''; };
  const nm = (x) => (typeof x === 'string' ? x : (x && x.name) || '');
  const time = (at) => { const d = new Date(at); return isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); };
  const uid = () => (crypto.randomUUID ? crypto.randomUUID() : 'm-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 12));
  const isOpen = (c) => !!c && (c.state === 'bot' || c.state === 'incoming' || c.state === 'active'); // unknown states count as closed
  const stage = (c) => ['bot', 'incoming', 'active'].indexOf(c.state) + 1 || 4; // how far along: closed is last
  const gate = () => !!(bot && bot.lead_gate);
  const I18N = []; // [element, key, attribute]: chrome to translate when the language changes
  const tr = (el, key, attrName) => { I18N.push([el, key, attrName]); return el; };
  const attr = (el, o) => { for (const k in o) el.setAttribute(k, o[k]); return el; };

  const CSS = `:host{all:initial;--c:#1f4fd1;--t:#fff;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
*{box-sizing:border-box}
[hidden]{display:none!important}
button,input,select,textarea{font:inherit}button{cursor:pointer}button:disabled{cursor:default;opacity:.6}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;display:flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:12px 18px;background:var(--c);color:var(--t);font-size:15px;font-weight:600;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.launch svg{flex:none;display:block}
.launch.l{right:auto;left:16px}.panel.l{right:auto;left:12px}
.dot{display:inline-block;width:9px;height:9px;margin-left:8px;border-radius:50%;background:#f43f5e}
.panel{position:fixed;right:12px;bottom:72px;z-index:2147483000;width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 96px);display:flex;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 10px 40px rgba(0,0,0,.3);overflow:hidden;font-size:14px;line-height:1.4}
.head{display:flex;align-items:center;gap:8px;padding:10px 12px;background:var(--c);color:var(--t)}
.head h2{flex:1;min-width:0;margin:0;font-size:16px;overflow-wrap:anywhere}
.head button{background:transparent;color:inherit;border:1px solid;border-radius:6px;padding:3px 8px}
.x{border:0!important;font-size:20px;line-height:1}
.av{display:inline-flex;flex:none;align-items:center;justify-content:center;width:28px;height:28px;border-radius:50%;overflow:hidden;background:var(--t);color:var(--c);font-weight:700}
.av img{width:100%;height:100%;object-fit:cover}
.who .av{width:18px;height:18px;margin-right:5px;vertical-align:-4px;background:var(--c);color:var(--t);font-size:11px}
.line{margin:0;padding:6px 12px;font-size:13px;background:#f1f5f9;color:#334155}
.conn{background:#fef3c7;color:#92400e}.err{background:#fee2e2;color:#991b1b}
.body{flex:1;overflow:auto;padding:12px}
.pick p{margin:0 0 10px}
.pick label{display:block;margin-bottom:12px;font-size:13px}
.langs{display:flex;justify-content:flex-end;gap:4px;margin:-4px 0 6px}
.langs button{padding:2px 8px;border:1px solid #cbd5e1;border-radius:6px;background:#fff;font-size:12px}
.langs [aria-pressed=true]{background:var(--c);border-color:var(--c);color:var(--t)}
input,select,textarea{width:100%;padding:8px 10px;border:1px solid #cbd5e1;border-radius:8px;margin-top:4px;background:#fff;color:#111}
textarea{resize:vertical;min-height:72px}
[aria-invalid=true]{border-color:#b91c1c}
.dept{display:block;width:100%;text-align:left;margin:0 0 8px;padding:10px 12px;border:1px solid #cbd5e1;border-radius:8px;background:#fff}
.dept:hover{border-color:var(--c)}.dept small{display:block;color:#64748b}
.chat{display:flex;flex-direction:column;padding:0}
.scroll{flex:1;overflow:auto}
.log{list-style:none;margin:0;padding:12px;display:flex;flex-direction:column;gap:8px}
.msg{max-width:85%;padding:7px 10px;border-radius:10px;background:#f1f5f9;align-self:flex-start;white-space:pre-wrap;overflow-wrap:anywhere}
.msg.shopper{align-self:flex-end;background:#dbeafe}
.msg.system{align-self:center;max-width:100%;background:none;color:#64748b;font-size:12px;font-style:italic;text-align:center}
.system .meta{text-align:center}
.who{display:block;margin-bottom:2px;font-size:12px;font-weight:600;color:#475569}
.meta{display:block;font-size:11px;color:#64748b;text-align:right}
.failed .meta{color:#b91c1c}
.typing{margin:0;padding:0 12px 4px;min-height:18px;font-size:12px;color:#64748b}
.seen{font-weight:600}
.rate{padding:6px 12px}.rate p{margin:0 0 4px;font-weight:600}.stars .star{font-size:24px;line-height:1;background:none;border:0;padding:0 2px;color:#cbd5e1;cursor:pointer}.stars .star.on{color:#f59e0b}
.rate label{display:block;font-size:12px;margin:4px 0 2px}.rate input{width:100%;box-sizing:border-box}
.quick,.slots{display:flex;flex-wrap:wrap;gap:6px;padding:0 8px 8px}
.quick button,.slots button{padding:5px 12px;border:2px solid var(--c);border-radius:16px;background:#fff;color:#111}
.compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e2e8f0}
.compose input{margin:0;flex:1;min-width:0}
.clip{padding:0 8px}.thumb{display:block;max-width:100%;max-height:160px;border-radius:6px;margin:4px 0}.file{display:block}
.send,.new,.go{border:0;border-radius:8px;padding:8px 14px;background:var(--c);color:var(--t)}
.mail{padding:0 12px 6px;text-align:right}.est b,.est span,.est small{display:block}.est small{color:#64748b;font-size:11px}.pay{flex-wrap:nowrap}.pay>*{flex:1 1 0;width:auto;margin:0;min-width:0}.est{text-align:left}
.link{border:0;background:none;padding:2px 0;color:#334155;font-size:12px;text-decoration:underline}
.mailf{display:flex;flex-wrap:wrap;align-items:flex-end;gap:6px;margin-top:4px;text-align:left}
.mailf label{flex:1 1 170px;font-size:12px}.mailf .send{padding:8px 12px}
.mail p{margin:4px 0 0;font-size:12px;text-align:left}.mail p:empty{margin:0}.mail .ok{color:#166534}
.new{margin:8px 12px}
.leave{padding:10px 12px 12px;border-top:1px solid #e2e8f0}
.leave h3{margin:0 0 8px;font-size:15px}
.fld{margin:0 0 10px}
.fld label,legend{display:block;margin:0;padding:0;font-size:13px;font-weight:600}
fieldset{margin:0;padding:0;border:0;min-width:0}
.opt{font-weight:400;color:#64748b}
.fld .ch{display:flex;align-items:flex-start;gap:8px;margin-top:6px;font-weight:400}
.ch input{flex:none;width:18px;height:18px;margin:1px 0 0;padding:0}
.flabel{margin:0 0 10px;font-size:13px;color:#334155;white-space:pre-wrap;overflow-wrap:anywhere}
.files{list-style:none;margin:4px 0 0;padding:0;font-size:13px}
.files li{display:flex;align-items:center;gap:6px;overflow-wrap:anywhere}
.files button{flex:none;border:1px solid #cbd5e1;border-radius:6px;background:#fff;padding:0 7px}
.pre .go{width:100%;margin-top:4px}
.hint{margin:4px 0 0;font-size:11px;color:#64748b}
.ferr{margin:4px 0 0;font-size:12px;color:#b91c1c}
.done{margin:10px 12px;padding:10px;border-radius:8px;background:#dcfce7;color:#14532d}`;

  // ---- build the UI inside a shadow root ----
  const host = document.createElement('showroom-widget');
  const root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets && 'replaceSync' in CSSStyleSheet.prototype) { // also works under a strict CSP
    const sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet];
  } else root.append(h('style', '', CSS));

  const launch = h('button', 'launch'), iconBox = h('span'), launchText = h('span');
  const dot = h('span', 'dot'); dot.hidden = true; launch.append(iconBox, launchText, dot);
  const panel = tr(attr(h('section', 'panel'), { id: 'sr-panel', role: 'dialog' }), 'chat', 'aria-label'); panel.hidden = true;
  attr(launch, { 'aria-controls': 'sr-panel', 'aria-expanded': 'false' });

  const head = h('div', 'head'), avBox = h('span'), title = h('h2', '', 'Chat');
  const endBtn = tr(h('button'), 'end'), closeBtn = tr(h('button', 'x', '×'), 'close', 'aria-label');
  head.append(avBox, title, endBtn, closeBtn);
  const connLine = attr(h('p', 'line conn'), { role: 'status' });
  const errLine = attr(h('p', 'line err'), { role: 'alert' }); errLine.hidden = true;

  // Before a chat: the language switch, then a department (or, with the Lead Gate, just start).
  const pick = h('div', 'body pick');
  const langs = tr(attr(h('div', 'langs'), { role: 'group' }), 'lang', 'aria-label');
  const langBtns = [['en', 'EN', 'English'], ['es', 'ES', 'Español']].map(([l, text, label]) => {
    const b = attr(h('button', '', text), { type: 'button', lang: l, 'aria-label': label });
    b.onclick = () => { lang = l; setItem('localStorage', LANG_KEY, l); applyLang(); };
    langs.append(b);
    return [l, b];
  });
  const nameInput = h('input'); nameInput.maxLength = 100; nameInput.autocomplete = 'name';
  const nameText = tr(h('span'), 'name'), nameLabel = h('label'); nameLabel.append(nameText, nameInput);
  const depts = h('div'), goBtn = tr(h('button', 'go'), 'go'); goBtn.type = 'button';
  goBtn.onclick = () => { if (goBtn.type === 'button') start(null); };
  // With the website's pre-chat form: a department (when there are several), its fields, and the
  // same Start button, moved into the form as its submit button.
  const preForm = attr(h('form', 'pre'), { 'aria-labelledby': 'sr-help' }); preForm.noValidate = true; preForm.hidden = true;
  const preErr = attr(h('p', 'ferr'), { role: 'alert' }); preErr.hidden = true;
  const deptSel = h('select'), deptBox = h('div', 'fld'), deptLabel = h('label');
  deptSel.id = deptLabel.htmlFor = 'sr-pre-dept';
  deptLabel.append(tr(h('span'), 'department_id')); deptBox.append(deptLabel, deptSel);
  const preBox = h('div');
  preForm.append(preErr, deptBox, preBox);
  pick.append(langs, attr(tr(h('p'), 'help'), { id: 'sr-help' }), nameLabel, depts, goBtn, preForm);

  const chat = h('div', 'body chat');
  const stateLine = attr(h('p', 'line'), { role: 'status' });
  const scroller = h('div', 'scroll'), log = tr(h('ol', 'log'), 'messages', 'aria-label');
  attr(log, { 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const typingLine = h('p', 'typing');
  const quick = tr(attr(h('div', 'quick'), { role: 'group' }), 'picks', 'aria-label'); quick.hidden = true;
  const slots = tr(attr(h('div', 'slots'), { role: 'group' }), 'times', 'aria-label'); slots.hidden = true;
  const compose = h('form', 'compose'), input = tr(h('input'), 'type', 'aria-label'), sendBtn = tr(h('button', 'send'), 'send');
  input.maxLength = 4000; input.autocomplete = 'off';
  const attachBtn = tr(tr(h('button', 'clip', '📎'), 'attach', 'aria-label'), 'attach', 'title'), picker = h('input');
  attachBtn.type = 'button'; picker.type = 'file'; picker.accept = CHAT_TYPES; picker.hidden = true;
  compose.append(attachBtn, input, sendBtn);
  const newBtn = tr(h('button', 'new'), 'again'); newBtn.type = 'button';

  // The leave-a-message form (a chat that could not go live).
  const leaveForm = attr(h('form', 'leave'), { 'aria-labelledby': 'sr-leave-h' }); leaveForm.noValidate = true;
  const leaveErr = attr(h('p', 'ferr'), { role: 'alert' }); leaveErr.hidden = true;
  const leaveBtn = h('button', 'send'); leaveBtn.type = 'submit';
  const leaveDone = attr(h('p', 'done'), { role: 'status', tabindex: '-1' });
  const F = {}; // field name -> {el, err, label}
  const builtin = h('div'), offBox = h('div'); // the built-in fields, or the website's offline form
  const consent = h('p', 'hint'); consent.id = 'sr-consent';
  leaveForm.append(attr(tr(h('h3'), 'leave'), { id: 'sr-leave-h' }), leaveErr);
  for (const [name, tag, type, auto] of [['department_id', 'select'], ['first_name', 'input', 'text', 'given-name'],
    ['last_name', 'input', 'text', 'family-name'], ['email', 'input', 'email', 'email'], ['phone', 'input', 'tel', 'tel'],
    ['message', 'textarea']]) {
    const el = h(tag), label = h('label'), err = attr(h('p', 'ferr'), { id: 'sr-' + name + '-err' }), box = h('div', 'fld');
    el.id = label.htmlFor = 'sr-' + name; el.name = name;
    if (type) el.type = type;
    if (auto) el.autocomplete = auto;
    if (tag !== 'select') el.maxLength = name === 'message' ? 4000 : name === 'email' ? 254 : 60;
    if (name !== 'phone' && name !== 'department_id') el.required = true;
    err.hidden = true;
    label.append(tr(h('span'), name));
    if (name === 'phone') label.append(' ', tr(h('span'), 'optional'));
    box.append(label, el, err);
    if (name === 'phone') box.append(consent);
    F[name] = { el, err };
    (name === 'department_id' ? leaveForm : builtin).append(box);
  }
  leaveForm.append(builtin, offBox, leaveBtn);
  scroller.append(log, leaveForm, leaveDone);

  // Rating (CSAT): once a chat with an agent has ended, 1 to 5 stars and a comment, once.
  const rateBox = attr(h('form', 'rate'), { 'aria-labelledby': 'sr-rate-h' }); rateBox.noValidate = true; rateBox.hidden = true;
  const rateStars = attr(h('div', 'stars'), { role: 'group' });
  const rateComment = attr(h('input'), { id: 'sr-rate-c', maxlength: '1000', autocomplete: 'off' });
  const rateLabel = h('label'); rateLabel.htmlFor = 'sr-rate-c'; rateLabel.append(tr(h('span'), 'rate_comment'));
  const rateSend = tr(attr(h('button', 'send'), { type: 'submit' }), 'rate_send');
  const rateDone = attr(tr(h('p', 'done'), 'rate_thanks'), { role: 'status' }); rateDone.hidden = true;
  let rateScore = 0, ratedFor = null;
  for (let n = 1; n <= 5; n++) {
    const b = attr(h('button', 'star', '★'), { type: 'button', 'aria-pressed': 'false' });
    b.onclick = () => { rateScore = n; renderRate(); };
    rateStars.append(b);
  }
  rateBox.append(attr(tr(h('p'), 'rate_q'), { id: 'sr-rate-h' }), rateStars, rateLabel, rateComment, rateSend);
  rateBox.onsubmit = (ev) => {
    ev.preventDefault();
    if (rateScore && conv) raw({ type: 'rate', score: rateScore, comment: rateComment.value, ref: 'rate-' + (++refN) });
  };

  // "Email me this chat": a button, then the address (the contact's, when the chat has one).
  const mailBox = h('div', 'mail');
  const mailBtn = tr(attr(h('button', 'link'), { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'sr-mail' }), 'mail');
  const mailForm = attr(h('form', 'mailf'), { id: 'sr-mail' }); mailForm.noValidate = true; mailForm.hidden = true;
  const mailInput = attr(h('input'), { type: 'email', id: 'sr-mail-to', autocomplete: 'email', maxlength: '254', required: '' });
  const mailLabel = h('label'); mailLabel.append(tr(h('span'), 'mail_to'), mailInput);
  const mailSend = tr(attr(h('button', 'send'), { type: 'submit' }), 'send');
  const mailCancel = tr(attr(h('button', 'link'), { type: 'button' }), 'cancel');
  const mailSt = attr(h('p'), { id: 'sr-mail-st', role: 'status' });
  mailForm.append(mailLabel, mailSend, mailCancel);
  mailBox.append(mailBtn, mailForm, mailSt);

  // "Estimate my payment" (a page whose vehicle has a price): computed by the server from the
  // dealer's rates for the chat's vehicle, shown with the dealer's disclaimer; kept with the chat.
  const payBox = h('div', 'mail'), payOut = attr(h('p', 'est'), { role: 'status' });
  const payBtn = tr(attr(h('button', 'link'), { type: 'button', 'aria-expanded': 'false' }), 'pay');
  const payForm = h('form', 'mailf pay'), payKind = h('select');
  const payIn = (k) => tr(tr(attr(h('input'), { inputmode: 'decimal', size: '6' }), k, 'placeholder'), k, 'aria-label');
  const payDown = payIn('pay_dn'), payTerm = payIn('pay_term');
  ['finance', 'lease'].forEach((k) => payKind.append(tr(attr(h('option'), { value: k }), k)));
  payForm.hidden = payForm.noValidate = true;
  payForm.append(payKind, payDown, payTerm, tr(attr(h('button', 'send'), { type: 'submit' }), 'pay_go'));
  payBox.append(payBtn, payForm, payOut);
  payBtn.onclick = () => { payForm.hidden = !payForm.hidden; payBtn.setAttribute('aria-expanded', String(!payForm.hidden)); };
  payForm.onsubmit = (e) => {
    e.preventDefault();
    const n = (i, f) => (i.value.trim() ? Math.round(+i.value * f) : undefined);
    fetch(src.origin + '/api/v1/widget/' + encodeURIComponent(KEY) + '/payment-estimate', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Visitor-Token': vtoken || getItem('localStorage', TOKEN_KEY) || '' },
      body: JSON.stringify({ conversation_id: conv && conv.id, kind: payKind.value, down_cents: n(payDown, 100), term_months: n(payTerm, 1) }),
    }).then((r) => r.json().then((j) => payOut.replaceChildren(r.ok ? estCard(j.estimate) : t(r.status === 400 ? 'pay_bad' : 'wrong'))))
      .catch(() => payOut.replaceChildren(t('wrong')));
  };
  const money = (c, cur) => (c / 100).toLocaleString(lang, { style: 'currency', currency: cur });
  // An estimate as a card: the monthly payment, the kind and down payment, the disclaimer.
  function estCard(e) {
    const box = h('span', 'est');
    box.append(h('b', '', t('pay_month', { m: money(e.monthly_cents, e.currency), n: e.term_months })),
      h('span', '', t(e.kind) + ' · ' + t('pay_dn') + ' ' + money(e.down_cents, e.currency)), h('small', '', e.disclaimer));
    return box;
  }

  chat.append(stateLine, scroller, typingLine, quick, slots, mailBox, payBox, compose, picker, rateBox, rateDone, newBtn);
  pick.hidden = chat.hidden = endBtn.hidden = true;
  panel.append(head, connLine, errLine, pick, chat);
  root.append(launch, panel);

  const mount = () => document.body.append(host);
  document.body ? mount() : document.addEventListener('DOMContentLoaded', mount);

  // ---- language: every piece of chrome, then what depends on the state ----
  function applyLang() {
    const tx = ([el, k, a]) => (a ? el.setAttribute(a, t(k)) : (el.textContent = t(k)));
    I18N.forEach(tx);
    renderLaunch(); renderMail();
    for (const k in FORMS) if (FORMS[k]) { FORMS[k].i18n.forEach(tx); FORMS[k].fields.forEach((fl) => fl.status && renderFiles(fl)); }
    panel.lang = launch.lang = lang;
    langBtns.forEach(([l, b]) => b.setAttribute('aria-pressed', String(l === lang)));
    setConn(connKey);
    consent.textContent = bt('consent');
    leaveBtn.textContent = t(leave && leave.busy ? 'submitting' : 'submit');
    leaveDone.textContent = bt('message_left') || t('thanks');
    if (view === 'pick') renderDepartments();
    if (view === 'chat' && conv) renderState();
    renderHead();
  }

  // ---- panel open / close ----
  function setPanel(open) {
    panel.hidden = !open;
    launch.setAttribute('aria-expanded', String(open));
    if (!open) return launch.focus();
    dot.hidden = true;
    if (!ws && !retryTimer && !stopped) connect();
    focusView(); tellSeen();
  }
  function focusView() {
    if (view === 'chat' && isOpen(conv)) input.focus();
    else if (view === 'chat' && !leaveForm.hidden) focusLeave();
    else if (view === 'pick' && !preForm.hidden) (deptBox.hidden ? (FORMS.pre_chat.fields[0] || { inputs: [goBtn] }).inputs[0] : deptSel).focus();
    else if (view === 'pick') (depts.querySelector('button') || (goBtn.hidden ? nameInput : goBtn)).focus();
  }
  launch.onclick = () => setPanel(panel.hidden);
  closeBtn.onclick = () => setPanel(false);
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') setPanel(false); });

  function setConn(key) { connKey = key; connLine.textContent = key ? t(key) : ''; connLine.hidden = !key; }
  const showError = (text) => { errLine.textContent = text || ''; errLine.hidden = !text; };

  // ---- socket ----
  const raw = (frame) => { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); };

  // The route: the last one learnt (kept here too, for a browser that keeps no localStorage);
  // the route's one request of a new visitor, under way; whether it was made.
  let route = getItem('localStorage', ROUTE_KEY) || '', routeAsk = null, routed = false;
  const learnRoute = (r) => { if (typeof r === 'string' && r) setItem('localStorage', ROUTE_KEY, route = r); };
  function connect() {
    clearTimeout(retryTimer); retryTimer = 0;
    setConn(attempt ? 'reconnecting' : 'connecting');
    if (!route && !routed) {
      // Without an answer in 3 s (or with none at all) the website key spreads the socket instead.
      routeAsk = routeAsk || Promise.race([
        fetch(ROUTE_URL).then((r) => (r.ok ? r.json() : null)),
        new Promise((done) => setTimeout(done, 3000, null)),
      ]).catch(() => null).then((j) => {
        routed = true; routeAsk = null;
        if (j) learnRoute(j.route);
        if (!ws && !stopped) connect();
      });
      return;
    }
    const sock = ws = new WebSocket(WS_URL + '&route=' + encodeURIComponent(route || KEY || ''));
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
    setConn('reconnecting');
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
      case 'history': return onHistory(f);
      case 'ack': return onAck(f);
      case 'message': return onMessage(f.message);
      case 'conversation': return onConversation(f.conversation);
      case 'typing': return onPeerTyping(f);
      case 'seen': return onSeen(f);
      case 'rated': ratedFor = f.conversation_id; return renderRate();
      case 'message_left': return onLeft(f);
      case 'transcript_sent': return onMailSent(f);
      case 'error': return onError(f);
      default: return; // pong and anything newer
    }
  }

  function onWelcome(w) {
    ready = true; attempt = 0; setConn(''); showError('');
    if (w.visitor_token) setItem('localStorage', TOKEN_KEY, vtoken = w.visitor_token);
    learnRoute(w.route);
    if (w.website) rooftop = nm(w.website.rooftop) || nm(w.website);
    departments = w.departments || [];
    bot = w.bot || null;
    if (w.appearance && typeof w.appearance === 'object') {
      applyLook(w.appearance); setItem('localStorage', LOOK_KEY, JSON.stringify(w.appearance));
    }
    if (mail && mail.busy) raw(mail.frame); // lost with the last socket: the same request (sent once)
    const fm = w.forms || {};
    syncForm('pre_chat', fm.pre_chat); syncForm('offline', fm.offline);
    lang = okLang(getItem('localStorage', LANG_KEY)) || okLang(w.language) || lang;
    const c = w.conversation;
    // Our last_seq was about another conversation: the messages we got may start mid-way. Ask again from 0.
    if (c && helloSeq > 0 && c.id !== helloFor) return resync();
    if (isOpen(c)) {
      if (!conv || conv.id !== c.id) resetConv(c); else conv = c;
      (w.messages || []).forEach(addMessage);
      showChat();
      pending.forEach((p) => raw(p.frame)); // resend unacked frames, same client_msg_id
    } else if (c && conv && conv.id === c.id && view !== 'pick') {
      conv = c; // the chat on screen (or in this tab before a reload) ended: keep the transcript visible
      (w.messages || []).forEach(addMessage);
      failPending(); showChat();
      if (leave && leave.busy && leave.conv === c.id) raw(leave.frame); // same form_id: stored once
    } else if (conv && conv.local && view !== 'pick') {
      if (leave && leave.busy && leave.conv === conv.id) raw(leave.frame); // the turned-away chat's form
    } else {
      failPending();
      if (view !== 'pick') { resetConv(null); showPick(); }
    }
    applyLang();
  }

  function onStarted(s) {
    startRef = null;
    if (startTries) { startTries = 0; showError(''); } // the busy notice of a start tried again
    // An agent may have taken the chat before this answer came: the further state wins.
    const e = earlyConv; earlyConv = null;
    resetConv(e && s.conversation && e.id === s.conversation.id && stage(e) > stage(s.conversation) ? e : s.conversation);
    (s.messages || []).forEach(addMessage); // written before this socket watched the chat
    early.filter((m) => m.conversation_id === conv.id).forEach(addMessage);
    early = [];
    showChat(); input.focus();
  }

  function onHistory(f) { // the gap we asked for
    if (f.conversation && conv && f.conversation.id === conv.id) (f.messages || []).forEach(addMessage);
  }

  function onMessage(m) {
    if (!m) return;
    if (conv && m.conversation_id === conv.id) return addMessage(m);
    if (startRef) early.push(m); // may precede our `started`
    else resync();               // a conversation we do not know (started in another tab)
  }

  function onConversation(c) {
    if (!c) return;
    if (!conv || c.id !== conv.id) {
      if (startRef) earlyConv = c; // may precede our `started`
      else if (isOpen(c)) resync();
      return;
    }
    conv = c; save();
    if (!isOpen(c)) { failPending(); stopTyping(); showPeerTyping(null); }
    if (view !== 'chat') return;
    const focused = root.activeElement;
    renderState();
    if (!isOpen(c) && (focused === endBtn || focused === input || focused === sendBtn || quick.contains(focused))) {
      if (!leaveForm.hidden) focusLeave(); else newBtn.focus();
    }
  }

  function onAck(a) {
    const p = pending.get(a.client_msg_id);
    if (!p || !conv) return;
    addMessage({ conversation_id: a.conversation_id, seq: a.seq, id: a.id, at: a.at, client_msg_id: a.client_msg_id,
      author: { kind: 'shopper', name: nameInput.value.trim() }, text: p.frame.text, file: p.file });
  }

  function onError(e) {
    if (e.ref === 'gap') return; // the next look at the gap reconnects instead
    if (leave && leave.busy && e.ref && e.ref === leave.frame.ref) return leaveRefused(e);
    if (mail && mail.busy && e.ref && e.ref === mail.frame.ref) return mailRefused(e);
    const p = e.ref && pending.get(e.ref);
    if (p && (e.code === 'unavailable' || e.code === 'rate_limited')) { // not stored: the very same frame again
      const wait = e.code === 'rate_limited' ? Math.max(1, e.retry_after_secs || 1) * 1000 : 2000;
      setTimeout(() => { if (pending.has(e.ref)) raw(p.frame); }, wait);
      return;
    }
    if (p) { pending.delete(e.ref); markFailed(p.el); renderQuick(); }
    if (e.ref && e.ref === startRef) {
      startRef = null; early = []; earlyConv = null;
      // Busy, or restarting: nothing started (a start that did is `not_allowed` next, below).
      // The same start again a few times before the shopper is told, each wait twice the last
      // (2–4 s, 4–8 s, then 8–16 s), so a busy router is not pressed harder.
      if (e.code === 'unavailable' && startTries < START_TRIES) {
        startTries++;
        showError(t('busy'));
        const d = startDept, form = startForm;
        const again = () => {
          if (startRef || conv) return; // a chat came (resync) or the shopper started anew
          if (!ready) return void setTimeout(again, 1000); // reconnecting: once it is back
          start(d, form, true);
        };
        setTimeout(again, Math.min(2 ** startTries, 8) * 1000 * (1 + Math.random()));
        return;
      }
      if (e.code === 'unavailable') return turnedAway();
      // The dealer page's vehicle data was refused: the chat matters more; start without it.
      if (e.code === 'bad_request' && !e.fields && /vehicle/.test(e.message || '') && vehicle) {
        console.warn('Showroom: vehicle context ignored:', e.message);
        vehicle = null;
        return start(startDept, startForm);
      }
      pick.querySelectorAll('.dept,.go').forEach((b) => { b.disabled = false; });
      if (e.code === 'not_allowed') return resync(); // we already have an open chat: go fetch it
      if (e.fields && startForm && FORMS.pre_chat) { // wrong answers: each next to its field
        const first = formRefused(FORMS.pre_chat, preErr, e.fields, e.message);
        return first && first.focus();
      }
    }
    if (e.code === 'unauthorized' || e.code === 'unsupported_version') stopped = true; // the socket closes; retrying will not help
    showError(e.message || t('wrong') + ' (' + e.code + ')');
  }

  // Still busy after every try: a chat of our own (never sent or stored) that says so and offers
  // the leave-a-message form, so the shopper is not lost; the gateway records it as `busy`.
  function turnedAway() {
    startTries = 0; showError('');
    pick.querySelectorAll('.dept,.go').forEach((b) => { b.disabled = false; });
    // What the shopper already told us fills the form: the name field, or the pre-chat form's
    // answers that map to a contact field.
    const [first, ...last] = nameInput.value.trim().split(/\s+/), contact = { first_name: first, last_name: last.join(' ') };
    if (startForm && FORMS.pre_chat) FORMS.pre_chat.fields.forEach((fl) => {
      const c = fl.f.maps_to && fl.f.maps_to.contact, v = startForm[fl.f.id];
      if (c && typeof v === 'string') contact[c] = v;
    });
    const d = startDept;
    resetConv({ id: 'busy-' + uid(), local: true, state: 'offline', offline_reason: 'busy', language: lang,
      department: d ? { id: d.id } : null, contact });
    showChat();
  }

  // ---- transcript ----
  function resetConv(c) {
    conv = c; shown = new Map(); lastSeq = 0; kept = []; gapAsked = gapFixed = -1; seenBy = seenSent = 0; rateScore = 0;
    mail = null; mailSays = null; mailInput.value = ''; mailForm.hidden = true; renderMail();
    log.replaceChildren(); failPending(); pending.clear();
    save();
  }

  // Add a message of `conv`, once, in seq order. Our own pending bubble is reused when it comes back.
  function addMessage(m) {
    if (!m || typeof m.seq !== 'number' || m.seq <= lastSeq || shown.has(m.seq)) return;
    const kind = (m.author && m.author.kind) || 'system';
    const p = kind === 'shopper' && m.client_msg_id && pending.get(m.client_msg_id);
    let el;
    if (p && m.file) { pending.delete(m.client_msg_id); el = bubble(m, time(m.at)); p.el.replaceWith(el); }
    else if (p) { pending.delete(m.client_msg_id); el = p.el; el.querySelector('.meta').textContent = time(m.at); }
    else el = bubble(m, time(m.at));
    el.dataset.seq = m.seq;
    place(el);
    shown.set(m.seq, el);
    while (shown.has(lastSeq + 1)) lastSeq++;
    kept.push(m); save();
    if (kind !== 'shopper') { showPeerTyping(null); if (panel.hidden && ready) dot.hidden = false; }
    checkGap(); renderQuick(); renderHead(); renderMail(); renderSeen(); tellSeen();
  }

  // Read marks: "Seen" under our last message the agent saw; we tell the agent how far we read
  // while the panel is open and the page visible and focused (only when it grows).
  function onSeen(f) {
    if (!conv || f.conversation_id !== conv.id || typeof f.seq !== 'number') return;
    if (f.side === 'agent') { seenBy = Math.max(seenBy, f.seq); renderSeen(); }
    else seenSent = Math.max(seenSent, f.seq); // another tab of ours told it
  }
  function renderSeen() {
    let top = 0;
    shown.forEach((li, seq) => { if (seq <= seenBy && seq > top && li.classList.contains('shopper')) top = seq; });
    if (seenEl) seenEl.remove();
    const meta = top && shown.get(top).querySelector('.meta');
    if (!meta) return;
    seenEl = seenEl || h('span', 'seen');
    seenEl.textContent = ' · ' + t('seen');
    meta.append(seenEl);
  }
  function tellSeen() {
    if (!ready || !conv || panel.hidden || document.visibilityState !== 'visible' || !document.hasFocus() || lastSeq <= seenSent) return;
    seenSent = lastSeq; raw({ type: 'seen', seq: lastSeq });
  }
  window.addEventListener('focus', () => tellSeen());
  document.addEventListener('visibilitychange', () => tellSeen());

  // A seq jump that lasts (the gateway sends messages in order, waiting 250 ms for a late one):
  // a frame was lost. Ask for what follows our last contiguous seq (`history`); if the gap is
  // still there at the next look, reconnect (hello with last_seq). Once each per gap.
  const behind = () => [...shown.keys()].some((s) => s > lastSeq);
  function checkGap() {
    if (!gapTimer && behind()) gapTimer = setTimeout(healGap, 1500);
  }
  function healGap() {
    gapTimer = 0;
    if (!ready || !behind()) return;
    if (gapAsked !== lastSeq) { gapAsked = lastSeq; raw({ type: 'history', after_seq: lastSeq, ref: 'gap' }); }
    else if (gapFixed !== lastSeq) { gapFixed = lastSeq; return lost(); }
    else return;
    checkGap();
  }

  // A small round picture: the bot's avatar_url or the agent's photo (from our own gateway),
  // else, or when it does not load, the name's initial.
  function avatar(name, url, failed) {
    const s = attr(h('span', 'av'), { 'aria-hidden': 'true' });
    const initial = () => { s.textContent = (String(name).trim()[0] || '?').toUpperCase(); };
    if (url && (/^https:\/\//i.test(url) || url.startsWith(src.origin + '/'))) {
      const img = h('img'); img.alt = ''; img.referrerPolicy = 'no-referrer';
      img.onerror = () => { if (failed) failed(); initial(); };
      img.src = url;
      s.append(img);
    } else initial();
    return s;
  }

  function bubble(m, meta) {
    const kind = (m.author && m.author.kind) || 'system';
    const li = h('li', 'msg ' + kind);
    if (kind === 'agent' || kind === 'bot') {
      const name = nm(m.author) || (kind === 'bot' ? (bot && bot.name) || t('assistant') : t('agent'));
      const who = h('span', 'who');
      who.append(avatar(name, kind === 'bot' && bot && bot.avatar_url), name);
      li.append(who);
    }
    if (m.file) li.append(fileView(m.file));
    li.append(m.estimate ? estCard(m.estimate) : h('span', 'text', m.text), h('span', 'meta', meta));
    return li;
  }

  // A file message: a thumbnail for an image browsers show (not HEIC), and a download link.
  // Fetched with the visitor token and shown from a blob URL.
  const blobs = new Map();
  function fileBlob(id) {
    if (!blobs.has(id)) blobs.set(id, fetch(FILE_URL(id), { headers: { 'X-Visitor-Token': vtoken || getItem('localStorage', TOKEN_KEY) || '' } })
      .then((r) => { if (!r.ok) throw new Error('file'); return r.blob(); }).then((b) => URL.createObjectURL(b))
      .catch((e) => { blobs.delete(id); throw e; }));
    return blobs.get(id);
  }
  function fileView(f) {
    const box = h('span', 'file');
    if (/^image\/(jpeg|png|webp)$/.test(f.type)) {
      const img = h('img', 'thumb'); img.alt = f.name; img.onerror = () => img.remove(); // e.g. a page whose CSP has no img-src blob:
      fileBlob(f.id).then((u) => { img.src = u; }, () => img.remove());
      box.append(img);
    }
    const a = h('a', 'dl', f.name + ' (' + size(f.size) + ')');
    a.href = '#'; a.download = f.name; a.title = t('download', { name: f.name });
    a.onclick = (e) => {
      if (a.getAttribute('href') !== '#') return;
      e.preventDefault();
      fileBlob(f.id).then((u) => { a.href = u; a.click(); }, () => showError(t('wrong')));
    };
    box.append(a);
    return box;
  }

  // Insert before the first bubble with a higher seq or without one (pending bubbles stay last).
  function place(el) {
    const seq = +el.dataset.seq;
    const next = [...log.children].find((c) => c !== el && (!c.dataset.seq || +c.dataset.seq > seq));
    log.insertBefore(el, next || null);
    scroller.scrollTop = scroller.scrollHeight;
  }

  function markFailed(el) { el.classList.add('failed'); el.querySelector('.meta').textContent = t('failed'); }
  function failPending() { pending.forEach((p) => markFailed(p.el)); pending.clear(); }

  // The tab cache lets a reload show the transcript at once and ask only for newer messages.
  function save() {
    kept.sort((a, b) => a.seq - b.seq);
    if (kept.length > 200) kept = kept.slice(-200);
    const left = leave && leave.done ? leave.conv : leftFor;
    setItem('sessionStorage', CACHE_KEY, conv && !conv.local ? JSON.stringify({ conv, msgs: kept, left }) : null);
  }
  function restore() {
    let c; try { c = JSON.parse(getItem('sessionStorage', CACHE_KEY) || 'null'); } catch (_) { return; }
    if (!c || !c.conv || !Array.isArray(c.msgs)) return;
    conv = c.conv; leftFor = c.left || null;
    if (c.msgs.length) lastSeq = c.msgs[0].seq - 1; // a trimmed cache starts mid-way
    c.msgs.forEach(addMessage);
  }

  // ---- views ----
  function showPick() {
    view = 'pick'; pick.hidden = false; chat.hidden = endBtn.hidden = true;
    renderDepartments(); renderHead();
    if (!panel.hidden) focusView();
  }

  // Departments as buttons; with the Lead Gate also "just start" (the bot asks) and no name field.
  // With the website's pre-chat form: a department select above it instead.
  function renderDepartments() {
    depts.replaceChildren();
    const pre = !!FORMS.pre_chat && departments.length > 0;
    preForm.hidden = !pre; depts.hidden = pre;
    nameLabel.hidden = gate() || pre;
    goBtn.hidden = !pre && (!gate() || !departments.length);
    goBtn.disabled = !!startRef;
    goBtn.type = pre ? 'submit' : 'button';
    if (goBtn.parentNode !== (pre ? preForm : pick)) pre ? preForm.append(goBtn) : depts.after(goBtn);
    if (pre) {
      const was = deptSel.value;
      deptSel.replaceChildren(...departments.map((d) => {
        const o = h('option', '', d.label + (nm(d.rooftop) ? ' · ' + nm(d.rooftop) : '')); o.value = d.id; return o;
      }));
      deptSel.value = was;
      if (deptSel.selectedIndex < 0) deptSel.selectedIndex = 0;
      deptBox.hidden = departments.length < 2;
      return;
    }
    if (!departments.length) depts.append(h('p', '', t('nobody')));
    departments.forEach((d) => {
      const b = h('button', 'dept'); b.type = 'button'; b.disabled = !!startRef;
      b.append(h('strong', '', d.label));
      if (nm(d.rooftop)) b.append(h('small', '', nm(d.rooftop)));
      b.onclick = () => start(d);
      depts.append(b);
    });
  }

  // `form`: the pre-chat form's answers, if the website has one.
  // `again`: the same start once more after an `unavailable` (the notice stays up).
  function start(d, form, again) {
    if (!ready) return showError(t('wait'));
    if (!again) { startTries = 0; showError(''); }
    startRef = 'start-' + (++refN); early = []; earlyConv = null;
    const f = { type: 'start', ref: startRef, language: lang, page_url: location.href.slice(0, 2000) };
    if (d) f.department_id = d.id;
    const name = nameInput.value.trim().slice(0, 100);
    if (name && !gate() && !form) f.name = name;
    if (vehicle) f.vehicle = Object.assign({ url: location.href.slice(0, 2000) }, vehicle);
    if (form) f.form = form;
    startDept = d; startForm = form || null;
    pick.querySelectorAll('.dept,.go').forEach((b) => { b.disabled = true; });
    raw(f);
  }

  preForm.onsubmit = (e) => {
    e.preventDefault();
    const P = FORMS.pre_chat;
    if (!P || startRef) return;
    if (!ready) return showError(t('wait'));
    if (formCheck(P, preErr)) start(departments.find((d) => d.id === deptSel.value) || departments[0], P.values());
  };

  function showChat() {
    const wasPick = view !== 'chat';
    view = 'chat'; pick.hidden = true; chat.hidden = false;
    if (conv && okLang(conv.language) && conv.language !== lang) { lang = conv.language; applyLang(); }
    renderState();
    if (wasPick && !panel.hidden) focusView();
  }

  // Who the shopper is talking to: the agent once one joined, else the bot, else the dealership.
  function renderHead() {
    let name = rooftop || t('chat'), face = false, url = '', id = '';
    if (view === 'chat' && conv) {
      if (conv.agent) {
        name = nm(conv.agent) || t('agent'); face = true; id = conv.agent.id || '';
        if (id && !noPhoto.has(id)) url = PHOTO(id); // 404 until the agent has one: the initial
      }
      else if (bot && (conv.state === 'bot' || kept.some((m) => m.author && m.author.kind === 'bot'))) {
        name = bot.name || t('assistant'); url = bot.avatar_url; face = true;
      }
    }
    const k = [name, face, url].join('\n');
    if (k === headKey) return;
    headKey = k; title.textContent = name;
    avBox.replaceChildren(...(face ? [avatar(name, url, () => { if (id) noPhoto.add(id); })] : []));
  }

  // What the shopper is told about the chat's state; closed ones use the bot's texts.
  function stateText(c) {
    const r = c.offline_reason;
    switch (c.state) {
      case 'bot': return t('bot');
      case 'incoming': return t('waiting');
      case 'active': return c.agent ? t('with', { agent: nm(c.agent) }) : t('joined');
      case 'offline':
        if (r === 'busy') return t(bot && bot.leave_message_form ? 'busy_leave' : 'busy_later');
        if (r === 'after_hours') return bt('after_hours') || t('closed');
        if (r === 'wait_expired') return bt('offline') || t('missed');
        return bt('unavailable') || t('unavailable'); // nobody_available, max_sessions, …
      case 'missed': return bt('offline') || t('missed');
      case 'timed_out': return t('timed_out');
      default: return t('ended');
    }
  }

  function renderState() {
    const open = isOpen(conv);
    stateLine.textContent = stateText(conv);
    stateLine.dataset.state = conv.state || '';
    compose.hidden = endBtn.hidden = !open;
    newBtn.hidden = open;
    renderLeave(); renderQuick(); renderHead(); renderMail(); renderRate();
  }

  function renderRate() {
    const can = view === 'chat' && !!conv && !isOpen(conv) && !!conv.agent;
    rateBox.hidden = !can || ratedFor === conv.id;
    rateDone.hidden = !can || ratedFor !== conv.id;
    [...rateStars.children].forEach((b, i) => {
      b.setAttribute('aria-pressed', String(i + 1 === rateScore)); b.setAttribute('aria-label', t('stars', { n: i + 1 }));
      b.classList.toggle('on', i < rateScore);
    });
    rateSend.disabled = !rateScore;
  }

  newBtn.onclick = () => { resetConv(null); showPick(); };
  endBtn.onclick = () => { stopTyping(); raw({ type: 'end', ref: 'end-' + (++refN) }); };

  // ---- the department as quick replies, while the bot asks it ----
  // The bot asks (or asks again) when its last message is its department question.
  function asksDepartment() {
    const last = kept[kept.length - 1];
    if (!last || !last.author || last.author.kind !== 'bot' || pending.size) return false;
    return ['ask_department', 'bad_department'].some((k) => last.text.startsWith(bt(k).split('{')[0].trim()));
  }
  function renderQuick() {
    renderSlots();
    const on = view === 'chat' && !!conv && conv.state === 'bot' && !!conv.department_pending && asksDepartment();
    quick.hidden = !on;
    if (!on) return quick.replaceChildren();
    if (quick.childElementCount) return;
    departments.forEach((d) => {
      const b = h('button', '', d.label); b.type = 'button';
      b.onclick = () => { send(d.label); input.focus(); };
      quick.append(b);
    });
  }

  // ---- the slot picker: an agent's message starting with 📅 offers the department's free times
  // (docs/protocol.md, "Appointments"); the shopper books one with the visitor token ----
  let slotsFor = '';
  function renderSlots() {
    const m = kept[kept.length - 1];
    const on = view === 'chat' && isOpen(conv) && !!m && !!m.author && m.author.kind === 'agent' && (m.text || '').startsWith('📅');
    if (!on) { slotsFor = ''; slots.hidden = true; return; }
    if (slotsFor !== m.id) { slotsFor = m.id; slots.hidden = false; offerTimes(); }
  }
  const appt = (p, body) => fetch(src.origin + '/api/v1/widget/' + encodeURIComponent(KEY) + '/conversations/' + conv.id + p, {
    method: body ? 'POST' : 'GET', body: body && JSON.stringify(body),
    headers: { 'X-Visitor-Token': vtoken || getItem('localStorage', TOKEN_KEY) || '', 'Content-Type': 'application/json' },
  }).then(async (r) => [r.ok, await r.json().catch(() => ({}))]);
  async function offerTimes(note) {
    const [ok, d] = await appt('/appointment-slots').catch(() => [false, {}]);
    const free = ok ? (d.slots || []).filter((x) => x.remaining > 0).slice(0, 12) : [];
    let f; try { f = new Intl.DateTimeFormat(lang, { weekday: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: d.time_zone }); } catch (_) { f = new Intl.DateTimeFormat(lang); }
    slots.replaceChildren(h('p', 'line', note || t(!ok ? 'wrong' : free.length ? 'times' : 'no_times')));
    free.forEach((x) => {
      const b = h('button', '', f.format(new Date(x.starts_at))); b.type = 'button';
      b.onclick = async () => {
        const [won, a] = await appt('/appointments', { kind: d.kinds[0], starts_at: x.starts_at }).catch(() => [false, {}]);
        if (won) slots.replaceChildren(h('p', 'line', t('booked', { when: b.textContent })));
        else offerTimes(t(a.error && a.error.code === 'slot_full' ? 'full' : 'wrong'));
      };
      slots.append(b);
    });
  }

  // ---- sending ----
  compose.onsubmit = (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || !isOpen(conv)) return;
    if (text.length > 4000) return showError(t('long'));
    input.value = '';
    send(text);
  };
  // A file: uploaded with progress in a pending bubble, then sent as a message naming it.
  attachBtn.onclick = () => picker.click();
  picker.onchange = () => { if (picker.files) [...picker.files].forEach(sendFile); picker.value = ''; };
  chat.addEventListener('dragover', (e) => { if (isOpen(conv)) e.preventDefault(); });
  chat.addEventListener('drop', (e) => {
    if (!isOpen(conv) || !e.dataTransfer) return;
    e.preventDefault();
    [...e.dataTransfer.files].forEach(sendFile);
  });
  function sendFile(file) {
    if (!isOpen(conv)) return;
    const fail = (k) => showError(t(k, { name: file.name, accept: t('chat_types') }));
    if (file.size > MAX_FILE) return fail('too_large');
    const id = uid();
    const el = bubble({ author: { kind: 'shopper' }, text: file.name }, t('sending_file', { n: 0 }));
    log.append(el); scroller.scrollTop = scroller.scrollHeight;
    const meta = el.querySelector('.meta');
    const x = new XMLHttpRequest();
    x.open('POST', UPLOAD_URL + '?form=chat');
    x.setRequestHeader('X-Visitor-Token', vtoken || getItem('localStorage', TOKEN_KEY) || '');
    x.setRequestHeader('X-Filename', encodeURIComponent(file.name));
    x.upload.onprogress = (e) => { if (e.lengthComputable && meta) meta.textContent = t('sending_file', { n: Math.round(100 * e.loaded / e.total) }); };
    x.onerror = () => { markFailed(el); fail('up_failed'); };
    x.onload = () => {
      let j = null; try { j = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
      if (x.status !== 201 || !j || !j.id) {
        const code = j && j.error && j.error.code;
        markFailed(el);
        return fail(code === 'too_large' ? 'too_large' : code === 'type_not_accepted' ? 'bad_type' : 'up_failed');
      }
      if (meta) meta.textContent = t('sending');
      const frame = { type: 'send', client_msg_id: id, text: '', file_id: j.id, ref: id };
      pending.set(id, { frame, el, file: { id: j.id, name: j.filename, type: j.content_type, size: j.size } });
      if (ready) raw(frame);
    };
    x.send(file);
  }

  function send(text) {
    stopTyping();
    const id = uid();
    const frame = { type: 'send', client_msg_id: id, text, ref: id };
    const el = bubble({ author: { kind: 'shopper' }, text }, t('sending'));
    log.append(el); scroller.scrollTop = scroller.scrollHeight;
    pending.set(id, { frame, el });
    renderQuick();
    if (ready) raw(frame); // otherwise it goes out after the next welcome
  }

  // typing: true at most every 2 s while typing; false after 3 s idle or on send. Not to the bot.
  input.addEventListener('input', () => {
    if (!ready || !isOpen(conv) || conv.state === 'bot') return;
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
    showPeerTyping(f.typing ? nm(f.author) || t('agent') : null);
  }
  // Typing is best-effort: hide it after 8 s even if `typing:false` never comes.
  function showPeerTyping(name) {
    clearTimeout(peerTypingTimer);
    typingLine.textContent = name ? t('typing', { who: name }) : '';
    if (name) peerTypingTimer = setTimeout(() => showPeerTyping(null), 8000);
  }

  // ---- the website's look: colours (custom properties), corner, icon, launcher label ----
  // Each field is checked; one we do not know keeps our default (nothing from it becomes markup).
  const ICONS = {
    chat: 'M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z',
    car: 'M18.9 6a1.5 1.5 0 0 0-1.4-1h-11a1.5 1.5 0 0 0-1.4 1L3 12v8a1 1 0 0 0 1 1h1a1 1 0 0 0 1-1v-1h12v1a1 1 0 0 0 1 1h1a1 1 0 0 0 1-1v-8zM6.5 16a1.5 1.5 0 1 1 0-3 1.5 1.5 0 0 1 0 3zm11 0a1.5 1.5 0 1 1 0-3 1.5 1.5 0 0 1 0 3zM5 11l1.5-4.5h11L19 11z',
    question: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 17h-2v-2h2zm2.1-7.8-.9.9c-.7.7-1.2 1.3-1.2 2.9h-2v-.5c0-1.1.4-2.1 1.2-2.8l1.2-1.3A2 2 0 1 0 10 9H8a4 4 0 1 1 7.1 2.2z',
  };
  function applyLook(a) {
    look = a && typeof a === 'object' ? a : {};
    const hex = (x) => (/^#[0-9a-f]{6}$/i.test(x) ? x : '');
    host.style.setProperty('--c', hex(look.color)); // '' removes it: the stylesheet's default
    host.style.setProperty('--t', hex(look.text_color));
    const left = look.position === 'left';
    launch.classList.toggle('l', left); panel.classList.toggle('l', left);
    const name = ICONS[look.icon] ? look.icon : 'chat', NS = 'http://www.w3.org/2000/svg';
    const svg = attr(document.createElementNS(NS, 'svg'), { viewBox: '0 0 24 24', width: '24', height: '24', fill: 'currentColor', 'aria-hidden': 'true', focusable: 'false', 'data-icon': name });
    svg.append(attr(document.createElementNS(NS, 'path'), { d: ICONS[name] }));
    iconBox.replaceChildren(svg);
    renderLaunch();
  }
  // The dealer's label beside the icon, as text; without one our own, in the shopper's language.
  function renderLaunch() {
    const label = typeof look.launcher_label === 'string' ? look.launcher_label.trim().slice(0, 40) : '';
    launchText.textContent = label || t('launch');
  }

  // ---- "Email me this chat": the transcript to an address, sent by the notification service ----
  function renderMail() {
    mailBox.hidden = !conv || view !== 'chat' || !kept.length;
    payBox.hidden = !conv || conv.local || view !== 'chat' || !(vehicle && vehicle.price);
    mailSend.disabled = !!(mail && mail.busy);
    const [k, vars, bad] = mailSays || [];
    mailSt.textContent = k ? t(k, vars) : ''; // never hidden: a live region must stay rendered
    mailSt.className = bad ? 'ferr' : k === 'mail_sent' ? 'ok' : '';
    mailInput.setAttribute('aria-invalid', String(!!bad));
    bad ? mailInput.setAttribute('aria-describedby', mailSt.id) : mailInput.removeAttribute('aria-describedby');
  }
  const mailShow = (k, vars, bad) => { mailSays = [k, vars, bad]; renderMail(); };
  function showMail(open) {
    mailForm.hidden = !open;
    mailBtn.setAttribute('aria-expanded', String(open));
    if (!open) return mailBtn.focus();
    if (!mailInput.value) mailInput.value = (conv && conv.contact && conv.contact.email) || '';
    mailInput.focus();
  }
  mailBtn.onclick = () => showMail(mailForm.hidden);
  mailCancel.onclick = () => showMail(false);
  mailForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); showMail(false); } });
  mailForm.onsubmit = (e) => {
    e.preventDefault();
    if (mail && mail.busy) return;
    const email = mailInput.value.trim();
    if (!email) { mailShow('mail_bad', null, true); return mailInput.focus(); }
    if (!ready) return mailShow('wait', null, true);
    mail = { busy: true, frame: { type: 'email_transcript', email, ref: 'mail-' + (++refN) } };
    mailShow('submitting');
    raw(mail.frame);
  };
  function onMailSent(f) {
    if (!mail || !mail.busy || f.ref !== mail.frame.ref) return;
    mail.busy = false;
    const back = mailForm.contains(root.activeElement);
    mailForm.hidden = true; mailBtn.setAttribute('aria-expanded', 'false');
    mailShow('mail_sent', { email: f.email || mail.frame.email });
    if (back) mailBtn.focus();
  }
  function mailRefused(e) {
    if (e.code === 'unavailable') { // nothing sent: the same request again in a moment
      const f = mail.frame;
      return setTimeout(() => { if (mail && mail.busy && mail.frame === f) raw(f); }, 2000);
    }
    mail.busy = false;
    const k = { bad_email: 'mail_bad', rate_limited: 'mail_limit', not_allowed: 'mail_empty' }[e.code] || 'mail_fail';
    mailShow(k, null, true);
    if (k === 'mail_bad' && !mailForm.hidden) mailInput.focus();
  }

  // ---- leave a message: when the chat could not go live and the website wants the form ----
  const ORDER = ['department_id', 'first_name', 'last_name', 'email', 'phone', 'message'];
  function renderLeave() {
    const want = !!(bot && bot.leave_message_form && conv && (conv.state === 'offline' || conv.state === 'missed'));
    if (want && (!leave || leave.conv !== conv.id)) {
      // A new form for this chat: its departments, and what the Lead Gate already collected.
      leave = { conv: conv.id, formId: uid(), frame: null, busy: false, done: leftFor === conv.id };
      const sel = F.department_id.el;
      sel.replaceChildren(...departments.map((d) => { const o = h('option', '', d.label); o.value = d.id; return o; }));
      sel.value = (conv.department && conv.department.id) || '';
      if (sel.selectedIndex < 0 && sel.options.length) sel.selectedIndex = 0;
      F.department_id.el.parentNode.hidden = departments.length < 2;
      const k = conv.contact || {};
      for (const n of ['first_name', 'last_name', 'email', 'phone']) F[n].el.value = k[n] || '';
      F.message.el.value = '';
      fieldErrors({});
      if (FORMS.offline) { // the website's own form, afresh, with what the Lead Gate collected
        syncForm('offline', FORMS.offline.def, true);
        FORMS.offline.fields.forEach((fl) => {
          const c = fl.f.maps_to && fl.f.maps_to.contact;
          if (c && k[c] && fl.f.type === 'input') fl.inputs[0].value = k[c];
        });
      }
    }
    builtin.hidden = !!FORMS.offline; offBox.hidden = !FORMS.offline;
    leaveForm.hidden = !want || leave.done;
    leaveDone.hidden = !want || !leave.done;
    leaveBusy();
  }
  function leaveBusy() {
    const busy = !!(leave && leave.busy);
    leaveBtn.disabled = busy;
    leaveBtn.textContent = t(busy ? 'submitting' : 'submit');
    leaveForm.setAttribute('aria-busy', String(busy));
  }
  // The first empty field (or the first wrong one), else the message.
  function focusLeave() {
    const O = FORMS.offline, bad = (el) => el.getAttribute('aria-invalid') === 'true';
    let first;
    if (O) {
      const fl = O.fields.find((x) => bad(x.inputs[0])) || O.fields.find((x) => x.f.required && valueOf(x) == null) || O.fields[0];
      first = bad(F.department_id.el) ? F.department_id.el : fl ? fl.inputs[0] : leaveBtn;
    } else {
      first = ORDER.map((n) => F[n].el).find(bad)
        || ORDER.map((n) => F[n].el).find((el) => el.required && !el.value.trim()) || F.message.el;
    }
    first.focus();
  }

  leaveForm.onsubmit = (e) => {
    e.preventDefault();
    if (!leave || leave.busy || leave.done) return;
    const v = (n) => F[n].el.value.trim(), O = FORMS.offline;
    fieldErrors({});
    if (O && !formCheck(O, leaveErr)) return;
    const f = { type: 'leave_message', language: lang, page_url: location.href.slice(0, 2000), form_id: leave.formId,
      ref: 'leave-' + (++refN) };
    if (O) f.answers = O.values();
    else Object.assign(f, { first_name: v('first_name'), last_name: v('last_name'), email: v('email'), message: v('message') });
    if (v('phone') && !O) f.phone = v('phone');
    if (v('department_id')) f.department_id = v('department_id');
    if (conv && conv.local && vehicle) f.vehicle = Object.assign({ url: location.href.slice(0, 2000) }, vehicle); // no chat holds it
    leave.frame = f; leave.busy = true; leaveBusy();
    if (ready) raw(f); // otherwise it goes out after the next welcome, with the same form_id
  };

  function onLeft(f) {
    if (!leave || !leave.busy || f.ref !== leave.frame.ref) return;
    leave.busy = false; leave.done = true; leftFor = leave.conv; save();
    renderLeave();
    leaveDone.focus();
  }

  function leaveRefused(e) {
    if (e.code === 'unavailable') { // nothing stored: the same form again in a moment
      const f = leave.frame;
      return setTimeout(() => { if (leave && leave.busy && leave.frame === f) raw(f); }, 2000);
    }
    leave.busy = false; leaveBusy();
    const fields = e.fields || {};
    if (FORMS.offline) { // by the form's field ids (or the contact field one fills); the department is ours
      const { department_id: d, ...rest } = fields;
      fieldErrors(d ? { department_id: d } : {});
      formRefused(FORMS.offline, leaveErr, rest, d ? t('fix') : e.message);
    } else fieldErrors(fields, e.message);
    focusLeave();
  }

  // Each wrong field says why next to itself (aria-invalid, aria-describedby); the rest on top.
  function fieldErrors(fields, message) {
    const other = [];
    for (const n of ORDER) {
      const { el, err } = F[n], why = fields[n];
      err.hidden = !why;
      err.textContent = why ? fieldText(n, String(why)) : '';
      el.setAttribute('aria-invalid', String(!!why));
      const ids = [why ? err.id : '', n === 'phone' ? consent.id : ''].filter(Boolean).join(' ');
      ids ? el.setAttribute('aria-describedby', ids) : el.removeAttribute('aria-describedby');
    }
    for (const n in fields) if (!F[n]) other.push(n + ' ' + fields[n]);
    const known = Object.keys(fields).length > other.length;
    const top = other.length ? other.join('; ') : known ? t('fix') : message || '';
    leaveErr.textContent = top; leaveErr.hidden = !top;
  }
  // The server's reason ("is not a complete e-mail address …"): after the field's name in
  // English, in our own words in Spanish.
  function fieldText(n, why) {
    if (lang === 'en') return t(n) + ' ' + why;
    return t(/required/.test(why) ? 'e_required' : /longer/.test(why) ? 'e_long' : 'e_' + n) || why;
  }

  // ---- the website's own forms (the form builder's, in welcome.forms) ----
  // A new definition (or `fresh`) builds the form again; the same one keeps what the shopper typed.
  function syncForm(kind, def, fresh) {
    const ok = def && Array.isArray(def.fields) && def.fields.length ? def : null;
    const key = ok ? JSON.stringify(ok) : '';
    if (!fresh && (FORMS[kind] ? FORMS[kind].key : '') === key) return;
    FORMS[kind] = ok && buildForm(kind, ok, key);
    (kind === 'pre_chat' ? preBox : offBox).replaceChildren(...(ok ? [FORMS[kind].el] : []));
  }

  // Every field labelled; radio buttons, checkboxes and agreements in a fieldset; each with its
  // error line (aria-describedby). The dealer's labels, options and texts go in as text.
  function buildForm(kind, def, key) {
    const P = { kind, key, def, el: h('div'), fields: /** @type {any[]} */ ([]), i18n: /** @type {any[]} */ ([]) };
    const trf = (el, k, a) => { P.i18n.push([el, k, a]); a ? el.setAttribute(a, t(k)) : (el.textContent = t(k)); return el; };
    def.fields.forEach((f, i) => {
      if (!f || typeof f !== 'object') return;
      if (f.type === 'label') return P.el.append(h('p', 'flabel', f.label));
      const id = 'sr-' + kind + '-' + i, box = h('div', 'fld'), opts = Array.isArray(f.options) ? f.options : [];
      const err = attr(h('p', 'ferr'), { id: id + '-err' });
      const fl = { f, err, inputs: /** @type {any[]} */ ([]), files: /** @type {any[]} */ ([]), busy: 0, desc: /** @type {string[]} */ ([]) };
      const caption = (el) => {
        el.append(h('span', '', f.label));
        if (!f.required && f.type !== 'agreement') el.append(' ', trf(h('span', 'opt'), 'optional'));
        return el;
      };
      const choice = (type, text, value) => {
        const l = h('label', 'ch'), x = h('input');
        x.type = type; x.name = id; x.value = value; x.id = id + '-' + fl.inputs.length;
        l.append(x, h('span', '', text)); fl.inputs.push(x);
        return l;
      };
      if (f.type === 'radio' || f.type === 'checkboxes' || f.type === 'agreement') {
        const set = h('fieldset');
        set.append(caption(h('legend')));
        if (f.type === 'agreement') set.append(choice('checkbox', f.text || f.label, 'true'));
        else opts.forEach((o) => set.append(choice(f.type === 'radio' ? 'radio' : 'checkbox', o, o)));
        box.append(set);
      } else {
        let el;
        if (f.type === 'select') {
          el = h('select');
          el.append(trf(attr(h('option'), { value: '' }), 'choose'), ...opts.map((o) => { const x = h('option', '', o); x.value = o; return x; }));
        } else if (f.type === 'textarea') {
          el = h('textarea'); el.maxLength = 4000;
        } else if (f.type === 'input') {
          const c = f.maps_to && f.maps_to.contact;
          el = h('input'); el.maxLength = 500;
          el.type = c === 'phone' ? 'tel' : f.input === 'email' || f.input === 'number' ? f.input : 'text';
          if (f.input === 'number') el.step = 'any';
          const auto = { first_name: 'given-name', last_name: 'family-name', email: 'email', phone: 'tel' }[c];
          if (auto) el.autocomplete = auto;
        } else if (f.type === 'attachment') {
          el = h('input'); el.type = 'file';
          if (f.accept) el.accept = f.accept;
          el.multiple = !!f.multiple;
          fl.status = attr(h('p', 'hint'), { id: id + '-st', role: 'status' });
          fl.list = attr(h('ul', 'files'), { 'aria-live': 'polite' });
          fl.desc.push(fl.status.id);
          el.onchange = () => { const files = [...el.files]; el.value = ''; upload(P, fl, files); };
        } else return; // a kind of field this widget does not know
        const label = caption(h('label'));
        el.id = label.htmlFor = id;
        fl.inputs.push(el);
        box.append(label, el);
        if (fl.status) box.append(fl.status, fl.list);
      }
      if ((f.required && f.type !== 'checkboxes') || f.type === 'agreement') fl.inputs.forEach((x) => { x.required = true; });
      box.append(err);
      setErr(fl, '');
      P.fields.push(fl); P.el.append(box);
    });
    P.values = () => {
      const a = {};
      P.fields.forEach((fl) => { const v = valueOf(fl); if (v != null) a[fl.f.id] = v; });
      return a;
    };
    // What is wrong before asking the server: a required field left empty, a file still uploading.
    P.check = () => {
      const bad = {};
      P.fields.forEach((fl) => {
        const agree = fl.f.type === 'agreement';
        if (fl.busy) bad[fl.f.id] = t('still');
        else if ((fl.f.required || agree) && valueOf(fl) == null) bad[fl.f.id] = t(agree ? 'e_agree' : 'e_required');
      });
      return bad;
    };
    // Each field's error (`theirs`: the server's words, said in ours); answers the first wrong input.
    P.show = (map, theirs) => {
      let first = null;
      P.fields.forEach((fl) => {
        const why = map[fl.f.id];
        setErr(fl, why ? (theirs ? whyText(String(why)) : why) : '');
        if (why && !first) first = fl.inputs[0];
      });
      return first;
    };
    return P;
  }

  function valueOf(fl) {
    const { f, inputs } = fl;
    const ticked = inputs.filter((x) => x.checked).map((x) => x.value);
    switch (f.type) {
      case 'checkboxes': return ticked.length ? ticked : null;
      case 'radio': return ticked.length ? ticked[0] : null;
      case 'agreement': return ticked.length ? true : null;
      case 'attachment': return fl.files.length ? fl.files.map((x) => x.id) : null;
      default: return inputs[0].value.trim() || null;
    }
  }

  function setErr(fl, text) {
    fl.err.textContent = text || ''; fl.err.hidden = !text;
    const ids = [text ? fl.err.id : '', ...fl.desc].filter(Boolean).join(' ');
    fl.inputs.forEach((x) => {
      x.setAttribute('aria-invalid', String(!!text));
      ids ? x.setAttribute('aria-describedby', ids) : x.removeAttribute('aria-describedby');
    });
  }

  // The server's reason ("is not a complete e-mail address …"): as is in English, in our words in Spanish.
  function whyText(why) {
    if (/required/.test(why)) return t('e_required');
    if (/ticked/.test(why)) return t('e_agree');
    if (lang === 'en') return (/^(is|must|takes)\b/.test(why) ? 'This field ' : '') + why + (/[.!?]$/.test(why) ? '' : '.');
    return t(/e-mail/.test(why) ? 'e_email' : /phone/.test(why) ? 'e_phone' : /must be a name/.test(why) ? 'e_name'
      : /longer/.test(why) ? 'e_long' : /options/.test(why) ? 'e_option' : /number/.test(why) ? 'e_number' : 'e_field');
  }

  // Checks a form before sending it: answers whether it may go.
  function formCheck(P, top) {
    const first = P.show(P.check());
    top.textContent = first ? t('fix') : ''; top.hidden = !first;
    if (first) first.focus();
    return !first;
  }

  // The server named wrong answers (by field id, or by the contact field one fills): each next to
  // its field, the rest on top. Answers the first wrong input.
  function formRefused(P, top, fields, message) {
    const m = {}, other = [];
    for (const k in fields) {
      const fl = P.fields.find((x) => x.f.id === k) || P.fields.find((x) => x.f.maps_to && x.f.maps_to.contact === k);
      if (fl) m[fl.f.id] = m[fl.f.id] || fields[k]; else other.push(k + ' ' + fields[k]);
    }
    const first = P.show(m, true);
    const text = other.length ? other.join('; ') : first ? t('fix') : message || '';
    top.textContent = text; top.hidden = !text;
    return first;
  }

  // Files go up as soon as they are chosen (at most 10 MB each; the server checks size and type again).
  const size = (n) => (n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB');
  function renderFiles(fl) {
    fl.status.textContent = fl.busy ? t('uploading') : '';
    fl.list.replaceChildren(...fl.files.map((x, i) => {
      const li = h('li'), b = attr(h('button', '', '×'), { type: 'button', 'aria-label': t('remove', { name: x.filename }) });
      b.onclick = () => { fl.files.splice(i, 1); renderFiles(fl); fl.inputs[0].focus(); };
      li.append(h('span', '', x.filename + ' (' + size(x.size) + ')'), b);
      return li;
    }));
  }
  async function upload(P, fl, files) {
    setErr(fl, '');
    const most = fl.f.multiple ? 5 : 1;
    for (const file of files) {
      const fail = (k) => setErr(fl, t(k, { name: file.name, accept: fl.f.accept || '', n: most }));
      if (fl.f.multiple && fl.files.length + fl.busy >= most) { fail('too_many'); break; }
      if (file.size > MAX_FILE) { fail('too_large'); continue; }
      fl.busy++; renderFiles(fl);
      try {
        const r = await fetch(UPLOAD_URL + '?form=' + P.kind + '&field=' + encodeURIComponent(fl.f.id), {
          method: 'POST', body: file,
          headers: { 'X-Visitor-Token': vtoken || getItem('localStorage', TOKEN_KEY) || '', 'X-Filename': encodeURIComponent(file.name) },
        });
        const j = (await r.json().catch(() => null)) || {}, code = j.error && j.error.code;
        if (r.ok && j.id) fl.files = fl.f.multiple ? fl.files.concat(j) : [j];
        else fail(code === 'too_large' ? 'too_large' : code === 'type_not_accepted' ? 'bad_type' : 'up_failed');
      } catch (_) { fail('up_failed'); }
      fl.busy--; renderFiles(fl);
    }
  }

  // ---- boot: a returning visitor (stored token) reconnects at once; a new one when opening the panel ----
  applyLook(look); // the cached look, in this same task: the first paint already has it
  applyLang();
  restore();
  if (getItem('localStorage', TOKEN_KEY)) connect();
})();
