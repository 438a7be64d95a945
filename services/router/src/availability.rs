//! Who can take a chat now, as presence last told this replica, so that a routing decision
//! does not ask presence each time.
//!
//! Every replica follows `presence.changed` with a core subscription of its own (each replica
//! sees every change; the durable consumer that reconsiders offers gives each change to one
//! replica only) and keeps each agent's effective status. A decision asks presence only about
//! the agents it has heard nothing of within [`FRESH`], and keeps the answer too, unless a
//! change of that agent arrived while it asked.
//!
//! A decision sees every change that happened before it was asked for: presence publishes a
//! change before it answers whoever caused it (a console setting a status, a device
//! connecting), and this replica's one connection hands its subscriptions what it receives in
//! order. So the change is queued here before the request that follows it is, and
//! [`Availability::known`] takes what is queued before it answers. A change lost on the way
//! (a reconnection, a subscription that fell behind: [`Bus::losses`]) empties what is known;
//! one never published (presence failed to announce it) is forgotten after [`FRESH`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use showroom_bus::{Bus, BusError, Loss};
use showroom_proto::presence::{AgentStatus, PresenceChanged, Purpose};
use showroom_proto::v1::{self, Group};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long what presence said of an agent is trusted without a change heard since.
pub(crate) const FRESH: Duration = Duration::from_secs(2);

/// How often queued changes are taken and stale entries dropped when no decision does it.
const TIDY: Duration = Duration::from_millis(250);

/// What this replica knows of agents' availability, and the changes not yet taken.
pub(crate) struct Availability {
    changes: tokio::sync::Mutex<Changes>,
    known: std::sync::Mutex<Known>,
}

/// The subscription to `presence.changed`, and the bus's count of lost core messages.
struct Changes {
    subscription: async_nats::Subscriber,
    losses: watch::Receiver<Loss>,
}

#[derive(Default)]
struct Known {
    agents: HashMap<Uuid, Entry>,
    /// Changes taken so far: an answer is kept only for agents with no change since it was
    /// asked for.
    taken: u64,
}

impl Known {
    /// A change heard at `now`: the agent's effective status, numbered.
    fn change(&mut self, group: Uuid, agent: Uuid, status: AgentStatus, now: Instant) {
        self.taken += 1;
        let change = self.taken;
        self.agents.insert(
            agent,
            Entry {
                group,
                at: now,
                what: Said::Status(status),
                change,
            },
        );
    }

    /// Which of `agents` of `group` can take a chat for `purpose`, as known at `now`.
    fn lookup(&self, group: Uuid, agents: &[Uuid], purpose: Purpose, now: Instant) -> Lookup {
        let mut found = Lookup {
            yes: Vec::new(),
            unknown: Vec::new(),
            taken: self.taken,
        };
        for agent in agents {
            let said = self
                .agents
                .get(agent)
                .filter(|e| e.group == group && now.duration_since(e.at) < FRESH)
                .and_then(|e| match e.what {
                    Said::Status(s) => Some(s.receives(purpose)),
                    Said::Answers(a) => a[slot(purpose)],
                });
            match said {
                Some(true) => found.yes.push(*agent),
                Some(false) => {}
                None => found.unknown.push(*agent),
            }
        }
        found
    }

    /// Presence's answer about `asked` (`yes` among them), received at `now` for a question
    /// asked when `taken` changes had been taken: kept for each agent with no change since.
    fn answer(
        &mut self,
        group: Uuid,
        purpose: Purpose,
        asked: &[Uuid],
        yes: &[Uuid],
        taken: u64,
        now: Instant,
    ) {
        for agent in asked {
            let answer = Some(yes.contains(agent));
            match self.agents.get_mut(agent) {
                Some(e) if e.change > taken => {}
                Some(Entry {
                    group: g,
                    at,
                    what: Said::Answers(a),
                    ..
                }) if *g == group && now.duration_since(*at) < FRESH => a[slot(purpose)] = answer,
                _ => {
                    let mut answers = [None; 3];
                    answers[slot(purpose)] = answer;
                    self.agents.insert(
                        *agent,
                        Entry {
                            group,
                            at: now,
                            what: Said::Answers(answers),
                            change: 0,
                        },
                    );
                }
            }
        }
    }
}

struct Entry {
    group: Uuid,
    at: Instant,
    what: Said,
    /// The number of the change this entry comes from (0 for an answer).
    change: u64,
}

/// What presence said of one agent.
enum Said {
    /// Its effective status, from a change.
    Status(AgentStatus),
    /// Whether it can take each kind of chat presence was asked about (by [`slot`]).
    Answers([Option<bool>; 3]),
}

fn slot(purpose: Purpose) -> usize {
    match purpose {
        Purpose::NewChat => 0,
        Purpose::Transfer => 1,
        Purpose::Internal => 2,
    }
}

/// What is known of a list of agents: those who can take the chat, and those to ask about.
pub(crate) struct Lookup {
    pub yes: Vec<Uuid>,
    pub unknown: Vec<Uuid>,
    /// Changes taken when looked up, for [`Availability::answered`].
    pub taken: u64,
}

impl Availability {
    /// Subscribes to every group's presence changes.
    pub(crate) async fn follow(bus: &Bus) -> Result<Self, BusError> {
        let subscription = bus
            .client
            .subscribe(v1::presence_changed(Group::Any))
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let mut losses = bus.losses();
        losses.mark_unchanged();
        Ok(Self {
            changes: tokio::sync::Mutex::new(Changes {
                subscription,
                losses,
            }),
            known: std::sync::Mutex::default(),
        })
    }

    /// Takes the queued changes, and forgets everything when some may have been lost.
    async fn take_changes(&self) {
        let mut changes = self.changes.lock().await;
        if changes.losses.has_changed().unwrap_or(false) {
            changes.losses.mark_unchanged();
            self.known.lock().expect("availability lock").agents.clear();
        }
        while let Some(Some(msg)) = changes.subscription.next().now_or_never() {
            let Ok(env) = showroom_bus::decode::<PresenceChanged>(&msg.payload) else {
                tracing::warn!(subject = %msg.subject, "a presence change that does not decode");
                continue;
            };
            self.known.lock().expect("availability lock").change(
                env.tenant,
                env.data.agent_id,
                env.data.effective,
                Instant::now(),
            );
        }
    }

    /// Takes the queued changes and says how many were taken so far, for an answer asked for
    /// now ([`Availability::answered`]).
    pub(crate) async fn taken(&self) -> u64 {
        self.take_changes().await;
        self.known.lock().expect("availability lock").taken
    }

    /// Which of `agents` of `group` can take a chat for `purpose`, as far as is known, after
    /// taking the changes queued so far.
    pub(crate) async fn known(&self, group: Uuid, agents: &[Uuid], purpose: Purpose) -> Lookup {
        self.take_changes().await;
        let known = self.known.lock().expect("availability lock");
        known.lookup(group, agents, purpose, Instant::now())
    }

    /// Keeps presence's answer about `asked` (`yes` among them can take the chat), for the
    /// agents with no change taken since the lookup numbered `taken`.
    pub(crate) fn answered(
        &self,
        group: Uuid,
        purpose: Purpose,
        asked: &[Uuid],
        yes: &[Uuid],
        taken: u64,
    ) {
        self.known.lock().expect("availability lock").answer(
            group,
            purpose,
            asked,
            yes,
            taken,
            Instant::now(),
        );
    }

    /// Takes changes and drops stale entries every [`TIDY`], until `shutdown`.
    pub(crate) async fn tidy(&self, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(TIDY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            self.take_changes().await;
            let now = Instant::now();
            self.known
                .lock()
                .expect("availability lock")
                .agents
                .retain(|_, e| now.duration_since(e.at) < FRESH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::new_v4()).collect()
    }

    #[test]
    fn a_change_says_what_each_kind_of_chat_gets() {
        let (group, now) = (Uuid::new_v4(), Instant::now());
        let a = ids(3);
        let mut known = Known::default();
        known.change(group, a[0], AgentStatus::Available, now);
        known.change(group, a[1], AgentStatus::Away, now);
        let new_chat = known.lookup(group, &a, Purpose::NewChat, now);
        assert_eq!(new_chat.yes, vec![a[0]]);
        assert_eq!(new_chat.unknown, vec![a[2]], "never heard of: asked");
        let transfer = known.lookup(group, &a, Purpose::Transfer, now);
        assert_eq!(transfer.yes, vec![a[0], a[1]]);
    }

    #[test]
    fn an_answer_asked_before_a_change_does_not_replace_it() {
        let (group, now) = (Uuid::new_v4(), Instant::now());
        let a = ids(1);
        let mut known = Known::default();
        // Asked while nothing was known; the agent goes Away before the answer arrives.
        let asked = known.lookup(group, &a, Purpose::NewChat, now);
        known.change(group, a[0], AgentStatus::Away, now);
        known.answer(group, Purpose::NewChat, &a, &a, asked.taken, now);
        let after = known.lookup(group, &a, Purpose::NewChat, now);
        assert!(after.yes.is_empty(), "the stale answer was kept");
        assert!(after.unknown.is_empty());
        // Asked after the change: the answer is kept.
        let asked = known.lookup(group, &a, Purpose::NewChat, now);
        known.answer(group, Purpose::NewChat, &a, &a, asked.taken, now);
        assert_eq!(known.lookup(group, &a, Purpose::NewChat, now).yes, a);
    }

    #[test]
    fn answers_keep_each_kind_and_expire() {
        let (group, now) = (Uuid::new_v4(), Instant::now());
        let a = ids(2);
        let mut known = Known::default();
        known.answer(group, Purpose::NewChat, &a, &a[..1], 0, now);
        known.answer(group, Purpose::Transfer, &a, &a, 0, now);
        assert_eq!(
            known.lookup(group, &a, Purpose::NewChat, now).yes,
            vec![a[0]]
        );
        assert_eq!(known.lookup(group, &a, Purpose::Transfer, now).yes, a);
        assert_eq!(
            known.lookup(group, &a, Purpose::Internal, now).unknown,
            a,
            "not asked about internal chats"
        );
        let later = now + FRESH;
        assert_eq!(known.lookup(group, &a, Purpose::NewChat, later).unknown, a);
    }

    #[test]
    fn another_groups_agent_is_not_known() {
        let now = Instant::now();
        let a = ids(1);
        let mut known = Known::default();
        known.change(Uuid::new_v4(), a[0], AgentStatus::Available, now);
        let other = known.lookup(Uuid::new_v4(), &a, Purpose::NewChat, now);
        assert!(other.yes.is_empty());
        assert_eq!(other.unknown, a);
    }
}
