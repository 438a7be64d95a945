//! crm-export's part of retention and shoppers' rights (`docs/architecture.md`, "Retention and
//! shoppers' rights"): deliveries past the leads period since their last change (their attempts
//! go with them) and the lead events handled before it; and a shopper's deliveries, pending ones
//! included, handled events and the unpublished delivery events about them. Copies already
//! delivered to a dealer's CRM are the dealer's to erase.

use showroom_proto::retention::PrivacyOwner;
use showroom_runtime::retention::{Owner, Sweep};
use showroom_store::privacy::Step;

/// The sweeps of this service's tables, in order.
pub const SWEEPS: &[Sweep] = &[
    Sweep {
        table: "crm_deliveries",
        delete: "DELETE FROM crm_deliveries WHERE id IN ( \
                 SELECT d.id FROM crm_deliveries d \
                 WHERE d.updated_at < retention_horizon('leads', $1) \
                 AND d.updated_at < retention_cutoff(d.group_id, 'leads', $1) \
                 LIMIT $2 FOR UPDATE OF d SKIP LOCKED)",
    },
    Sweep {
        table: "crm_lead_events",
        delete: "DELETE FROM crm_lead_events WHERE event_id IN ( \
                 SELECT e.event_id FROM crm_lead_events e \
                 WHERE e.handled_at < retention_horizon('leads', $1) \
                 AND e.handled_at < retention_cutoff(e.group_id, 'leads', $1) \
                 LIMIT $2 FOR UPDATE OF e SKIP LOCKED)",
    },
];

/// This service's part of retention, erasure and export.
pub static OWNER: Owner = Owner {
    owner: PrivacyOwner::CrmExport,
    sweeps: SWEEPS,
    erase: &[
        Step {
            table: "crm_outbox",
            sql: "DELETE FROM crm_outbox o WHERE $1::uuid IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM unnest(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) i WHERE position(convert_to(i::text, 'UTF8') in o.payload) > 0)",
        },
        Step {
            table: "crm_deliveries",
            sql: "DELETE FROM crm_deliveries WHERE group_id = $1 AND lead_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid))",
        },
        Step {
            table: "crm_lead_events",
            sql: "DELETE FROM crm_lead_events WHERE group_id = $1 AND lead_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid))",
        },
    ],
    export: &[
        Step {
            table: "crm_deliveries",
            sql: "SELECT to_jsonb(t) FROM crm_deliveries t WHERE t.group_id = $1 AND t.lead_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) ORDER BY t.created_at",
        },
        Step {
            table: "crm_attempts",
            sql: "SELECT to_jsonb(a) FROM crm_attempts a JOIN crm_deliveries d ON d.id = a.delivery_id \
                 WHERE d.group_id = $1 AND d.lead_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'lead_ids')::uuid)) ORDER BY a.started_at",
        },
    ],
};
