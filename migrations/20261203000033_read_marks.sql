-- Read marks (issue 19): how far each side of a chat has seen its transcript, shown as "Seen"
-- under the last message the other side saw. Owned by the gateway, like the transcript; gone
-- with the conversation (and swept and erased with its messages).
CREATE TABLE read_marks (
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    group_id         uuid NOT NULL,
    side             text NOT NULL CHECK (side IN ('shopper', 'agent')),
    seq              bigint NOT NULL CHECK (seq > 0),
    at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, side)
);
