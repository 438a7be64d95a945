//! Per socket, per conversation: message frames in `seq` order, with no gap and no duplicate.
//!
//! Seqs are assigned at commit, but `message.created` events of different writers (the shopper,
//! the agent, the bot, on any gateway) reach this gateway in publish order, which is not always
//! seq order. The [`Sequencer`] therefore sends a message frame only when it is the next one the
//! socket needs; a frame above a gap is held back for a short time ([`HOLD`]), and if the gap is
//! still open then, the writer reads the missing messages from the transcript in Postgres (the
//! source of truth) and hands them in with [`Sequencer::filled`]. A frame at or below what the
//! socket already has is dropped.
//!
//! Where a socket starts in a stream comes from the frames that set it ([`Mark`]): a `welcome`,
//! `started` or `history` reply carries the messages up to its mark; a console's `welcome`,
//! `accepted`, or an assignment says live frames continue after the chat's `last_seq` (earlier
//! ones come with the console's `open`). A stream nobody marked starts at the lowest frame that
//! arrived within the hold time.
//!
//! Live frames come over core NATS, which delivers at most once: a frame published while this
//! gateway was not yet subscribed to its conversation, or while it was reconnecting, never
//! arrives. A [`Mark::Tail`] (sent by the hub once a new subscription is confirmed, and to every
//! watcher after a reconnection) therefore has the writer read whatever follows the socket's
//! position from Postgres, as it reads a gap ([`Gap::before`] is then `i64::MAX`).
//!
//! A [`Mark::Forget`] (sent by the hub when a console stops following a closed chat) drops a
//! stream's position, so a socket's state holds the streams it follows, not every one it saw.
//!
//! Pure state: no I/O, so every rule is unit-tested here; the writer in `ws` does the reading.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use showroom_proto::message::Message;

use crate::hub::{Mark, Outbound, Stream};

/// How long a frame above a gap waits for the frames below it before they are read from
/// Postgres. Publishes of two writers a few milliseconds apart arrive well within it.
pub const HOLD: Duration = Duration::from_millis(250);

/// How long a gap may stay open (reads failing) before the socket is closed, so its client
/// reconnects and resumes from its last seq.
pub const GIVE_UP: Duration = Duration::from_secs(15);

/// How many frames a socket may hold back in all before it is closed (like a full queue).
pub const MAX_HELD: usize = 1024;

/// Where a reply carrying `messages` (those after `after`) leaves its socket: at its last
/// message, else at `after`, but never beyond the stream's `last_seq` (a client may claim more
/// than there is).
pub fn reached(messages: &[Message], after: i64, last_seq: i64) -> i64 {
    messages
        .last()
        .map(|m| m.seq)
        .unwrap_or(after.min(last_seq))
}

/// A gap to read from the transcript: the messages of `stream` with `after < seq < before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The conversation or internal chat.
    pub stream: Stream,
    /// The socket has every message up to this seq.
    pub after: i64,
    /// The lowest seq held back.
    pub before: i64,
}

#[derive(Default)]
struct Position {
    /// Every message up to this seq has been sent (or the client has it); `None` until known.
    upto: Option<i64>,
    /// Frames above a gap, by seq.
    held: BTreeMap<i64, Outbound>,
    /// When the oldest held frame arrived.
    since: Option<Instant>,
    /// When to look at the gap next (the hold time, then again after a failed read).
    retry_at: Option<Instant>,
    /// Frames after `upto` may have been lost: read the stream's tail (a [`Mark::Tail`]).
    tail: bool,
}

impl Position {
    /// Moves `upto` over the held frames that follow it, into `out`.
    fn flush(&mut self, out: &mut Vec<Outbound>) {
        let Some(mut upto) = self.upto else { return };
        // Held frames the socket has by now (a reply brought them) are dropped.
        while let Some(entry) = self.held.first_entry() {
            let seq = *entry.key();
            if seq <= upto {
                entry.remove();
            } else if seq == upto + 1 {
                out.push(entry.remove());
                upto = seq;
            } else {
                break;
            }
        }
        self.upto = Some(upto);
        if self.held.is_empty() {
            self.since = None;
            if !self.tail {
                self.retry_at = None;
            }
        }
    }
}

/// The ordering state of one socket.
#[derive(Default)]
pub struct Sequencer {
    streams: HashMap<Stream, Position>,
    held: usize,
}

/// What the sequencer wants after a frame or a tick.
#[derive(Debug, Default)]
pub struct Step {
    /// Frames to write now, in this order.
    pub send: Vec<Outbound>,
    /// The socket holds too much or a gap stayed open too long: close it (its client resumes).
    pub close: bool,
}

impl Sequencer {
    /// Takes a frame; returns what to write now. A frame without a seq goes out at once, and its
    /// marks then set where its streams stand.
    pub fn push(&mut self, out: Outbound, now: Instant) -> Step {
        let mut step = Step::default();
        match out.seq {
            None => {
                let marks = out.marks.clone();
                // A catch-up alone ([`Outbound::catch_up`]) has nothing to write.
                if !out.frame.is_empty() {
                    step.send.push(out);
                }
                for m in marks {
                    self.mark(m, now, &mut step.send);
                }
            }
            Some((stream, seq)) => {
                let p = self.streams.entry(stream).or_default();
                match p.upto {
                    Some(upto) if seq <= upto => {} // the client has it
                    Some(upto) if seq == upto + 1 => {
                        p.upto = Some(seq);
                        step.send.push(out);
                        let before = p.held.len();
                        p.flush(&mut step.send);
                        self.held = self.held - before + p.held.len();
                    }
                    _ => {
                        // Above a gap, or where the stream starts is not known yet: wait.
                        if p.held.insert(seq, out).is_none() {
                            self.held += 1;
                        }
                        if p.since.is_none() {
                            p.since = Some(now);
                            p.retry_at = Some(now + HOLD);
                        }
                        step.close = self.held > MAX_HELD;
                    }
                }
            }
        }
        step
    }

    fn mark(&mut self, mark: Mark, now: Instant, send: &mut Vec<Outbound>) {
        let (stream, seq, raise) = match mark {
            Mark::Upto(s, seq) => (s, seq, true),
            Mark::From(s, seq) => (s, seq, false),
            Mark::Tail(s) => {
                // Read at once where the socket stands, or as soon as a mark places it.
                let p = self.streams.entry(s).or_default();
                p.tail = true;
                if p.upto.is_some() {
                    p.retry_at = Some(p.retry_at.map_or(now, |t| t.min(now)));
                }
                return;
            }
            Mark::Forget(s) => {
                if let Some(p) = self.streams.remove(&s) {
                    self.held -= p.held.len();
                }
                return;
            }
        };
        let p = self.streams.entry(stream).or_default();
        if p.tail && p.upto.is_none() {
            p.retry_at = Some(now);
        }
        p.upto = Some(match p.upto {
            None => seq,
            Some(upto) if raise => upto.max(seq),
            Some(upto) => upto,
        });
        let before = p.held.len();
        p.flush(send);
        self.held = self.held - before + p.held.len();
    }

    /// When the next held frame's wait runs out.
    pub fn deadline(&self) -> Option<Instant> {
        self.streams.values().filter_map(|p| p.retry_at).min()
    }

    /// The gaps whose wait ran out, to read from the transcript. A stream whose start was never
    /// marked starts below the lowest frame that came; what that releases is added to `step`.
    pub fn due(&mut self, now: Instant, step: &mut Step) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for (stream, p) in &mut self.streams {
            if p.retry_at.is_none_or(|t| t > now) {
                continue;
            }
            if p.upto.is_none() {
                p.upto = p.held.keys().next().map(|s| s - 1);
                let before = p.held.len();
                p.flush(&mut step.send);
                self.held = self.held - before + p.held.len();
            }
            let Some(upto) = p.upto else {
                // Not placed in the stream yet (only a tail asked for): a mark places it.
                p.retry_at = None;
                continue;
            };
            let before = match p.held.keys().next() {
                Some(&first) => {
                    if p.since.is_some_and(|s| now.duration_since(s) >= GIVE_UP) {
                        step.close = true;
                    }
                    first
                }
                None if p.tail => i64::MAX,
                None => {
                    p.retry_at = None;
                    continue;
                }
            };
            p.retry_at = Some(now + HOLD);
            gaps.push(Gap {
                stream: *stream,
                after: upto,
                before,
            });
        }
        gaps
    }

    /// Messages read for a gap (in any order; those outside it are ignored). Returns what can go
    /// out now; a gap still open is looked at again after the hold time.
    pub fn filled(&mut self, stream: Stream, frames: Vec<Outbound>) -> Vec<Outbound> {
        let mut send = Vec::new();
        let Some(p) = self.streams.get_mut(&stream) else {
            return send;
        };
        // The read answered: whatever was lost is in `frames` (up to a read's limit).
        p.tail = false;
        let before = p.held.len();
        let upto = p.upto.unwrap_or(i64::MAX);
        for f in frames {
            if let Some((s, seq)) = f.seq
                && s == stream
                && seq > upto
            {
                p.held.entry(seq).or_insert(f);
            }
        }
        p.flush(&mut send);
        self.held = self.held - before + p.held.len();
        send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Framed;
    use uuid::Uuid;

    fn msg(stream: Stream, seq: i64) -> Outbound {
        Framed {
            frame: seq.to_string().into(),
            seq: Some((stream, seq)),
            marks: Vec::new(),
            span: None,
        }
        .into()
    }

    fn reply(marks: Vec<Mark>) -> Outbound {
        Framed {
            frame: "reply".into(),
            seq: None,
            marks,
            span: None,
        }
        .into()
    }

    fn sent(step: &Step) -> Vec<String> {
        step.send.iter().map(|o| o.frame.to_string()).collect()
    }

    fn frames(v: &[Outbound]) -> Vec<String> {
        v.iter().map(|o| o.frame.to_string()).collect()
    }

    fn chat() -> Stream {
        Stream::Conversation(Uuid::new_v4())
    }

    #[test]
    fn a_lower_seq_that_comes_late_is_still_sent_first() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        assert_eq!(sent(&q.push(reply(vec![Mark::Upto(c, 3)]), t)), ["reply"]);
        assert_eq!(sent(&q.push(msg(c, 4), t)), ["4"]);
        // 6 overtook 5 on the bus: held, then both go, in order.
        assert!(sent(&q.push(msg(c, 6), t)).is_empty());
        assert_eq!(q.deadline(), Some(t + HOLD));
        assert_eq!(sent(&q.push(msg(c, 5), t)), ["5", "6"]);
        assert_eq!(q.deadline(), None);
        // What the socket has is never sent twice.
        assert!(sent(&q.push(msg(c, 5), t)).is_empty());
        assert!(sent(&q.push(msg(c, 2), t)).is_empty());
        assert_eq!(sent(&q.push(msg(c, 7), t)), ["7"]);
    }

    #[test]
    fn a_forgotten_stream_leaves_nothing_behind() {
        let (c, d, t) = (chat(), chat(), Instant::now());
        let mut q = Sequencer::default();
        q.push(reply(vec![Mark::Upto(c, 3), Mark::Upto(d, 1)]), t);
        // 6 waits for 4 and 5 when the socket stops following the chat.
        assert!(sent(&q.push(msg(c, 6), t)).is_empty());
        assert!(sent(&q.push(Outbound::forget(c), t)).is_empty());
        assert_eq!(q.streams.len(), 1, "the forgotten chat's position stays");
        assert_eq!((q.held, q.deadline()), (0, None), "its held frame stays");
        // The other chat goes on where it stood.
        assert_eq!(sent(&q.push(msg(d, 2), t)), ["2"]);
    }

    #[test]
    fn a_gap_still_open_after_the_hold_is_read_and_filled_in_order() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        q.push(reply(vec![Mark::Upto(c, 1)]), t);
        assert!(sent(&q.push(msg(c, 4), t)).is_empty());
        assert!(sent(&q.push(msg(c, 5), t)).is_empty());
        let mut step = Step::default();
        assert!(
            q.due(t + HOLD / 2, &mut step).is_empty(),
            "not before the hold"
        );
        let gaps = q.due(t + HOLD, &mut step);
        assert_eq!(
            gaps,
            [Gap {
                stream: c,
                after: 1,
                before: 4
            }]
        );
        assert!(!step.close);
        // The read may bring more than the gap (or less); only what is missing counts.
        let read = vec![msg(c, 1), msg(c, 3), msg(c, 2), msg(chat(), 2), msg(c, 4)];
        assert_eq!(frames(&q.filled(c, read)), ["2", "3", "4", "5"]);
        assert_eq!(q.deadline(), None);
        // The late live copies are dropped.
        assert!(sent(&q.push(msg(c, 2), t)).is_empty());
        assert!(sent(&q.push(msg(c, 3), t)).is_empty());
    }

    #[test]
    fn a_failed_read_is_retried_then_the_socket_is_closed() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        q.push(reply(vec![Mark::Upto(c, 0)]), t);
        q.push(msg(c, 2), t);
        let mut step = Step::default();
        assert_eq!(q.due(t + HOLD, &mut step).len(), 1);
        assert!(q.filled(c, Vec::new()).is_empty(), "nothing was read");
        assert_eq!(q.deadline(), Some(t + HOLD + HOLD), "looked at again later");
        let mut step = Step::default();
        assert_eq!(q.due(t + GIVE_UP, &mut step).len(), 1);
        assert!(step.close);
    }

    #[test]
    fn a_stream_nobody_marked_starts_at_the_lowest_frame_within_the_hold() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        assert!(sent(&q.push(msg(c, 9), t)).is_empty());
        assert!(sent(&q.push(msg(c, 8), t)).is_empty());
        assert!(sent(&q.push(msg(c, 11), t)).is_empty());
        let mut step = Step::default();
        let gaps = q.due(t + HOLD, &mut step);
        assert_eq!(sent(&step), ["8", "9"]);
        assert_eq!(
            gaps,
            [Gap {
                stream: c,
                after: 9,
                before: 11
            }]
        );
        assert_eq!(frames(&q.filled(c, vec![msg(c, 10)])), ["10", "11"]);
    }

    #[test]
    fn marks_set_where_a_stream_starts() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        // From: live continues after 5 (the console reads the rest with `open`).
        q.push(msg(c, 5), t);
        q.push(msg(c, 7), t);
        assert_eq!(sent(&q.push(reply(vec![Mark::From(c, 5)]), t)), ["reply"]);
        assert_eq!(sent(&q.push(msg(c, 6), t)), ["6", "7"]);
        // A later From does not move a stream that has a position.
        q.push(reply(vec![Mark::From(c, 2)]), t);
        assert!(sent(&q.push(msg(c, 7), t)).is_empty());
        // An `open` reply that brought messages up to 12 releases what is held above it.
        q.push(msg(c, 13), t);
        assert_eq!(
            sent(&q.push(reply(vec![Mark::Upto(c, 12)]), t)),
            ["reply", "13"]
        );
        // A reply that brought less than the socket has does not move it back.
        q.push(reply(vec![Mark::Upto(c, 3)]), t);
        assert!(sent(&q.push(msg(c, 13), t)).is_empty());
        assert_eq!(sent(&q.push(msg(c, 14), t)), ["14"]);
    }

    #[test]
    fn streams_are_ordered_separately() {
        let (a, b, t) = (chat(), Stream::Internal(Uuid::new_v4()), Instant::now());
        let mut q = Sequencer::default();
        q.push(reply(vec![Mark::Upto(a, 0), Mark::From(b, 0)]), t);
        assert!(sent(&q.push(msg(a, 2), t)).is_empty());
        assert_eq!(sent(&q.push(msg(b, 1), t)), ["1"], "b does not wait for a");
        assert_eq!(sent(&q.push(msg(a, 1), t)), ["1", "2"]);
    }

    #[test]
    fn a_socket_holding_too_much_is_closed() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        q.push(reply(vec![Mark::Upto(c, 0)]), t);
        for seq in 2..=(MAX_HELD as i64 + 1) {
            assert!(!q.push(msg(c, seq), t).close);
        }
        assert!(q.push(msg(c, MAX_HELD as i64 + 2), t).close);
        // Filling the gap releases everything at once.
        let all = q.filled(c, vec![msg(c, 1)]);
        assert_eq!(all.len(), MAX_HELD + 2);
        assert!(!q.push(msg(c, MAX_HELD as i64 + 3), t).close);
    }

    #[test]
    fn a_tail_is_read_at_once_and_what_it_finds_is_sent_in_order() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        q.push(reply(vec![Mark::Upto(c, 3)]), t);
        assert_eq!(q.deadline(), None);
        // Nothing is written for the catch-up itself.
        assert!(sent(&q.push(Outbound::catch_up(c), t)).is_empty());
        assert_eq!(q.deadline(), Some(t));
        // A live frame in order meanwhile does not cancel it.
        assert_eq!(sent(&q.push(msg(c, 4), t)), ["4"]);
        let mut step = Step::default();
        let gaps = q.due(t, &mut step);
        assert_eq!(
            gaps,
            [Gap {
                stream: c,
                after: 4,
                before: i64::MAX
            }]
        );
        assert!(!step.close);
        // The read failed: asked again after the hold, never closing the socket.
        assert!(q.due(t + HOLD / 2, &mut step).is_empty());
        let later = t + GIVE_UP * 2;
        assert_eq!(q.due(later, &mut step).len(), 1);
        assert!(!step.close);
        // It answered 5 and 6 (4 again is dropped): sent, and the tail is done.
        assert_eq!(
            frames(&q.filled(c, vec![msg(c, 4), msg(c, 5), msg(c, 6)])),
            ["5", "6"]
        );
        assert_eq!(q.deadline(), None);
        assert_eq!(sent(&q.push(msg(c, 6), t)), Vec::<String>::new());
        assert_eq!(sent(&q.push(msg(c, 7), t)), ["7"]);
    }

    #[test]
    fn a_tail_asked_before_the_socket_is_placed_waits_for_its_mark() {
        let (c, t) = (chat(), Instant::now());
        let mut q = Sequencer::default();
        q.push(Outbound::catch_up(c), t);
        let mut step = Step::default();
        assert!(q.due(t, &mut step).is_empty());
        assert_eq!(q.deadline(), None, "no busy loop while unplaced");
        q.push(reply(vec![Mark::Upto(c, 2)]), t);
        assert_eq!(
            q.due(t, &mut step),
            [Gap {
                stream: c,
                after: 2,
                before: i64::MAX
            }]
        );
        assert!(q.filled(c, Vec::new()).is_empty());
        assert_eq!(q.deadline(), None);
    }

    #[test]
    fn a_reply_reaches_the_end_of_its_messages_or_the_real_end() {
        let m = |seq| Message {
            conversation_id: Uuid::nil(),
            seq,
            id: Uuid::nil(),
            author: showroom_proto::message::Author {
                kind: showroom_proto::message::AuthorKind::Bot,
                id: None,
                name: None,
            },
            text: String::new(),
            file: None,
            client_msg_id: None,
            estimate: None,
            at: chrono::Utc::now(),
        };
        assert_eq!(reached(&[m(4), m(5)], 3, 5), 5);
        assert_eq!(reached(&[], 3, 5), 3);
        assert_eq!(reached(&[], 900, 5), 5, "a client claiming too much");
    }
}
