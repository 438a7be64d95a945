-- Tenancy and identity. Owner: gateway (the only writer; other services read).
-- dealer group (tenant) -> rooftops -> departments; websites per rooftop; agents with
-- memberships in departments of one or more rooftops; login sessions.

CREATE TABLE dealer_groups (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(trim(name)) > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rooftops (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(trim(name)) > 0),
    -- IANA time zone, e.g. America/Chicago; business hours are read in it.
    time_zone   text NOT NULL CHECK (time_zone ~ '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, group_id)
);
CREATE INDEX rooftops_group ON rooftops (group_id);

CREATE TABLE departments (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL,
    rooftop_id  uuid NOT NULL,
    -- What shoppers and agents see ("Sales", "Service", "Parts", …); configurable.
    label       text NOT NULL CHECK (length(trim(label)) > 0),
    -- Section of the Live Agent Status board ("Front End", "Back End"); a label, not a kind.
    board_section text,
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (rooftop_id, group_id) REFERENCES rooftops (id, group_id) ON DELETE CASCADE,
    UNIQUE (rooftop_id, label),
    UNIQUE (id, group_id)
);
CREATE INDEX departments_group ON departments (group_id);

CREATE TABLE websites (
    id              uuid PRIMARY KEY,
    group_id        uuid NOT NULL,
    rooftop_id      uuid NOT NULL,
    name            text NOT NULL,
    -- Public key in the widget snippet (data-key).
    widget_key      text NOT NULL UNIQUE CHECK (widget_key ~ '^[A-Za-z0-9_-]{1,64}$'),
    -- Origins (scheme://host[:port]) the widget may connect from.
    allowed_origins text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (rooftop_id, group_id) REFERENCES rooftops (id, group_id) ON DELETE CASCADE
);
CREATE INDEX websites_group ON websites (group_id);

CREATE TABLE agents (
    id              uuid PRIMARY KEY,
    group_id        uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    email           text NOT NULL CHECK (email LIKE '%_@_%'),
    -- argon2id PHC string.
    password_hash   text NOT NULL,
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    role            text NOT NULL CHECK (role IN ('agent', 'manager', 'admin')),
    locale          text NOT NULL DEFAULT 'en',
    time_zone       text,
    -- How many chats the agent can hold at once.
    max_chats       integer NOT NULL DEFAULT 3 CHECK (max_chats > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, group_id)
);
-- Agents log in by e-mail alone, so an address is unique across all groups.
CREATE UNIQUE INDEX agents_email ON agents (lower(email));
CREATE INDEX agents_group ON agents (group_id);

CREATE TABLE agent_memberships (
    agent_id       uuid NOT NULL,
    department_id  uuid NOT NULL,
    group_id       uuid NOT NULL,
    PRIMARY KEY (agent_id, department_id),
    -- Both sides in the same dealer group: an agent never covers another group's department.
    FOREIGN KEY (agent_id, group_id) REFERENCES agents (id, group_id) ON DELETE CASCADE,
    FOREIGN KEY (department_id, group_id) REFERENCES departments (id, group_id) ON DELETE CASCADE
);
CREATE INDEX agent_memberships_department ON agent_memberships (department_id);

CREATE TABLE agent_sessions (
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash    bytea PRIMARY KEY,
    agent_id      uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    group_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);
