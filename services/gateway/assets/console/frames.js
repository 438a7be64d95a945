// @ts-check
/* The console socket's frames and the objects in them, as docs/protocol.md ("Agent console
 * socket") specifies them, for the type checker: the console modules name these types in their
 * JSDoc, so a handler that reads a field its frame does not have, or a frame sent with a wrong
 * field, fails `tsc` (deploy/check-js.sh) instead of a chat. Types only: nothing here runs,
 * and no module imports it at run time (only `import('./frames.js')` in comments).
 *
 * Every field a gateway may leave out is optional here, as the handlers treat it: they check
 * before they read. A frame type added to the protocol is added here, to ServerFrame or
 * ClientFrame, and to socket.js's table (deploy/check-frames.mjs fails until it is). The widget's
 * frames are not here: it is one classic script, checked without types on its parameters. */

// ---- objects ----

/**
 * Who wrote a message. For an agent, `id` is the agent's id.
 * @typedef {object} Author
 * @property {'shopper' | 'agent' | 'bot' | 'system' | string} kind
 * @property {string} [id]
 * @property {string | null} [name]
 */

/**
 * A message of a conversation (or of an internal chat: then `conversation_id` is the chat's id).
 * `seq` is gapless per conversation, from 1.
 * @typedef {object} Message
 * @property {string} conversation_id
 * @property {number} seq
 * @property {string} [id]
 * @property {Author | null} author
 * @property {string} text
 * @property {MessageFile} [file]  a file message's file (its bytes: GET /api/v1/attachments/{id})
 * @property {string | null} [client_msg_id]
 * @property {PaymentEstimate} [estimate]  a payment estimate card (an agent's, computed by the server; `text` says the same)
 * @property {string} [at]
 */

/**
 * A payment estimate as the server computed it: money in cents of `currency`, rates in basis
 * points (the money factor in millionths).
 * @typedef {object} PaymentEstimate
 * @property {'finance' | 'lease'} kind
 * @property {string} currency
 * @property {number} price_cents
 * @property {number} down_cents
 * @property {number} fees_cents
 * @property {number} term_months
 * @property {number} [apr_bp]
 * @property {number} [money_factor_millionths]
 * @property {number} [residual_cents]
 * @property {number} tax_rate_bp
 * @property {number} tax_cents
 * @property {number} [amount_financed_cents]
 * @property {number} [due_at_signing_cents]
 * @property {number} monthly_cents
 * @property {string} disclaimer
 */

/** @typedef {{id: string, name: string, type: string, size: number}} MessageFile  a file sent in a chat: its real type, read from its bytes */

/** @typedef {{id: string, name?: string | null}} Named  an agent, a rooftop or a team: its id and name */
/** @typedef {{id: string, label: string}} Labelled  a department: its id and label */

/**
 * The vehicle the shopper was looking at; each field only when known.
 * @typedef {object} Vehicle
 * @property {string} [vin]
 * @property {string} [stock_number]
 * @property {number} [year]
 * @property {string} [make]
 * @property {string} [model]
 * @property {string} [trim]
 * @property {number} [price]
 * @property {string} [url]
 */

/**
 * What the Lead Gate (or a form) collected.
 * @typedef {object} Contact
 * @property {string} [first_name]
 * @property {string} [last_name]
 * @property {string} [email]
 * @property {string} [phone]
 * @property {object | null} [consent]
 */

/**
 * An uploaded file named in a form answer.
 * @typedef {{id: string, filename?: string, content_type?: string, size?: number}} AttachmentRef
 */

/**
 * One answer of the website's pre-chat form, as agents see it.
 * @typedef {object} FormAnswer
 * @property {string} field
 * @property {string} [label]
 * @property {string | boolean | string[] | AttachmentRef[] | null} [value]
 * @property {string} [agreement_text]
 */

/**
 * A conversation as consoles get it. `state` may be one this console does not know yet: it
 * counts as closed.
 * @typedef {object} Conversation
 * @property {string} id
 * @property {'bot' | 'incoming' | 'active' | 'ended' | 'missed' | 'offline' | 'timed_out' | string} state
 * @property {Named | null} [rooftop]
 * @property {Labelled | null} [department]
 * @property {{name?: string | null} | null} [shopper]
 * @property {Named | null} [agent]
 * @property {number} [last_seq]
 * @property {string} created_at
 * @property {string | null} [ended_at]
 * @property {'shopper' | 'agent' | 'system' | null} [ended_by]
 * @property {string | null} [assigned_at]
 * @property {string | null} [offline_reason]
 * @property {string | null} [previous_id]
 * @property {Named | null} [team]
 * @property {Vehicle | null} [vehicle]
 * @property {'en' | 'es' | string | null} [language]
 * @property {Contact | null} [contact]
 * @property {boolean} [department_pending]
 * @property {string | null} [page_url]
 * @property {FormAnswer[] | null} [form]
 * @property {string} [group_id]
 * @property {string} [website_id]
 */

/**
 * A transfer (or a manager's reassignment) of a chat. Exactly one of `to_agent` and
 * `to_department` is set.
 * @typedef {object} Transfer
 * @property {string} id
 * @property {string} conversation_id
 * @property {Named | null} [from_agent]
 * @property {Named | null} [to_agent]
 * @property {Labelled | null} [to_department]
 * @property {string | null} [note]
 * @property {'requested' | 'accepted' | 'declined' | 'expired' | 'cancelled' | 'reassigned' | string} state
 * @property {string | null} [expires_at]
 */

/**
 * A member of an internal chat: in it now unless `left_at` is set.
 * @typedef {{agent_id: string, name?: string, joined_at?: string, left_at?: string | null}} InternalMember
 */

/**
 * A chat of agents of one group.
 * @typedef {object} InternalChat
 * @property {string} id
 * @property {string} [group_id]
 * @property {string} [topic]
 * @property {string} [created_by]
 * @property {string} [created_at]
 * @property {InternalMember[]} [members]
 * @property {number} [last_seq]
 */

/** @typedef {'available' | 'away' | 'dnd' | 'offline'} Status */

/**
 * One agent on the Live Agent Status board. An `agent_presence` frame carries the same
 * without `name`. `status` is the agent's choice, `effective` what routing uses.
 * @typedef {object} AgentPresence
 * @property {string} agent_id
 * @property {string} [name]
 * @property {Status | string} [status]
 * @property {Status | string} [effective]
 * @property {number} [devices]
 * @property {number} [idle_devices]
 * @property {number} [active_chats]
 * @property {string | null} [last_seen]
 * @property {string[]} [departments]
 * @property {string[]} [rooftops]
 */

/** @typedef {{id: string, label: string, section?: string | null, rooftop_id: string}} BoardDepartment */

/**
 * The Live Agent Status board.
 * @typedef {object} Board
 * @property {string} [generated_at]
 * @property {Named[]} [rooftops]
 * @property {BoardDepartment[]} [departments]
 * @property {AgentPresence[]} agents
 */

/**
 * A desktop notice the server decided this agent gets.
 * @typedef {object} Notice
 * @property {string} [agent_id]
 * @property {'incoming' | 'message' | 'assigned' | 'transfer' | string} [kind]
 * @property {string} conversation_id
 * @property {string} [title]
 * @property {string} [body]
 * @property {boolean} [sound]
 * @property {string} [at]
 */

/**
 * The agent as `welcome` describes them.
 * @typedef {object} WelcomeAgent
 * @property {string} id
 * @property {string} [name]
 * @property {string} [email]
 * @property {'agent' | 'manager' | 'admin' | string} [role]
 * @property {Status | string} [status]
 * @property {number | null} [auto_away_secs]
 */

// ---- gateway → console ----

/**
 * @typedef {object} WelcomeFrame
 * @property {'welcome'} type
 * @property {number} [v]
 * @property {WelcomeAgent} [agent]
 * @property {Conversation[]} [incoming]
 * @property {Conversation[]} [active]
 * @property {Conversation[]} [recent]
 * @property {Transfer[]} [transfers]
 * @property {InternalChat[]} [internal]
 */
/** @typedef {{type: 'status', status: Status | string, ref?: string}} StatusFrame */
/** @typedef {{type: 'offer', conversation?: Conversation}} OfferFrame */
/** @typedef {{type: 'offer_withdrawn', conversation_id: string, reason?: 'taken' | 'ended' | 'moved_on' | string}} OfferWithdrawnFrame */
/** @typedef {{type: 'transfer_offer', transfer?: Transfer, conversation?: Conversation}} TransferOfferFrame */
/** @typedef {{type: 'transfer', transfer?: Transfer, ref?: string}} TransferFrame */
/** @typedef {{type: 'accepted', conversation?: Conversation, ref?: string}} AcceptedFrame */
/** @typedef {{type: 'history', conversation?: Conversation, messages?: Message[], whispers?: Whisper[], rating?: Rating, ref?: string}} HistoryFrame */
/** @typedef {{conversation_id: string, score: number, comment?: string | null, at: string}} Rating */
/** @typedef {{id: string, conversation_id: string, author?: Author, text: string, client_msg_id: string, at: string}} Whisper */
/** @typedef {{type: 'whisper', whisper?: Whisper, ref?: string}} WhisperFrame */
/** @typedef {{type: 'watching', conversation_id: string, agent_id: string, name?: string, watching: boolean}} WatchingFrame */
/**
 * The answer to `send` (with `conversation_id`) or `internal_send` (with `chat_id`): the message
 * is stored, as `seq`.
 * @typedef {object} AckFrame
 * @property {'ack'} type
 * @property {string} [conversation_id]
 * @property {string} [chat_id]
 * @property {string} client_msg_id
 * @property {number} seq
 * @property {string} [id]
 * @property {string} [at]
 * @property {string} [ref]
 */
/** @typedef {{type: 'message', message?: Message}} MessageFrame */
/** @typedef {{type: 'conversation', conversation?: Conversation, ref?: string}} ConversationFrame */
/** @typedef {{type: 'typing', conversation_id: string, author?: Author, typing: boolean}} TypingFrame */
/** @typedef {{type: 'seen', conversation_id: string, side: 'shopper' | 'agent', seq: number, at?: string}} SeenFrame */
/** @typedef {{type: 'pong', ref?: string}} PongFrame */
/** @typedef {{type: 'board', board?: Board, ref?: string}} BoardFrame */
/** @typedef {{type: 'agent_presence', agent?: AgentPresence}} AgentPresenceFrame */
/**
 * @typedef {object} InternalFrame
 * @property {'internal'} type
 * @property {InternalChat} [chat]
 * @property {'created' | 'joined' | 'left' | string} [kind]
 * @property {string} [agent_id]
 * @property {string} [by]
 * @property {string} [ref]
 */
/** @typedef {{type: 'internal_history', chat?: InternalChat, messages?: Message[], ref?: string}} InternalHistoryFrame */
/** @typedef {{type: 'internal_message', message?: Message}} InternalMessageFrame */
/** @typedef {{type: 'notify', notice?: Notice}} NotifyFrame */
/**
 * @typedef {object} ErrorFrame
 * @property {'error'} type
 * @property {string} code
 * @property {string} [message]
 * @property {string} [ref]
 * @property {number} [retry_after_secs] `rate_limited`: seconds before the same frame may go again
 */

/**
 * Every frame the gateway sends a console.
 * @typedef {WelcomeFrame | StatusFrame | OfferFrame | OfferWithdrawnFrame | TransferOfferFrame
 *   | TransferFrame | AcceptedFrame | HistoryFrame | AckFrame | MessageFrame | ConversationFrame
 *   | TypingFrame | SeenFrame | WhisperFrame | WatchingFrame | PongFrame | BoardFrame | AgentPresenceFrame | InternalFrame
 *   | InternalHistoryFrame | InternalMessageFrame | NotifyFrame | ErrorFrame} ServerFrame
 */

// ---- console → gateway ----

/** @typedef {{type: 'hello', v: 1}} HelloFrame */
/** @typedef {{type: 'set_status', status: string, ref?: string}} SetStatusFrame */
/** @typedef {{type: 'accept', conversation_id: string, ref?: string}} AcceptFrame */
/** @typedef {{type: 'open', conversation_id: string, after_seq?: number, ref?: string}} OpenFrame */
/** @typedef {{type: 'send', conversation_id: string, client_msg_id: string, text: string, file_id?: string, estimate_id?: string, ref?: string}} SendFrame */
/** @typedef {{type: 'typing', conversation_id: string, typing: boolean}} SendTypingFrame */
/** @typedef {{type: 'seen', conversation_id: string, seq: number}} SendSeenFrame */
/** @typedef {{type: 'whisper', conversation_id: string, client_msg_id: string, text: string, ref?: string}} SendWhisperFrame */
/** @typedef {{type: 'end', conversation_id: string, ref?: string}} EndFrame */
/** @typedef {{type: 'ping', ref?: string}} PingFrame */
/** @typedef {{type: 'board', ref?: string}} BoardRequestFrame */
/** @typedef {{type: 'idle', idle: boolean}} IdleFrame */
/**
 * Exactly one of `to_agent` and `to_department` (ids).
 * @typedef {{type: 'transfer', conversation_id: string, to_agent?: string, to_department?: string, note?: string, ref?: string}} TransferRequestFrame
 */
/** @typedef {{type: 'transfer_reply', transfer_id: string, accept: boolean, ref?: string}} TransferReplyFrame */
/** @typedef {{type: 'reassign', conversation_id: string, agent_id: string, ref?: string}} ReassignFrame */
/** @typedef {{type: 'internal_open', with: string[], topic?: string, ref?: string}} InternalOpenFrame */
/** @typedef {{type: 'internal_invite', chat_id: string, agent_id: string, ref?: string}} InternalInviteFrame */
/** @typedef {{type: 'internal_leave', chat_id: string, ref?: string}} InternalLeaveFrame */
/** @typedef {{type: 'internal_history', chat_id: string, after_seq?: number, ref?: string}} InternalHistoryRequestFrame */
/** @typedef {{type: 'internal_send', chat_id: string, client_msg_id: string, text: string, ref?: string}} InternalSendFrame */

/**
 * Every frame a console sends.
 * @typedef {HelloFrame | SetStatusFrame | AcceptFrame | OpenFrame | SendFrame | SendTypingFrame
 *   | SendSeenFrame | SendWhisperFrame | EndFrame | PingFrame | BoardRequestFrame | IdleFrame | TransferRequestFrame
 *   | TransferReplyFrame | ReassignFrame | InternalOpenFrame | InternalInviteFrame
 *   | InternalLeaveFrame | InternalHistoryRequestFrame | InternalSendFrame} ClientFrame
 */

export {};
