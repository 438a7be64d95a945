//! Internal chats between agents, through the console sockets against real servers: who can be
//! brought in (the status rules), messages acknowledged once durable and delivered to every
//! member's consoles once, resends, leaving, resuming after a reconnect, and the tenant wall.

use std::time::Duration;

use serde_json::{Value, json};
use showroom_testkit::{Socket, Stack, Tenant};
use uuid::Uuid;

fn chat_id(frame: &Value) -> String {
    frame["chat"]["id"].as_str().unwrap_or_default().to_string()
}

async fn say(c: &mut Socket, chat: &str, id: &str, text: &str) -> anyhow::Result<Value> {
    c.ask(json!({"type": "internal_send", "chat_id": chat, "client_msg_id": id, "text": text}))
        .await
}

/// The `internal_message` of `chat` with `seq` on this console (each member's consoles, the
/// sender's too, get every message).
async fn heard(c: &mut Socket, chat: &str, seq: i64) -> anyhow::Result<Value> {
    c.recv_matching("internal_message", |f| {
        f["message"]["conversation_id"] == chat && f["message"]["seq"] == seq
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn colleagues_chat_under_the_status_rules() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Internal", 4).await?;
    let ids: Vec<Uuid> = t.agents.iter().map(|a| a.0).collect();
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let mut b = stack.agent(&t.agents[1].1, "away").await?;
    let mut dnd = stack.agent(&t.agents[2].1, "dnd").await?;
    // agents[3] never connects: Offline.

    // Do Not Disturb and Offline colleagues cannot be brought in; nothing reaches them.
    for (who, name) in [(ids[2], "Do Not Disturb"), (ids[3], "Offline")] {
        let refused = a
            .ask(json!({"type": "internal_open", "with": [who]}))
            .await?;
        assert_eq!(refused["type"], "error", "{name}: {refused}");
        assert_eq!(refused["code"], "not_allowed", "{name}: {refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or("")
                .contains("Available or Away"),
            "{refused}"
        );
    }
    dnd.expect_silence("internal", Duration::from_millis(300))
        .await?;

    // Bad input is named.
    let empty = a
        .ask(json!({"type": "internal_open", "with": [ids[0]]}))
        .await?;
    assert_eq!(empty["code"], "bad_frame", "{empty}");
    let stranger = a
        .ask(json!({"type": "internal_open", "with": [Uuid::new_v4()]}))
        .await?;
    assert_eq!(stranger["code"], "not_found", "{stranger}");

    // Away is reachable: B's console learns of the chat.
    let opened = a
        .ask(json!({"type": "internal_open", "with": [ids[1]]}))
        .await?;
    assert_eq!(opened["type"], "internal", "{opened}");
    let chat = chat_id(&opened);
    let created = b
        .recv_matching("internal", |f| f["chat"]["id"] == chat.as_str())
        .await?;
    assert_eq!(created["kind"], "created");
    assert_eq!(created["chat"]["members"].as_array().map(Vec::len), Some(2));
    // Opening it again (from either side) is the same chat.
    let again = b
        .ask(json!({"type": "internal_open", "with": [ids[0]]}))
        .await?;
    assert_eq!(chat_id(&again), chat);

    // Messages: acknowledged with a gapless seq, delivered once to each member's console.
    let ack = say(&mut a, &chat, "m1", "can you take the 3pm test drive?").await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["seq"], 1);
    let got = heard(&mut b, &chat, 1).await?;
    assert_eq!(got["message"]["text"], "can you take the 3pm test drive?");
    assert_eq!(got["message"]["author"]["id"], json!(ids[0]));
    let reply = say(&mut b, &chat, "m1", "<b>sure</b>").await?;
    assert_eq!(reply["seq"], 2, "{reply}");
    assert_eq!(
        heard(&mut a, &chat, 2).await?["message"]["text"],
        "<b>sure</b>"
    );
    heard(&mut b, &chat, 2).await?;
    // A resend is the same message, not a new one.
    let resent = say(&mut a, &chat, "m1", "can you take the 3pm test drive?").await?;
    assert_eq!(
        (resent["seq"].clone(), resent["id"].clone()),
        (ack["seq"].clone(), ack["id"].clone())
    );
    b.expect_silence("internal_message", Duration::from_millis(400))
        .await?;
    let blank = say(&mut a, &chat, "m2", "   ").await?;
    assert_eq!(blank["code"], "bad_frame", "{blank}");

    // Someone not in the chat can neither read nor write it.
    let mut c = stack.agent(&t.agents[4].1, "available").await?; // the Service agent
    let peek = c
        .ask(json!({"type": "internal_history", "chat_id": chat}))
        .await?;
    assert_eq!(peek["code"], "not_found", "{peek}");
    let write = say(&mut c, &chat, "x", "hello?").await?;
    assert_eq!(write["code"], "not_found", "{write}");

    // A third colleague makes it a group chat; they see the history.
    let invited = a
        .ask(json!({"type": "internal_invite", "chat_id": chat, "agent_id": ids[4]}))
        .await?;
    assert_eq!(
        invited["chat"]["members"].as_array().map(Vec::len),
        Some(3),
        "{invited}"
    );
    let joined = c
        .recv_matching("internal", |f| f["kind"] == "joined")
        .await?;
    assert_eq!(joined["agent_id"], json!(ids[4]));
    let history = c
        .ask(json!({"type": "internal_history", "chat_id": chat}))
        .await?;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(texts, ["can you take the 3pm test drive?", "<b>sure</b>"]);
    // Inviting a Do Not Disturb colleague into it is refused too.
    let no = a
        .ask(json!({"type": "internal_invite", "chat_id": chat, "agent_id": ids[2]}))
        .await?;
    assert_eq!(no["code"], "not_allowed", "{no}");

    // B leaves: B's console is told, and nothing new reaches B.
    let left = b
        .ask(json!({"type": "internal_leave", "chat_id": chat}))
        .await?;
    assert_eq!(left["type"], "internal", "{left}");
    a.recv_matching("internal", |f| f["kind"] == "left").await?;
    say(&mut a, &chat, "m3", "thanks").await?;
    assert_eq!(heard(&mut c, &chat, 3).await?["message"]["text"], "thanks");
    b.expect_silence("internal_message", Duration::from_millis(400))
        .await?;
    let gone = say(&mut b, &chat, "m9", "one more thing").await?;
    assert_eq!(gone["code"], "not_found", "{gone}");

    // A reconnecting console gets its chats in `welcome` and resumes after what it has.
    drop(c);
    let token = showroom_testkit::Http::new(&stack.base_url)
        .login(&t.agents[4].1, showroom_testkit::PASSWORD)
        .await?;
    let mut c2 = Socket::console(&stack.ws_url(""), &token).await?;
    let welcome = c2.ask(json!({"type": "hello", "v": 1})).await?;
    let listed = welcome["internal"].as_array().cloned().unwrap_or_default();
    assert!(
        listed
            .iter()
            .any(|x| x["id"] == chat.as_str() && x["last_seq"] == 3),
        "{welcome}"
    );
    let rest = c2
        .ask(json!({"type": "internal_history", "chat_id": chat, "after_seq": 2}))
        .await?;
    assert_eq!(rest["messages"].as_array().map(Vec::len), Some(1), "{rest}");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_dealer_groups_agents_are_out_of_reach() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Wall One", 1).await?;
    let other = Tenant::seed(&stack.pool, "Wall Two", 1).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let mut x = stack.agent(&other.agents[0].1, "available").await?;
    let refused = a
        .ask(json!({"type": "internal_open", "with": [other.agents[0].0]}))
        .await?;
    assert_eq!(refused["code"], "not_found", "{refused}");
    x.expect_silence("internal", Duration::from_millis(300))
        .await?;
    // A group chat with an Offline colleague is refused like a chat of two.
    let own = a
        .ask(json!({"type": "internal_open", "with": [t.agents[1].0], "topic": "x"}))
        .await?;
    assert_eq!(own["code"], "not_allowed", "{own}");
    let mut b = stack.agent(&t.agents[1].1, "available").await?;
    let ours = a
        .ask(json!({"type": "internal_open", "with": [t.agents[1].0], "topic": "Trade-ins today"}))
        .await?;
    let chat = chat_id(&ours);
    assert_eq!(ours["chat"]["topic"], "Trade-ins today");
    b.recv_matching("internal", |f| f["chat"]["id"] == chat.as_str())
        .await?;
    // The other group's agent cannot read, write or join it, even knowing its id.
    let write = x
        .ask(json!({"type": "internal_send", "chat_id": chat, "client_msg_id": "x", "text": "hi"}))
        .await?;
    assert_eq!(write["code"], "not_found", "{write}");
    let peek = x
        .ask(json!({"type": "internal_history", "chat_id": chat}))
        .await?;
    assert_eq!(peek["code"], "not_found", "{peek}");
    let join = x
        .ask(json!({"type": "internal_invite", "chat_id": chat, "agent_id": other.agents[0].0}))
        .await?;
    assert_eq!(join["code"], "not_found", "{join}");
    stack.stop().await
}
