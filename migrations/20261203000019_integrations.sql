-- Integrator credentials: one per integration of a dealer group (a CRM, a warehouse), reading
-- that group's lead and delivery events on NATS with a user JWT of its own.
-- Owner: crm-export (see docs/security.md). The credential's secret (its nkey seed) is shown
-- once and never stored: only the user's public key, for revocation and last use.
CREATE TABLE integrations (
    id           uuid PRIMARY KEY,
    group_id     uuid NOT NULL REFERENCES dealer_groups (id),
    name         text NOT NULL,
    user_key     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    revoked_by   uuid,
    CONSTRAINT integrations_user_key UNIQUE (user_key),
    CONSTRAINT integrations_created_by FOREIGN KEY (created_by, group_id) REFERENCES agents (id, group_id),
    CONSTRAINT integrations_revoked_by FOREIGN KEY (revoked_by, group_id) REFERENCES agents (id, group_id)
);

CREATE INDEX integrations_of_group ON integrations (group_id, created_at DESC);
-- The revocations the application account must carry (crm-export publishes them all).
CREATE INDEX integrations_revoked ON integrations (revoked_at) WHERE revoked_at IS NOT NULL;
