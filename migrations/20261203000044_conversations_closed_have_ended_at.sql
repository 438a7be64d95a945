-- Owner: router. A closed conversation has its end (`ended_at`): the router sets it at every
-- close and when a chat starts closed (services/router/src/machine.rs), and the retention
-- sweeps rely on it. They bound a conversation's rows by `c.ended_at < retention_horizon(…)`
-- (20261203000043_retention_horizon.sql), so a closed conversation without an end would never
-- expire, and the shopper's data would outlive the group's period. Now Postgres holds it for
-- any writer. Rows written before are given an end first: their last use, as
-- `conversation_expired` counts it, so none expires earlier or later than it would have.
UPDATE conversations c
SET ended_at = GREATEST(c.created_at,
        (SELECT m.created_at FROM messages m WHERE m.conversation_id = c.id
         ORDER BY m.seq DESC LIMIT 1))
WHERE c.state IN ('ended', 'missed', 'offline', 'timed_out') AND c.ended_at IS NULL;

-- NOT VALID: the rows before were given an end just above, so the check holds for them too, and
-- adding it does not read the whole table under the exclusive lock that ALTER TABLE holds.
ALTER TABLE conversations ADD CONSTRAINT conversations_closed_has_end
    CHECK (state NOT IN ('ended', 'missed', 'offline', 'timed_out') OR ended_at IS NOT NULL) NOT VALID;
