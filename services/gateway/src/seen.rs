//! Read marks (table `read_marks`, owned here): how far each side of a chat has seen its
//! transcript, shown as "Seen" under the last message the other side saw.
//!
//! A socket's `seen` frame ([`ReadMarks::mark`]) is best-effort and coalesced: the first mark of
//! a side of a chat is written at once, later ones at most once a second per side and chat on
//! this gateway (the highest seq asked meanwhile). A stored mark never moves back and never
//! passes the transcript's last seq. Once stored it goes to every socket watching the chat, on
//! any gateway, as a live copy on `live.<conversation>.seen` (`interest.rs`); a socket that
//! opens the chat later gets the stored marks after its `welcome` or `history` ([`of`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use showroom_proto::Envelope;
use showroom_proto::message::{ReadSide, Seen};
use sqlx::PgPool;
use uuid::Uuid;

use crate::interest::LiveCopies;

/// The least time between two writes of one side's mark of one chat (per gateway).
pub const EVERY: Duration = Duration::from_secs(1);

/// What this gateway knows of one side's mark of one chat.
#[derive(Default)]
struct Slot {
    /// The mark stored, as far as this gateway knows.
    stored: i64,
    /// The highest seq asked since the last write (0: none).
    asked: i64,
    /// When it was last written.
    written: Option<Instant>,
    /// A write is scheduled.
    scheduled: bool,
}

/// The gateway's read marks: coalesced writes and their fan-out.
pub struct ReadMarks {
    pool: PgPool,
    live: LiveCopies,
    slots: Mutex<HashMap<(Uuid, ReadSide), Slot>>,
}

const STORE: &str = "INSERT INTO read_marks (conversation_id, group_id, side, seq) \
     SELECT $1, $2, $3, LEAST($4, MAX(m.seq)) FROM messages m \
     WHERE m.conversation_id = $1 AND m.group_id = $2 HAVING MAX(m.seq) IS NOT NULL \
     ON CONFLICT (conversation_id, side) DO UPDATE SET seq = EXCLUDED.seq, at = now() \
     WHERE read_marks.seq < EXCLUDED.seq \
     RETURNING seq, at";

const READ: &str = "SELECT side, seq, at FROM read_marks \
     WHERE conversation_id = $1 AND group_id = $2 ORDER BY side";

/// The stored marks of a conversation of `group` (none, one or both sides).
pub async fn of(pool: &PgPool, group: Uuid, conversation: Uuid) -> sqlx::Result<Vec<Seen>> {
    let rows: Vec<(String, i64, DateTime<Utc>)> = sqlx::query_as(READ)
        .bind(conversation)
        .bind(group)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(side, seq, at)| Seen {
            conversation_id: conversation,
            side: match side.as_str() {
                "shopper" => ReadSide::Shopper,
                _ => ReadSide::Agent,
            },
            seq,
            at,
        })
        .collect())
}

impl ReadMarks {
    /// Read marks written to `pool` and fanned out through `live`.
    pub fn new(pool: PgPool, live: LiveCopies) -> Arc<Self> {
        Arc::new(Self {
            pool,
            live,
            slots: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, ReadSide), Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `side` has seen `conversation` (of `group`) up to `seq`: written now, or within
    /// [`EVERY`] of the last write, whichever is later.
    pub fn mark(self: &Arc<Self>, group: Uuid, conversation: Uuid, side: ReadSide, seq: i64) {
        let wait = {
            let mut slots = self.lock();
            let slot = slots.entry((conversation, side)).or_default();
            if seq <= slot.stored.max(slot.asked) {
                return;
            }
            slot.asked = seq;
            if slot.scheduled {
                return;
            }
            slot.scheduled = true;
            slot.written
                .map(|w| (w + EVERY).saturating_duration_since(Instant::now()))
                .unwrap_or_default()
        };
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            this.write(group, conversation, side).await;
        });
    }

    async fn write(&self, group: Uuid, conversation: Uuid, side: ReadSide) {
        let seq = {
            let mut slots = self.lock();
            let Some(slot) = slots.get_mut(&(conversation, side)) else {
                return;
            };
            slot.scheduled = false;
            slot.written = Some(Instant::now());
            std::mem::take(&mut slot.asked)
        };
        let stored: sqlx::Result<Option<(i64, DateTime<Utc>)>> = sqlx::query_as(STORE)
            .bind(conversation)
            .bind(group)
            .bind(side.as_str())
            .bind(seq)
            .fetch_optional(&self.pool)
            .await;
        match stored {
            Ok(Some((seq, at))) => {
                if let Some(slot) = self.lock().get_mut(&(conversation, side)) {
                    slot.stored = slot.stored.max(seq);
                }
                let env = Envelope::new(
                    group,
                    Seen {
                        conversation_id: conversation,
                        side,
                        seq,
                        at,
                    },
                );
                if let Err(e) = self.live.publish(&env).await {
                    tracing::debug!(error = %e, "read mark not fanned out");
                }
            }
            // Not newer than the stored mark, or no message yet.
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "read mark not stored"),
        }
        // Forget the chats whose marks have not moved for a while.
        let mut slots = self.lock();
        if slots.len() > 256 {
            let old = Instant::now() - 10 * EVERY;
            slots.retain(|_, s| s.scheduled || s.written.is_some_and(|w| w > old));
        }
    }
}
