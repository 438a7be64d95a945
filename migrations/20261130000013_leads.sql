-- Leads and contacts. Owner: lead-capture.

-- How a website's leads find their contact and merge: match by e-mail then phone (or the
-- other way, or one only), and a new lead for the same contact and rooftop within
-- dedupe_hours updates the open one. No row: e-mail then phone, 24 hours.
CREATE TABLE lead_settings (
    website_id    uuid PRIMARY KEY REFERENCES websites (id) ON DELETE CASCADE,
    group_id      uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    match_by      text NOT NULL DEFAULT 'email_then_phone'
                  CHECK (match_by IN ('email_then_phone', 'phone_then_email', 'email', 'phone')),
    dedupe_hours  integer NOT NULL DEFAULT 24 CHECK (dedupe_hours BETWEEN 0 AND 720),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per person per dealer group.
CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    email       text,
    phone       text,
    language    text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es')),
    -- The consent shown with the phone number (text, version, time, page, IP).
    consent     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_email ON contacts (group_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX contacts_phone ON contacts (group_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE leads (
    id               uuid PRIMARY KEY,
    group_id         uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    rooftop_id       uuid NOT NULL REFERENCES rooftops (id) ON DELETE CASCADE,
    department_id    uuid,
    contact_id       uuid NOT NULL REFERENCES contacts (id),
    origin           text NOT NULL CHECK (origin IN ('missed_chat', 'message_left', 'offline', 'agent')),
    conversation_id  uuid,
    vehicle          jsonb,
    message          text,
    language         text NOT NULL DEFAULT 'en',
    form             jsonb NOT NULL DEFAULT '[]',
    classification   jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1
);
CREATE INDEX leads_contact ON leads (contact_id, rooftop_id, created_at DESC);
CREATE INDEX leads_group ON leads (group_id, created_at DESC);

-- What made or updated each lead; the key makes each source count once (a redelivered event
-- or a retried request finds its lead).
CREATE TABLE lead_sources (
    source_key       text PRIMARY KEY,
    lead_id          uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    origin           text NOT NULL,
    conversation_id  uuid,
    message_id       uuid,
    at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_sources_lead ON lead_sources (lead_id, at);
CREATE INDEX lead_sources_conversation ON lead_sources (conversation_id) WHERE conversation_id IS NOT NULL;

-- Who changed what: created, merged, classified (with the classification before and after).
CREATE TABLE lead_changes (
    id        bigserial PRIMARY KEY,
    lead_id   uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    group_id  uuid NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    agent_id  uuid,
    what      text NOT NULL,
    before    jsonb,
    after     jsonb
);
CREATE INDEX lead_changes_lead ON lead_changes (lead_id, id);

-- lead.created / lead.updated CloudEvents written with their change, published after the
-- commit and deleted; a relay publishes what a crash left (the id is the Nats-Msg-Id). The
-- shape every outbox shares (showroom_runtime::outbox).
CREATE TABLE lead_outbox (
    id           uuid PRIMARY KEY,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_outbox_created ON lead_outbox (created_at);
