-- Two indexes of crm_deliveries that no statement needs. Owner: crm-export (see
-- docs/crm-export.md, "Delivery log and events").

-- Every row version of a delivery (its insert, its claim, its outcome) adds an entry to each
-- index of the table: updated_at is indexed (crm_deliveries_updated, for retention), so no
-- update is HOT. These two only cost that:
-- - crm_deliveries_due (next_attempt_at) WHERE pending: claims find due rows per destination
--   through crm_deliveries_due_per_destination since 20261203000031, and nothing else asks
--   for due rows across destinations;
-- - crm_deliveries_lead (lead_id): the unique (lead_id, destination_id) index starts with the
--   lead, so it answers every lookup by lead (the log's, erasure's, export's) as well.
DROP INDEX IF EXISTS crm_deliveries_due;
DROP INDEX IF EXISTS crm_deliveries_lead;
