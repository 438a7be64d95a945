-- A chat that could not be offered because presence did not answer waits for an agent and is
-- looked at again: the `recheck` time-out (owner: router; see docs/architecture.md).
-- Expand only: binaries before this one never write it, and ignore it if they fire it.
ALTER TABLE conversation_timers DROP CONSTRAINT conversation_timers_kind_check;
ALTER TABLE conversation_timers ADD CONSTRAINT conversation_timers_kind_check
    CHECK (kind IN ('ring', 'overflow', 'wait', 'incoming', 'inactivity', 'transfer', 'recheck'));
