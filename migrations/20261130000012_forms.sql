-- The form builder: each website's pre-chat and offline forms, what shoppers answered, and the
-- files they attached.

-- Owner: bot. A website's form of each kind (no row: no custom form).
CREATE TABLE forms (
    website_id  uuid NOT NULL REFERENCES websites (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('pre_chat', 'offline')),
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    -- The fields, as the REST API takes them (checked by the bot).
    fields      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (website_id, kind)
);

-- Owner: bot. Each checked submission of a form: the answers as shown to agents (agreements
-- with their text, attachments by id), and what they filled in the contact and variables.
CREATE TABLE form_submissions (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    website_id  uuid NOT NULL REFERENCES websites (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('pre_chat', 'offline')),
    visitor_id  uuid NOT NULL,
    answers     jsonb NOT NULL,
    contact     jsonb NOT NULL DEFAULT '{}',
    variables   jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX form_submissions_group ON form_submissions (group_id, created_at DESC);

-- Owner: gateway (it receives the upload). A file a shopper attached to a form: at most 10 MB,
-- its type read from its bytes, served only to agents of the same dealer group.
CREATE TABLE attachments (
    id            uuid PRIMARY KEY,
    group_id      uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    website_id    uuid NOT NULL REFERENCES websites (id) ON DELETE CASCADE,
    visitor_id    uuid NOT NULL,
    -- The form field it was uploaded for (`<kind>:<field id>`).
    field         text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL CHECK (size > 0 AND size <= 10485760),
    data          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_group ON attachments (group_id, created_at DESC);

-- Owner: router. The pre-chat form the shopper filled before this chat.
ALTER TABLE conversations ADD COLUMN form_id uuid;

-- Owner: bot. The offline form's answers, when a custom offline form was used.
ALTER TABLE left_messages ADD COLUMN answers jsonb;
