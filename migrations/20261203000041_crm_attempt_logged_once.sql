-- An attempt's log row is written once, with its outcome. Owner: crm-export (see
-- docs/crm-export.md, "Delivery log and events").

-- Until now a claim inserted each attempt's row as 'sending' and the outcome updated it: two
-- writes of crm_attempts per attempt beside the delivery's own. Now the claim writes only the
-- delivery, stamping when its claim began here; the outcome inserts the attempt's row with that
-- start. An attempt under way is shown in the log from the delivery (claimed, its attempt not
-- logged yet: 'sending'); one a dead worker left is logged 'interrupted' by the claim that
-- takes the row after its lease. Rows an older crm-export left 'sending' are still turned into
-- 'interrupted' the same way.
ALTER TABLE crm_deliveries ADD COLUMN claimed_at timestamptz;
