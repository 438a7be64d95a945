//! The gateway's retention sweep (`docs/architecture.md`, "Retention and shoppers' rights"):
//! transcripts' messages and counters with the files sent in them, and files attached to forms
//! (and chat files never sent), and appointments (the leads period), past their group's period
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
                     SELECT c.id FROM conversations c \
                     WHERE c.ended_at < retention_horizon('transcripts', $1) \
                       AND conversation_expired(c, $1)) \
                   LIMIT $2 FOR UPDATE OF m SKIP LOCKED)",
    },
    Sweep {
        table: "transcripts",
        delete: "DELETE FROM transcripts WHERE conversation_id IN ( \
                   SELECT t.conversation_id FROM transcripts t \
                   JOIN conversations c ON c.id = t.conversation_id \
                   WHERE c.ended_at < retention_horizon('transcripts', $1) \
                     AND conversation_expired(c, $1) \
                     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = t.conversation_id) \
                   LIMIT $2 FOR UPDATE OF t SKIP LOCKED)",
    },
    // Files sent in a chat go with its transcript (issue 19), whatever their own age.
    Sweep {
        table: "attachments",
        delete: "DELETE FROM attachments WHERE id IN ( \
                   SELECT a.id FROM attachments a \
                   JOIN conversations c ON c.id = a.conversation_id \
                   WHERE c.ended_at < retention_horizon('transcripts', $1) \
                     AND conversation_expired(c, $1) \
                   LIMIT $2 FOR UPDATE OF a SKIP LOCKED)",
    },
    Sweep {
        table: "attachments",
        delete: "DELETE FROM attachments WHERE id IN ( \
                   SELECT a.id FROM attachments a \
                   WHERE a.created_at < retention_horizon('attachments', $1) \
                     AND a.created_at < retention_cutoff(a.group_id, 'attachments', $1) \
                   LIMIT $2 FOR UPDATE OF a SKIP LOCKED)",
    },
    // Appointments are part of the lead (issue 20): they go by the leads period, counted from
    // their last change or their end, whichever is later; a booked one frees its seat first
    // (a slot long past, but the counter stays right).
    Sweep {
        table: "appointments",
        delete: "WITH gone AS ( \
                   DELETE FROM appointments WHERE id IN ( \
                     SELECT a.id FROM appointments a \
                     WHERE a.ends_at < retention_horizon('leads', $1) \
                       AND GREATEST(a.updated_at, a.ends_at) \
                         < retention_cutoff(a.group_id, 'leads', $1) \
                     LIMIT $2 FOR UPDATE OF a SKIP LOCKED) \
                   RETURNING department_id, starts_at, state), \
                 freed AS ( \
                   UPDATE appointment_slots s SET booked = GREATEST(s.booked - g.n, 0) \
                   FROM (SELECT department_id, starts_at, count(*)::smallint AS n FROM gone \
                         WHERE state = 'booked' GROUP BY 1, 2) g \
                   WHERE s.department_id = g.department_id AND s.starts_at = g.starts_at) \
                 SELECT 1 FROM gone",
    },
    // Slot counters hold no personal data; a week after the slot they are no use.
    Sweep {
        table: "appointment_slots",
        delete: "DELETE FROM appointment_slots WHERE (department_id, starts_at) IN ( \
                   SELECT s.department_id, s.starts_at FROM appointment_slots s \
                   WHERE s.starts_at < $1 - interval '7 days' \
                     AND NOT EXISTS (SELECT 1 FROM appointments a \
                       WHERE a.department_id = s.department_id AND a.starts_at = s.starts_at) \
                   LIMIT $2 FOR UPDATE OF s SKIP LOCKED)",
    },
];
