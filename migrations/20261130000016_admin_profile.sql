-- Owner: gateway. Agents' headshots (the console's profile) and each website's widget
-- appearance (the admin pages), issue 7.

-- One headshot per agent: 222 x 222 pixels, PNG or JPEG, cropped in the console and checked
-- by the gateway (size and real content type) before it is stored.
CREATE TABLE agent_photos (
    agent_id      uuid PRIMARY KEY,
    group_id      uuid NOT NULL,
    content_type  text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg')),
    bytes         bytea NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 262144),
    -- Bumped by every upload; photo URLs carry it (?v=), so a cached old face never shows.
    version       bigint NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (agent_id, group_id) REFERENCES agents (id, group_id) ON DELETE CASCADE
);

-- The widget's look on this website (colour, text colour, icon, position, default language),
-- a JSON object the gateway validates (showroom_gateway::appearance::Appearance); '{}' means
-- every default.
ALTER TABLE websites ADD COLUMN appearance jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(appearance) = 'object');
