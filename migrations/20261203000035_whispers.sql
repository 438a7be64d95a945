-- Whispers (issue 19): a manager's note to the agent in a live chat, kept with the chat for
-- agents only. Owned by the gateway, in a table of its own so that nothing that reads the
-- shopper's transcript (`messages`: the widget, the transcript e-mail, the ADF) can carry one.
CREATE TABLE whispers (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    group_id        uuid NOT NULL,
    author_id       uuid NOT NULL,
    author_name     text NOT NULL,
    body            text NOT NULL,
    client_msg_id   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A resend with the same client message id is the same whisper.
    CONSTRAINT whispers_once UNIQUE (conversation_id, author_id, client_msg_id)
);
CREATE INDEX whispers_of_conversation ON whispers (conversation_id, created_at);
