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

/// A follower of core copies (a gateway's group feeds) is told when its connection was lost and
/// since when, and reads what the stream stored meanwhile (`Bus::losses`, `Bus::replay`):
/// only the events since then, in order, filtered when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_reads_what_the_stream_stored_while_it_was_cut_off() -> anyhow::Result<()> {
    use showroom_localinfra::{Nats, Relay};

    showroom_telemetry::init_for_tests();
    let nats = Nats::start(None).await?;
    let relay = Relay::start(nats.port).await?;
    let bus = showroom_bus::Bus::connect(
        &format!("nats://127.0.0.1:{}", relay.port),
        showroom_bus::Login::anonymous("follower"),
    )
    .await?;
    let direct =
        showroom_bus::Bus::connect(&nats.url, showroom_bus::Login::anonymous("writer")).await?;
    retry(|| async {
        direct
            .js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "FEED".into(),
                subjects: vec!["feed.*.a".into(), "feed.*.b".into()],
                ..Default::default()
            })
            .await
    })
    .await?;
    let publish = |subject: &'static str, n: u32| {
        let js = direct.js.clone();
        async move { js.publish(subject, n.to_string().into()).await?.await }
    };
    let mut losses = bus.losses();
    assert_eq!(losses.borrow_and_update().count, 0);
    let mut live = bus.client.subscribe("feed.>").await?;
    // Answered "no responders" once the server has read the SUB before it.
    bus.round_trip("nobody.here".into()).await?;
    publish("feed.g.a", 1).await?;
    let got = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut live))
        .await?
        .expect("the live copy");
    assert_eq!(&got.payload[..], b"1");
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Cut off: what is stored meanwhile never reaches the subscription.
    relay.refuse(true);
    relay.cut().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish("feed.g.a", 2).await?;
    publish("feed.h.b", 3).await?;
    publish("feed.g.a", 4).await?;
    relay.refuse(false);
    tokio::time::timeout(Duration::from_secs(30), losses.changed()).await??;
    let loss = *losses.borrow_and_update();
    assert_eq!(loss.count, 1);
    let since = loss.since.expect("since when");

    let all = bus.replay("FEED", String::new(), since).await?;
    let payloads: Vec<_> = all.iter().map(|m| m.payload.to_vec()).collect();
    assert_eq!(payloads, [b"2".to_vec(), b"3".to_vec(), b"4".to_vec()]);
    let one = bus.replay("FEED", "feed.g.a".into(), since).await?;
    let payloads: Vec<_> = one.iter().map(|m| m.payload.to_vec()).collect();
    assert_eq!(payloads, [b"2".to_vec(), b"4".to_vec()]);
    let none = bus
        .replay(
            "FEED",
            String::new(),
            chrono::Utc::now() + chrono::TimeDelta::seconds(1),
        )
        .await?;
    assert!(none.is_empty());
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
