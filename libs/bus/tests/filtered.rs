//! Consumers by kind (`Bus::follow_each`, as `v1::ByKind` uses them on CONVERSATIONS):
//! - each consumer is delivered only the events of its own subject;
//! - consumers made to replace an earlier release's one consumer of the whole stream start
//!   where it left off, so the events published while no replica ran (an upgrade) are handled;
//! - with no consumer to replace, they start at the service's start, as any durable does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use showroom_bus::async_nats::{self, jetstream};
use showroom_bus::{Bus, Login};
use showroom_localinfra::Nats;
use showroom_proto::Envelope;
use showroom_proto::v1::{Durable, Filtered, Group, StreamSpec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

const STREAM: &str = "KINDS";
/// The earlier release's consumer of the whole stream.
const OLD: Durable = Durable::on(STREAM, "kinds-test");
const KINDS: [&str; 3] = ["a", "b", "c"];

fn subject(group: impl Into<Group>, kind: &str) -> String {
    format!("showroom.v1.{}.kinds.{kind}", group.into())
}

/// The new release's consumers: kinds `a` and `b`, not `c`.
fn by_kind() -> Filtered {
    Filtered {
        replaces: OLD,
        each: vec![
            (
                Durable::on(STREAM, "kinds-test-a"),
                subject(Group::Any, "a"),
            ),
            (
                Durable::on(STREAM, "kinds-test-b"),
                subject(Group::Any, "b"),
            ),
        ],
    }
}

type Seen = Arc<Mutex<Vec<(String, u32)>>>;

fn seen(s: &Seen) -> Vec<(String, u32)> {
    let mut v = s.lock().unwrap_or_else(|e| e.into_inner()).clone();
    v.sort_by_key(|(_, i)| *i);
    v
}

async fn stack() -> anyhow::Result<(Nats, Bus, Uuid)> {
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("kinds-test")).await?;
    let spec = StreamSpec {
        name: STREAM,
        owner: "test",
        subjects: vec![subject(Group::Any, "*")],
        max_age: Duration::from_secs(3600),
        max_bytes: 1 << 26,
        discard_new: false,
    };
    bus.ensure_stream(&spec, 1).await?;
    Ok((nats, bus, Uuid::new_v4()))
}

/// Publishes events `from..to`, their kinds taking turns.
async fn publish(bus: &Bus, group: Uuid, from: u32, to: u32) -> anyhow::Result<()> {
    for i in from..to {
        let kind = KINDS[i as usize % KINDS.len()];
        let event = Envelope::new(group, (kind.to_string(), i));
        bus.publish_event(subject(group, kind), &event).await?;
    }
    Ok(())
}

/// A handler that records each event.
fn recorder(into: &Seen) -> impl Fn(Envelope<(String, u32)>) -> std::future::Ready<()> + use<> {
    let into = into.clone();
    move |env| {
        into.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(env.data);
        std::future::ready(())
    }
}

/// Waits until `s` holds `n` events, then a moment more, so that one too many would show.
async fn settle(s: &Seen, n: usize) -> anyhow::Result<Vec<(String, u32)>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen(s).len() < n {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} events handled: {:?}",
            seen(s).len(),
            seen(s)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(seen(s))
}

/// The events `from..to` of kinds `a` and `b`.
fn of_a_and_b(from: u32, to: u32) -> Vec<(String, u32)> {
    (from..to)
        .map(|i| (KINDS[i as usize % KINDS.len()].to_string(), i))
        .filter(|(k, _)| k != "c")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_by_kind_start_where_the_consumer_they_replace_left_off() -> anyhow::Result<()> {
    let (nats, bus, group) = stack().await?;

    // The earlier release follows the whole stream and handles the first ten events.
    let old: Seen = Arc::default();
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    bus.follow_durable(OLD, since, &tracker, shutdown.clone(), recorder(&old));
    publish(&bus, group, 0, 10).await?;
    settle(&old, 10).await?;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    let js = jetstream::new(async_nats::connect(&nats.url).await?);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let info = js.get_stream(STREAM).await?.consumer_info(OLD.name).await?;
        if info.ack_floor.stream_sequence == 10 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the old consumer acknowledged up to {}",
            info.ack_floor.stream_sequence
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The upgrade: twenty events published while no replica runs.
    publish(&bus, group, 10, 30).await?;

    // The new release starts after them, with a consumer for each kind it reads.
    let new: Seen = Arc::default();
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let since = chrono::Utc::now();
    bus.follow_each(by_kind(), since, &tracker, shutdown.clone(), recorder(&new));
    let expected = of_a_and_b(10, 30);
    let handled = settle(&new, expected.len()).await?;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    assert_eq!(
        handled, expected,
        "each event of kinds a and b published during the upgrade once, and nothing else"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_to_replace_consumers_by_kind_start_at_the_start() -> anyhow::Result<()> {
    let (_nats, bus, group) = stack().await?;
    publish(&bus, group, 0, 9).await?;
    // Stored timestamps and this clock may differ by a little.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let new: Seen = Arc::default();
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    bus.follow_each(
        by_kind(),
        chrono::Utc::now(),
        &tracker,
        shutdown.clone(),
        recorder(&new),
    );
    publish(&bus, group, 9, 18).await?;
    let expected = of_a_and_b(9, 18);
    let handled = settle(&new, expected.len()).await?;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    assert_eq!(handled, expected, "only what was published after the start");
    Ok(())
}
