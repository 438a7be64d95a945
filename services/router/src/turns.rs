//! One accept of a chat at a time in this replica ([`Turns`]).
//!
//! A chat offered to every agent of a department is accepted by several of them within a
//! second. Each accept that finds the chat still waiting runs a transaction: it locks the
//! agent's row, then its `UPDATE` of the chat waits on the row lock of the accept that got
//! there first, and fails when that one commits. In the soak about one in four of the lost
//! accepts went that way, each holding a pooled connection while it waited
//! (`loadtest/README.md`, "Statements planned at every call, and accepts in turn"). Accepts of
//! one chat that reach the same replica now take turns here instead: the second waits in
//! memory until the first is done, then its plain read of the chat's state answers "taken"
//! without a transaction.
//! Postgres still decides: accepts on other replicas go as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};
use uuid::Uuid;

/// Chats being accepted now, each with the lock its accepts take in turn.
#[derive(Default)]
pub(crate) struct Turns(Mutex<HashMap<Uuid, Arc<TurnLock<()>>>>);

/// An accept's turn at a chat, held until it is dropped.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    chat: Uuid,
    held: Option<OwnedMutexGuard<()>>,
}

/// Above this many chats in the table, entries nobody holds (their accept was cancelled while
/// it waited) are swept when a turn is taken.
const SWEEP_ABOVE: usize = 1024;

impl Turns {
    /// Waits for the accepts of `chat` before this one in this replica, then takes its turn.
    pub(crate) async fn take(&self, chat: Uuid) -> Turn<'_> {
        let lock = {
            let mut chats = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if chats.len() > SWEEP_ABOVE {
                chats.retain(|_, l| Arc::strong_count(l) > 1);
            }
            chats.entry(chat).or_default().clone()
        };
        Turn {
            turns: self,
            chat,
            held: Some(lock.lock_owned().await),
        }
    }

    /// How many chats have an accept under way or waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut chats = self.turns.0.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.held.take());
        // Nobody waits when the table holds the only other handle: the chat leaves it. A new
        // accept takes the table's lock first, so it cannot slip in between.
        if chats
            .get(&self.chat)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            chats.remove(&self.chat);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A second accept of a chat waits for the first's turn to end; an accept of another chat
    /// does not; the table is empty once every turn ended.
    #[tokio::test]
    async fn accepts_of_one_chat_take_turns() {
        let turns = Arc::new(Turns::default());
        let (chat, other) = (Uuid::now_v7(), Uuid::now_v7());
        let first = turns.take(chat).await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _turn = turns.take(chat).await;
            })
        };
        tokio::time::timeout(Duration::from_secs(1), turns.take(other))
            .await
            .expect("another chat's accept does not wait");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "the second accept took its turn early"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the second accept's turn came")
            .expect("it ran");
        assert_eq!(turns.len(), 0, "chats left in the table");

        // An accept cancelled after the turn before it ended, before it ran, leaves its chat
        // behind (this test's runtime has one thread: nothing runs until the test awaits).
        let held = turns.take(chat).await;
        let cancelled = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _turn = turns.take(chat).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        cancelled.abort();
        let _ = cancelled.await;
        assert_eq!(turns.len(), 1, "the cancelled accept's chat");
        // A turn taken while the table is large sweeps it; the turns under way stay.
        let mut under_way = Vec::new();
        for _ in 0..SWEEP_ABOVE {
            under_way.push(turns.take(Uuid::now_v7()).await);
        }
        let last = turns.take(Uuid::now_v7()).await;
        assert_eq!(turns.len(), SWEEP_ABOVE + 1);
        drop((under_way, last));
        assert_eq!(turns.len(), 0, "chats left in the table");
    }
}
