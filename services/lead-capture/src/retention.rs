//! lead-capture's part of retention and shoppers' rights (`docs/architecture.md`, "Retention
//! and shoppers' rights"): leads past the leads period since their last change (their sources
//! and history go with them), then contacts with no lead left past the contacts period since a
//! lead was last made or merged into them, and chats' trade-ins with their transcripts; and a
//! shopper's contacts, leads, trade-ins and the unpublished lead events about them.

use showroom_proto::retention::PrivacyOwner;
use showroom_runtime::retention::{Owner, Sweep};
use showroom_store::privacy::Step;

/// The sweeps of this service's tables, in order.
pub const SWEEPS: &[Sweep] = &[
    // A chat's trade-in goes with its transcript (issue 20), before the router deletes the chat.
    Sweep {
        table: "trade_ins",
        delete: "DELETE FROM trade_ins WHERE conversation_id IN ( \
                 SELECT t.conversation_id FROM trade_ins t \
                 JOIN conversations c ON c.id = t.conversation_id \
                 WHERE c.ended_at < retention_horizon('transcripts', $1) \
                 AND conversation_expired(c, $1) \
                 LIMIT $2 FOR UPDATE OF t SKIP LOCKED)",
    },
    Sweep {
        table: "leads",
        delete: "DELETE FROM leads WHERE id IN ( \
                 SELECT l.id FROM leads l \
                 WHERE l.updated_at < retention_horizon('leads', $1) \
                 AND l.updated_at < retention_cutoff(l.group_id, 'leads', $1) \
                 LIMIT $2 FOR UPDATE OF l SKIP LOCKED)",
    },
    Sweep {
        table: "contacts",
        delete: "DELETE FROM contacts WHERE id IN ( \
                 SELECT k.id FROM contacts k \
                 WHERE k.updated_at < retention_horizon('contacts', $1) \
                 AND k.updated_at < retention_cutoff(k.group_id, 'contacts', $1) \
                 AND NOT EXISTS (SELECT 1 FROM leads l WHERE l.contact_id = k.id) \
                 LIMIT $2 FOR UPDATE OF k SKIP LOCKED)",
    },
];

/// This service's part of retention, erasure and export.
pub static OWNER: Owner = Owner {
    owner: PrivacyOwner::LeadCapture,
    sweeps: SWEEPS,
    erase: &[
        Step {
            table: "trade_ins",
            sql: "DELETE FROM trade_ins WHERE group_id = $1 AND conversation_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
        Step {
            table: "lead_outbox",
            sql: "DELETE FROM lead_outbox o WHERE $1::uuid IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM unnest(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) i WHERE position(convert_to(i::text, 'UTF8') in o.payload) > 0)",
        },
        Step {
            table: "leads",
            sql: "DELETE FROM leads WHERE group_id = $1 AND id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid))",
        },
        Step {
            table: "contacts",
            sql: "DELETE FROM contacts k WHERE k.group_id = $1 AND k.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'contact_ids')::uuid)) \
                 AND NOT EXISTS (SELECT 1 FROM leads l WHERE l.contact_id = k.id)",
        },
    ],
    export: &[
        Step {
            table: "contacts",
            sql: "SELECT to_jsonb(t) FROM contacts t WHERE t.group_id = $1 AND t.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'contact_ids')::uuid))",
        },
        Step {
            table: "leads",
            sql: "SELECT to_jsonb(t) FROM leads t WHERE t.group_id = $1 AND t.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) ORDER BY t.created_at",
        },
        Step {
            table: "lead_sources",
            sql: "SELECT to_jsonb(s) FROM lead_sources s JOIN leads l ON l.id = s.lead_id \
                 WHERE l.group_id = $1 AND l.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) ORDER BY s.at",
        },
        Step {
            table: "lead_changes",
            sql: "SELECT to_jsonb(t) FROM lead_changes t WHERE t.group_id = $1 AND t.lead_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) ORDER BY t.id",
        },
        Step {
            table: "trade_ins",
            sql: "SELECT to_jsonb(t) FROM trade_ins t WHERE t.group_id = $1 AND t.conversation_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)) ORDER BY t.created_at",
        },
    ],
};
