//! Admission of new chats by the message path's own delay.
//!
//! A shopper's `start` is refused `unavailable` ("busy: …", nothing started) while this
//! gateway's messages are slow to store: when, over the last [`WINDOW`], more than
//! [`SLOW_SHARE`] of the messages its sockets sent waited longer than the bound
//! (`SHOWROOM_ADMISSION_ACK_MS`) from `send` to `ack`. The chats already under way keep their
//! latency, and a peak beyond what the machine can carry waits at the door: the widget sends
//! the same `start` again after growing waits (up to 5 times) before it shows the refusal.
//! Without it, a peak let in slows every chat at once (the soak in `loadtest/README.md`,
//! "Admission by the message path's delay").
//!
//! Each gateway judges by its own messages, so a replica whose sockets are fine keeps
//! admitting. Too few messages in the window ([`MIN_SAMPLES`]) say nothing, and admit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use showroom_proto::{CommandError, ErrorCode};
use showroom_telemetry::metrics::names;

/// The message of a start refused here (`unavailable`; the protocol's busy refusals begin with
/// `busy`).
pub const BUSY: &str = "busy: the chats under way are answered slowly, try again";

/// How far back the delays count.
pub const WINDOW: Duration = Duration::from_secs(3);

/// The share of slow messages in the window above which starts are refused.
pub const SLOW_SHARE: f64 = 0.1;

/// Fewer messages than this in the window say nothing (a quiet gateway admits).
pub const MIN_SAMPLES: u64 = 20;

/// The window in slots of a quarter second, the oldest overwritten as time goes on.
const SLOT: Duration = Duration::from_millis(250);
const SLOTS: usize = (WINDOW.as_millis() / SLOT.as_millis()) as usize;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Which quarter second (since the gate's `epoch`) the counts are of.
    at: u64,
    sent: u64,
    slow: u64,
}

/// The gate: records each message's `send` → `ack` delay, and says whether a start may go on.
#[derive(Debug)]
pub struct Gate {
    /// Slower than this is slow; `None`: the gate is open (`SHOWROOM_ADMISSION_ACK_MS=0`).
    bound: Option<Duration>,
    epoch: Instant,
    slots: Mutex<[Slot; SLOTS]>,
}

/// Why a start was refused: what the gate saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Busy {
    /// Messages in the window.
    pub sent: u64,
    /// Of them, slower than the bound.
    pub slow: u64,
}

impl Gate {
    /// A gate that refuses starts while more than [`SLOW_SHARE`] of the messages take longer
    /// than `bound_ms` from `send` to `ack`; `0` never refuses.
    pub fn new(bound_ms: u64) -> Self {
        // Counted from zero, so "none shed yet" is a series and not a gap.
        metrics::counter!(names::STARTS_SHED).absolute(0);
        Self {
            bound: (bound_ms > 0).then(|| Duration::from_millis(bound_ms)),
            epoch: Instant::now(),
            slots: Mutex::new([Slot::default(); SLOTS]),
        }
    }

    fn slot_now(&self) -> u64 {
        (self.epoch.elapsed().as_millis() / SLOT.as_millis()) as u64
    }

    /// A message was stored and acknowledged `took` after its `send` arrived.
    pub fn record(&self, took: Duration) {
        let Some(bound) = self.bound else { return };
        let at = self.slot_now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[(at % SLOTS as u64) as usize];
        if slot.at != at {
            *slot = Slot {
                at,
                ..Slot::default()
            };
        }
        slot.sent += 1;
        slot.slow += u64::from(took > bound);
    }

    /// `Err` while the message path is behind: a start should be refused.
    pub fn admit(&self) -> Result<(), Busy> {
        if self.bound.is_none() {
            return Ok(());
        }
        let now = self.slot_now();
        let (sent, slow) = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .iter()
                .filter(|s| now.saturating_sub(s.at) < SLOTS as u64 && s.sent > 0)
                .fold((0, 0), |(n, k), s| (n + s.sent, k + s.slow))
        };
        if sent >= MIN_SAMPLES && slow as f64 > SLOW_SHARE * sent as f64 {
            return Err(Busy { sent, slow });
        }
        Ok(())
    }

    /// [`Gate::admit`] for a shopper's `start`: `unavailable` ([`BUSY`]) while the message path
    /// is behind, counted in `showroom_starts_shed_total`.
    pub fn start(&self) -> Result<(), CommandError> {
        self.admit().map_err(|busy| {
            metrics::counter!(names::STARTS_SHED).increment(1);
            tracing::debug!(?busy, "start refused: the message path is behind");
            CommandError::new(ErrorCode::Unavailable, BUSY)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(5);
    const SLOW: Duration = Duration::from_millis(900);

    #[test]
    fn starts_are_refused_while_messages_are_slow_and_admitted_after() {
        let gate = Gate::new(250);
        assert_eq!(gate.admit(), Ok(()), "nothing sent: admitted");
        for _ in 0..MIN_SAMPLES - 1 {
            gate.record(SLOW);
        }
        assert_eq!(gate.admit(), Ok(()), "too few messages to judge");
        gate.record(SLOW);
        assert_eq!(
            gate.admit(),
            Err(Busy {
                sent: MIN_SAMPLES,
                slow: MIN_SAMPLES
            })
        );
        // Fast messages dilute the slow ones below the share.
        for _ in 0..10 * MIN_SAMPLES {
            gate.record(FAST);
        }
        assert_eq!(gate.admit(), Ok(()), "20 slow of 220 is under a tenth");
    }

    #[test]
    fn slow_messages_are_forgotten_after_the_window() {
        let gate = Gate::new(250);
        for _ in 0..100 {
            gate.record(SLOW);
        }
        assert!(gate.admit().is_err());
        std::thread::sleep(WINDOW + SLOT);
        assert_eq!(gate.admit(), Ok(()), "the window moved on");
        gate.record(FAST);
        assert_eq!(gate.admit(), Ok(()));
    }

    #[test]
    fn a_bound_of_zero_never_refuses() {
        let gate = Gate::new(0);
        for _ in 0..100 {
            gate.record(SLOW);
        }
        assert_eq!(gate.admit(), Ok(()));
    }
}
