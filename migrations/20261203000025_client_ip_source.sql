-- How the gateway worked out the shopper's address kept for the consent record: `peer` (the
-- TCP connection), or a trusted proxy's `x_forwarded_for` / `forwarded` header (see
-- libs/rest/src/extract.rs, `client_ip`). Owned by the router, like the rest of the table.
ALTER TABLE conversations ADD COLUMN client_ip_source text
    CHECK (client_ip_source IN ('peer', 'x_forwarded_for', 'forwarded'));
