// @ts-check
/* What the console knows right now, in one object every view reads and writes: the agent, the
 * socket, the conversations and internal chats it holds, the board. One object, so that a
 * reconnect or a logout can reset it in one place (login.js, welcome.js), and the small
 * questions every view asks of it ("is this chat mine to write in?") are answered once, here.
 * Imports nothing that runs: every other console module may import this one. */

/** @typedef {import('./frames.js').Conversation} Conversation */
/** @typedef {import('./frames.js').Message} Message */
/** @typedef {import('./frames.js').Author} Author */
/** @typedef {import('./frames.js').Transfer} Transfer */
/** @typedef {import('./frames.js').InternalChat} InternalChat */
/** @typedef {import('./frames.js').Board} Board */
/** @typedef {import('./frames.js').AgentPresence} AgentPresence */
/** @typedef {import('./frames.js').SendFrame} SendFrame */
/** @typedef {import('./frames.js').InternalSendFrame} InternalSendFrame */

/**
 * The agent who is logged in: /api/v1/me's answer, merged with welcome.agent.
 * @typedef {object} Me
 * @property {string} id
 * @property {string} [group_id] the agent's dealer group (the console socket's route)
 * @property {string} [name]
 * @property {string} [first_name]
 * @property {string} [last_name]
 * @property {string} [email]
 * @property {string} [role]
 * @property {string} [status]
 * @property {string | null} [time_zone]
 * @property {string | null} [locale]
 * @property {string | null} [photo_url]
 * @property {number | null} [auto_away_secs]
 */

/**
 * A message sent and not acked yet. A failed one stays on screen as "Not sent", never resent.
 * @template F
 * @typedef {{frame: F, failed: boolean, file?: import('./frames.js').MessageFile}} Pending
 */

/**
 * A conversation the console holds (see newEntry).
 * @typedef {ReturnType<typeof newEntry>} Entry
 */

/**
 * An internal chat the console holds (see newInternal).
 * @typedef {ReturnType<typeof newInternal>} InternalEntry
 */

/** The transcript shown in the middle panel, and the bubbles of its messages still on their way. */
/** @typedef {{id: string, pendingEls: Map<string, HTMLElement>}} View */

export const S = {
  /** @type {Me | null} the agent: {id, name, email, role, status} */
  me: null,
  /** @type {string | null} the agent's photo URL (from /api/v1/me), shown in the header */
  photo: null,
  live: false,          // logged in and wanting a socket
  /** @type {WebSocket | null} */
  ws: null,
  ready: false, attempt: 0,
  /** @type {ReturnType<typeof setTimeout> | 0} */
  retryTimer: 0,
  /** @type {ReturnType<typeof setTimeout> | 0} */
  deadTimer: 0,
  /** @type {Map<string, Entry>} conversation id -> entry (see newEntry) */
  convs: new Map(),
  /** @type {string | null} id of the conversation in the middle panel */
  selected: null,
  /** @type {View | null} the selected conversation's transcript on screen */
  view: null,
  /** @type {string | null} */
  status: null,
  /** @type {string | null} */
  typingFor: null,
  typingSentAt: 0,
  /** @type {ReturnType<typeof setTimeout> | 0} */
  idleTimer: 0,
  idleSent: false,      // this console told the gateway it is idle (auto-away)
  /** @type {ReturnType<typeof setTimeout> | 0} */
  bannerTimer: 0,
  /** @type {string | null} 'chats', 'board', 'leads' or 'admin' */
  tab: null,
  /**
   * @type {{rooftops: import('./frames.js').Named[], departments: import('./frames.js').BoardDepartment[], agents: AgentPresence[]} | null}
   * the Live Agent Status board, agents merged live
   */
  board: null,
  boardPending: 0,      // `board` requests sent on this socket and not answered yet
  /** @type {AgentPresence[]} agent_presence frames received while a request was pending (replayed on the reply) */
  boardBuffer: [],
  /** @type {ReturnType<typeof setTimeout> | 0} the 30 s floor */
  boardTimer: 0,
  boardUpdated: 0,      // when the board was last known good (server clock, ms)
  skew: 0,              // local clock minus server clock (ms), from generated_at
  /** @type {Map<string, number>} agent id -> when we last asked the board again because of it */
  unknownAsked: new Map(),
  /** @type {Map<string, number>} agent id -> PUTs in flight */
  saving: new Map(),
  /** @type {Map<string, {t: Transfer, answering: boolean}>} transfers offered to me, waiting for my answer */
  transfers: new Map(),
  /** @type {Map<string, Conversation>} managers: conversation id -> the group's waiting and active chats (REST) */
  group: new Map(),
  /** @type {ReturnType<typeof setInterval> | 0} */
  groupTimer: 0,
  /** @type {string | null} managers: id of the group chat whose Reassign form is open */
  reassigning: null,
  reassignTo: '',       // the agent chosen in that form
  reassignBusy: false,
  /** @type {Map<string, InternalEntry>} internal chat id -> entry (see newInternal): chats with colleagues I am in now */
  internal: new Map(),
  /** @type {string | null} id of the internal chat in the middle panel (exclusive with `selected` and `inew`) */
  ichat: null,
  /** @type {View | null} the internal chat's transcript on screen */
  iview: null,
  inew: false,          // the New chat form is in the middle panel
  iopenRef: '',         // ref of the internal_open sent from that form and not answered yet
  iinviteBusy: false,   // an internal_invite is on its way
  /** @type {string | null} id of the chat an internal_leave was sent for */
  ileaving: null,
  /** @type {Set<string>} chats we asked internal_history for because a message of an unknown chat came */
  iloading: new Set(),
  /** @type {Record<string, number>} chat id -> the highest seq this agent has seen (localStorage, per agent) */
  iseen: {},
  iact: 0,              // activity counter: the list shows the most recently active chat first
  iseq: 0,
  /** @type {string | null} a chat asked for from a notification, a lead or the address (#conversation=…), not held yet */
  wantOpen: null,
  /** @type {string | null} the chat named in the address when the page loaded, opened after the first welcome */
  hashOpen: null,
};

/** @param {Conversation} c */
export const newEntry = (c) => ({
  c,                    // the conversation object, as last sent by the gateway
  /** @type {Map<number, Message>} seq -> message; a seq is never shown twice */
  msgs: new Map(),
  /** @type {Map<string, Pending<SendFrame>>} client_msg_id -> sent, not yet acked */
  pending: new Map(),
  loaded: false,        // `history` received since the last (re)connect
  unread: 0,
  typing: '',
  /** @type {ReturnType<typeof setTimeout> | 0} */
  typingTimer: 0,
  accepting: false,
  acceptTries: 0,       // `accept`s answered `unavailable` and sent again (chat-list.js)
  draft: '',
  /** @type {Transfer | null} the last transfer of this chat we heard of (shown as a notice) */
  transfer: null,
  transferSending: false,
  /** @type {ReturnType<typeof setTimeout> | 0} a seq jump is being waited out (see watchGap) */
  gapTimer: 0,
});

/** @param {InternalChat} chat */
export const newInternal = (chat) => ({
  chat,                 // the InternalChat, as last sent by the gateway
  /** @type {Map<number, Message>} seq -> message; a seq is never shown twice */
  msgs: new Map(),
  /** @type {Map<string, Pending<InternalSendFrame>>} client_msg_id -> sent, not yet acked */
  pending: new Map(),
  loaded: false,        // `internal_history` received since the last (re)connect
  top: 0,               // the highest seq we know of (the chat's last_seq or a message's)
  seen: 0,              // the highest seq this agent has seen
  act: 0,               // ordering: higher = more recently active
  draft: '',
  notice: '',
  /** @type {ReturnType<typeof setTimeout> | 0} a seq jump is being waited out (see watchGap) */
  gapTimer: 0,
});

/** The conversation the gateway sent, held (a new entry the first time). */
export function upsert(/** @type {Conversation} */ c) {
  let e = S.convs.get(c.id);
  if (e) e.c = c; else S.convs.set(c.id, e = newEntry(c));
  return e;
}

/** @param {Author | null | undefined} author */
export const isMine = (author) => !!author && author.kind === 'agent' && !!S.me && author.id === S.me.id;
/** Active and mine (or nobody's yet). @param {Conversation} c */
export const canWrite = (c) => c.state === 'active' && (!c.agent || !S.me || c.agent.id === S.me.id);
/** Bot, waiting or with an agent: anything else, unknown states included, is closed. @param {Conversation} c */
export const isOpen = (c) => c.state === 'bot' || c.state === 'incoming' || c.state === 'active';
export const canManage = () => !!S.me && (S.me.role === 'manager' || S.me.role === 'admin');
/** The Admin tab: a manager or an admin (the group), or a rooftop manager (their rooftops). */
export const canAdminister = () => canManage() || (!!S.me && S.me.role === 'rooftop_manager');
/** The conversation in the middle panel. */
export const current = () => (S.selected ? S.convs.get(S.selected) || null : null);
/** The internal chat in the middle panel. */
export const shownChat = () => (S.ichat ? S.internal.get(S.ichat) || null : null);
/** Something is in the middle panel: a conversation, an internal chat or the New chat form. */
export const panelShown = () => !!current() || !!shownChat() || S.inew;
/** The highest seq with no gap below. @param {{msgs: Map<number, unknown>}} e */
export const contig = (e) => { let n = 0; while (e.msgs.has(n + 1)) n++; return n; };
/** The highest seq held. @param {{msgs: Map<number, unknown>}} e */
export const topSeq = (e) => { let n = 0; for (const s of e.msgs.keys()) if (s > n) n = s; return n; };
/** A colleague on the board we hold. @param {string} id */
export const boardAgent = (id) => (S.board ? S.board.agents.find((a) => a.agent_id === id) || null : null);
/** A rooftop's name from the board we hold ('' when unknown). @param {string} id */
export function rooftopName(id) {
  const r = S.board && S.board.rooftops.find((x) => x.id === id);
  return r ? r.name : '';
}
