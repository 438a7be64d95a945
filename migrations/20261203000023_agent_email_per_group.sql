-- An agent's e-mail is unique within their dealer group, no longer across all groups: refusing
-- an address because another group uses it told any group who is registered elsewhere. A login
-- tries the password against each active agent with the address (see
-- libs/rest/src/auth.rs, `login`). Owned by the gateway (the directory).
DROP INDEX agents_email_unique;
CREATE UNIQUE INDEX agents_email_unique ON agents (group_id, lower(email));
CREATE INDEX agents_email_login ON agents (lower(email)) WHERE deactivated_at IS NULL;
