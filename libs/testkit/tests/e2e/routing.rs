//! The router's rules, each through the sockets and the REST API against real servers: hours
//! and holidays in two time zones, broadcast and ring, capacity, every time-out, transfers,
//! a manager's reassignment, the website's cap on sessions, a BDC's overflow, and the events.

use std::time::Duration;

use chrono::{Datelike, Timelike, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_testkit::{Http, PASSWORD, Service, Socket, Stack, Tenant};
use uuid::Uuid;

/// A manager of the tenant, logged in over REST.
async fn manager(stack: &Stack, t: &Tenant) -> anyhow::Result<(Uuid, Http)> {
    let (id, email) = t.add_agent(&stack.pool, "manager", "manager", &[]).await?;
    let token = Http::new(&stack.base_url).login(&email, PASSWORD).await?;
    Ok((id, Http::new(&stack.base_url).with_token(&token)))
}

/// Replaces a department's routing settings; answers the view.
async fn routing(http: &Http, department: Uuid, settings: Value) -> anyhow::Result<Value> {
    let (status, body) = http
        .put(
            &format!("/api/v1/departments/{department}/routing"),
            &settings.to_string(),
        )
        .await?;
    anyhow::ensure!(status == 200, "routing settings refused: {status} {body}");
    Ok(body)
}

fn id_of(frame: &Value) -> String {
    frame["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A conversation's state, as stored.
async fn state_of(stack: &Stack, conv: &str) -> anyhow::Result<String> {
    let (state,): (String,) =
        showroom_store::sqlx::query_as("SELECT state FROM conversations WHERE id = $1")
            .bind(conv.parse::<Uuid>()?)
            .fetch_one(&stack.pool)
            .await?;
    Ok(state)
}

async fn start(w: &mut Socket, department: Uuid) -> anyhow::Result<Value> {
    let started = w
        .ask(json!({"type": "start", "department_id": department}))
        .await?;
    anyhow::ensure!(started["type"] == "started", "{started}");
    Ok(started)
}

/// Waits for the shopper's conversation to reach `state`.
async fn until_state(w: &mut Socket, state: &str) -> anyhow::Result<Value> {
    w.recv_matching("conversation", |f| f["conversation"]["state"] == state)
        .await
}

/// Every conversation event of the group from now on (with the client that keeps it open).
async fn events(
    stack: &Stack,
    group: Uuid,
) -> anyhow::Result<(async_nats::Client, async_nats::Subscriber)> {
    let nats = stack.nats_client().await?;
    let sub = nats
        .subscribe(format!("showroom.v1.{group}.conversation.*"))
        .await?;
    Ok((nats, sub))
}

async fn next_event(sub: &mut async_nats::Subscriber, conv: &str) -> anyhow::Result<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("event stream ended"))?;
        let env: Value = serde_json::from_slice(&msg.payload)?;
        if env["data"]["conversation"]["id"] == conv {
            return Ok(env["data"].clone());
        }
    }
}

/// A start sent on the bus as the gateway sends it, and the router's answer.
async fn start_on_bus(
    nats: &async_nats::Client,
    env: &showroom_proto::Envelope<showroom_proto::conversation::StartConversation>,
) -> anyhow::Result<Result<showroom_proto::conversation::Conversation, showroom_proto::CommandError>>
{
    use showroom_proto::conversation::{Conversation, ConversationCommand};
    let msg = nats
        .request(
            showroom_proto::v1::conversation_command(env.tenant, ConversationCommand::Start),
            serde_json::to_vec(env)?.into(),
        )
        .await?;
    let reply: showroom_proto::Reply<Conversation> = serde_json::from_slice(&msg.payload)?;
    Ok(Result::from(reply))
}

/// The conversation events on `sub` ([`events`]), counted by chat and kind: until `kinds`
/// different ones came, then a second more for any second copy (or 10 s without one before).
/// The start commands' subjects match too; they have no kind and are skipped.
async fn count_events(
    sub: &mut async_nats::Subscriber,
    kinds: usize,
) -> anyhow::Result<std::collections::HashMap<(String, String), usize>> {
    let mut seen = std::collections::HashMap::new();
    let mut quiet = Duration::from_secs(10);
    while let Ok(msg) = tokio::time::timeout(quiet, sub.next()).await {
        let msg = msg.ok_or_else(|| anyhow::anyhow!("event stream ended"))?;
        let env: Value = serde_json::from_slice(&msg.payload)?;
        let (Some(conv), Some(kind)) = (
            env["data"]["conversation"]["id"].as_str(),
            env["data"]["kind"].as_str(),
        ) else {
            continue;
        };
        *seen
            .entry((conv.to_string(), kind.to_string()))
            .or_default() += 1;
        if seen.len() >= kinds {
            quiet = Duration::from_secs(1);
        }
    }
    Ok(seen)
}

/// A group of `name` with two Sales agents, both Available (their consoles, to keep open).
async fn two_available(stack: &Stack, name: &str) -> anyhow::Result<(Tenant, Vec<Socket>)> {
    let t = Tenant::seed(&stack.pool, name, 2).await?;
    let mut consoles = Vec::new();
    for (_, email) in &t.agents[..2] {
        consoles.push(stack.agent(email, "available").await?);
    }
    Ok((t, consoles))
}

/// Local intervals covering the hour before and after now in `tz` (split at midnight).
fn around_now(tz: chrono_tz::Tz) -> Vec<Value> {
    let now = Utc::now().with_timezone(&tz);
    let minute = (now.hour() * 60 + now.minute()) as i64;
    let today = now.weekday().number_from_monday() as i64;
    let (from, to) = (minute - 60, minute + 60);
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let mut out = Vec::new();
    let day = |d: i64| ((d - 1).rem_euclid(7)) + 1;
    if from < 0 {
        out.push(json!({"weekday": day(today - 1), "opens": hhmm(1440 + from), "closes": "24:00"}));
    }
    if to > 1440 {
        out.push(json!({"weekday": day(today + 1), "opens": "00:00", "closes": hhmm(to - 1440)}));
    }
    out.push(json!({"weekday": today, "opens": hhmm(from.max(0)), "closes": hhmm(to.min(1440))}));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hours_and_holidays_in_two_time_zones() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Hours", 1).await?;
    // A second rooftop of the group, in Tokyo, with its own Sales and website.
    let tokyo = setup::rooftop(&stack.pool, t.group, "Hours Tokyo", "Asia/Tokyo").await?;
    let tokyo_sales = setup::department(&stack.pool, t.group, tokyo, "Sales", None, 0).await?;
    let tokyo_origin = "https://www.hours-tokyo.example".to_string();
    setup::website(
        &stack.pool,
        t.group,
        tokyo,
        "hours-tokyo.example",
        "key-hours-tokyo",
        std::slice::from_ref(&tokyo_origin),
    )
    .await?;
    // Straight to routing, like the test kit's own website (no Lead Gate).
    let tokyo_site: (Uuid,) = showroom_store::sqlx::query_as(
        "SELECT id FROM websites WHERE widget_key = 'key-hours-tokyo'",
    )
    .fetch_one(&stack.pool)
    .await?;
    let no_gate = showroom_proto::bot::BotSettings {
        lead_gate: false,
        ..Default::default()
    };
    showroom_bot::settings::store(&stack.pool, t.group, tokyo_site.0, &no_gate).await?;
    let (_, tokyo_email) = t
        .add_agent(&stack.pool, "tokyo", "agent", &[tokyo_sales])
        .await?;
    let (_, http) = manager(&stack, &t).await?;

    // The same weekly schedule, built around Chicago's "now": open in Chicago, closed in Tokyo
    // (14 or 15 hours ahead).
    let hours = around_now(chrono_tz::America::Chicago);
    let chicago = routing(&http, t.sales, json!({"hours": {"intervals": hours}})).await?;
    assert_eq!(chicago["open_now"], true, "{chicago}");
    assert_eq!(chicago["time_zone"], "America/Chicago");
    let tk = routing(&http, tokyo_sales, json!({"hours": {"intervals": hours}})).await?;
    assert_eq!(tk["open_now"], false, "{tk}");
    assert!(
        tk["next_open"].is_string(),
        "closed says when it opens: {tk}"
    );

    let _a = stack.agent(&t.agents[0].1, "available").await?;
    let _b = stack.agent(&tokyo_email, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let open = start(&mut w, t.sales).await?;
    assert_eq!(open["conversation"]["state"], "incoming", "{open}");

    let mut tw = Socket::widget(&stack.ws_url(""), "key-hours-tokyo", &tokyo_origin).await?;
    tw.ask(json!({"type": "hello", "v": 1})).await?;
    let closed = start(&mut tw, tokyo_sales).await?;
    assert_eq!(closed["conversation"]["state"], "offline", "{closed}");
    assert_eq!(closed["conversation"]["offline_reason"], "after_hours");

    // A holiday today in Chicago closes it even within the hours.
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::Chicago)
        .date_naive();
    let holiday = routing(
        &http,
        t.sales,
        json!({"hours": {"intervals": hours, "closures": [{"date": today, "label": "Dealer day"}]}}),
    )
    .await?;
    assert_eq!(holiday["open_now"], false, "{holiday}");
    assert_eq!(
        holiday["settings"]["hours"]["closures"][0]["label"],
        "Dealer day"
    );
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let closed = start(&mut w2, t.sales).await?;
    assert_eq!(closed["conversation"]["offline_reason"], "after_hours");

    // Wrong settings get a 400 naming the field; nothing changes.
    for (bad, names) in [
        (
            json!({"hours": {"intervals": [{"weekday": 1, "opens": "25:00", "closes": "26:00"}]}}),
            "opens",
        ),
        (
            json!({"hours": {"intervals": [{"weekday": 9, "opens": "09:00", "closes": "17:00"}]}}),
            "weekday",
        ),
        (json!({"ring_secs": 0}), "ring_secs"),
        (json!({"mode": "shout"}), "mode"),
    ] {
        let (status, body) = http
            .put(
                &format!("/api/v1/departments/{}/routing", t.sales),
                &bad.to_string(),
            )
            .await?;
        assert!(
            (400..500).contains(&status.as_u16()),
            "{bad} answered {status} {body}"
        );
        assert!(body.to_string().contains(names), "{bad}: {body}");
    }
    let (status, kept) = http
        .get(&format!("/api/v1/departments/{}/routing", t.sales))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        kept["settings"]["hours"]["closures"][0]["label"],
        "Dealer day"
    );

    // An agent may read the settings but not change them.
    let agent_token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let (status, _) = Http::new(&stack.base_url)
        .with_token(&agent_token)
        .put(&format!("/api/v1/departments/{}/routing", t.sales), "{}")
        .await?;
    assert_eq!(status, 403);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nobody_online_and_a_full_website_go_offline() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Offline", 1).await?;
    let (_, http) = manager(&stack, &t).await?;

    // Nobody connected: the offline flow at once instead of waiting in vain.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = start(&mut w, t.sales).await?;
    assert_eq!(started["conversation"]["state"], "offline", "{started}");
    assert_eq!(
        started["conversation"]["offline_reason"],
        "nobody_available"
    );

    // The same shopper trying again gets a new conversation (the closed one is never
    // reopened), linked to the previous one for its history.
    let again = start(&mut w, t.sales).await?;
    assert_ne!(id_of(&again), id_of(&started));
    assert_eq!(
        again["conversation"]["previous_id"],
        started["conversation"]["id"]
    );

    // An Away agent is connected but takes no new chat: still offline.
    let mut agent = stack.agent(&t.agents[0].1, "away").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = start(&mut w, t.sales).await?;
    assert_eq!(
        started["conversation"]["offline_reason"],
        "nobody_available"
    );

    // A website capped at one session: the second shopper goes offline.
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let (status, body) = http
        .put(
            &format!("/api/v1/websites/{}/routing", t.website),
            &json!({"max_sessions": 1}).to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let (mut first, _) = stack.shopper(&t, None, 0).await?;
    assert_eq!(
        start(&mut first, t.sales).await?["conversation"]["state"],
        "incoming"
    );
    let (mut second, _) = stack.shopper(&t, None, 0).await?;
    let full = start(&mut second, t.sales).await?;
    assert_eq!(
        full["conversation"]["offline_reason"], "max_sessions",
        "{full}"
    );
    // When the first ends, there is room again.
    first.ask(json!({"type": "end"})).await?;
    let (mut third, _) = stack.shopper(&t, None, 0).await?;
    assert_eq!(
        start(&mut third, t.sales).await?["conversation"]["state"],
        "incoming"
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broadcast_offers_everyone_and_the_first_to_respond_takes_it() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Broadcast", 3).await?;
    let mut consoles = Vec::new();
    for (_, email) in &t.agents[..3] {
        consoles.push(stack.agent(email, "available").await?);
    }
    let (_nats, mut sub) = events(&stack, t.group).await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = start(&mut w, t.sales).await?;
    let conv = id_of(&started);
    for c in consoles.iter_mut() {
        assert_eq!(id_of(&c.recv_type("offer").await?), conv);
    }
    let taken = consoles[1]
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(taken["type"], "accepted", "{taken}");
    for i in [0, 2] {
        let gone = consoles[i].recv_type("offer_withdrawn").await?;
        assert_eq!(gone["conversation_id"], conv.as_str());
    }
    // An agent who turns Do Not Disturb loses the offers still in their Incoming.
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let second = id_of(&start(&mut w2, t.sales).await?);
    for c in consoles.iter_mut() {
        c.recv_matching("offer", |o| id_of(o) == second).await?;
    }
    consoles[2]
        .ask(json!({"type": "set_status", "status": "dnd"}))
        .await?;
    let gone = consoles[2]
        .recv_matching("offer_withdrawn", |f| {
            f["conversation_id"] == second.as_str()
        })
        .await?;
    assert_eq!(gone["reason"], "moved_on", "{gone}");
    let (offered,): (Vec<Uuid>,) =
        showroom_store::sqlx::query_as("SELECT offered_to FROM conversations WHERE id = $1")
            .bind(second.parse::<Uuid>()?)
            .fetch_one(&stack.pool)
            .await?;
    assert!(!offered.contains(&t.agents[2].0), "{offered:?}");
    assert!(offered.contains(&t.agents[0].0), "{offered:?}");

    let kinds: Vec<String> = {
        let mut k = Vec::new();
        for _ in 0..4 {
            k.push(
                next_event(&mut sub, &conv).await?["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
        k
    };
    assert_eq!(kinds, ["created", "queued", "offered", "assigned"]);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ring_offers_one_agent_at_a_time_and_moves_on() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Ring", 2).await?;
    let (_, http) = manager(&stack, &t).await?;
    routing(&http, t.sales, json!({"mode": "ring", "ring_secs": 1})).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let mut b = stack.agent(&t.agents[1].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);

    // Exactly one rings first.
    let (first, second) = tokio::select! {
        f = a.recv_type("offer") => { f?; (&mut a, &mut b) }
        f = b.recv_type("offer") => { f?; (&mut b, &mut a) }
    };
    second
        .expect_silence("offer", Duration::from_millis(300))
        .await?;
    // No answer within a second: it moves on to the other, and leaves the first.
    let moved = first.recv_type("offer_withdrawn").await?;
    assert_eq!(moved["conversation_id"], conv.as_str());
    assert_eq!(moved["reason"], "moved_on");
    assert_eq!(id_of(&second.recv_type("offer").await?), conv);
    // Nobody else is left: back to the first.
    assert_eq!(id_of(&first.recv_type("offer").await?), conv);
    let taken = first
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(taken["type"], "accepted", "{taken}");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_at_capacity_gets_the_next_chat_when_one_ends() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Capacity", 1).await?;
    let (_, http) = manager(&stack, &t).await?;
    routing(&http, t.sales, json!({"max_chats_per_agent": 1})).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w1, _) = stack.shopper(&t, None, 0).await?;
    let c1 = id_of(&start(&mut w1, t.sales).await?);
    a.recv_type("offer").await?;
    a.ask(json!({"type": "accept", "conversation_id": c1}))
        .await?;

    // Full: the second chat waits (the agent is here) but is not offered to them.
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let second = start(&mut w2, t.sales).await?;
    assert_eq!(second["conversation"]["state"], "incoming", "{second}");
    a.expect_silence("offer", Duration::from_millis(700))
        .await?;
    // The first ends: the waiting chat is offered.
    a.ask(json!({"type": "end", "conversation_id": c1})).await?;
    let offer = a.recv_type("offer").await?;
    assert_eq!(id_of(&offer), id_of(&second));
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_time_out_fires_with_short_settings() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Timeouts", 1).await?;
    let (_, http) = manager(&stack, &t).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let (_nats, mut sub) = events(&stack, t.group).await?;

    // Incoming time-out: nobody responds, the chat is missed, and the event says so.
    routing(&http, t.sales, json!({"incoming_timeout_secs": 1})).await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);
    until_state(&mut w, "missed").await?;
    // The agent it was offered to sees it move to Recent as missed, now and after a reconnect.
    let moved = a
        .recv_matching("conversation", |f| f["conversation"]["id"] == conv.as_str())
        .await?;
    assert_eq!(moved["conversation"]["state"], "missed", "{moved}");
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let mut again = Socket::console(&stack.ws_url(""), &token).await?;
    let welcome = again.ask(json!({"type": "hello", "v": 1})).await?;
    assert!(
        welcome["recent"].as_array().is_some_and(|r| r
            .iter()
            .any(|c| c["id"] == conv.as_str() && c["state"] == "missed")),
        "{welcome}"
    );
    drop(again);
    let mut kinds = Vec::new();
    loop {
        let e = next_event(&mut sub, &conv).await?;
        kinds.push(e["kind"].as_str().unwrap_or("").to_string());
        if e["kind"] == "missed" {
            assert_eq!(e["conversation"]["ended_by"], "system");
            break;
        }
    }
    assert_eq!(kinds, ["created", "queued", "offered", "missed"]);

    // Wait time: the shopper waits at most that long, then the offline flow.
    routing(
        &http,
        t.sales,
        json!({"wait_secs": 1, "incoming_timeout_secs": 60}),
    )
    .await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    start(&mut w, t.sales).await?;
    let off = until_state(&mut w, "offline").await?;
    assert_eq!(off["conversation"]["offline_reason"], "wait_expired");

    // Inactivity: a message resets it; silence closes the chat as timed out.
    routing(&http, t.sales, json!({"inactivity_secs": 2})).await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);
    a.recv_matching("offer", |o| id_of(o) == conv).await?;
    a.ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    let accepted_at = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let sent = w
        .ask(json!({"type": "send", "client_msg_id": "still-here", "text": "still there?"}))
        .await?;
    assert_eq!(sent["type"], "ack", "{sent}");
    let closed = until_state(&mut w, "timed_out").await?;
    assert!(
        accepted_at.elapsed() >= Duration::from_millis(3200),
        "the message moved the deadline: closed after {:?}",
        accepted_at.elapsed()
    );
    assert_eq!(closed["conversation"]["ended_by"], "system");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_out_survives_a_router_restart_and_fires_once() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Durable", 1).await?;
    let (_, http) = manager(&stack, &t).await?;
    routing(&http, t.sales, json!({"incoming_timeout_secs": 2})).await?;
    let _a = stack.agent(&t.agents[0].1, "available").await?;
    let (_nats, mut sub) = events(&stack, t.group).await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);
    stack.stop_service(Service::Router).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = state_of(&stack, &conv).await?;
    assert_eq!(
        state, "incoming",
        "nobody fired it while the router was down"
    );
    stack.start_service(Service::Router).await?;
    until_state(&mut w, "missed").await?;
    let mut missed = 0;
    while let Ok(Ok(e)) =
        tokio::time::timeout(Duration::from_secs(2), next_event(&mut sub, &conv)).await
    {
        if e["kind"] == "missed" {
            missed += 1;
        }
    }
    assert_eq!(missed, 1);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_are_accepted_declined_or_expire_and_never_reach_dnd() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Transfers", 4).await?;
    let (_, http) = manager(&stack, &t).await?;
    routing(&http, t.sales, json!({"transfer_secs": 1})).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let mut b = stack.agent(&t.agents[1].1, "available").await?;
    let mut dnd = stack.agent(&t.agents[2].1, "dnd").await?;
    let mut away = stack.agent(&t.agents[3].1, "away").await?;
    let mut service = stack.agent(&t.agents[4].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);
    a.recv_type("offer").await?;
    // Only A takes it (B's offer is withdrawn).
    a.ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;

    // Do Not Disturb gets no transfer.
    let refused = a
        .ask(json!({"type": "transfer", "conversation_id": conv, "to_agent": t.agents[2].0}))
        .await?;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "not_allowed");
    dnd.expect_silence("transfer_offer", Duration::from_millis(300))
        .await?;

    // Away gets a transfer (but no new chat); declining sends it back.
    let asked = a
        .ask(json!({"type": "transfer", "conversation_id": conv, "to_agent": t.agents[3].0, "note": "trade-in <b>question</b>"}))
        .await?;
    assert_eq!(asked["transfer"]["state"], "requested", "{asked}");
    let offer = away.recv_type("transfer_offer").await?;
    assert_eq!(offer["transfer"]["note"], "trade-in <b>question</b>");
    // Their desktop hears of it too, the note as the notice's text.
    let told = away
        .recv_matching("notify", |n| n["notice"]["kind"] == "transfer")
        .await?;
    assert_eq!(
        told["notice"]["title"], "Transfer from Agent0 Transfers",
        "{told}"
    );
    assert_eq!(told["notice"]["body"], "trade-in <b>question</b>", "{told}");
    let declined = away
        .ask(json!({"type": "transfer_reply", "transfer_id": offer["transfer"]["id"], "accept": false}))
        .await?;
    assert_eq!(declined["transfer"]["state"], "declined", "{declined}");
    a.recv_matching("transfer", |f| f["transfer"]["state"] == "declined")
        .await?;

    // Unanswered: it comes back after the transfer time.
    let asked = a
        .ask(json!({"type": "transfer", "conversation_id": conv, "to_agent": t.agents[1].0}))
        .await?;
    assert_eq!(asked["transfer"]["state"], "requested", "{asked}");
    b.recv_type("transfer_offer").await?;
    a.recv_matching("transfer", |f| f["transfer"]["state"] == "expired")
        .await?;
    b.recv_matching("transfer", |f| f["transfer"]["state"] == "expired")
        .await?;

    // Accepted: the chat and its messages move to B.
    routing(&http, t.sales, json!({"transfer_secs": 60})).await?;
    a.ask(json!({"type": "transfer", "conversation_id": conv, "to_agent": t.agents[1].0}))
        .await?;
    let offer = b.recv_type("transfer_offer").await?;
    let accepted = b
        .ask(json!({"type": "transfer_reply", "transfer_id": offer["transfer"]["id"], "accept": true}))
        .await?;
    assert_eq!(accepted["transfer"]["state"], "accepted", "{accepted}");
    let moved = a
        .recv_matching("conversation", |f| {
            f["conversation"]["agent"]["id"] == t.agents[1].0.to_string()
        })
        .await?;
    assert_eq!(moved["conversation"]["state"], "active");
    w.ask(json!({"type": "send", "client_msg_id": "m1", "text": "hello?"}))
        .await?;
    let got = b.recv_type("message").await?;
    assert_eq!(got["message"]["text"], "hello?");
    a.expect_silence("message", Duration::from_millis(300))
        .await?;
    // Presence recounts both agents' active chats: the chat left A and reached B.
    let mut counts = (None, None);
    for _ in 0..50 {
        let (_, board) = http.get("/api/v1/presence/board").await?;
        let active = |id: Uuid| {
            board["agents"]
                .as_array()
                .and_then(|a| a.iter().find(|r| r["agent_id"] == id.to_string()))
                .and_then(|r| r["active_chats"].as_i64())
        };
        counts = (active(t.agents[0].0), active(t.agents[1].0));
        if counts == (Some(0), Some(1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        counts,
        (Some(0), Some(1)),
        "active chats after the transfer"
    );
    // The former agent can no longer end it.
    let not_yours = a
        .ask(json!({"type": "end", "conversation_id": conv}))
        .await?;
    assert_eq!(not_yours["type"], "error", "{not_yours}");

    // To a department: its eligible member accepts, and the chat changes department.
    b.ask(json!({"type": "transfer", "conversation_id": conv, "to_department": t.service}))
        .await?;
    let offer = service.recv_type("transfer_offer").await?;
    assert_eq!(offer["transfer"]["to_department"]["label"], "Service");
    service
        .ask(json!({"type": "transfer_reply", "transfer_id": offer["transfer"]["id"], "accept": true}))
        .await?;
    let (dept, agent): (Uuid, Uuid) = showroom_store::sqlx::query_as(
        "SELECT department_id, agent_id FROM conversations WHERE id = $1",
    )
    .bind(conv.parse::<Uuid>()?)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!((dept, agent), (t.service, t.agents[4].0));
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manager_reassigns_any_chat_of_the_group() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Reassign", 2).await?;
    let (_, http) = manager(&stack, &t).await?;
    let mut a = stack.agent(&t.agents[0].1, "available").await?;
    let mut b = stack.agent(&t.agents[1].1, "away").await?;
    let _dnd = stack.agent(&t.agents[2].1, "dnd").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);
    a.recv_type("offer").await?;

    // A waiting chat, straight to B (Away: a manager's assignment is like a transfer).
    let (status, body) = http
        .post(
            &format!("/api/v1/conversations/{conv}/reassign"),
            &json!({"agent_id": t.agents[1].0}).to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"]["id"], t.agents[1].0.to_string());
    a.recv_type("offer_withdrawn").await?;
    b.recv_matching("conversation", |f| f["conversation"]["state"] == "active")
        .await?;
    // B's desktop hears of it (notification's `news`).
    let told = b
        .recv_matching("notify", |n| n["notice"]["kind"] == "assigned")
        .await?;
    assert_eq!(told["notice"]["conversation_id"], conv.as_str(), "{told}");
    assert!(
        told["notice"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Chat assigned to you by ")),
        "{told}"
    );

    // From B to A while active.
    let (status, body) = http
        .post(
            &format!("/api/v1/conversations/{conv}/reassign"),
            &json!({"agent_id": t.agents[0].0}).to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    b.recv_matching("conversation", |f| {
        f["conversation"]["agent"]["id"] == t.agents[0].0.to_string()
    })
    .await?;

    // Never to Do Not Disturb; never by an agent.
    let (status, body) = http
        .post(
            &format!("/api/v1/conversations/{conv}/reassign"),
            &json!({"agent_id": t.agents[2].0}).to_string(),
        )
        .await?;
    assert_eq!(status, 403, "{body}");
    let agent_token = Http::new(&stack.base_url)
        .login(&t.agents[1].1, PASSWORD)
        .await?;
    let (status, _) = Http::new(&stack.base_url)
        .with_token(&agent_token)
        .post(
            &format!("/api/v1/conversations/{conv}/reassign"),
            &json!({"agent_id": t.agents[1].0}).to_string(),
        )
        .await?;
    assert_eq!(status, 403);
    // Recorded: who moved it where.
    let (n,): (i64,) = showroom_store::sqlx::query_as(
        "SELECT count(*) FROM transfers WHERE conversation_id = $1 AND state = 'reassigned'",
    )
    .bind(conv.parse::<Uuid>()?)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(n, 2);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_department_overflows_to_the_bdc_and_rules_route_to_it() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Overflow", 1).await?;
    let (_, http) = manager(&stack, &t).await?;
    let (bdc_agent, bdc_email) = t.add_agent(&stack.pool, "bdc", "agent", &[]).await?;
    let team = Uuid::new_v4();
    let (status, body) = http
        .put(
            &format!("/api/v1/teams/{team}"),
            &json!({"name": "BDC", "members": [bdc_agent]}).to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    routing(
        &http,
        t.sales,
        json!({"overflow_team_id": team, "overflow_after_secs": 1}),
    )
    .await?;
    let mut sales = stack.agent(&t.agents[0].1, "available").await?;
    let mut bdc = stack.agent(&bdc_email, "available").await?;

    // Offered to Sales first; after a second without an answer, the BDC too.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = id_of(&start(&mut w, t.sales).await?);
    sales.recv_type("offer").await?;
    bdc.expect_silence("offer", Duration::from_millis(500))
        .await?;
    let offer = bdc.recv_type("offer").await?;
    assert_eq!(id_of(&offer), conv);
    assert_eq!(offer["conversation"]["team"]["name"], "BDC");
    let taken = bdc
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(taken["type"], "accepted", "{taken}");

    // A routing rule on what the bot collected sends a chat to the BDC at once.
    let (status, body) = http
        .put(
            &format!("/api/v1/websites/{}/routing", t.website),
            &json!({"rules": [{"variable": "interest", "value": "Trade-In", "team_id": team}]})
                .to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "variables": {"interest": "trade-in"}}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let offer = bdc
        .recv_matching("offer", |o| id_of(o) == id_of(&started))
        .await?;
    assert_eq!(offer["conversation"]["team"]["name"], "BDC", "{offer}");
    stack.stop().await
}

/// Presence away (restarting): a new chat is not sent offline for lack of an answer. It waits,
/// and is offered as soon as presence answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_presence_keeps_a_new_chat_waiting_instead_of_offline() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Silent", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    stack.stop_service(Service::Presence).await?;
    // What the router heard of the agent is trusted for 2 s (`router::availability`); past
    // that, it must ask, and nobody answers.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = start(&mut w, t.sales).await?;
    assert_eq!(
        started["conversation"]["state"], "incoming",
        "presence silent is not nobody available: {started}"
    );
    let conv = id_of(&started);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = state_of(&stack, &conv).await?;
    assert_eq!(state, "incoming", "still waiting while presence is away");
    // Presence is back (the agent's console still connected, its devices in Redis): the
    // router looks again and offers the chat.
    stack.start_service(Service::Presence).await?;
    let offer = agent
        .recv_matching("offer", |f| f["conversation"]["id"] == conv.as_str())
        .await?;
    assert_eq!(offer["conversation"]["state"], "incoming");
    let accepted = agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    stack.stop().await
}

/// The router keeps what presence said of each agent (`services/router/src/availability.rs`),
/// so each decision must still see a status set just before it: a console sets Away or
/// Available, and a chat started the moment the answer comes goes offline or waits for them.
/// Fails when queued changes are only taken by the router's quarter-second tidy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decision_sees_the_status_set_just_before_it() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Just Before", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    for round in 0..4 {
        // Each shopper is connected before the status changes, so the start follows the
        // answer within milliseconds.
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let set = agent
            .ask(json!({"type": "set_status", "status": "away"}))
            .await?;
        anyhow::ensure!(set["type"] != "error", "{set}");
        let away = start(&mut w, t.sales).await?;
        assert_eq!(
            away["conversation"]["offline_reason"], "nobody_available",
            "round {round}: the only agent just went Away: {away}"
        );
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let set = agent
            .ask(json!({"type": "set_status", "status": "available"}))
            .await?;
        anyhow::ensure!(set["type"] != "error", "{set}");
        let back = start(&mut w, t.sales).await?;
        assert_eq!(
            back["conversation"]["state"], "incoming",
            "round {round}: the agent just came back: {back}"
        );
        let conv = id_of(&back);
        agent
            .recv_matching("offer", |f| f["conversation"]["id"] == conv.as_str())
            .await?;
        w.ask(json!({"type": "end"})).await?;
    }
    stack.stop().await
}

/// A decision asks presence only about the agents the router has heard nothing of lately:
/// twelve chats started one after another, each offered to the three agents online, cost a
/// few `presence.find_available` requests, not one each (every one, before 2026-12-07).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decisions_ask_presence_only_about_agents_not_heard_of() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Heard Of", 3).await?;
    let mut consoles = Vec::new();
    for (_, email) in &t.agents[..3] {
        consoles.push(stack.agent(email, "available").await?);
    }
    // The router's own consumer of these connections' changes asks presence once each; let it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let nats = stack.nats_client().await?;
    let mut asked = nats
        .subscribe(format!("showroom.v1.{}.presence.find_available", t.group))
        .await?;
    nats.flush().await?;
    let chats = 12;
    for _ in 0..chats {
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let started = start(&mut w, t.sales).await?;
        assert_eq!(started["conversation"]["state"], "incoming", "{started}");
        let conv = id_of(&started);
        for console in &mut consoles {
            console
                .recv_matching("offer", |f| f["conversation"]["id"] == conv.as_str())
                .await?;
        }
    }
    let mut requests = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), asked.next()).await {
        requests += 1;
    }
    assert!(
        requests <= 4,
        "{requests} availability requests for {chats} decisions"
    );
    stack.stop().await
}

/// Starts that arrive together share commits (`services/router/src/starts.rs`): forty chats
/// started at once are written by fewer transactions than chats (rows written by one
/// transaction share its `xmin`). Each start still gets its own chat and its own `created`,
/// `queued` and `offered`. Then forty more, one of which Postgres refuses (a NUL in the name,
/// which the gateway never sends on): it fails alone, and the chats it shared a commit with are
/// written again, each in a commit of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starts_arriving_together_share_commits_and_fail_alone() -> anyhow::Result<()> {
    use showroom_proto::Envelope;
    let stack = Stack::start().await?;
    let (t, _consoles) = two_available(&stack, "Together").await?;
    let (nats, mut events) = events(&stack, t.group).await?;
    let chats = 40;
    // Forty starts at once, named "<wave> <i>" (or with a NUL for `refused`).
    let wave = |wave: usize, refused: Option<usize>| {
        let (nats, t) = (nats.clone(), &t);
        let starts = (0..chats).map(move |i| {
            let nats = nats.clone();
            let name = match Some(i) == refused {
                true => "Nul\u{0}Name".to_string(),
                false => format!("{wave} {i}"),
            };
            let env = Envelope::new(t.group, t.start_in_sales(Some(name)));
            async move { start_on_bus(&nats, &env).await }
        });
        async move {
            let mut made = Vec::new();
            let answers = futures::future::try_join_all(starts).await?;
            for (i, answer) in answers.into_iter().enumerate() {
                match (Some(i) == refused, answer) {
                    (false, Ok(c)) => {
                        assert_eq!(c.shopper.name, Some(format!("{wave} {i}")));
                        assert_eq!(c.state.as_str(), "incoming", "{c:?}");
                        made.push(c.id);
                    }
                    (true, Err(_)) => {}
                    (true, Ok(c)) => anyhow::bail!("a name with a NUL was stored: {c:?}"),
                    (false, Err(e)) => anyhow::bail!("start {i} failed with the refused one: {e}"),
                }
            }
            anyhow::Ok(made)
        }
    };
    let mut made = wave(1, None).await?;
    let (transactions,): (i64,) = showroom_store::sqlx::query_as(
        "SELECT count(DISTINCT xmin::text) FROM conversations WHERE group_id = $1",
    )
    .bind(t.group)
    .fetch_one(&stack.pool)
    .await?;
    assert!(
        transactions < chats as i64,
        "{transactions} transactions wrote {chats} chats"
    );
    made.extend(wave(2, Some(17)).await?);
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 2 * chats - 1, "each start its own chat");
    // Each chat's three events, once each.
    let seen = count_events(&mut events, 3 * made.len()).await?;
    for id in &made {
        for kind in ["created", "queued", "offered"] {
            let key = (id.to_string(), kind.to_string());
            assert_eq!(seen.get(&key), Some(&1), "{key:?} in {seen:?}");
        }
    }
    assert_eq!(seen.len(), 3 * made.len(), "{seen:?}");
    stack.stop().await
}

/// Starts written in one statement (`NewChat::write_all` in `services/router/src/starts.rs`)
/// keep what starts written one at a time promise. Twenty pairs of starts sent at once: in
/// half of them a visitor starts twice (two requests), in the other half one start is sent
/// twice (the same request id, as a retry). Each pair gets one chat, and each chat's `created`,
/// `queued` and `offered` come once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starts_sent_twice_at_once_make_one_chat_and_one_set_of_events() -> anyhow::Result<()> {
    use showroom_proto::Envelope;
    let stack = Stack::start().await?;
    let (t, _consoles) = two_available(&stack, "Twice At Once").await?;
    let (nats, mut events) = events(&stack, t.group).await?;
    let pairs = 20;
    let mut sends = Vec::new();
    for j in 0..pairs {
        let first = Envelope::new(t.group, t.start_in_sales(Some(format!("pair {j}"))));
        let second = match j % 2 {
            0 => Envelope::new(t.group, first.data.clone()),
            _ => first.clone(),
        };
        sends.extend([first, second]);
    }
    let answers = futures::future::try_join_all(sends.iter().map(|env| {
        let nats = nats.clone();
        async move {
            start_on_bus(&nats, env)
                .await?
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    }))
    .await?;
    for pair in answers.chunks(2) {
        assert_eq!(pair[0].id, pair[1].id, "one chat for {:?}", pair[0].shopper);
    }
    let (chats,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM conversations WHERE group_id = $1")
            .bind(t.group)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(chats, pairs as i64);
    let seen = count_events(&mut events, 3 * pairs).await?;
    for pair in answers.chunks(2) {
        for kind in ["created", "queued", "offered"] {
            let key = (pair[0].id.to_string(), kind.to_string());
            assert_eq!(seen.get(&key), Some(&1), "{key:?} in {seen:?}");
        }
    }
    assert_eq!(seen.len(), 3 * pairs, "{seen:?}");
    stack.stop().await
}
