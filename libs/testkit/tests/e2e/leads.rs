//! Leads through the real services: a missed chat with the Lead Gate's data and a message left
//! each make one lead, published once as a CloudEvent an integrator reads from NATS; contacts
//! are matched by e-mail and by phone; the dedupe window merges; agents create and classify
//! leads over REST with a history of who changed what.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use showroom_proto::bot::BotSettings;
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant};

/// Every lead event of the group, as an integrator subscribes.
async fn integrator(
    stack: &Stack,
    group: uuid::Uuid,
) -> anyhow::Result<(async_nats::Client, async_nats::Subscriber)> {
    let nats = stack.nats_client().await?;
    let sub =
        showroom_testkit::watch::subscribed(&nats, format!("showroom.v1.{group}.lead.*")).await?;
    Ok((nats, sub))
}

async fn next_event(sub: &mut async_nats::Subscriber) -> anyhow::Result<Value> {
    let msg = tokio::time::timeout(Duration::from_secs(15), sub.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("subscription ended"))?;
    Ok(serde_json::from_slice(&msg.payload)?)
}

async fn quiet(sub: &mut async_nats::Subscriber, wait: Duration) -> anyhow::Result<()> {
    if let Ok(Some(m)) = tokio::time::timeout(wait, sub.next()).await {
        anyhow::bail!("unexpected event: {}", String::from_utf8_lossy(&m.payload));
    }
    Ok(())
}

/// The bot's next live message's text.
pub(crate) async fn bot_says(w: &mut Socket) -> anyhow::Result<String> {
    let m = w
        .recv_matching("message", |f| f["message"]["author"]["kind"] == "bot")
        .await?;
    Ok(m["message"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// What the bot says after a `start`, in order: first what the `started` answer carries, then
/// its live messages. The bot may greet (and ask its first question) before the widget's
/// `start` reads the chat back; those messages ride the answer and come no more live.
pub(crate) struct Bot(std::collections::VecDeque<String>);

impl Bot {
    pub(crate) fn after(started: &Value) -> Self {
        let early = started["messages"].as_array().into_iter().flatten();
        Self(
            early
                .filter(|m| m["author"]["kind"] == "bot")
                .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                .collect(),
        )
    }

    pub(crate) async fn says(&mut self, w: &mut Socket) -> anyhow::Result<String> {
        match self.0.pop_front() {
            Some(text) => Ok(text),
            None => bot_says(w).await,
        }
    }
}

async fn say(w: &mut Socket, text: &str) -> anyhow::Result<()> {
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": uuid::Uuid::new_v4().to_string(), "text": text}))
        .await?;
    anyhow::ensure!(ack["type"] == "ack", "{ack}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missed_chat_and_a_message_left_make_one_lead_each_then_merge() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Leads", 1).await?;
    showroom_bot::settings::store(&stack.pool, t.group, t.website, &BotSettings::default()).await?;
    let (mid, manager_email) = t.add_agent(&stack.pool, "manager", "manager", &[]).await?;
    let manager = Http::new(&stack.base_url).with_token(
        &Http::new(&stack.base_url)
            .login(&manager_email, PASSWORD)
            .await?,
    );
    let (s, v) = manager
        .put(
            &format!("/api/v1/departments/{}/routing", t.sales),
            &json!({"incoming_timeout_secs": 1}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let (_nats, mut sub) = integrator(&stack, t.group).await?;
    let _agent = stack.agent(&t.agents[0].1, "available").await?;

    // A shopper goes through the gate with a phone; nobody answers: missed.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "vehicle": {"make": "Honda", "model": "Pilot", "year": 2024}}))
        .await?;
    let conversation = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut bot = Bot::after(&started);
    bot.says(&mut w).await?;
    bot.says(&mut w).await?;
    say(&mut w, "Maria").await?;
    bot_says(&mut w).await?;
    say(&mut w, "Lopez").await?;
    bot_says(&mut w).await?;
    say(&mut w, "(312) 555-2368").await?;
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;

    let ev = next_event(&mut sub).await?;
    assert_eq!(ev["specversion"], "1.0");
    assert_eq!(ev["type"], "showroom.lead.created");
    assert_eq!(ev["datacontenttype"], "application/json");
    assert_eq!(
        ev["source"],
        format!("/showroom/groups/{}/rooftops/{}", t.group, t.rooftop)
    );
    let lead = &ev["data"];
    assert_eq!(ev["subject"], lead["id"]);
    assert_eq!(lead["origin"], "missed_chat");
    assert_eq!(lead["contact"]["phone"], "+13125552368");
    assert_eq!(lead["contact"]["first_name"], "Maria");
    assert!(lead["contact"]["consent"]["text"].is_string());
    assert_eq!(lead["vehicle"]["model"], "Pilot");
    assert_eq!(lead["department"]["label"], "Sales");
    assert_eq!(lead["conversation_id"], conversation.as_str());
    assert_eq!(
        lead["transcript_url"],
        format!("http://127.0.0.1/console#conversation={conversation}")
    );
    let lead_id = lead["id"].as_str().unwrap_or_default().to_string();
    quiet(&mut sub, Duration::from_millis(500)).await?;

    // The chat shows it ("results created").
    let agent_http = Http::new(&stack.base_url).with_token(
        &Http::new(&stack.base_url)
            .login(&t.agents[0].1, PASSWORD)
            .await?,
    );
    let (s, list) = agent_http
        .get(&format!("/api/v1/conversations/{conversation}/leads"))
        .await?;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    // The same person leaves a message (matched by phone: a new e-mail is added to the
    // contact) within the window: the lead is updated, not doubled.
    let mut w2 = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w2.ask(json!({"type": "hello", "v": 1})).await?;
    let left = w2
        .ask(json!({"type": "leave_message", "form_id": "l1", "first_name": "Maria", "last_name": "Lopez",
            "email": "maria@example.com", "phone": "312 555 2368", "message": "Call me after 5"}))
        .await?;
    assert_eq!(left["type"], "message_left", "{left}");
    let up = next_event(&mut sub).await?;
    assert_eq!(up["type"], "showroom.lead.updated");
    assert_eq!(up["data"]["id"], lead_id.as_str());
    assert_eq!(up["data"]["message"], "Call me after 5");
    assert_eq!(up["data"]["contact"]["email"], "maria@example.com");
    assert_eq!(up["data"]["sources"].as_array().map(Vec::len), Some(2));
    assert_ne!(up["id"], ev["id"], "every event its own id");

    // A message from someone else matched by e-mail (any case) at another time makes a new
    // lead once the window is over.
    showroom_store::sqlx::query(
        "INSERT INTO lead_settings (website_id, group_id, dedupe_hours) VALUES ($1, $2, 0)",
    )
    .bind(t.website)
    .bind(t.group)
    .execute(&stack.pool)
    .await?;
    let again = w2
        .ask(json!({"type": "leave_message", "form_id": "l2", "first_name": "Maria", "last_name": "Lopez",
            "email": "MARIA@example.com", "message": "Still interested"}))
        .await?;
    assert_eq!(again["type"], "message_left", "{again}");
    let fresh = next_event(&mut sub).await?;
    assert_eq!(fresh["type"], "showroom.lead.created");
    assert_ne!(fresh["data"]["id"], lead_id.as_str());
    assert_eq!(
        fresh["data"]["contact"]["id"], up["data"]["contact"]["id"],
        "the same contact, matched by e-mail"
    );
    let (contacts,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM contacts WHERE group_id = $1")
            .bind(t.group)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(contacts, 1);

    // A redelivered message_left event changes nothing.
    let (left_event,): (Value,) = showroom_store::sqlx::query_as(
        "SELECT event FROM left_messages WHERE idempotency_key LIKE '%:l2'",
    )
    .fetch_one(&stack.pool)
    .await?;
    let js = async_nats::jetstream::new(stack.nats_client().await?);
    let env = json!({"id": uuid::Uuid::now_v7(), "tenant": t.group, "time": chrono::Utc::now(), "data": left_event});
    js.publish(
        showroom_proto::v1::message_left(t.group),
        serde_json::to_vec(&env)?.into(),
    )
    .await?
    .await?;
    quiet(&mut sub, Duration::from_millis(1500)).await?;

    // Classification, with its history.
    let (s, v) = agent_http
        .put(
            &format!("/api/v1/leads/{lead_id}/classification"),
            &json!({"qualified": true, "tags": ["trade-in"], "value_cents": 3_250_000, "notes": "Wants a Pilot"}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let classified = next_event(&mut sub).await?;
    assert_eq!(classified["type"], "showroom.lead.updated");
    assert_eq!(
        classified["data"]["classification"]["tags"],
        json!(["trade-in"])
    );
    let (s, v) = agent_http
        .put(
            &format!("/api/v1/leads/{lead_id}/classification"),
            &json!({"tags": ["x".repeat(41)]}).to_string(),
        )
        .await?;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["fields"]["tags"].is_string());
    let (s, h) = manager.get(&format!("/api/v1/leads/{lead_id}")).await?;
    assert_eq!(s, 200, "{h}");
    let whats: Vec<&str> = h["history"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["what"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(whats, ["created", "merged", "classified"]);
    assert_eq!(h["history"][2]["agent"]["name"], "Agent0 Leads");
    assert_eq!(h["history"][2]["after"]["value_cents"], 3_250_000);

    // An agent makes a lead from a chat by hand (a closed one), with a phone only; the
    // manager's view lists the group's leads; another group sees none of them.
    let (s, made) = agent_http
        .post(
            &format!("/api/v1/conversations/{conversation}/leads"),
            &json!({"phone": "+13125550000", "first_name": "Marie"}).to_string(),
        )
        .await?;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["origin"], "agent");
    let (s, bad) = agent_http
        .post(
            &format!("/api/v1/conversations/{conversation}/leads"),
            &json!({"phone": "555"}).to_string(),
        )
        .await?;
    assert_eq!(s, 400, "{bad}");
    assert!(bad["error"]["fields"]["phone"].is_string());
    let (_, all) = manager.get("/api/v1/leads").await?;
    assert_eq!(all.as_array().map(Vec::len), Some(3), "{all}");
    let other = Tenant::seed(&stack.pool, "Others", 1).await?;
    let stranger = Http::new(&stack.base_url).with_token(
        &Http::new(&stack.base_url)
            .login(&other.agents[0].1, PASSWORD)
            .await?,
    );
    let (s, _) = stranger.get(&format!("/api/v1/leads/{lead_id}")).await?;
    assert_eq!(s, 404);
    let (_, none) = stranger.get("/api/v1/leads").await?;
    assert_eq!(none, json!([]));
    let _ = mid;
    stack.stop().await
}
