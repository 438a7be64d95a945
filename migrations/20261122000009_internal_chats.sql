-- Internal chats between agents of one dealer group.
-- internal_chats and internal_members: owned by the router (who may join follows the status
-- rules). internal_transcripts and internal_messages: owned by the gateway (like the
-- customer transcript: a message is acknowledged once committed here).

CREATE TABLE internal_chats (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    -- Shown above the chat; empty for a chat between two colleagues.
    topic       text NOT NULL DEFAULT '' CHECK (char_length(topic) <= 120),
    created_by  uuid NOT NULL,
    -- For a chat of exactly two colleagues: both ids, smaller first, so opening it again finds
    -- the same chat.
    pair        uuid[] CHECK (pair IS NULL OR cardinality(pair) = 2),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (created_by, group_id) REFERENCES agents (id, group_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX internal_chats_pair ON internal_chats (group_id, pair) WHERE pair IS NOT NULL;

CREATE TABLE internal_members (
    chat_id     uuid NOT NULL REFERENCES internal_chats (id) ON DELETE CASCADE,
    agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    added_by    uuid NOT NULL,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    left_at     timestamptz,
    PRIMARY KEY (chat_id, agent_id)
);
CREATE INDEX internal_members_agent ON internal_members (agent_id) WHERE left_at IS NULL;

CREATE TABLE internal_transcripts (
    chat_id   uuid PRIMARY KEY REFERENCES internal_chats (id) ON DELETE CASCADE,
    group_id  uuid NOT NULL,
    last_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE internal_messages (
    id             uuid PRIMARY KEY,
    chat_id        uuid NOT NULL REFERENCES internal_chats (id) ON DELETE CASCADE,
    group_id       uuid NOT NULL,
    seq            bigint NOT NULL CHECK (seq > 0),
    author_kind    text NOT NULL CHECK (author_kind IN ('agent', 'system')),
    author_id      uuid,
    author_name    text,
    body           text NOT NULL,
    client_msg_id  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, seq),
    UNIQUE NULLS NOT DISTINCT (chat_id, author_kind, author_id, client_msg_id)
);
