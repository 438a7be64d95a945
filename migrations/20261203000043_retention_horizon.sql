-- Retention sweeps that reach their rows through an index (docs/architecture.md, "Retention and
-- shoppers' rights"). The sweeps' conditions are per row (`retention_cutoff(x.group_id, …)`,
-- `conversation_expired(c, …)`): the cut-off differs from group to group, so no index range
-- serves it and each sweep, hourly on every replica, read its whole table (and ran the per-row
-- functions on every row) even when nothing had expired.

-- Owner: gateway (with retention_settings and the functions of 20261203000030_retention.sql).
-- The latest cut-off any group can have for one kind of data as of `now`: `now` minus the
-- shortest period of that kind any group chose, or the 730-day default if that is shorter (or
-- no group chose one: LEAST ignores the NULL). Every group's `retention_cutoff` is at or before
-- it, so a row past its own group's period is also before the horizon: each sweep adds
-- `x.<last use> < retention_horizon(kind, $1)` next to its per-row condition, which still
-- decides; the bound only narrows the rows looked at to an index range. STABLE, and called with
-- a constant and a parameter, so the planner takes it as an index bound (evaluated once per
-- scan); its subquery keeps it from being inlined.
-- A conversation's rows are bounded on `c.ended_at` (conversations_ended): only a closed
-- conversation expires, a closed one always has `ended_at` (services/router/src/machine.rs sets
-- it at every close and when a chat starts closed), and `conversation_expired` compares
-- GREATEST(created_at, ended_at, last message), which is at or after it.
CREATE FUNCTION retention_horizon(kind text, now timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT now - make_interval(days => LEAST(730, (
        SELECT min(CASE kind
                       WHEN 'transcripts' THEN r.transcripts_days
                       WHEN 'attachments' THEN r.attachments_days
                       WHEN 'contacts' THEN r.contacts_days
                       WHEN 'leads' THEN r.leads_days
                   END)
        FROM retention_settings r)))
$$;

-- Owner: gateway. An appointment is past the leads period when GREATEST(updated_at, ends_at)
-- is, so its end is before the horizon: the sweep bounds `ends_at`, which only a reschedule
-- moves (a cancellation, which moves updated_at, stays a HOT update).
CREATE INDEX appointments_ends ON appointments (ends_at);

-- Owner: lead-capture. The contacts sweep finds contacts by their last lead (updated_at). The
-- price: the update a known shopper's new lead makes to their contact is no longer HOT.
CREATE INDEX contacts_updated ON contacts (updated_at);
