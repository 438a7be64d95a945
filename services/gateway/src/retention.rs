//! The gateway's retention sweep (`docs/architecture.md`, "Retention and shoppers' rights"):
//! transcripts' messages and counters with the files sent in them, and files attached to forms
//! (and chat files never sent), past their group's period
//! (`showroom_runtime::retention`). Erasing and exporting one shopper's rows of these tables is
//! the REST handler's (`libs/rest/src/privacy_api.rs`), which runs in this process.

use showroom_runtime::retention::Sweep;

/// The gateway's tables, in order: a conversation's messages before its counter row (the
/// router deletes the conversation once both are gone).
pub const SWEEPS: &[Sweep] = &[
    Sweep {
        table: "messages",
        delete: "DELETE FROM messages WHERE id IN ( \
                   SELECT m.id FROM messages m \
                   WHERE m.conversation_id IN ( \
                     SELECT c.id FROM conversations c WHERE conversation_expired(c, $1)) \
                   LIMIT $2 FOR UPDATE OF m SKIP LOCKED)",
    },
    Sweep {
        table: "transcripts",
        delete: "DELETE FROM transcripts WHERE conversation_id IN ( \
                   SELECT t.conversation_id FROM transcripts t \
                   JOIN conversations c ON c.id = t.conversation_id \
                   WHERE conversation_expired(c, $1) \
                     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = t.conversation_id) \
                   LIMIT $2 FOR UPDATE OF t SKIP LOCKED)",
    },
    // Files sent in a chat go with its transcript (issue 19), whatever their own age.
    Sweep {
        table: "attachments",
        delete: "DELETE FROM attachments WHERE id IN ( \
                   SELECT a.id FROM attachments a \
                   JOIN conversations c ON c.id = a.conversation_id \
                   WHERE conversation_expired(c, $1) \
                   LIMIT $2 FOR UPDATE OF a SKIP LOCKED)",
    },
    Sweep {
        table: "attachments",
        delete: "DELETE FROM attachments WHERE id IN ( \
                   SELECT a.id FROM attachments a \
                   WHERE a.created_at < retention_cutoff(a.group_id, 'attachments', $1) \
                   LIMIT $2 FOR UPDATE OF a SKIP LOCKED)",
    },
];
