//! An endpoint admits a bounded number of requests: the rest wait a bounded time or are
//! answered `unavailable` at once, instead of piling up (`showroom_bus::endpoint`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use showroom_bus::endpoint::BUSY;
use showroom_bus::{Admission, Bus, Login, ServiceHost};
use showroom_localinfra::Nats;
use showroom_proto::{CommandError, Envelope, ErrorCode};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// A slow endpoint behind `admission`, with the most requests it ever ran at once.
async fn slow_endpoint(
    bus: &Bus,
    admission: Admission,
    release: Arc<Notify>,
) -> anyhow::Result<(ServiceHost, Arc<AtomicUsize>, Arc<AtomicUsize>)> {
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut host = ServiceHost::start(
        bus,
        "admission-test",
        "0.1.0",
        "a slow endpoint",
        TaskTracker::new(),
        CancellationToken::new(),
    )
    .await?;
    if admission != Admission::default() {
        host.set_admission(admission);
    }
    let (r, m) = (running.clone(), most.clone());
    host.serve(
        "slow",
        "showroom.v1.*.test.slow".to_string(),
        move |_, env: Envelope<u32>| {
            let (r, m, release) = (r.clone(), m.clone(), release.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                release.notified().await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok::<u32, CommandError>(env.data)
            }
        },
    )
    .await?;
    Ok((host, running, most))
}

type Answer = (Result<Result<u32, CommandError>, String>, Duration);

async fn ask_many(bus: &Bus, n: u32) -> Vec<tokio::task::JoinHandle<Answer>> {
    let group = Uuid::new_v4();
    let subject = format!("showroom.v1.{group}.test.slow");
    let mut asks = Vec::new();
    for i in 0..n {
        let (bus, subject) = (bus.clone(), subject.clone());
        asks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = bus
                .request::<u32, u32>(subject, &Envelope::new(group, i))
                .await
                .map_err(|e| e.to_string());
            (r, t.elapsed())
        }));
        // In order, so the first ones take the turns.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    asks
}

fn busy(a: &Answer) -> bool {
    matches!(&a.0, Ok(Err(e)) if e.code == ErrorCode::Unavailable && e.message == BUSY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_endpoint_sheds_at_once_and_runs_what_it_admitted() -> anyhow::Result<()> {
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("admission-test")).await?;
    let release = Arc::new(Notify::new());
    let admission = Admission {
        in_flight: 2,
        waiting: 2,
        wait: Duration::from_secs(3),
    };
    let (_host, _, most) = slow_endpoint(&bus, admission, release.clone()).await?;

    let asks = ask_many(&bus, 6).await;
    // Two run, two wait; the last two are answered "busy" long before any timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(most.load(Ordering::SeqCst), 2, "more ran than admitted");
    for _ in 0..8 {
        release.notify_waiters();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answers = Vec::new();
    for a in asks {
        answers.push(a.await?);
    }
    let (shed, served): (Vec<_>, Vec<_>) = answers.iter().partition(|a| busy(a));
    assert_eq!(shed.len(), 2, "{answers:?}");
    assert!(
        shed.iter().all(|a| a.1 < Duration::from_millis(500)),
        "shed late: {answers:?}"
    );
    assert_eq!(served.len(), 4, "{answers:?}");
    for a in &served {
        assert!(matches!(a.0, Ok(Ok(_))), "{answers:?}");
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_waited_too_long_is_shed_without_running() -> anyhow::Result<()> {
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("admission-test")).await?;
    let release = Arc::new(Notify::new());
    let admission = Admission {
        in_flight: 1,
        waiting: 4,
        wait: Duration::from_millis(400),
    };
    let (_host, _, most) = slow_endpoint(&bus, admission, release.clone()).await?;
    let asks = ask_many(&bus, 3).await;
    // The first holds its turn for 1.5 s; the two behind it give up after 0.4 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    release.notify_waiters();
    let mut answers = Vec::new();
    for a in asks {
        answers.push(a.await?);
    }
    assert!(matches!(answers[0].0, Ok(Ok(0))), "{answers:?}");
    assert!(busy(&answers[1]) && busy(&answers[2]), "{answers:?}");
    assert!(answers[1].1 < Duration::from_millis(1000), "{answers:?}");
    assert_eq!(most.load(Ordering::SeqCst), 1);
    Ok(())
}

/// Without a limit every request runs at once: the protection above is what bounds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_admits_a_burst_the_size_of_its_turns() -> anyhow::Result<()> {
    let nats = Nats::start(None).await?;
    let bus = Bus::connect(&nats.url, Login::anonymous("admission-test")).await?;
    let release = Arc::new(Notify::new());
    let (_host, running, most) = slow_endpoint(&bus, Admission::default(), release.clone()).await?;
    let asks = ask_many(&bus, 70).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(most.load(Ordering::SeqCst), Admission::default().in_flight);
    while running.load(Ordering::SeqCst) > 0 || asks.iter().any(|a| !a.is_finished()) {
        release.notify_waiters();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for a in asks {
        assert!(matches!(a.await?.0, Ok(Ok(_))));
    }
    Ok(())
}
