//! JetStream streams: created by their owners with the spec's limits, and left as an operator
//! set them afterwards (a restart of the owner brings only its subjects up to date).

use std::time::Duration;

use showroom_proto::v1;
use showroom_testkit::{Service, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_restart_keeps_what_an_operator_changed() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let js = async_nats::jetstream::new(stack.nats_client().await?);
    let spec = v1::messages_stream();
    let mut stream = js.get_stream(spec.name).await?;
    let created = stream.info().await?.config.clone();
    assert_eq!(created.max_bytes, spec.max_bytes);
    assert_eq!(created.max_age, spec.max_age);
    assert_eq!(
        created.discard,
        async_nats::jetstream::stream::DiscardPolicy::New
    );
    assert_eq!(created.num_replicas, 1);

    // The operator gives MESSAGES more room and keeps it longer.
    let mut changed = created.clone();
    changed.max_bytes = 2 * spec.max_bytes;
    changed.max_age = Duration::from_secs(14 * 24 * 3600);
    js.update_stream(changed).await?;
    // The gateway (MESSAGES' owner) restarts: the operator's choice stands.
    stack.stop_service(Service::Gateway).await?;
    stack.start_service(Service::Gateway).await?;
    let after = js.get_stream(spec.name).await?.info().await?.config.clone();
    assert_eq!(after.max_bytes, 2 * spec.max_bytes, "max_bytes reverted");
    assert_eq!(
        after.max_age,
        Duration::from_secs(14 * 24 * 3600),
        "max_age reverted"
    );
    let mut subjects = after.subjects.clone();
    subjects.sort();
    let mut want = spec.subjects.clone();
    want.sort();
    assert_eq!(subjects, want);
    stack.stop().await
}

/// A list of NATS URLs (a cluster's seeds) connects through whichever answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_list_of_nats_urls_connects_through_one_that_answers() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let dead = showroom_localinfra::free_port()?;
    let creds = std::fs::read_to_string(stack.creds_path("operator"))?;
    let urls = format!("nats://127.0.0.1:{dead}, {}", stack.nats_url());
    for _ in 0..3 {
        let login = showroom_bus::Login {
            name: "seeds",
            creds: Some(&creds),
            ca: None,
        };
        let client = showroom_bus::client(&urls, login).await?;
        client.flush().await?;
    }
    let login = showroom_bus::Login {
        name: "seeds",
        creds: Some(&creds),
        ca: None,
    };
    assert!(
        showroom_bus::client("nats://127.0.0.1:1, not a url", login)
            .await
            .is_err()
    );
    stack.stop().await
}

/// A live follower (a gateway's fan-out) whose consumer's NATS node is killed gets the next
/// events within seconds, once each: the consumer is made again after the last event it had.
/// With the client's own recovery alone, the next event never came (a pull that timed out
/// ended the consumer's stream), or after 30 s or more (missed 15 s heartbeats).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_follower_outlives_the_nats_node_of_its_consumer() -> anyhow::Result<()> {
    use futures::StreamExt;
    use showroom_localinfra::Nats;

    showroom_telemetry::init_for_tests();
    let mut nodes = Nats::start_cluster(3, |_| String::new()).await?;
    let urls = nodes
        .iter()
        .map(|n| n.url.clone())
        .collect::<Vec<_>>()
        .join(",");
    let login = showroom_bus::Login {
        name: "live",
        creds: None,
        ca: None,
    };
    let bus = showroom_bus::Bus::connect(&urls, login).await?;
    retry(|| async {
        bus.js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "LIVE".into(),
                subjects: vec!["live.>".into()],
                num_replicas: 3,
                ..Default::default()
            })
            .await
    })
    .await?;
    let mut live = bus
        .follow_live("LIVE", "live.>".into(), Duration::from_secs(10))
        .await?;
    let publish = |n: u32| {
        let js = bus.js.clone();
        retry(move || {
            let js = js.clone();
            async move { js.publish("live.n", n.to_string().into()).await?.await }
        })
    };
    // A follower of one subject while others are written: quiet is not a stall.
    let mut one = bus
        .follow_live("LIVE", "live.one".into(), Duration::from_secs(10))
        .await?;
    publish(1).await?;
    let first = tokio::time::timeout(Duration::from_secs(10), live.next()).await?;
    assert_eq!(&first.payload[..], b"1");
    let quiet = tokio::time::timeout(showroom_bus::LIVE_QUIET * 3, one.next()).await;
    assert!(quiet.is_err(), "nothing was written to live.one");
    assert_eq!(
        one.remade(),
        0,
        "a quiet follower was taken for a stalled one"
    );
    drop(one);

    // The node that holds the consumer dies.
    let stream = bus.js.get_stream("LIVE").await?;
    let mut consumers = stream.consumers();
    let info = loop {
        let c = consumers.next().await.expect("the follower's consumer")?;
        if c.config.filter_subject == "live.>" {
            break c;
        }
    };
    let holder = info
        .cluster
        .and_then(|c| c.leader)
        .expect("the consumer's node");
    let index: usize = holder.trim_start_matches('n').parse()?;
    println!("killing {holder}");
    nodes[index].kill().await;
    let killed = std::time::Instant::now();

    publish(2).await?;
    publish(3).await?;
    let published = std::time::Instant::now();
    println!("published {:?} after the kill", killed.elapsed());
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(60), live.next()).await?;
        got.push(String::from_utf8(m.payload.to_vec())?);
    }
    let took = published.elapsed();
    println!(
        "events after the node died: {got:?}, {took:?} after they were stored, {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(got, ["2", "3"], "each event once, in order");
    assert!(live.remade() > 0);
    assert!(
        took < Duration::from_secs(25),
        "the follower got the events {took:?} after they were stored"
    );
    for n in &mut nodes {
        n.stop().await;
    }
    Ok(())
}

/// Runs `f` until it succeeds (a cluster forming or electing a leader), for up to 30 s.
async fn retry<T, E: std::fmt::Display, F, Fut>(mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if std::time::Instant::now() > deadline => anyhow::bail!("{e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
