-- Multi-factor sign-in (issue 17, item 2). Owned by the gateway (the directory;
-- libs/rest/src/mfa.rs writes every table here, libs/rest/src/mfa_api.rs serves them).
--
-- Who must use a second factor is a per-group policy: `privileged` (rooftop managers,
-- managers and admins; the default every group gets), `everyone`, or `off`.
ALTER TABLE dealer_groups ADD COLUMN mfa_policy text NOT NULL DEFAULT 'privileged'
    CHECK (mfa_policy IN ('privileged', 'everyone', 'off'));

-- An agent's TOTP authenticator. `secret_sealed` is the secret under AES-256-GCM (nonce first)
-- with the gateway's MFA key, so a dump alone does not reveal it. Active only once confirmed
-- with a first code; `last_step` is the newest 30-second step accepted, and a code of that step
-- or an older one is refused (one UPDATE ... WHERE last_step < step decides between two
-- concurrent uses of one code).
CREATE TABLE agent_totp (
    agent_id      uuid PRIMARY KEY,
    group_id      uuid NOT NULL,
    secret_sealed bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_totp_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE
);

-- Ten one-time recovery codes per agent, stored as SHA-256 of the code (80 random bits each:
-- a fast hash is enough); `used_at` set when one is spent.
CREATE TABLE agent_recovery_codes (
    id         bigserial PRIMARY KEY,
    agent_id   uuid NOT NULL,
    group_id   uuid NOT NULL,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_recovery_codes_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE
);
CREATE INDEX agent_recovery_codes_agent ON agent_recovery_codes (agent_id);

-- An agent's passkeys (WebAuthn credentials), each named; `passkey` is webauthn-rs's
-- serialised credential (public key, counter), `credential_id` its id, unique everywhere.
CREATE TABLE agent_passkeys (
    id            uuid PRIMARY KEY,
    agent_id      uuid NOT NULL,
    group_id      uuid NOT NULL,
    name          text NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 100),
    credential_id bytea NOT NULL,
    passkey       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    CONSTRAINT agent_passkeys_credential_key UNIQUE (credential_id),
    CONSTRAINT agent_passkeys_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE
);
CREATE INDEX agent_passkeys_agent ON agent_passkeys (agent_id);

-- A WebAuthn ceremony in progress (registration or authentication): its server-side state,
-- kept in Postgres so whichever gateway replica gets the answer can finish it. Five minutes;
-- taken (deleted) by the finish.
CREATE TABLE mfa_ceremonies (
    id         uuid PRIMARY KEY,
    agent_id   uuid NOT NULL,
    group_id   uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('passkey_register', 'passkey_authenticate')),
    state      jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT mfa_ceremonies_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE
);
CREATE INDEX mfa_ceremonies_expires ON mfa_ceremonies (expires_at);

-- The sign-in's second step: a password matched, a second factor is due. The ticket (its
-- SHA-256 here) lasts five minutes, is taken by the sign-in it completes, and dies after five
-- wrong codes. `enrol_only`: the policy requires a factor the agent does not have yet, so the
-- ticket only lets them enrol one.
CREATE TABLE mfa_tickets (
    token_hash bytea PRIMARY KEY,
    agent_id   uuid NOT NULL,
    group_id   uuid NOT NULL,
    enrol_only boolean NOT NULL,
    failures   int NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    CONSTRAINT mfa_tickets_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE
);
CREATE INDEX mfa_tickets_expires ON mfa_tickets (expires_at);
