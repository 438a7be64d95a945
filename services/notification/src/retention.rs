//! notification's part of retention and shoppers' rights (`docs/architecture.md`, "Retention
//! and shoppers' rights"): transcript e-mails of expired conversations; and a shopper's
//! transcript e-mails, the records of e-mails sent about their chats and messages left (their
//! keys name the chat or the message), and desktop notice marks of their chats.

use showroom_proto::retention::PrivacyOwner;
use showroom_runtime::retention::{Owner, Sweep};
use showroom_store::privacy::Step;

/// The sweeps of this service's tables, in order.
pub const SWEEPS: &[Sweep] = &[Sweep {
    table: "transcript_mails",
    delete: "DELETE FROM transcript_mails WHERE conversation_id IN ( \
                 SELECT x.conversation_id FROM transcript_mails x JOIN conversations c ON c.id = x.conversation_id \
                 WHERE c.ended_at < retention_horizon('transcripts', $1) \
                 AND conversation_expired(c, $1) \
                 LIMIT $2 FOR UPDATE OF x SKIP LOCKED)",
}];

/// This service's part of retention, erasure and export.
pub static OWNER: Owner = Owner {
    owner: PrivacyOwner::Notification,
    sweeps: SWEEPS,
    erase: &[
        Step {
            table: "transcript_mails",
            sql: "DELETE FROM transcript_mails WHERE group_id = $1 AND conversation_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
        Step {
            table: "sent_mails",
            sql: "DELETE FROM sent_mails s WHERE $1::uuid IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM unnest(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid) || ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'left_message_ids')::uuid)) i WHERE strpos(s.key, i::text) > 0)",
        },
    ],
    export: &[
        Step {
            table: "transcript_mails",
            sql: "SELECT to_jsonb(t) FROM transcript_mails t WHERE t.group_id = $1 AND t.conversation_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
        },
        Step {
            table: "sent_mails",
            sql: "SELECT to_jsonb(s) FROM sent_mails s WHERE $1::uuid IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM unnest(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid) || ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'left_message_ids')::uuid)) i WHERE strpos(s.key, i::text) > 0)",
        },
    ],
};
