-- Conversation state. Owner: router.

CREATE TABLE conversations (
    id             uuid PRIMARY KEY,
    group_id       uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    website_id     uuid NOT NULL REFERENCES websites (id) ON DELETE CASCADE,
    rooftop_id     uuid NOT NULL REFERENCES rooftops (id) ON DELETE CASCADE,
    department_id  uuid NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    -- The visitor of the signed visitor token.
    visitor_id     uuid NOT NULL,
    shopper_name   text,
    state          text NOT NULL CHECK (state IN ('bot', 'incoming', 'active', 'ended', 'missed', 'offline', 'timed_out')),
    agent_id       uuid REFERENCES agents (id) ON DELETE SET NULL,
    -- Agents the chat was offered to (Incoming lists).
    offered_to     uuid[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    assigned_at    timestamptz,
    ended_at       timestamptz,
    ended_by       text CHECK (ended_by IN ('shopper', 'agent', 'system')),
    CHECK ((state = 'active') = (agent_id IS NOT NULL AND ended_at IS NULL) OR state <> 'active')
);
CREATE INDEX conversations_group_state ON conversations (group_id, state, created_at DESC);
CREATE INDEX conversations_agent ON conversations (agent_id, state) WHERE agent_id IS NOT NULL;
CREATE INDEX conversations_visitor ON conversations (website_id, visitor_id, created_at DESC);
-- A shopper has at most one open conversation per website.
CREATE UNIQUE INDEX conversations_one_open ON conversations (website_id, visitor_id)
    WHERE state IN ('bot', 'incoming', 'active');
CREATE INDEX conversations_offered ON conversations USING gin (offered_to) WHERE state = 'incoming';

CREATE TABLE participants (
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('shopper', 'agent', 'bot')),
    -- Visitor id for the shopper, agent id for an agent.
    participant_id   uuid NOT NULL,
    joined_at        timestamptz NOT NULL DEFAULT now(),
    left_at          timestamptz,
    PRIMARY KEY (conversation_id, kind, participant_id)
);
