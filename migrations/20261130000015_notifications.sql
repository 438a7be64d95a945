-- Notices to people. Owner: notification.

-- What each agent wants (no row: everything on).
CREATE TABLE notification_prefs (
    agent_id    uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    group_id    uuid NOT NULL,
    desktop     boolean NOT NULL DEFAULT true,
    email       boolean NOT NULL DEFAULT true,
    sound       boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Each website's e-mail settings (no row: transcripts on, no forwarding).
CREATE TABLE notification_settings (
    website_id           uuid PRIMARY KEY REFERENCES websites (id) ON DELETE CASCADE,
    group_id             uuid NOT NULL,
    transcript_email     boolean NOT NULL DEFAULT true,
    forward_messages_to  text[] NOT NULL DEFAULT '{}',
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The last desktop notice per agent and chat: bursts within the coalescing time are dropped,
-- whichever replica sees them.
CREATE TABLE notice_marks (
    agent_id         uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    last_at          timestamptz NOT NULL,
    PRIMARY KEY (agent_id, conversation_id)
);

-- Transcript e-mails to shoppers: due after the chat has been quiet long enough.
CREATE TABLE transcript_mails (
    conversation_id  uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    group_id         uuid NOT NULL,
    due_at           timestamptz NOT NULL,
    sent_at          timestamptz
);
CREATE INDEX transcript_mails_due ON transcript_mails (due_at) WHERE sent_at IS NULL;

-- Every e-mail sent, by a key saying what it is (missed:<chat>:<manager>, forward:<message>:<to>,
-- transcript:<chat>): a redelivered event sends nothing twice.
CREATE TABLE sent_mails (
    key      text PRIMARY KEY,
    sent_at  timestamptz NOT NULL DEFAULT now()
);
