//! The router's part of retention and shoppers' rights (`docs/architecture.md`, "Retention and
//! shoppers' rights"): conversations past their group's transcripts period, once the gateway,
//! the bot and notification have removed their rows of them (participants, transfers and timers
//! go with each); and a shopper's conversations and the unpublished events about them.

use showroom_proto::retention::PrivacyOwner;
use showroom_runtime::retention::{Owner, Sweep};
use showroom_store::privacy::Step;

/// The sweeps of this service's tables, in order.
pub const SWEEPS: &[Sweep] = &[Sweep {
    table: "conversations",
    delete: "DELETE FROM conversations WHERE id IN ( \
                 SELECT c.id FROM conversations c \
                 WHERE c.ended_at < retention_horizon('transcripts', $1) \
                 AND conversation_expired(c, $1) \
                 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id) \
                 AND NOT EXISTS (SELECT 1 FROM transcripts t WHERE t.conversation_id = c.id) \
                 AND NOT EXISTS (SELECT 1 FROM gate_sessions g WHERE g.conversation_id = c.id) \
                 AND NOT EXISTS (SELECT 1 FROM transcript_mails x WHERE x.conversation_id = c.id) \
                 AND NOT EXISTS (SELECT 1 FROM trade_ins ti WHERE ti.conversation_id = c.id) \
                 LIMIT $2 FOR UPDATE OF c SKIP LOCKED)",
}];

/// This service's part of retention, erasure and export.
pub static OWNER: Owner = Owner {
    owner: PrivacyOwner::Router,
    sweeps: SWEEPS,
    erase: &[
        Step {
            table: "conversation_outbox",
            sql: "DELETE FROM conversation_outbox o WHERE $1::uuid IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM unnest(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)) i WHERE position(convert_to(i::text, 'UTF8') in o.payload) > 0)",
        },
        Step {
            table: "conversations",
            sql: "DELETE FROM conversations WHERE group_id = $1 AND id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
    ],
    export: &[
        Step {
            table: "conversations",
            sql: "SELECT to_jsonb(t) FROM conversations t WHERE t.group_id = $1 AND t.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)) ORDER BY t.created_at",
        },
        Step {
            table: "participants",
            sql: "SELECT to_jsonb(p) FROM participants p JOIN conversations c ON c.id = p.conversation_id \
                 WHERE c.group_id = $1 AND c.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
        Step {
            table: "transfers",
            sql: "SELECT to_jsonb(x) FROM transfers x JOIN conversations c ON c.id = x.conversation_id \
                 WHERE c.group_id = $1 AND c.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
    ],
};
