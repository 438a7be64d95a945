-- Single sign-on with OpenID Connect (issue 17, item 1). Owned by the gateway (the directory;
-- libs/rest/src/sso.rs writes every table here, libs/rest/src/sso_api.rs serves them).
--
-- A dealer group's identity provider. The client secret is NOT here: `secret_key` names a file
-- of the directory of mounted Kubernetes Secret files (SHOWROOM_OIDC_SECRETS_DIR) that holds it.
-- `role_map` maps values of the `role_claim` claim to our roles; `rooftop_claim` (optional)
-- carries the rooftops (ids or names of the group's rooftops) a rooftop manager manages.
-- `password_sign_in` false: the group's agents can sign in only through the provider.
CREATE TABLE sso_providers (
    group_id         uuid PRIMARY KEY REFERENCES dealer_groups (id) ON DELETE CASCADE,
    issuer           text NOT NULL,
    client_id        text NOT NULL,
    secret_key       text NOT NULL CHECK (secret_key ~ '^[A-Za-z0-9._-]{1,100}$'),
    display_name     text NOT NULL,
    role_claim       text NOT NULL,
    role_map         jsonb NOT NULL,
    rooftop_claim    text,
    password_sign_in boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The e-mail domains whose sign-in goes to a group's provider: one group per domain, so the
-- sign-in page finds the provider from the typed e-mail alone.
CREATE TABLE sso_domains (
    domain   text PRIMARY KEY CHECK (domain = lower(domain)),
    group_id uuid NOT NULL REFERENCES sso_providers (group_id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_group ON sso_domains (group_id);

-- A sign-in started and not yet finished: short-lived (10 minutes) and single-use (the
-- callback deletes the row it uses), kept here so any gateway replica finishes it. `state_hash`
-- and `browser_hash` are SHA-256 of the `state` parameter and of the browser-binding cookie;
-- the PKCE verifier and the nonce are what the callback must present to the provider and find
-- in the ID token.
CREATE TABLE sso_logins (
    state_hash    bytea PRIMARY KEY,
    browser_hash  bytea NOT NULL,
    group_id      uuid NOT NULL REFERENCES sso_providers (group_id) ON DELETE CASCADE,
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    redirect_uri  text NOT NULL,
    email         text NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sso_logins_expiry ON sso_logins (expires_at);

-- Who an agent is at the provider: issuer + `sub`, one agent each per group. `sid` is the
-- provider's session id of the newest sign-in, so a back-channel logout naming only a `sid`
-- finds the agent.
CREATE TABLE agent_identities (
    group_id     uuid NOT NULL,
    issuer       text NOT NULL,
    subject      text NOT NULL,
    agent_id     uuid NOT NULL,
    last_sid     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_sign_in timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, issuer, subject),
    CONSTRAINT agent_identities_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE
);
CREATE INDEX agent_identities_agent ON agent_identities (agent_id);
CREATE INDEX agent_identities_sid ON agent_identities (group_id, issuer, last_sid);

-- Logout tokens already acted on (their `jti`), kept until they could no longer be accepted
-- (`iat` older than the acceptance window): a replayed logout token is refused, so it cannot
-- end the sessions an agent opened after the logout.
CREATE TABLE sso_logout_tokens (
    group_id   uuid NOT NULL REFERENCES sso_providers (group_id) ON DELETE CASCADE,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, jti)
);
