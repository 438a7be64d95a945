//! Admission of new chats by the message path's own delay (`services/gateway/src/admission.rs`):
//! while a gateway's messages are slow to store, a shopper's `start` on it is answered
//! `unavailable` ("busy"), nothing starts, and the chats under way go on; once its messages
//! are stored in time again, the same start goes through.

use std::time::Duration;

use serde_json::json;
use showroom_store::sqlx;
use showroom_testkit::{Socket, Stack, Tenant, accepted_chat, metric_sum};

use crate::service_binary;

/// A widget on `ws` that said `hello`.
async fn widget(ws: &str, t: &Tenant) -> anyhow::Result<Socket> {
    let mut w = Socket::widget(ws, &t.key, &t.origin).await?;
    let welcome = w.ask(json!({"type": "hello", "v": 1})).await?;
    anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
    Ok(w)
}

async fn conversations(stack: &Stack) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM conversations")
        .fetch_one(&stack.pool)
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starts_wait_while_messages_are_slow_to_store_and_chats_under_way_go_on()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Admission", 1).await?;
    // A gateway process with the bound an operator sets, and a metrics page of its own.
    let gateway = stack
        .gateway_process_with(
            service_binary(),
            &["gateway"],
            &[("SHOWROOM_ADMISSION_ACK_MS".into(), "100".into())],
        )
        .await?;
    let ws = gateway.ws_url("");
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let mut shopper = widget(&ws, &t).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;

    // Nine more shoppers waiting for an agent.
    let mut waiting = Vec::new();
    for _ in 0..9 {
        let mut w = widget(&ws, &t).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales}))
            .await?;
        assert_eq!(started["type"], "started", "{started}");
        waiting.push(w);
    }

    // The transcript's table held against writes while each of the ten sends two messages: a
    // socket's messages are handled in turn, so at least the first of each is stored and
    // acknowledged 400 ms later, past the 100 ms bound (10 or more slow of 20).
    let mut hold = stack.pool.begin().await?;
    sqlx::query("LOCK TABLE messages IN EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await?;
    for (n, w) in std::iter::once(&mut shopper)
        .chain(waiting.iter_mut())
        .enumerate()
    {
        for i in 0..2 {
            w.send(
                json!({"type": "send", "client_msg_id": format!("slow-{n}-{i}"),
                          "text": "Are you still there?", "ref": format!("s{i}")}),
            )
            .await?;
        }
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    hold.commit().await?;
    for w in std::iter::once(&mut shopper).chain(waiting.iter_mut()) {
        for _ in 0..2 {
            w.recv_type("ack").await?;
        }
    }

    // A new shopper's start now waits at the door: `unavailable`, "busy", nothing started.
    let mut next = widget(&ws, &t).await?;
    let start = json!({"type": "start", "department_id": t.sales});
    let refused = next.ask(start.clone()).await?;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("busy")),
        "{refused}"
    );
    assert_eq!(conversations(&stack).await?, 10, "only the chats under way");
    let page = reqwest::get(format!("{}/metrics", gateway.admin_url))
        .await?
        .text()
        .await?;
    assert_eq!(metric_sum(&page, "showroom_starts_shed_total", ""), 1.0);

    // The chat under way goes on: its next message is stored and reaches the agent.
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "after", "text": "Thanks for waiting"}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    agent
        .recv_matching("message", |m| m["message"]["client_msg_id"] == "after")
        .await?;

    // Once the slow messages are out of the window, the same start goes through.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let started = next.ask(start).await?;
    assert_eq!(started["type"], "started", "{started}");
    assert_ne!(started["conversation"]["id"], conv.as_str());
    assert_eq!(conversations(&stack).await?, 11);
    stack.stop().await
}
