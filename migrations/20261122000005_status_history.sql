-- Who set which agent's status to what, and when (an agent themself, or a manager for an agent
-- who left without logging off). Owner: presence.

CREATE TABLE agent_status_changes (
    id          bigserial PRIMARY KEY,
    agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    group_id    uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('available', 'away', 'dnd', 'offline')),
    changed_by  uuid NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_status_changes_agent ON agent_status_changes (agent_id, changed_at DESC);
