//! Monitoring and whispers (`services/gateway/src/whisper.rs`): a manager watches a live chat,
//! the agent sees who watches, a whisper reaches the agent's console and never the shopper's
//! socket, the shopper's transcript e-mail or the ADF, and the manager takes the chat over.

use std::time::Duration;

use serde_json::{Value, json};
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant, accepted_chat, eventually};
use uuid::Uuid;

use crate::crm::{Crm, gate_and_miss_after};

const WHISPER: &str = "Offer the loyalty rebate, 1,000 off";

/// Every frame the socket gets within `wait`.
async fn frames_within(sock: &mut Socket, wait: Duration) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let until = tokio::time::Instant::now() + wait;
    while let Some(f) = sock
        .next_within(until.saturating_duration_since(tokio::time::Instant::now()))
        .await?
    {
        all.push(f);
    }
    Ok(all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whisper_reaches_the_agent_and_never_the_shopper() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Whisper", 2).await?;
    let (manager_id, manager_email) = t.agents[1].clone();
    t.set_role(&stack.pool, manager_id, "manager").await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let mut manager = stack.agent(&manager_email, "away").await?;
    let (mut shopper, _) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "s1", "text": "What is my best price?"}))
        .await?;
    agent
        .recv_matching("message", |m| m["message"]["seq"] == ack["seq"])
        .await?;

    // The manager opens the chat: the agent sees who is watching.
    let history = manager
        .ask(json!({"type": "open", "conversation_id": conv, "ref": "o"}))
        .await?;
    assert_eq!(history["type"], "history", "{history}");
    let w = agent.recv_type("watching").await?;
    assert_eq!(
        (w["agent_id"].as_str(), w["watching"].as_bool()),
        (Some(manager_id.to_string().as_str()), Some(true)),
        "{w}"
    );
    assert_eq!(w["name"], "Agent1 Whisper", "{w}");

    // An agent may not whisper; the manager may.
    let refused = agent
        .ask(json!({"type": "whisper", "conversation_id": conv, "client_msg_id": "x", "text": "hi", "ref": "w0"}))
        .await?;
    assert_eq!(refused["code"], "not_allowed", "{refused}");
    let sent = manager
        .ask(json!({"type": "whisper", "conversation_id": conv, "client_msg_id": "w1", "text": WHISPER, "ref": "w1"}))
        .await?;
    assert_eq!(sent["type"], "whisper", "{sent}");
    assert_eq!(sent["whisper"]["text"], WHISPER);
    let got = agent.recv_type("whisper").await?;
    assert_eq!(got["whisper"]["id"], sent["whisper"]["id"], "{got}");
    assert_eq!(got["whisper"]["author"]["name"], "Agent1 Whisper");
    // A resend is the same whisper, not a second one.
    let again = manager
        .ask(json!({"type": "whisper", "conversation_id": conv, "client_msg_id": "w1", "text": WHISPER, "ref": "w2"}))
        .await?;
    assert_eq!(again["whisper"]["id"], sent["whisper"]["id"]);

    // The shopper's socket never gets it, in any frame.
    let after = agent
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1", "text": "Let me check."}))
        .await?;
    let frames = frames_within(&mut shopper, Duration::from_millis(1500)).await?;
    assert!(
        frames.iter().any(|f| f["message"]["seq"] == after["seq"]),
        "the shopper still gets the agent's messages: {frames:?}"
    );
    for f in &frames {
        assert!(!f.to_string().contains("loyalty rebate"), "{f}");
        assert_ne!(f["type"], "whisper", "{f}");
    }
    // Nor the shopper's transcript e-mail.
    let mailed = shopper
        .ask(json!({"type": "email_transcript", "email": "shopper@whisper.example"}))
        .await?;
    assert_eq!(mailed["type"], "transcript_sent", "{mailed}");
    let text = eventually(Duration::from_secs(15), "the transcript e-mail", || async {
        let all = stack.smtp.messages().await?;
        Ok(all
            .into_iter()
            .find(|m| m["to"][0]["address"] == "shopper@whisper.example")
            .map(|m| m["text"].as_str().unwrap_or_default().to_string()))
    })
    .await?;
    assert!(text.contains("What is my best price?"), "{text}");
    assert!(!text.contains("loyalty rebate"), "{text}");

    // The chat's history keeps it, for consoles.
    let history = agent
        .ask(json!({"type": "open", "conversation_id": conv, "ref": "h"}))
        .await?;
    assert_eq!(history["whispers"][0]["text"], WHISPER, "{history}");
    // And over REST, for agents of the group.
    let anon = Http::new(&stack.base_url);
    let http = anon.with_token(&anon.login(&t.agents[0].1, PASSWORD).await?);
    let (status, detail) = http.get(&format!("/api/v1/conversations/{conv}")).await?;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["whispers"][0]["text"], WHISPER, "{detail}");
    assert!(
        !detail["messages"].to_string().contains("loyalty rebate"),
        "{detail}"
    );

    // The manager closes the console: the agent is told. From another console the manager
    // takes the chat over (a reassignment).
    manager.close().await;
    let w = agent
        .recv_matching("watching", |f| f["watching"] == false)
        .await?;
    assert_eq!(w["agent_id"], manager_id.to_string());
    let mut manager = stack.agent(&manager_email, "away").await?;
    let taken = manager
        .ask(json!({"type": "reassign", "conversation_id": conv, "agent_id": manager_id, "ref": "r"}))
        .await?;
    assert_eq!(
        taken["conversation"]["agent"]["id"],
        manager_id.to_string(),
        "{taken}"
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whisper_in_a_missed_chat_is_not_in_its_adf() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Whisper Adf", 2).await?;
    let (manager_id, manager_email) = t.agents[1].clone();
    t.set_role(&stack.pool, manager_id, "manager").await?;
    gate_and_miss_after(&stack, &t, 4).await?;
    Crm::new(&stack, t.group)
        .await?
        .put_destination(
            Uuid::now_v7(),
            json!({"rooftop_id": t.rooftop, "name": "ADF", "target": {"kind": "adf_email", "to": "leads@whisper-adf.example"}}),
        )
        .await?;
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let mut manager = stack.agent(&manager_email, "away").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let conv = started["conversation"]["id"].clone();
    for answer in ["Maria", "Lopez", "maria@whisper-adf.example"] {
        w.recv_matching("message", |f| f["message"]["author"]["kind"] == "bot")
            .await?;
        w.ask(json!({"type": "send", "client_msg_id": Uuid::new_v4().to_string(), "text": answer}))
            .await?;
    }
    // While it waits for an agent, the manager whispers; then nobody answers it.
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "incoming")
        .await?;
    let sent = manager
        .ask(json!({"type": "whisper", "conversation_id": conv, "client_msg_id": "w1", "text": WHISPER, "ref": "w"}))
        .await?;
    assert_eq!(sent["type"], "whisper", "{sent}");
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;
    let adf = eventually(Duration::from_secs(20), "the ADF e-mail", || async {
        let all = stack.smtp.messages().await?;
        Ok(all
            .into_iter()
            .find(|m| m["to"][0]["address"] == "leads@whisper-adf.example")
            .map(|m| m["text"].as_str().unwrap_or_default().to_string()))
    })
    .await?;
    assert!(adf.contains("maria@whisper-adf.example"), "{adf}");
    assert!(!adf.contains("loyalty rebate"), "{adf}");
    stack.stop().await
}
