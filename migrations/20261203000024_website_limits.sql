-- A website's own limits on the conversations started on it (libs/rest/src/limits.rs): per
-- client address per hour, and from all addresses per minute. NULL (every existing website) is
-- the gateway's default (SHOWROOM_CONVERSATIONS_PER_IP_PER_HOUR,
-- SHOWROOM_CONVERSATIONS_PER_WEBSITE_PER_MINUTE). Owned by the gateway (the directory). Nullable
-- columns without a default: no table rewrite.
ALTER TABLE websites
    ADD COLUMN conversations_per_ip_per_hour integer
        CHECK (conversations_per_ip_per_hour BETWEEN 1 AND 100000),
    ADD COLUMN conversations_per_minute integer
        CHECK (conversations_per_minute BETWEEN 1 AND 100000);
