//! One chat end to end through the gateway, with real NATS, Redis and Postgres and all seven
//! services: offers, the race to accept, messages both ways, typing, ending, durability,
//! retries, a router restart and a shopper reload.

use std::time::Duration;

use serde_json::json;
use showroom_testkit::{Http, PASSWORD, Service, Stack, Tenant};
use uuid::Uuid;

async fn transcript(
    stack: &Stack,
    conversation: &str,
) -> anyhow::Result<Vec<(i64, String, String)>> {
    let id: Uuid = conversation.parse()?;
    sqlx_rows(stack, id).await
}

async fn sqlx_rows(stack: &Stack, id: Uuid) -> anyhow::Result<Vec<(i64, String, String)>> {
    use showroom_store::sqlx;
    Ok(sqlx::query_as(
        "SELECT seq, author_kind, body FROM messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&stack.pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_chat_from_widget_to_console_and_back() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Alpha", 2).await?;
    let mut sales0 = stack.agent(&t.agents[0].1, "available").await?;
    let mut sales1 = stack.agent(&t.agents[1].1, "available").await?;
    let mut service = stack.agent(&t.agents[2].1, "available").await?;

    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    assert!(welcome["conversation"].is_null());
    assert_eq!(
        welcome["departments"].as_array().map(Vec::len),
        Some(2),
        "{welcome}"
    );
    assert!(
        welcome["visitor_token"]
            .as_str()
            .is_some_and(|s| s.starts_with("v1."))
    );

    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Maria"}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    assert_eq!(started["conversation"]["state"], "incoming");
    let conv = started["conversation"]["id"].as_str().unwrap().to_string();

    // Offered to both Available Sales agents, not to Service.
    for c in [&mut sales0, &mut sales1] {
        let offer = c.recv_type("offer").await?;
        assert_eq!(offer["conversation"]["id"], conv.as_str());
        assert_eq!(offer["conversation"]["shopper"]["name"], "Maria");
    }
    service
        .expect_silence("offer", Duration::from_millis(500))
        .await?;

    // The first to respond takes it; it leaves the other's Incoming.
    let accepted = sales0
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    assert_eq!(
        accepted["conversation"]["agent"]["id"],
        t.agents[0].0.to_string()
    );
    let withdrawn = sales1.recv_type("offer_withdrawn").await?;
    assert_eq!(withdrawn["conversation_id"], conv.as_str());
    assert_eq!(withdrawn["reason"], "taken");
    let joined = w.recv_type("conversation").await?;
    assert_eq!(joined["conversation"]["state"], "active");
    assert_eq!(joined["conversation"]["agent"]["name"], "Agent0 Alpha");

    // Messages both ways, acknowledged with gapless seqs.
    let ack = w
        .ask(
            json!({"type": "send", "client_msg_id": "m-1", "text": "Is the RAV4 still available?"}),
        )
        .await?;
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_i64()),
        (Some("ack"), Some(1)),
        "{ack}"
    );
    let got = sales0.recv_type("message").await?;
    assert_eq!(got["message"]["text"], "Is the RAV4 still available?");
    assert_eq!(got["message"]["author"]["kind"], "shopper");

    sales0
        .send(json!({"type": "typing", "conversation_id": conv, "typing": true}))
        .await?;
    let typing = w.recv_type("typing").await?;
    assert_eq!(
        (
            typing["typing"].as_bool(),
            typing["author"]["kind"].as_str()
        ),
        (Some(true), Some("agent"))
    );
    w.send(json!({"type": "typing", "typing": true})).await?;
    let typing = sales0.recv_type("typing").await?;
    assert_eq!(typing["author"]["kind"], "shopper");

    let ack = sales0.ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a-1", "text": "Yes! Want to come see it?"})).await?;
    assert_eq!(ack["seq"], 2, "{ack}");
    // The shopper's socket also gets its own message (for its other tabs): skip to the reply.
    let got = w
        .recv_matching("message", |m| m["message"]["author"]["kind"] == "agent")
        .await?;
    assert_eq!(
        (
            got["message"]["seq"].as_i64(),
            got["message"]["author"]["name"].as_str()
        ),
        (Some(2), Some("Agent0 Alpha"))
    );

    // An agent who does not have the chat cannot write in it.
    let refused = sales1
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "x", "text": "hi"}))
        .await?;
    assert_eq!(refused["code"], "not_allowed", "{refused}");

    // The shopper ends it; both sides see it ended; nothing more can be written.
    let ended = w.ask(json!({"type": "end"})).await?;
    assert_eq!(
        (
            ended["conversation"]["state"].as_str(),
            ended["conversation"]["ended_by"].as_str()
        ),
        (Some("ended"), Some("shopper"))
    );
    sales0
        .recv_matching("conversation", |c| c["conversation"]["state"] == "ended")
        .await?;
    let late = sales0.ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a-2", "text": "still there?"})).await?;
    assert_eq!(late["code"], "conversation_closed", "{late}");

    // The whole transcript is in Postgres, in order, and readable through the API.
    let rows = transcript(&stack, &conv).await?;
    assert_eq!(
        rows,
        vec![
            (1, "shopper".into(), "Is the RAV4 still available?".into()),
            (2, "agent".into(), "Yes! Want to come see it?".into())
        ]
    );
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let (status, detail) = Http::new(&stack.base_url)
        .with_token(&token)
        .get(&format!("/api/v1/conversations/{conv}"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(detail["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(detail["conversation"]["state"], "ended");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_agents_accepting_at_once_exactly_one_gets_it() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Race", 2).await?;
    for round in 0..5 {
        let mut a = stack.agent(&t.agents[0].1, "available").await?;
        let mut b = stack.agent(&t.agents[1].1, "available").await?;
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales}))
            .await?;
        let conv = started["conversation"]["id"].as_str().unwrap().to_string();
        a.recv_type("offer").await?;
        b.recv_type("offer").await?;
        let frame = json!({"type": "accept", "conversation_id": conv});
        let (ra, rb) = tokio::join!(a.ask(frame.clone()), b.ask(frame.clone()));
        let (ra, rb) = (ra?, rb?);
        let mut kinds = vec![
            ra["type"].as_str().unwrap().to_string(),
            rb["type"].as_str().unwrap().to_string(),
        ];
        kinds.sort();
        assert_eq!(kinds, ["accepted", "error"], "round {round}: {ra} {rb}");
        let (winner, loser) = if ra["type"] == "accepted" {
            (&ra, &rb)
        } else {
            (&rb, &ra)
        };
        assert_eq!(loser["code"], "already_taken", "{loser}");
        let assigned: (Option<Uuid>, String) = showroom_store::sqlx::query_as(
            "SELECT agent_id, state FROM conversations WHERE id = $1",
        )
        .bind(conv.parse::<Uuid>()?)
        .fetch_one(&stack.pool)
        .await?;
        assert_eq!(assigned.1, "active");
        assert_eq!(
            assigned.0.map(|u| u.to_string()).as_deref(),
            winner["conversation"]["agent"]["id"].as_str()
        );
        // Later accepts are answered from the chat's state: taken for the other agent, the
        // same chat for its agent (a retry), ended once it ended.
        let a_won = ra["type"] == "accepted";
        let (won, lost) = if a_won {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let late = lost.ask(frame.clone()).await?;
        assert_eq!(late["code"], "already_taken", "{late}");
        let again = won.ask(frame.clone()).await?;
        assert_eq!(again["type"], "accepted", "{again}");
        assert_eq!(again["conversation"]["id"], conv.as_str());
        w.ask(json!({"type": "end"})).await?;
        let ended = lost.ask(frame).await?;
        assert_eq!(ended["code"], "conversation_closed", "{ended}");
    }
    stack.stop().await
}

/// An agent at their maximum of chats cannot take one more, even by sending `accept` for a chat
/// that was offered to a colleague; both of their accepts at once count in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_at_their_maximum_cannot_accept_another_chat() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Capped", 2).await?;
    t.set_max_chats(&stack.pool, t.agents[0].0, 1).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let mut b = stack.agent(&t.agents[1].1, "available").await?;
    let (mut w1, _) = stack.shopper(&t, None, 0).await?;
    showroom_testkit::accepted_chat(&mut w1, &mut a, t.sales).await?;
    b.recv_type("offer").await?;
    // Two more chats: offered to the colleague only; the full agent asks for both at once.
    let mut convs = Vec::new();
    let mut shoppers = Vec::new();
    for _ in 0..2 {
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales}))
            .await?;
        convs.push(started["conversation"]["id"].as_str().unwrap().to_string());
        shoppers.push(w);
    }
    // From two consoles of theirs at once.
    let mut a2 = stack.agent(&t.agents[0].1, "available").await?;
    let (r1, r2) = tokio::join!(
        a.ask(json!({"type": "accept", "conversation_id": convs[0]})),
        a2.ask(json!({"type": "accept", "conversation_id": convs[1]}))
    );
    for r in [r1?, r2?] {
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["code"], "not_allowed", "{r}");
        assert!(
            r["message"].as_str().unwrap_or("").contains("maximum"),
            "{r}"
        );
    }
    let active: i64 = showroom_store::sqlx::query_scalar(
        "SELECT count(*) FROM conversations WHERE agent_id = $1 AND state = 'active'",
    )
    .bind(t.agents[0].0)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(active, 1, "the cap held");
    // The colleague, under their own maximum, takes one.
    let took = b
        .ask(json!({"type": "accept", "conversation_id": convs[0]}))
        .await?;
    assert_eq!(took["type"], "accepted", "{took}");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_send_is_stored_once_and_acknowledged_the_same() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Retry", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    let token = welcome["visitor_token"].as_str().unwrap().to_string();
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let conv = started["conversation"]["id"].as_str().unwrap().to_string();
    agent.recv_type("offer").await?;
    agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;

    let frame = json!({"type": "send", "client_msg_id": "same-id", "text": "hello?"});
    let first = w.ask(frame.clone()).await?;
    let second = w.ask(frame.clone()).await?;
    assert_eq!(first["type"], "ack", "{first}");
    assert_eq!(
        (&first["seq"], &first["id"]),
        (&second["seq"], &second["id"])
    );

    // Concurrent resends from this tab and a second tab of the same visitor: still one message.
    let (mut w2, _) = stack.shopper(&t, Some(&token), 0).await?;
    let (a, b) = tokio::join!(w.ask(frame.clone()), w2.ask(frame.clone()));
    assert_eq!((&a?["id"], &b?["id"]), (&first["id"], &first["id"]));
    let rows = transcript(&stack, &conv).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // The agent saw it once.
    agent.recv_type("message").await?;
    agent
        .expect_silence("message", Duration::from_millis(300))
        .await?;
    // A different id is a different message, with the next seq.
    let next = w
        .ask(json!({"type": "send", "client_msg_id": "other-id", "text": "hello?"}))
        .await?;
    assert_eq!(next["seq"], 2, "{next}");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_restart_mid_chat_loses_nothing() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Restart", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let conv = started["conversation"]["id"].as_str().unwrap().to_string();
    agent.recv_type("offer").await?;
    agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    w.ask(json!({"type": "send", "client_msg_id": "before", "text": "before the restart"}))
        .await?;

    stack.stop_service(Service::Router).await?;
    // The chat goes on while the router is down: messages do not depend on it.
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": "during", "text": "while it is down"}))
        .await?;
    assert_eq!(ack["seq"], 2, "{ack}");
    assert_eq!(agent.recv_type("message").await?["message"]["seq"], 1);
    assert_eq!(agent.recv_type("message").await?["message"]["seq"], 2);
    // A command sent while it is down waits for it to come back (the gateway retries).
    let restart = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stack.start_service(Service::Router).await
    };
    let end_frame = json!({"type": "end", "conversation_id": conv});
    let (ended, restarted) = tokio::join!(agent.ask(end_frame), restart);
    restarted?;
    let ended = ended?;
    assert_eq!(ended["conversation"]["state"], "ended", "{ended}");
    w.recv_matching("conversation", |c| c["conversation"]["state"] == "ended")
        .await?;

    let rows = transcript(&stack, &conv).await?;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
    // And new chats work with the new router.
    let again = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(again["type"], "started", "{again}");
    assert_ne!(
        again["conversation"]["id"],
        conv.as_str(),
        "an ended chat is never reopened"
    );
    agent.recv_type("offer").await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_with_the_visitor_token_resumes_the_conversation() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Reload", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    let token = welcome["visitor_token"].as_str().unwrap().to_string();
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Jo"}))
        .await?;
    let conv = started["conversation"]["id"].as_str().unwrap().to_string();
    agent.recv_type("offer").await?;
    agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    for i in 1..=3 {
        w.ask(json!({"type": "send", "client_msg_id": format!("m{i}"), "text": format!("message {i}")})).await?;
    }
    w.close().await;

    // The page reloads: same token, the client had seen up to seq 1.
    let (mut w, welcome) = stack.shopper(&t, Some(&token), 1).await?;
    assert_eq!(welcome["conversation"]["id"], conv.as_str());
    assert_eq!(welcome["conversation"]["state"], "active");
    let seqs: Vec<i64> = welcome["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3], "exactly what was missed");
    // Then the live stream: the agent's reply arrives once.
    agent.ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1", "text": "welcome back"})).await?;
    let m = w.recv_type("message").await?;
    assert_eq!(
        (m["message"]["seq"].as_i64(), m["message"]["text"].as_str()),
        (Some(4), Some("welcome back"))
    );
    w.expect_silence("message", Duration::from_millis(300))
        .await?;
    // A forged token is a new visitor, who sees nothing of this conversation.
    let forged = token.replace(&token[token.len() - 4..], "AAAA");
    let (_, other) = stack.shopper(&t, Some(&forged), 0).await?;
    assert!(other["conversation"].is_null(), "{other}");
    stack.stop().await
}
