-- Canned responses (issue 19, item 1). Owned by the gateway (libs/rest/src/canned.rs; the
-- REST handlers in canned_api.rs).
--
-- A rooftop's phone number, for the `{rooftop.phone}` placeholder (expand: nullable; a rooftop
-- without one fills the placeholder with nothing).
ALTER TABLE rooftops ADD COLUMN phone text;

-- A response belongs to exactly one owner of its group: the group itself (no rooftop, no
-- agent), a rooftop (`rooftop_id`), or one agent (`agent_id`: personal). A shortcut is unique
-- per owner; the same shortcut may be used by the group, a rooftop and an agent.
CREATE TABLE canned_responses (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    rooftop_id  uuid,
    agent_id    uuid,
    shortcut    text NOT NULL CHECK (shortcut ~ '^[a-z0-9_-]{1,32}$'),
    title       text NOT NULL,
    -- The text in English (required) and Spanish (none: the English one is used).
    text_en     text NOT NULL,
    text_es     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT canned_responses_one_owner CHECK (rooftop_id IS NULL OR agent_id IS NULL),
    CONSTRAINT canned_responses_rooftop_fk FOREIGN KEY (rooftop_id, group_id)
        REFERENCES rooftops (id, group_id) ON DELETE CASCADE,
    CONSTRAINT canned_responses_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE,
    CONSTRAINT canned_responses_shortcut_unique
        UNIQUE NULLS NOT DISTINCT (group_id, rooftop_id, agent_id, shortcut)
);
CREATE INDEX canned_responses_rooftop ON canned_responses (rooftop_id) WHERE rooftop_id IS NOT NULL;
CREATE INDEX canned_responses_agent ON canned_responses (agent_id) WHERE agent_id IS NOT NULL;
