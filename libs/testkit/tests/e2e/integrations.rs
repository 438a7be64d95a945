//! Integrator credentials, as an admin and an integrator would use them, against the real
//! stack (NATS in operator mode): an admin of group A issues one over REST; with it the
//! integrator reads A's leads live and, after being away, from its durable consumer; NATS
//! refuses it everything else; revoking it closes its connection and keeps it out.

use std::time::Duration;

use async_nats::Event;
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;
use showroom_proto::lead::{CloudEvent, LEAD_CREATED};
use showroom_proto::v1;
use showroom_testkit::watch::{
    closed_within, connect_watched as connect, next_violation as violation,
};
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, eventually};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Publishes a lead of `t` on LEADS as lead-capture does; answers its id.
async fn publish_lead(js: &async_nats::jetstream::Context, t: &Tenant) -> anyhow::Result<Uuid> {
    let lead = t.sample_lead(None);
    let event_id = Uuid::now_v7();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
    let event = CloudEvent::lead(event_id, LEAD_CREATED, lead.clone());
    js.publish_with_headers(
        v1::lead_created(t.group),
        headers,
        serde_json::to_vec(&event)?.into(),
    )
    .await?
    .await?;
    Ok(lead.id)
}

/// What the connection reported so far (for a failure's message).
fn drained(events: &mut mpsc::UnboundedReceiver<Event>) -> Vec<String> {
    std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.to_string())
        .collect()
}

fn lead_id(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v["data"]["id"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_integrator_reads_its_own_groups_leads_until_revoked() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "IntegA", 1).await?;
    let b = Tenant::seed(&stack.pool, "IntegB", 1).await?;
    let (_, admin_a) = a.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let (_, manager_a) = a.add_agent(&stack.pool, "mgr", "manager", &[]).await?;
    let (_, admin_b) = b.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let http = Http::new(&stack.base_url);
    let admin = http.with_token(&http.login(&admin_a, PASSWORD).await?);
    let manager = http.with_token(&http.login(&manager_a, PASSWORD).await?);
    let other = http.with_token(&http.login(&admin_b, PASSWORD).await?);

    // Only an admin issues one; a bad name is named.
    let (st, body) = manager
        .post("/api/v1/integrations", r#"{"name":"Acme CRM"}"#)
        .await?;
    assert_eq!(st, 403, "{body}");
    let (st, body) = admin
        .post("/api/v1/integrations", r#"{"name":"  "}"#)
        .await?;
    assert_eq!(st, 400, "{body}");
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    let (st, issued) = admin
        .post("/api/v1/integrations", r#"{"name":"Acme CRM"}"#)
        .await?;
    assert_eq!(st, 201, "{issued}");
    let creds = issued["creds"].as_str().unwrap_or_default().to_string();
    assert!(creds.contains("BEGIN NATS USER JWT"), "{issued}");
    let id = issued["integration"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let access = &issued["integration"]["access"];
    let inbox = access["inbox_prefix"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let durable = access["consumer"].as_str().unwrap_or_default().to_string();
    assert_eq!(access["stream"], "LEADS");
    assert_eq!(
        access["subjects"],
        serde_json::json!([
            format!("showroom.v1.{}.lead.>", a.group),
            format!("showroom.v1.{}.delivery.>", a.group)
        ])
    );

    // Listed for managers, without the secret; another group sees none of it.
    let (st, list) = manager.get("/api/v1/integrations").await?;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list[0]["name"], "Acme CRM");
    assert_eq!(list[0]["created_by"]["name"], "boss Added");
    assert!(list[0]["last_used_at"].is_null() && list[0]["revoked_at"].is_null());
    assert!(
        !list.to_string().contains("SEED"),
        "the secret is never listed"
    );
    let (_, theirs) = other.get("/api/v1/integrations").await?;
    assert_eq!(theirs, serde_json::json!([]));
    let (st, _) = other
        .call(Method::DELETE, &format!("/api/v1/integrations/{id}"), None)
        .await?;
    assert_eq!(st, 404, "another group's credential is not found");

    // Live: A's leads arrive.
    let ops = stack.nats_client().await?;
    let js = async_nats::jetstream::new(ops);
    let (client, mut events) = connect(&stack.nats.url, &creds, &inbox).await?;
    let mut live = client.subscribe(v1::lead_created(a.group)).await?;
    // The server holds the subscription once it answered a request sent after it (the
    // integrator may ask only about its consumer).
    async_nats::jetstream::new(client.clone())
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            &durable, "LEADS",
        )
        .await?;
    let first = publish_lead(&js, &a).await?;
    publish_lead(&js, &b).await?; // B's: never seen here
    let got = tokio::time::timeout(Duration::from_secs(15), live.next())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no live lead within 15 s; events: {:?}",
                drained(&mut events)
            )
        })?
        .ok_or_else(|| anyhow::anyhow!("the subscription ended"))?;
    assert_eq!(lead_id(&got.payload), Some(first.to_string()));
    // Its use is seen.
    eventually(Duration::from_secs(5), "last use", || async {
        let (_, list) = admin.get("/api/v1/integrations").await?;
        Ok(list[0]["last_used_at"].is_string().then_some(()))
    })
    .await?;

    // Everything else is refused by NATS.
    for subject in [
        v1::lead_created(b.group),
        v1::message_created(a.group),
        ">".to_string(),
    ] {
        let _sub = client.subscribe(subject.clone()).await?;
        client.flush().await?;
        let v = violation(&mut events).await;
        assert!(v.is_some(), "subscribing to {subject} was allowed");
    }
    for subject in [
        v1::lead_created(a.group),
        v1::lead_command(a.group, showroom_proto::lead::LeadCommand::Create),
    ] {
        client.publish(subject.clone(), "{}".into()).await?;
        client.flush().await?;
        let v = violation(&mut events).await;
        assert!(v.is_some(), "publishing to {subject} was allowed");
    }

    // Away: the leads published meanwhile wait in its durable consumer.
    drop(live);
    client.drain().await?;
    let second = publish_lead(&js, &a).await?;
    let third = publish_lead(&js, &a).await?;
    let (client, mut events) = connect(&stack.nats.url, &creds, &inbox).await?;
    let ijs = async_nats::jetstream::new(client.clone());
    let consumer: async_nats::jetstream::consumer::PullConsumer =
        ijs.get_consumer_from_stream(&durable, "LEADS").await?;
    let mut batch = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(2))
        .messages()
        .await?;
    let mut replayed = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
        replayed.extend(lead_id(&m.payload));
        m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    assert_eq!(
        replayed,
        [first, second, third].map(|l| l.to_string()),
        "every lead of A since it was issued, in order, none of B's"
    );

    // Revoked: the connection is closed, the credential refused, the consumer gone.
    let (st, revoked) = admin
        .call(Method::DELETE, &format!("/api/v1/integrations/{id}"), None)
        .await?;
    assert_eq!(st, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(revoked["revoked_by"]["name"], "boss Added");
    assert!(
        closed_within(&mut events, Duration::from_secs(5)).await,
        "the revoked credential stayed connected"
    );
    assert!(
        connect(&stack.nats.url, &creds, &inbox).await.is_err(),
        "a revoked credential connected again"
    );
    let gone = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            &durable, "LEADS",
        )
        .await;
    assert!(gone.is_err(), "the consumer outlived its credential");
    // Revoking again answers the same.
    let (st, again) = admin
        .call(Method::DELETE, &format!("/api/v1/integrations/{id}"), None)
        .await?;
    assert_eq!(
        (st.as_u16(), &again["revoked_at"]),
        (200, &revoked["revoked_at"])
    );
    // The services were never refused anything.
    stack.stop().await
}

/// The example in `docs/examples/leads_consumer.py` (what `docs/leads.md` shows) works as
/// written: with a credential issued over REST and nothing else, it reads the group's leads
/// from its durable consumer with nats.py.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_documented_python_consumer_reads_the_leads() -> anyhow::Result<()> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("SHOWROOM_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-py/bin/python"));
    anyhow::ensure!(
        python.exists(),
        "the example needs nats-py in .venv-py: run deploy/install.sh"
    );
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "PyInteg", 1).await?;
    let (_, admin_a) = a.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let http = Http::new(&stack.base_url);
    let admin = http.with_token(&http.login(&admin_a, PASSWORD).await?);
    let (st, issued) = admin
        .post("/api/v1/integrations", r#"{"name":"Python CRM"}"#)
        .await?;
    assert_eq!(st, 201, "{issued}");
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("python-crm.creds");
    std::fs::write(&creds, issued["creds"].as_str().unwrap_or_default())?;

    let js = async_nats::jetstream::new(stack.nats_client().await?);
    let leads = [publish_lead(&js, &a).await?, publish_lead(&js, &a).await?];
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(root.join("docs/examples/leads_consumer.py"))
            .args(["--server", &stack.nats.url, "--count", "2", "--creds"])
            .arg(&creds)
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    for (line, lead) in lines.iter().zip(leads) {
        assert!(
            line.starts_with("showroom.lead.created ") && line.contains(&lead.to_string()),
            "{line}"
        );
        assert!(line.ends_with("Maria Lopez"), "{line}");
    }
    stack.stop().await
}
