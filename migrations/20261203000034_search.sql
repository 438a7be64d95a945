-- Search (issue 19, item 3): Postgres full-text search over transcripts, shoppers' names,
-- contacts' names, e-mails and phones, and leads' messages and notes. Each index is on its
-- owner's table and belongs to that owner (docs/architecture.md, "Search"); the REST layer
-- (libs/rest/src/search.rs) only reads. Expression indexes, not generated columns: adding a
-- stored column would rewrite `messages` under an exclusive lock, an index does not rewrite it
-- (on a large installation, create these CONCURRENTLY by hand before the migrate Job; the
-- IF NOT EXISTS makes the Job then skip them). The queries repeat each expression exactly, or
-- the planner cannot use the index.

-- Owner: gateway. A message's words in both configurations, so a query (OR-ed in both) finds
-- "coches" by "coche" and "financing" by "finance".
CREATE INDEX IF NOT EXISTS messages_search ON messages
    USING gin ((to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)));

-- Owner: router. The shopper's name as the Lead Gate or the widget gave it (no stemming).
CREATE INDEX IF NOT EXISTS conversations_search ON conversations
    USING gin (to_tsvector('simple'::regconfig,
        coalesce(shopper_name, '') || ' ' || coalesce(contact->>'first_name', '') || ' '
        || coalesce(contact->>'last_name', '')));

-- Owner: lead-capture. Contacts' names (no stemming); e-mails by prefix of the lower-cased
-- address; phones by the end of their digits ("312 555 0134" finds "+13125550134").
CREATE INDEX IF NOT EXISTS contacts_search_name ON contacts
    USING gin (to_tsvector('simple'::regconfig, first_name || ' ' || last_name));
CREATE INDEX IF NOT EXISTS contacts_search_email ON contacts
    (group_id, lower(email) text_pattern_ops) WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS contacts_search_phone ON contacts
    (group_id, reverse(regexp_replace(phone, '[^0-9]', '', 'g')) text_pattern_ops)
    WHERE phone IS NOT NULL;

-- Owner: lead-capture. A lead's messages and the agent's notes, in both configurations; and
-- the leads of a chat.
CREATE INDEX IF NOT EXISTS leads_search ON leads
    USING gin ((to_tsvector('english'::regconfig,
            coalesce(message, '') || ' ' || coalesce(classification->>'notes', ''))
        || to_tsvector('spanish'::regconfig,
            coalesce(message, '') || ' ' || coalesce(classification->>'notes', ''))));
CREATE INDEX IF NOT EXISTS leads_conversation ON leads (conversation_id)
    WHERE conversation_id IS NOT NULL;
