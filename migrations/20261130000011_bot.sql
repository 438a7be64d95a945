-- The bot: the Lead Gate, the leave-a-message form, languages and consent.

-- Owner: gateway (the directory). The country phone numbers are read in when a shopper gives
-- one without its international prefix (ISO 3166-1 alpha-2).
ALTER TABLE rooftops ADD COLUMN country text NOT NULL DEFAULT 'US' CHECK (country ~ '^[A-Z]{2}$');

-- Owner: router. What the shopper told the bot, kept on the conversation so the agent, the
-- lead and the CRM see it: the language (en or es), the contact (names, e-mail, E.164 phone
-- and the consent shown with it), whether the department is still to be asked, and where the
-- chat started from (page and IP, for the consent record).
ALTER TABLE conversations
    ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es')),
    ADD COLUMN contact jsonb,
    ADD COLUMN department_pending boolean NOT NULL DEFAULT false,
    ADD COLUMN page_url text,
    ADD COLUMN client_ip text;

-- Owner: bot. Per website; a website without a row has the defaults (Lead Gate on, the
-- leave-a-message form on, built-in texts).
CREATE TABLE bot_settings (
    website_id          uuid PRIMARY KEY REFERENCES websites (id) ON DELETE CASCADE,
    group_id            uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    lead_gate           boolean NOT NULL DEFAULT true,
    leave_message_form  boolean NOT NULL DEFAULT true,
    bot_name            text,
    avatar_url          text,
    -- Per language, the texts that replace the built-in ones: {"en": {"greeting": "…"}, "es": {…}}.
    texts               jsonb NOT NULL DEFAULT '{}',
    -- Raised whenever the consent text changes, so each stored consent names what was shown.
    consent_version     integer NOT NULL DEFAULT 1 CHECK (consent_version > 0),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bot_settings_group ON bot_settings (group_id);

-- Owner: bot. Where each conversation is in the Lead Gate.
CREATE TABLE gate_sessions (
    conversation_id  uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    group_id         uuid NOT NULL,
    -- The question being asked: department, first_name, last_name, contact, done.
    step             text NOT NULL CHECK (step IN ('department', 'first_name', 'last_name', 'contact', 'done')),
    -- What was answered so far (validated).
    answers          jsonb NOT NULL DEFAULT '{}',
    -- The highest shopper message seq already handled: a redelivered event changes nothing.
    handled_seq      bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Owner: bot. Messages left through the form or the REST call; each becomes a lead (the
-- lead-capture service takes the bot.message_left event). published_at is set once JetStream
-- has the event; rows still NULL are published again by a relay.
CREATE TABLE left_messages (
    id               uuid PRIMARY KEY,
    group_id         uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    website_id       uuid NOT NULL REFERENCES websites (id) ON DELETE CASCADE,
    rooftop_id       uuid NOT NULL,
    department_id    uuid,
    conversation_id  uuid,
    visitor_id       uuid,
    -- Why the form was shown: after_hours, nobody_available, wait_expired, max_sessions,
    -- missed, form (the widget's form with no chat before it), or rest (a dealer's own form
    -- posted to the REST call).
    trigger          text NOT NULL,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    email            text NOT NULL,
    phone            text,
    consent          jsonb,
    message          text NOT NULL,
    language         text NOT NULL CHECK (language IN ('en', 'es')),
    page_url         text,
    vehicle          jsonb,
    -- The bot.message_left event exactly as published (and republished by the relay).
    event            jsonb NOT NULL,
    -- The caller's Idempotency-Key (or the widget's form id): a retry stores nothing new.
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    UNIQUE (website_id, idempotency_key)
);
CREATE INDEX left_messages_unpublished ON left_messages (created_at) WHERE published_at IS NULL;
CREATE INDEX left_messages_group ON left_messages (group_id, created_at DESC);

-- The bot's sweep finds chats still with it (owner of the table: router).
CREATE INDEX conversations_in_bot ON conversations (created_at) WHERE state = 'bot';
