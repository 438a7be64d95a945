// @ts-check
/* The console's socket (/ws/console, authenticated by the session cookie): connecting and
 * reconnecting, the keep-alive, and what each frame from the gateway does — the HANDLERS table,
 * keyed by the frame's `type` (every type of frames.js's ServerFrame has its row, so a frame
 * added to the protocol and not handled fails the type check), and, for `error` frames, the
 * ERRORS table, keyed by the kind of request that failed (its ref up to the colon). Sending is
 * send.js, so that views do not import this table. */

import { $ } from './dom.js';
import { S } from './state.js';
import { api, sessionEnded } from './api.js';
import { send } from './send.js';
import { banner } from './banner.js';
import { onWelcome } from './welcome.js';
import { onStatus, onStatusError, statusUsable } from './status.js';
import { renderLists, onOffer, onOfferWithdrawn, onAccepted, onAcceptError } from './chat-list.js';
import { onHistory, onMessage, onConversation, onAck, onPeerTyping, onSeen, renderTypingLine, onSendError, onOpenError } from './conversation.js';
import { onTransferOffer, onTransfer, onTransferError, onReplyError } from './transfer.js';
import { reassigned, onReassignError } from './group.js';
import { onBoard, onAgentPresence, onBoardError, renderBoardMeta } from './board.js';
import { INTERNAL_REFS, onInternal, onInternalHistory, onInternalMessage, onInternalAck, onInternalError } from './internal.js';
import { onNotify } from './notices.js';
import { onWhisper, onWatching, onWhisperError } from './monitor.js';

/** @typedef {import('./frames.js').ServerFrame} ServerFrame */
/** @typedef {import('./frames.js').ErrorFrame} ErrorFrame */

const BACKOFF = [1000, 2000, 5000, 10000];
const WS_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/console';

/**
 * One handler per frame type, each given its own kind of frame.
 * @typedef {{[K in ServerFrame['type']]: (f: Extract<ServerFrame, {type: K}>) => void}} Handlers
 */
/** @type {Handlers} */
const HANDLERS = {
  welcome: (f) => { S.ready = true; S.attempt = 0; setConn('Online', 'online'); onWelcome(f); },
  status: onStatus,
  offer: onOffer,
  offer_withdrawn: onOfferWithdrawn,
  accepted: onAccepted,
  history: onHistory,
  ack: (f) => (f.chat_id ? onInternalAck(f) : onAck(f)),
  message: onMessage,
  conversation: (f) => {
    if ((f.ref || '').startsWith('reassign:')) reassigned();
    onConversation(f.conversation);
  },
  typing: onPeerTyping,
  seen: onSeen,
  whisper: onWhisper,
  watching: onWatching,
  board: onBoard,
  agent_presence: onAgentPresence,
  transfer_offer: onTransferOffer,
  transfer: onTransfer,
  internal: onInternal,
  internal_history: onInternalHistory,
  internal_message: onInternalMessage,
  notify: onNotify,
  error: onError,
  pong: () => {},
};

/**
 * What an error answering each kind of request does, by the kind of its ref ("accept:<id>" →
 * accept, given the id). True when it said all there is to say; false: the banner shows the
 * gateway's message too.
 * @type {Map<string, (id: string, f: ErrorFrame) => boolean>}
 */
const ERRORS = new Map([
  ['accept', onAcceptError],
  ['open', onOpenError],
  ['transfer', onTransferError],
  ['treply', onReplyError],
  ['reassign', onReassignError],
  ['status', onStatusError],
  ['board', onBoardError],
  ['whisper', onWhisperError],
  ...INTERNAL_REFS.map((kind) => /** @type {[string, (id: string, f: ErrorFrame) => boolean]} */ ([kind, (id, f) => { onInternalError(kind, id, f); return true; }])),
]);

/** @param {ErrorFrame} f */
function onError(f) {
  // Logged out elsewhere, password changed or deactivated: the gateway closes this socket.
  if (f.code === 'session_ended') return sessionEnded();
  const ref = f.ref || '';
  if (onSendError(ref, f)) return; // a `send` (its ref is its client_msg_id)
  const cut = ref.indexOf(':');
  const kind = cut < 0 ? '' : ref.slice(0, cut), id = ref.slice(cut + 1);
  const handler = ERRORS.get(kind);
  if (handler && handler(id, f)) return;
  banner(f.message || 'Error: ' + f.code);
}

/** @param {ServerFrame} f */
function handle(f) {
  const fn = /** @type {((f: ServerFrame) => void) | undefined} */ (Object.hasOwn(HANDLERS, f.type) ? HANDLERS[f.type] : undefined);
  if (fn) fn(f); // anything newer is ignored
}

/** The line in the header: "Online", "Reconnecting…". @param {string} text @param {string} cls */
function setConn(text, cls) { const c = $('conn'); c.textContent = text; c.className = 'conn ' + (cls || ''); }

export function connect() {
  clearTimeout(S.retryTimer); S.retryTimer = 0;
  setConn(S.attempt ? 'Reconnecting…' : 'Connecting…', 'trouble');
  statusUsable(false);
  // The agent's dealer group as the route: a proxy in front of several gateways keeps a group's
  // sockets on one of them (docs/architecture.md, "Sockets routed by dealer group").
  const route = S.me && S.me.group_id ? '?route=' + encodeURIComponent(S.me.group_id) : '';
  const sock = S.ws = new WebSocket(WS_URL + route);
  sock.onopen = () => send({ type: 'hello', v: 1 });
  sock.onmessage = (ev) => {
    clearTimeout(S.deadTimer);
    let f; try { f = JSON.parse(ev.data); } catch (_) { return; }
    if (f && typeof f.type === 'string') handle(f);
  };
  sock.onclose = () => { if (S.ws === sock) lost(); };
}

/** Closes the socket (logout, or before a reconnect); nothing is live until the next welcome. */
export function dropSocket() {
  const s = S.ws;
  S.ws = null; S.ready = false;
  clearTimeout(S.deadTimer);
  if (s) { s.onclose = null; try { s.close(); } catch (_) { /* ignore */ } }
  statusUsable(false);
  S.boardPending = 0; S.boardBuffer = []; // a new socket must ask again to get agent_presence
  renderLists(); // Respond buttons need a socket
  renderBoardMeta();
}

/**
 * Reconnect with backoff 1 s, 2 s, 5 s, then every 10 s. A refused upgrade (401) looks like any
 * other close to a browser, so ask REST whether the session is still good before each attempt.
 */
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
      if (r.status === 401) return sessionEnded();
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
