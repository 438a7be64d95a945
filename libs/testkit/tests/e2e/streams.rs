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
