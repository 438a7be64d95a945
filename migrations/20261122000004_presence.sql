-- Agents' chosen statuses. Owner: presence. Redis holds only what heartbeats rebuild.

CREATE TABLE agent_statuses (
    agent_id    uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    group_id    uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('available', 'away', 'dnd', 'offline')),
    changed_by  uuid NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
