-- Claims per destination through an index. Owner: crm-export (see docs/crm-export.md).

-- A claim walks the enabled destinations and takes, per destination, its oldest due rows up to
-- the room under SHOWROOM_PER_DESTINATION_IN_FLIGHT (a LATERAL ... LIMIT per destination,
-- services/crm-export/src/worker.rs). This index answers each of those with a short range
-- scan in due order, however long the backlog, instead of a ranking of every due row.
CREATE INDEX crm_deliveries_due_per_destination
    ON crm_deliveries (destination_id, next_attempt_at, id) WHERE status = 'pending';
