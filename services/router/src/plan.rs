//! Who of a department's pool gets an offer: the eligible agents (online, under their maximum
//! of chats and the department's cap), all of them (broadcast) or the next one (ring: fewest
//! chats, then longest idle, never one the ring already passed while another is left). Pure
//! decisions, no I/O: `offers` gathers the pool and acts on the plan.

use chrono::{DateTime, Utc};
use showroom_proto::routing::OfferMode;
use uuid::Uuid;

/// A member of the pool a chat can go to.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: Uuid,
    /// Chats the agent has now.
    pub active: i64,
    /// Their own maximum of concurrent chats.
    pub max_chats: i32,
    /// When they last got a chat (`None`: never), for "longest idle".
    pub last_assigned: Option<DateTime<Utc>>,
}

/// The pool, split by what presence says.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Connected, with a status that takes this kind of chat.
    pub online: Vec<Candidate>,
    /// Presence did not answer (it restarts, or is away): who is online is not known, which is
    /// not the same as nobody (a chat waits and is looked at again; offers stay as they are).
    pub silent: bool,
}

/// How long the router keeps asking a silent presence before it calls it silent.
pub(crate) const PRESENCE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// How soon a chat that could not be offered (presence silent) is looked at again.
pub(crate) const RECHECK_SECS: u32 = 2;

impl Pool {
    /// Online and under capacity (the department may cap everyone's maximum).
    pub fn eligible(&self, cap: Option<u32>) -> Vec<&Candidate> {
        self.online
            .iter()
            .filter(|c| {
                let limit = cap.map_or(c.max_chats as i64, |cap| {
                    (cap as i64).min(c.max_chats as i64)
                });
                c.active < limit
            })
            .collect()
    }
}

/// Why offers are being reconsidered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The ringing agent did not answer in time.
    RingTimeout,
    /// The department's overflow time passed: its team joins the pool.
    Overflow,
    /// Somebody's presence changed.
    Presence,
}

/// The offers a chat should have now.
pub(crate) struct Plan {
    pub offered_to: Vec<Uuid>,
    pub rang_out: Vec<Uuid>,
}

/// Broadcast: everyone eligible. Ring: keep ringing the current agent while they stay
/// eligible; otherwise the eligible agent with the fewest chats, then the longest idle, who has
/// not rung out; when everyone left has rung out, the one who rang out longest ago.
pub(crate) fn plan(
    mode: OfferMode,
    eligible: &[&Candidate],
    current: &[Uuid],
    rang_out: &[Uuid],
    trigger: Trigger,
) -> Plan {
    let mut rang_out = rang_out.to_vec();
    match mode {
        OfferMode::Broadcast => Plan {
            offered_to: eligible.iter().map(|c| c.id).collect(),
            rang_out,
        },
        OfferMode::Ring => {
            if trigger == Trigger::RingTimeout {
                for a in current {
                    rang_out.retain(|x| x != a);
                    rang_out.push(*a);
                }
            } else if let Some(keep) = current
                .iter()
                .find(|a| eligible.iter().any(|c| c.id == **a))
            {
                return Plan {
                    offered_to: vec![*keep],
                    rang_out,
                };
            }
            let fresh = eligible
                .iter()
                .filter(|c| !rang_out.contains(&c.id))
                .min_by(|a, b| {
                    a.active
                        .cmp(&b.active)
                        .then(a.last_assigned.cmp(&b.last_assigned))
                        .then(a.id.cmp(&b.id))
                });
            let next = fresh.map(|c| c.id).or_else(|| {
                rang_out
                    .iter()
                    .find(|a| eligible.iter().any(|c| c.id == **a))
                    .copied()
            });
            Plan {
                offered_to: next.into_iter().collect(),
                rang_out,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(n: u128, active: i64, last: Option<i64>) -> Candidate {
        Candidate {
            id: Uuid::from_u128(n),
            active,
            max_chats: 3,
            last_assigned: last.map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        }
    }

    #[test]
    fn ring_picks_fewest_chats_then_longest_idle() {
        let a = cand(1, 1, None);
        let b = cand(2, 0, Some(200));
        let c = cand(3, 0, Some(100));
        let p = plan(OfferMode::Ring, &[&a, &b, &c], &[], &[], Trigger::Presence);
        assert_eq!(p.offered_to, vec![c.id]);
    }

    #[test]
    fn ring_moves_on_and_comes_back_only_when_nobody_else_is_left() {
        let a = cand(1, 0, Some(1));
        let b = cand(2, 0, Some(2));
        let p = plan(
            OfferMode::Ring,
            &[&a, &b],
            &[a.id],
            &[],
            Trigger::RingTimeout,
        );
        assert_eq!(p.offered_to, vec![b.id]);
        assert_eq!(p.rang_out, vec![a.id]);
        let p = plan(
            OfferMode::Ring,
            &[&a, &b],
            &[b.id],
            &p.rang_out,
            Trigger::RingTimeout,
        );
        // Both rang out: the one who rang out longest ago rings again.
        assert_eq!(p.offered_to, vec![a.id]);
        assert_eq!(p.rang_out, vec![a.id, b.id]);
        // A presence change keeps ringing whoever rings now.
        let p2 = plan(
            OfferMode::Ring,
            &[&a, &b],
            &[a.id],
            &p.rang_out,
            Trigger::Presence,
        );
        assert_eq!(p2.offered_to, vec![a.id]);
    }

    #[test]
    fn broadcast_offers_everyone_eligible_and_capacity_counts() {
        let a = cand(1, 3, None);
        let b = cand(2, 1, None);
        let pool = Pool {
            online: vec![a.clone(), b.clone()],
            silent: false,
        };
        let eligible = pool.eligible(None);
        assert_eq!(eligible.len(), 1);
        let p = plan(
            OfferMode::Broadcast,
            &eligible,
            &[a.id],
            &[],
            Trigger::Presence,
        );
        assert_eq!(p.offered_to, vec![b.id]);
        // A department cap of 1 leaves nobody.
        assert!(pool.eligible(Some(1)).is_empty());
    }
}
