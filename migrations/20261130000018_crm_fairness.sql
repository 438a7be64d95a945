-- Fair claims: at most SHOWROOM_PER_DESTINATION_IN_FLIGHT attempts in flight per destination.
-- Owner: crm-export (see docs/crm-export.md).

-- Each claim counts the destinations' live claims (pending rows with a claim_id whose lease has
-- not ended). Only rows under a claim are in this index, so it stays as small as the attempts
-- in flight plus the claims dead workers left, whatever the backlog. The due rows themselves
-- are found through crm_deliveries_due, as before.
CREATE INDEX crm_deliveries_claimed ON crm_deliveries (destination_id, next_attempt_at)
    WHERE status = 'pending' AND claim_id IS NOT NULL;
