//! A durable consumer in lanes (`Bus::follow_durable_in_lanes`, which lead-capture uses for
//! the sources of leads): events of different lanes are handled side by side, so one slow
//! event does not hold up the others; the events of one lane are handled one after another,
//! in the order they were published; each event is handled once and acknowledged.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use showroom_bus::{Bus, Login};
use showroom_localinfra::Nats;
use showroom_proto::Envelope;
use showroom_proto::v1::{Durable, StreamSpec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

const DURABLE: Durable = Durable::on("LANES", "lanes-test");
/// Events of each of lanes 1 to 3 (lane 0 has one, slow).
const EACH: u32 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_run_side_by_side_each_in_order_and_every_event_is_acked() -> anyhow::Result<()> {
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("lanes-test")).await?;
    let spec = StreamSpec {
        name: DURABLE.stream,
        owner: "test",
        subjects: vec!["showroom.v1.*.test.lane".into()],
        max_age: Duration::from_secs(3600),
        max_bytes: 1 << 26,
        discard_new: false,
    };
    bus.ensure_stream(&spec, 1).await?;
    let group = Uuid::new_v4();
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    // Lane 0's one event first, then lanes 1 to 3 interleaved. (A third event of a lane that
    // is busy would wait for it, and the events behind it too: a lane holds one waiting.)
    let events =
        std::iter::once((0, 0)).chain((0..EACH).flat_map(|i| (1..4u32).map(move |l| (l, i))));
    for (lane, i) in events {
        {
            bus.publish_event(
                format!("showroom.v1.{group}.test.lane"),
                &Envelope::new(group, (lane, i)),
            )
            .await?;
        }
    }

    let handled: Arc<Mutex<Vec<(u32, u32)>>> = Arc::default();
    // Lane 0's first event waits until lane 1 has been handled whole (at most 10 s).
    let (lane1_done, _) = tokio::sync::watch::channel(0u32);
    let waited_for_lane1: Arc<Mutex<Option<bool>>> = Arc::default();
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let (seen, waited) = (handled.clone(), waited_for_lane1.clone());
    let lane1_done = Arc::new(lane1_done);
    bus.follow_durable_in_lanes(
        DURABLE,
        since,
        |e: &Envelope<(u32, u32)>| u64::from(e.data.0),
        &tracker,
        shutdown.clone(),
        move |e: Envelope<(u32, u32)>| {
            let (seen, waited, lane1_done) = (seen.clone(), waited.clone(), lane1_done.clone());
            let mut watch = lane1_done.subscribe();
            async move {
                if e.data == (0, 0) {
                    let done = tokio::time::timeout(
                        Duration::from_secs(10),
                        watch.wait_for(|n| *n == EACH),
                    )
                    .await
                    .is_ok();
                    *waited.lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(e.data);
                if e.data.0 == 1 {
                    lane1_done.send_modify(|n| *n += 1);
                }
            }
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while handled.lock().unwrap_or_else(|e| e.into_inner()).len() < 1 + 3 * EACH as usize {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {:?} handled",
            handled.lock().unwrap_or_else(|e| e.into_inner())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *waited_for_lane1.lock().unwrap_or_else(|e| e.into_inner()),
        Some(true),
        "lane 1 was handled while lane 0's first event was"
    );
    let handled = handled.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(handled.iter().filter(|e| e.0 == 0).count(), 1);
    for lane in 1..4 {
        let order: Vec<u32> = handled
            .iter()
            .filter(|(l, _)| *l == lane)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(
            order,
            (0..EACH).collect::<Vec<_>>(),
            "lane {lane}: once each, in order"
        );
    }

    // Every event acknowledged: nothing pending or waiting for an ack on the consumer.
    common::all_acknowledged(&nats.url, DURABLE).await?;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}
