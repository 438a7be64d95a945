//! Read marks (`seen` frames both ways, `services/gateway/src/seen.rs`): stored, shown to the
//! other side, coalesced, never past the transcript, only the chat's agent marks it, and sent
//! again after a reload.

use std::time::Duration;

use serde_json::{Value, json};
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant, accepted_chat};

async fn console(stack: &Stack, email: &str) -> anyhow::Result<Socket> {
    let token = Http::new(&stack.base_url).login(email, PASSWORD).await?;
    let mut s = Socket::console(&stack.ws_url(""), &token).await?;
    s.ask(json!({"type": "hello", "v": 1})).await?;
    Ok(s)
}

/// The next `seen` frame of `side`.
async fn seen_of(sock: &mut Socket, side: &str) -> anyhow::Result<Value> {
    sock.recv_matching("seen", |f| f["side"] == side).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_marks_reach_the_other_side_coalesced_and_after_a_reload() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Seen", 2).await?;
    let mut agent = console(&stack, &t.agents[0].1).await?;
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut colleague = console(&stack, &t.agents[1].1).await?;
    let mut shopper = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    let welcome = shopper.ask(json!({"type": "hello", "v": 1})).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let mut last = 0;
    for i in 0..2 {
        let ack = shopper
            .ask(json!({"type": "send", "client_msg_id": format!("s{i}"), "text": "Hi"}))
            .await?;
        last = ack["seq"].as_i64().unwrap_or_default();
    }
    agent
        .recv_matching("message", |m| m["message"]["seq"] == last)
        .await?;

    // The agent read up to `last`: the shopper is told.
    agent
        .send(json!({"type": "seen", "conversation_id": conv, "seq": last}))
        .await?;
    let f = seen_of(&mut shopper, "agent").await?;
    assert_eq!(
        (f["conversation_id"].as_str(), f["seq"].as_i64()),
        (Some(conv.as_str()), Some(last)),
        "{f}"
    );
    assert!(f["at"].is_string(), "{f}");

    // A shopper claiming more than there is is stored at the last message.
    shopper.send(json!({"type": "seen", "seq": 999})).await?;
    let f = seen_of(&mut agent, "shopper").await?;
    assert_eq!(f["seq"].as_i64(), Some(last), "{f}");

    // Three more from the agent, then three marks 300 ms apart: at most one write a second, so
    // the agent sees at most two of them, the last one the highest.
    for i in 0..3 {
        let ack = agent
            .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("a{i}"), "text": "Sure"}))
            .await?;
        last = ack["seq"].as_i64().unwrap_or_default();
    }
    shopper
        .recv_matching("message", |m| m["message"]["seq"] == last)
        .await?;
    for seq in last - 2..=last {
        shopper.send(json!({"type": "seen", "seq": seq})).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        got.push(
            seen_of(&mut agent, "shopper").await?["seq"]
                .as_i64()
                .unwrap_or_default(),
        );
    }
    assert!(got.len() <= 2, "not coalesced: {got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    agent
        .expect_silence("seen", Duration::from_millis(1500))
        .await?;

    // A colleague who does not have the chat cannot mark it; a bad seq is refused.
    let e = colleague
        .ask(json!({"type": "seen", "conversation_id": conv, "seq": 1, "ref": "c"}))
        .await?;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_allowed")),
        "{e}"
    );
    let e = shopper
        .ask(json!({"type": "seen", "seq": 0, "ref": "z"}))
        .await?;
    assert_eq!(e["code"], "bad_frame", "{e}");

    // A reload gets both marks after its welcome; a console opening the chat before history.
    let mut again = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    again
        .ask(json!({"type": "hello", "v": 1, "visitor_token": welcome["visitor_token"]}))
        .await?;
    assert_eq!(seen_of(&mut again, "agent").await?["seq"].as_i64(), Some(2));
    assert_eq!(
        seen_of(&mut again, "shopper").await?["seq"].as_i64(),
        Some(last)
    );
    let mut other = console(&stack, &t.agents[0].1).await?;
    other
        .ask(json!({"type": "open", "conversation_id": conv, "ref": "o"}))
        .await?;
    assert_eq!(
        seen_of(&mut other, "shopper").await?["seq"].as_i64(),
        Some(last)
    );
    stack.stop().await
}
