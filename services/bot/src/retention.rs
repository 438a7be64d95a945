//! The bot's part of retention and shoppers' rights (`docs/architecture.md`, "Retention and
//! shoppers' rights"): Lead Gate sessions of expired conversations, form submissions past the
//! transcripts period, messages left past the leads period; and a shopper's rows of each.

use showroom_proto::retention::PrivacyOwner;
use showroom_runtime::retention::{Owner, Sweep};
use showroom_store::privacy::Step;

/// The sweeps of this service's tables, in order.
pub const SWEEPS: &[Sweep] = &[
    Sweep {
        table: "gate_sessions",
        delete: "DELETE FROM gate_sessions WHERE conversation_id IN ( \
                 SELECT g.conversation_id FROM gate_sessions g JOIN conversations c ON c.id = g.conversation_id \
                 WHERE c.ended_at < retention_horizon('transcripts', $1) \
                 AND conversation_expired(c, $1) \
                 LIMIT $2 FOR UPDATE OF g SKIP LOCKED)",
    },
    Sweep {
        table: "form_submissions",
        delete: "DELETE FROM form_submissions WHERE id IN ( \
                 SELECT f.id FROM form_submissions f \
                 WHERE f.created_at < retention_horizon('transcripts', $1) \
                 AND f.created_at < retention_cutoff(f.group_id, 'transcripts', $1) \
                 LIMIT $2 FOR UPDATE OF f SKIP LOCKED)",
    },
    Sweep {
        table: "left_messages",
        delete: "DELETE FROM left_messages WHERE id IN ( \
                 SELECT l.id FROM left_messages l \
                 WHERE l.published_at IS NOT NULL AND l.created_at < retention_horizon('leads', $1) \
                 AND l.created_at < retention_cutoff(l.group_id, 'leads', $1) \
                 LIMIT $2 FOR UPDATE OF l SKIP LOCKED)",
    },
];

/// This service's part of retention, erasure and export.
pub static OWNER: Owner = Owner {
    owner: PrivacyOwner::Bot,
    sweeps: SWEEPS,
    erase: &[
        Step {
            table: "gate_sessions",
            sql: "DELETE FROM gate_sessions WHERE group_id = $1 AND conversation_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
        Step {
            table: "form_submissions",
            sql: "DELETE FROM form_submissions WHERE group_id = $1 AND id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'form_submission_ids')::uuid))",
        },
        Step {
            table: "left_messages",
            sql: "DELETE FROM left_messages WHERE group_id = $1 AND id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'left_message_ids')::uuid))",
        },
    ],
    export: &[
        Step {
            table: "gate_sessions",
            sql: "SELECT to_jsonb(t) FROM gate_sessions t WHERE t.group_id = $1 AND t.conversation_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
        Step {
            table: "form_submissions",
            sql: "SELECT to_jsonb(t) FROM form_submissions t WHERE t.group_id = $1 AND t.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'form_submission_ids')::uuid)) ORDER BY t.created_at",
        },
        Step {
            table: "left_messages",
            sql: "SELECT to_jsonb(t) - 'event' FROM left_messages t WHERE t.group_id = $1 AND t.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'left_message_ids')::uuid)) ORDER BY t.created_at",
        },
    ],
};
