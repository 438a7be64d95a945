//! Events in batches, both ways:
//! - a consumer of every message takes events in batches (`Bus::follow_durable_batches_on`):
//!   whatever was pulled and not handled goes to the handler at once, in order, never more than
//!   asked for, and each event is acknowledged after its batch is handled;
//! - an outbox's batch is published whole (`Bus::publish_stored`), however long, without
//!   holding every permit of the JetStream context while it waits for one more.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use showroom_bus::async_nats::{self, jetstream};
use showroom_bus::{Bus, Login, StoredEvent};
use showroom_localinfra::Nats;
use showroom_proto::Envelope;
use showroom_proto::v1::{Durable, StreamSpec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

const DURABLE: Durable = Durable::on("BATCHES", "batches-test");
const MAX: usize = 16;
const EVENTS: u32 = 200;

/// A stream of the test's own, on one subject.
fn test_stream(name: &'static str, subject: &str) -> StreamSpec {
    StreamSpec {
        name,
        owner: "test",
        subjects: vec![subject.into()],
        max_age: Duration::from_secs(3600),
        max_bytes: 1 << 26,
        discard_new: false,
    }
}

fn handled(batches: &Mutex<Vec<Vec<u32>>>) -> Vec<Vec<u32>> {
    batches.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_come_in_bounded_batches_in_order_and_are_acked() -> anyhow::Result<()> {
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("batches-test")).await?;
    let spec = test_stream(DURABLE.stream, "showroom.v1.*.test.batch");
    bus.ensure_stream(&spec, 1).await?;
    let group = Uuid::new_v4();
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    // Published before the consumer starts: its pulls find them all waiting.
    for i in 0..EVENTS {
        bus.publish_event(
            format!("showroom.v1.{group}.test.batch"),
            &Envelope::new(group, i),
        )
        .await?;
    }

    let batches: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let seen = batches.clone();
    bus.follow_durable_batches_on(
        DURABLE,
        None,
        since,
        MAX,
        &tracker,
        shutdown.clone(),
        move |batch: Vec<Envelope<u32>>| {
            let seen = seen.clone();
            async move {
                // A slow handler: what arrives meanwhile waits for the next batch.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut b = seen.lock().unwrap_or_else(|e| e.into_inner());
                b.push(batch.into_iter().map(|e| e.data).collect());
            }
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: usize = handled(&batches).iter().map(Vec::len).sum();
        if n >= EVENTS as usize {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {n} of {EVENTS} events handled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let batches = handled(&batches);
    let all: Vec<u32> = batches.iter().flatten().copied().collect();
    assert_eq!(all, (0..EVENTS).collect::<Vec<_>>(), "each once, in order");
    assert!(
        batches.iter().all(|b| !b.is_empty() && b.len() <= MAX),
        "batch sizes {:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(
        batches.len() < EVENTS as usize / 2,
        "events were handled one by one: {} batches",
        batches.len()
    );

    // Every event acknowledged: nothing pending or waiting for an ack on the consumer.
    common::all_acknowledged(&nats.url, DURABLE).await?;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// More than the 5 000 unacknowledged publishes a JetStream context allows.
const LONG_BATCH: usize = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_batch_longer_than_the_contexts_permits_is_published_whole() -> anyhow::Result<()>
{
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("batches-test")).await?;
    let spec = test_stream("LONG_OUTBOX", "showroom.v1.*.test.outbox");
    bus.ensure_stream(&spec, 1).await?;
    let group = Uuid::new_v4();
    let events = (0..LONG_BATCH)
        .map(|i| {
            StoredEvent::new(
                format!("showroom.v1.{group}.test.outbox"),
                &Envelope::new(group, i),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Keeping every acknowledgement pending until the end waits forever at the 5 001st.
    tokio::time::timeout(Duration::from_secs(60), bus.publish_stored(&events))
        .await
        .map_err(|_| anyhow::anyhow!("publish_stored of {LONG_BATCH} events never finished"))??;
    let js = jetstream::new(async_nats::connect(&nats.url).await?);
    let stored = js.get_stream(spec.name).await?.info().await?.state.messages;
    assert_eq!(stored, LONG_BATCH as u64, "every event stored once");
    Ok(())
}
