-- Retention, erasure and export of shoppers' data (issue 17, item 5). See docs/architecture.md,
-- "Retention and shoppers' rights".
--
-- Owner of the new table: gateway (the directory; libs/rest/src/privacy_api.rs writes it). Every
-- service that owns shopper data reads it for its own sweep (showroom_runtime::retention); each
-- table is still deleted only by its owner:
--   gateway: messages, transcripts, attachments
--   router: conversations (participants, transfers and timers go with them)
--   bot: gate_sessions, form_submissions, left_messages
--   lead-capture: leads (lead_sources, lead_changes go with them), contacts
--   crm-export: crm_deliveries (crm_attempts go with them), crm_lead_events
--   notification: transcript_mails
--
-- A group without a row keeps everything for the FTC Safeguards Rule's default: 730 days after
-- its last use. Periods are whole days, 1 to 3650.
CREATE TABLE retention_settings (
    group_id          uuid PRIMARY KEY REFERENCES dealer_groups (id) ON DELETE CASCADE,
    transcripts_days  integer NOT NULL DEFAULT 730 CHECK (transcripts_days BETWEEN 1 AND 3650),
    attachments_days  integer NOT NULL DEFAULT 730 CHECK (attachments_days BETWEEN 1 AND 3650),
    contacts_days     integer NOT NULL DEFAULT 730 CHECK (contacts_days BETWEEN 1 AND 3650),
    leads_days        integer NOT NULL DEFAULT 730 CHECK (leads_days BETWEEN 1 AND 3650),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Owner: gateway. The sweep finds a website's old files by upload time.
CREATE INDEX attachments_created ON attachments (created_at);
-- Owner: bot. The sweep finds old submissions and messages left by creation time.
CREATE INDEX form_submissions_created ON form_submissions (created_at);
CREATE INDEX left_messages_created ON left_messages (created_at);
-- Owner: lead-capture. The sweep finds leads by their last change; contacts with no lead left.
CREATE INDEX leads_updated ON leads (updated_at);
CREATE INDEX leads_contact_id ON leads (contact_id);
-- Owner: crm-export. The sweep finds deliveries by their last change, and erasure by lead.
CREATE INDEX crm_deliveries_updated ON crm_deliveries (updated_at);
CREATE INDEX crm_deliveries_lead ON crm_deliveries (lead_id);
CREATE INDEX crm_lead_events_lead ON crm_lead_events (lead_id);
CREATE INDEX crm_lead_events_handled ON crm_lead_events (handled_at);
-- Owner: router. The sweep finds closed conversations by their end.
CREATE INDEX conversations_ended ON conversations (ended_at) WHERE ended_at IS NOT NULL;

-- "Last use", written once for every owner's sweep (owner: gateway, with the table above).
-- The cut-off of one kind of data of a group as of `now`: `now` minus the group's period.
CREATE FUNCTION retention_cutoff(g uuid, kind text, now timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT now - make_interval(days => COALESCE((
        SELECT CASE kind
                   WHEN 'transcripts' THEN r.transcripts_days
                   WHEN 'attachments' THEN r.attachments_days
                   WHEN 'contacts' THEN r.contacts_days
                   WHEN 'leads' THEN r.leads_days
               END
        FROM retention_settings r WHERE r.group_id = g), 730))
$$;

-- A conversation was last used at its last message or its end, whichever is later (its start
-- if it has neither). Only a closed conversation expires.
CREATE FUNCTION conversation_expired(c conversations, now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT c.state IN ('ended', 'missed', 'offline', 'timed_out')
       AND GREATEST(c.created_at, c.ended_at,
               (SELECT m.created_at FROM messages m WHERE m.conversation_id = c.id
                ORDER BY m.seq DESC LIMIT 1))
           < retention_cutoff(c.group_id, 'transcripts', now)
$$;
