-- The transcript. Owner: gateway, which acknowledges a message only once it is committed here.

CREATE TABLE transcripts (
    conversation_id  uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    group_id         uuid NOT NULL,
    -- Highest seq handed out; the next message gets last_seq + 1 (gapless, in one transaction).
    last_seq         bigint NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id               uuid PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    group_id         uuid NOT NULL,
    seq              bigint NOT NULL CHECK (seq > 0),
    author_kind      text NOT NULL CHECK (author_kind IN ('shopper', 'agent', 'bot', 'system')),
    author_id        uuid,
    author_name      text,
    body             text NOT NULL,
    client_msg_id    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq),
    -- A resend with the same client message id is the same message.
    UNIQUE NULLS NOT DISTINCT (conversation_id, author_kind, author_id, client_msg_id)
);
