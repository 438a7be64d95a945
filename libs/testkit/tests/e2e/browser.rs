//! A person can chat from `/demo` to `/console`, and watch the Live Agent Status board, in a real Chromium (driven by playwright-core,
//! see `services/gateway/tests/browser/`), against the real services; and both pages run under
//! their Content-Security-Policy without a single violation (`csp.test.mjs`).

use std::time::Duration;

use serde_json::json;
use showroom_rest::limits::LimitsConfig;
use showroom_store::sqlx;
use showroom_testkit::{Service, Stack, Tenant, Tuning, accepted_chat, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_work_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    showroom_rest::demo::seed(&stack.pool, &[stack.origin()]).await?;
    // `node --test` runs the files of one call in name order; the admin pages' test changes the
    // demo group (a department, an agent, a website), so it runs last, in a call of its own,
    // with the check that the console and the demo page raise no CSP violation (it logs in as
    // the manager the admin test uses, and needs no agent to take its chat).
    let batches: [&[&str]; 2] = [
        &[
            "chat",
            "board",
            "internal",
            "gate",
            "forms",
            "leads",
            "offline",
            "transfer",
            "gap",
            "files",
            "appointments",
        ],
        &["admin", "csp"],
    ];
    for batch in batches {
        let maildev = [("SHOWROOM_MAILDEV_URL", stack.smtp.web_url.clone())];
        showroom_testkit::run_browser_tests(&stack.base_url, batch, &maildev).await?;
    }
    stack.stop().await
}

/// A shopper's start while the router is away is tried again by the widget until the chat starts
/// (`busy.test.mjs`): the router is stopped, the page picks Sales, and once the widget shows its
/// busy notice (the page writes the signal file) the router starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_refused_while_the_router_is_away_is_tried_again() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    showroom_rest::demo::seed(&stack.pool, &[stack.origin()]).await?;
    stack.stop_service(Service::Router).await?;
    let dir = tempfile::tempdir()?;
    let signal = dir.path().join("refused");
    let (base, env) = (
        stack.base_url.clone(),
        [("SHOWROOM_SIGNAL_FILE", signal.display().to_string())],
    );
    let run =
        tokio::spawn(
            async move { showroom_testkit::run_browser_tests(&base, &["busy"], &env).await },
        );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !signal.exists() && !run.is_finished() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.start_service(Service::Router).await?;
    run.await??;
    stack.stop().await
}

/// A shopper turned away at a busy peak (`turned-away.test.mjs`): the gateway's admission bound
/// is 1 ms and a chat of another group keeps writing, so every start is answered busy. After its
/// tries the widget offers the leave-a-message form; the message is stored as left because
/// everyone was busy, with no chat, and becomes a lead. Nothing was started on the website.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shopper_turned_away_busy_leaves_a_message_that_becomes_a_lead() -> anyhow::Result<()> {
    let stack = Stack::start_tuned(Tuning {
        admission_ack_ms: 1,
        limits: LimitsConfig::for_load_tests(),
        ..Tuning::default()
    })
    .await?;
    let group = showroom_rest::demo::seed(&stack.pool, &[stack.origin()])
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo group"))?;
    // A chat under way elsewhere, writing all along: its acks (each well over 1 ms) keep the
    // gateway's messages "slow".
    let t = Tenant::seed(&stack.pool, "Peak", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, _) = stack.shopper(&t, None, 0).await?;
    accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let writing = tokio::spawn(async move {
        for i in 0u64.. {
            let ack = shopper
                .ask(json!({"type": "send", "client_msg_id": format!("m{i}"), "text": "Still there?"}))
                .await?;
            anyhow::ensure!(ack["type"] == "ack", "{ack}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Ok(())
    });
    let run = showroom_testkit::run_browser_tests(&stack.base_url, &["turned-away"], &[]).await;
    writing.abort();
    run?;

    let started: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE group_id = $1")
        .bind(group)
        .fetch_one(&stack.pool)
        .await?;
    assert_eq!(started, 0, "every start was turned away");
    let left: Vec<(String, Option<uuid::Uuid>, String)> = sqlx::query_as(
        "SELECT trigger, conversation_id, email FROM left_messages WHERE group_id = $1",
    )
    .bind(group)
    .fetch_all(&stack.pool)
    .await?;
    assert_eq!(
        left,
        vec![(
            "busy".to_string(),
            None,
            "rosa.peakday@example.com".to_string()
        )]
    );
    eventually(Duration::from_secs(15), "the lead of the message left", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM leads l JOIN contacts c ON c.id = l.contact_id \
             WHERE l.group_id = $1 AND l.origin = 'message_left' AND c.email = 'rosa.peakday@example.com'",
        )
        .bind(group)
        .fetch_one(&stack.pool)
        .await?;
        Ok((n == 1).then_some(()))
    })
    .await?;
    stack.stop().await
}
