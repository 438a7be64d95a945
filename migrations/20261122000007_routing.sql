-- Routing: settings, hours, teams, timers, transfers and the event outbox. Owner: router
-- (the only writer; the gateway reads the settings for its REST answers through the router).

-- How each department offers its chats, and its time-outs. A department without a row uses
-- the defaults written here.
CREATE TABLE department_routing (
    department_id          uuid PRIMARY KEY,
    group_id               uuid NOT NULL,
    -- broadcast: every eligible agent sees it; ring: one agent at a time.
    mode                   text NOT NULL DEFAULT 'broadcast' CHECK (mode IN ('broadcast', 'ring')),
    ring_secs              integer NOT NULL DEFAULT 20 CHECK (ring_secs BETWEEN 1 AND 3600),
    -- Caps every member's own maximum while working this department's chats.
    max_chats_per_agent    integer CHECK (max_chats_per_agent > 0),
    -- A chat nobody took by then is missed (reference: five minutes).
    incoming_timeout_secs  integer NOT NULL DEFAULT 300 CHECK (incoming_timeout_secs BETWEEN 1 AND 86400),
    -- When set, the shopper waits at most this long before the offline flow.
    wait_secs              integer CHECK (wait_secs BETWEEN 1 AND 86400),
    -- An active chat where nobody writes for this long is closed as timed out.
    inactivity_secs        integer NOT NULL DEFAULT 1800 CHECK (inactivity_secs BETWEEN 1 AND 604800),
    -- A transfer not answered by then comes back.
    transfer_secs          integer NOT NULL DEFAULT 60 CHECK (transfer_secs BETWEEN 1 AND 3600),
    -- The group team (BDC) this department overflows to, and after how long.
    overflow_team_id       uuid,
    overflow_after_secs    integer CHECK (overflow_after_secs BETWEEN 0 AND 86400),
    -- Business hours apply only when on; otherwise the department is always open.
    hours_enabled          boolean NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (department_id, group_id) REFERENCES departments (id, group_id) ON DELETE CASCADE
);

-- Weekly opening intervals in the rooftop's time zone; several a day.
CREATE TABLE department_hours (
    department_id  uuid NOT NULL REFERENCES department_routing (department_id) ON DELETE CASCADE,
    -- ISO weekday: 1 = Monday … 7 = Sunday.
    weekday        smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    -- Minutes since local midnight; closes may be 1440 (midnight at the end of the day).
    opens_min      smallint NOT NULL CHECK (opens_min BETWEEN 0 AND 1439),
    closes_min     smallint NOT NULL CHECK (closes_min BETWEEN 1 AND 1440),
    CHECK (opens_min < closes_min),
    PRIMARY KEY (department_id, weekday, opens_min)
);

-- Whole local days the department is closed (holidays).
CREATE TABLE department_closures (
    department_id  uuid NOT NULL REFERENCES department_routing (department_id) ON DELETE CASCADE,
    day            date NOT NULL,
    label          text NOT NULL DEFAULT '',
    PRIMARY KEY (department_id, day)
);

-- Group-level teams (a BDC) covering departments of several rooftops.
CREATE TABLE teams (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(trim(name)) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (group_id, name),
    UNIQUE (id, group_id)
);

CREATE TABLE team_members (
    team_id    uuid NOT NULL,
    agent_id   uuid NOT NULL,
    group_id   uuid NOT NULL,
    PRIMARY KEY (team_id, agent_id),
    FOREIGN KEY (team_id, group_id) REFERENCES teams (id, group_id) ON DELETE CASCADE,
    FOREIGN KEY (agent_id, group_id) REFERENCES agents (id, group_id) ON DELETE CASCADE
);

ALTER TABLE department_routing
    ADD FOREIGN KEY (overflow_team_id, group_id) REFERENCES teams (id, group_id) ON DELETE SET NULL (overflow_team_id);

-- Per website: the cap on concurrent sessions, and routing rules on the bot's variables.
CREATE TABLE website_routing (
    website_id    uuid PRIMARY KEY REFERENCES websites (id) ON DELETE CASCADE,
    group_id      uuid NOT NULL,
    -- Past this many open (incoming or active) chats, new chats go offline.
    max_sessions  integer CHECK (max_sessions > 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- "If the variable `name` equals `value`, route to this department or team", first match wins.
CREATE TABLE routing_rules (
    website_id     uuid NOT NULL REFERENCES websites (id) ON DELETE CASCADE,
    position       integer NOT NULL,
    variable       text NOT NULL CHECK (length(variable) BETWEEN 1 AND 64),
    value          text NOT NULL,
    department_id  uuid REFERENCES departments (id) ON DELETE CASCADE,
    team_id        uuid REFERENCES teams (id) ON DELETE CASCADE,
    CHECK ((department_id IS NULL) <> (team_id IS NULL)),
    PRIMARY KEY (website_id, position)
);

ALTER TABLE conversations
    -- Set when the chat is (also) offered to a group team: routed there, or overflowed.
    ADD COLUMN team_id uuid REFERENCES teams (id) ON DELETE SET NULL,
    -- Agents who let the chat ring out (ring mode): not rung again while others are left.
    ADD COLUMN rang_out uuid[] NOT NULL DEFAULT '{}',
    -- Why the chat went to the offline flow.
    ADD COLUMN offline_reason text CHECK (offline_reason IN ('after_hours', 'nobody_available', 'max_sessions', 'wait_expired')),
    -- What the bot collected that steers routing (e.g. {"interest": "trade-in"}).
    ADD COLUMN variables jsonb NOT NULL DEFAULT '{}',
    -- The visitor's previous conversation on this website: a returning shopper's history.
    ADD COLUMN previous_id uuid;
-- "Longest idle" in ring mode: when each agent last got a chat.
CREATE INDEX conversations_agent_assigned ON conversations (agent_id, assigned_at DESC) WHERE agent_id IS NOT NULL;

-- Every pending time-out, so a restarted or other replica fires it. A row is deleted in the
-- transaction that acts on it: each fires once.
CREATE TABLE conversation_timers (
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('ring', 'overflow', 'wait', 'incoming', 'inactivity', 'transfer')),
    group_id         uuid NOT NULL,
    due_at           timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, kind)
);
CREATE INDEX conversation_timers_due ON conversation_timers (due_at);

CREATE TABLE transfers (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    group_id        uuid NOT NULL,
    from_agent      uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    to_agent        uuid REFERENCES agents (id) ON DELETE CASCADE,
    to_department   uuid REFERENCES departments (id) ON DELETE CASCADE,
    -- Agents who may accept it (the one agent, or the department's eligible members).
    offered_to      uuid[] NOT NULL DEFAULT '{}',
    note            text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'accepted', 'declined', 'expired', 'cancelled', 'reassigned')),
    decided_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    CHECK ((to_agent IS NULL) <> (to_department IS NULL))
);
-- At most one open transfer per chat.
CREATE UNIQUE INDEX transfers_one_open ON transfers (conversation_id) WHERE state = 'requested';

-- Events written in the transaction of the change they describe, published after commit (and
-- by any replica if the writer died first). The id is the envelope id and the Nats-Msg-Id,
-- so a second publish of the same row is dropped by JetStream.
CREATE TABLE conversation_outbox (
    id           uuid PRIMARY KEY,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_outbox_created ON conversation_outbox (created_at);
