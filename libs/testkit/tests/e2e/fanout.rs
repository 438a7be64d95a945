//! Fan-out by interest (`services/gateway/src/interest.rs`): a gateway receives the live
//! messages of only the conversations its sockets watch, and none of those its own sockets
//! wrote (it hands them over in process), and reads from Postgres what core NATS
//! lost while it reconnected. Fan-out by group (`services/gateway/src/groups.rs`): it receives
//! the conversation events of only the dealer groups its sockets belong to, and reads from the
//! stream what core NATS lost while it was cut off. Every socket names its dealer group as its
//! `route`, for a proxy to keep a group's sockets on one gateway.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use showroom_localinfra::Relay;
use showroom_proto::conversation::ConversationEventKind;
use showroom_proto::message::{Author, AuthorKind};
use showroom_proto::v1;
use showroom_store::sqlx;
use showroom_telemetry::metrics::names;
use showroom_testkit::{
    GatewayProcess, Http, PASSWORD, Socket, Stack, Tenant, accepted_chat, eventually,
};
use uuid::Uuid;

use crate::service_binary;

const MESSAGES: &str = "kind=\"message\"";
const CONVERSATIONS: &str = "stream=\"CONVERSATIONS\"";

async fn messages_of(stack: &Stack, conversation: &str) -> anyhow::Result<f64> {
    let id: Uuid = conversation.parse()?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
        .bind(id)
        .fetch_one(&stack.pool)
        .await?;
    Ok(n as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_receives_only_the_conversations_its_sockets_watch() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Fanout", 1).await?;
    // One after the other: each has bound its ports before the next looks for free ones.
    let g1 = stack
        .gateway_process_with(service_binary(), &["gateway"], &[])
        .await?;
    let g2 = stack
        .gateway_process_with(service_binary(), &["gateway"], &[])
        .await?;

    // The agent on the stack's own gateway; shopper A on g1, shopper B on g2.
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let mut agent = Socket::console(&stack.ws_url(""), &token).await?;
    agent.ask(json!({"type": "hello", "v": 1})).await?;
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut a = Socket::widget(&g1.ws_url(""), &t.key, &t.origin).await?;
    a.ask(json!({"type": "hello", "v": 1})).await?;
    let conv_a = accepted_chat(&mut a, &mut agent, t.sales).await?;
    let mut b = Socket::widget(&g2.ws_url(""), &t.key, &t.origin).await?;
    b.ask(json!({"type": "hello", "v": 1})).await?;
    let conv_b = accepted_chat(&mut b, &mut agent, t.sales).await?;

    for i in 0..5 {
        a.ask(json!({"type": "send", "client_msg_id": format!("a{i}"), "text": format!("A {i}")}))
            .await?;
        b.ask(json!({"type": "send", "client_msg_id": format!("b{i}"), "text": format!("B {i}")}))
            .await?;
    }
    for (i, conv) in [&conv_a, &conv_b, &conv_a, &conv_b].into_iter().enumerate() {
        agent
            .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("g{i}"), "text": "Sure."}))
            .await?;
    }
    // Each shopper gets its own messages back, and the agent's replies, in order.
    for (sock, mine, replies) in [(&mut a, "a", [0, 2]), (&mut b, "b", [1, 3])] {
        let mut seen = Vec::new();
        for id in (0..5)
            .map(|i| format!("{mine}{i}"))
            .chain(replies.map(|i| format!("g{i}")))
        {
            let m = sock
                .recv_matching("message", |m| m["message"]["client_msg_id"] == id.as_str())
                .await?;
            seen.push(m["message"]["seq"].as_i64().unwrap_or_default());
        }
        assert!(seen.is_sorted(), "{mine}: seqs {seen:?}");
    }
    // Through NATS, each gateway got the 2 replies written on the agent's gateway, and at most
    // every message of its chat but the 5 its own shopper wrote: those it hands to its sockets in
    // process, and NATS never echoes them back (`interest::LiveCopies`). None of the other
    // chat's (before `interest.rs` each got both chats', and every other group's).
    let (in_a, in_b) = (
        messages_of(&stack, &conv_a).await?,
        messages_of(&stack, &conv_b).await?,
    );
    for (g, total, name) in [(&g1, in_a, "g1"), (&g2, in_b, "g2")] {
        eventually(Duration::from_secs(10), "the live messages", || async {
            let got = g.metric(names::LIVE_EVENTS, MESSAGES).await?;
            Ok((got >= 2.0).then_some(()))
        })
        .await?;
        let got = g.metric(names::LIVE_EVENTS, MESSAGES).await?;
        assert!(
            got <= total - 5.0,
            "{name} received {got} through NATS, its chat has {total}, 5 written on it"
        );
        assert_eq!(
            g.metric(names::LIVE_CONVERSATIONS, "").await?,
            1.0,
            "{name}"
        );
    }

    // Shopper A leaves: g1 holds no watcher of any chat, and unsubscribes.
    a.close().await;
    eventually(Duration::from_secs(10), "g1 to unsubscribe", || async {
        let n = g1.metric(names::LIVE_CONVERSATIONS, "").await?;
        Ok((n == 0.0).then_some(()))
    })
    .await?;
    let before = g1.metric(names::LIVE_EVENTS, MESSAGES).await?;
    agent
        .ask(json!({"type": "send", "conversation_id": conv_a, "client_msg_id": "after", "text": "Still there?"}))
        .await?;
    b.recv_type("message").await.ok();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(g1.metric(names::LIVE_EVENTS, MESSAGES).await?, before);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_core_nats_lost_while_reconnecting_is_read_from_postgres() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Reconnect", 1).await?;
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let mut agent = Socket::console(&stack.ws_url(""), &token).await?;
    agent.ask(json!({"type": "hello", "v": 1})).await?;
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut shopper = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    shopper.ask(json!({"type": "hello", "v": 1})).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "s-1", "text": "Hello?"}))
        .await?;
    for sock in [&mut shopper, &mut agent] {
        sock.recv_matching("message", |m| m["message"]["seq"] == ack["seq"])
            .await?;
    }

    // A message stored whose live copy never went out (its writer stopped between the commit
    // and the publish, or NATS was down): nobody is told, so nobody shows it yet.
    let bot = Author {
        kind: AuthorKind::Bot,
        id: None,
        name: Some("Assistant".into()),
    };
    let lost = showroom_gateway::transcript::append(
        &stack.pool,
        t.group,
        conv.parse()?,
        &bot,
        "A colleague will call you too.",
        "lost-1",
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let seq = lost.message().seq;
    shopper
        .expect_silence("message", Duration::from_millis(600))
        .await?;

    // NATS restarts: once the gateway is back, every watcher reads what follows its position.
    stack.nats.restart().await?;
    for (who, sock) in [("shopper", &mut shopper), ("agent", &mut agent)] {
        let got = tokio::time::timeout(
            Duration::from_secs(30),
            sock.recv_matching("message", |m| m["message"]["seq"] == seq),
        )
        .await
        .map_err(|_| anyhow::anyhow!("the {who} never got seq {seq}"))??;
        assert_eq!(got["message"]["text"], "A colleague will call you too.");
    }
    stack.stop().await
}

/// An agent of `t` with its console open on `ws_url`, available.
async fn available_agent(stack: &Stack, t: &Tenant, ws_url: &str) -> anyhow::Result<Socket> {
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let mut agent = Socket::console(ws_url, &token).await?;
    agent.ask(json!({"type": "hello", "v": 1})).await?;
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    Ok(agent)
}

/// A console lets go of a chat once it has closed (`Hub::forget_closed`), so a console open for
/// a whole shift does not keep a subscription for every chat it ever had.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_console_lets_go_of_a_chat_once_it_has_closed() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Let go", 1).await?;
    let g = stack
        .gateway_process_with(service_binary(), &["gateway"], &[])
        .await?;
    let mut agent = available_agent(&stack, &t, &g.ws_url("")).await?;
    let mut shopper = Socket::widget(&g.ws_url(""), &t.key, &t.origin).await?;
    shopper.ask(json!({"type": "hello", "v": 1})).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let live = || g.metric(names::LIVE_CONVERSATIONS, "");
    assert_eq!(live().await?, 1.0);

    // The shopper ends the chat and leaves. The console still follows it for a moment (the
    // frames of its close), then lets go, and the gateway unsubscribes.
    shopper.ask(json!({"type": "end"})).await?;
    shopper.close().await;
    agent
        .recv_matching("conversation", |c| c["conversation"]["state"] == "ended")
        .await?;
    assert_eq!(live().await?, 1.0, "let go before the grace");
    eventually(Duration::from_secs(30), "the console to let go", || async {
        Ok((live().await? == 0.0).then_some(()))
    })
    .await?;

    // Opening it again reads it whole, then lets go again.
    let history = agent
        .ask(json!({"type": "open", "conversation_id": conv}))
        .await?;
    assert_eq!(history["conversation"]["state"], "ended", "{history}");
    eventually(
        Duration::from_secs(5),
        "the console to follow it",
        || async { Ok((live().await? == 1.0).then_some(())) },
    )
    .await?;
    eventually(
        Duration::from_secs(30),
        "the console to let go again",
        || async { Ok((live().await? == 0.0).then_some(())) },
    )
    .await?;

    // The console goes on with the next chat.
    let mut next = Socket::widget(&g.ws_url(""), &t.key, &t.origin).await?;
    next.ask(json!({"type": "hello", "v": 1})).await?;
    let second = accepted_chat(&mut next, &mut agent, t.sales).await?;
    next.ask(json!({"type": "send", "client_msg_id": "n-1", "text": "Hi again"}))
        .await?;
    let m = agent.recv_type("message").await?;
    assert_eq!(m["message"]["conversation_id"], second.as_str(), "{m}");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_follows_only_the_groups_its_sockets_hold() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let mine = Tenant::seed(&stack.pool, "Mine", 1).await?;
    let other = Tenant::seed(&stack.pool, "Other", 1).await?;
    let g1 = stack
        .gateway_process_with(service_binary(), &["gateway"], &[])
        .await?;

    // g1 holds one console of `mine`, whose chat's events reach it (the offer, the
    // assignment).
    let mut agent = available_agent(&stack, &mine, &g1.ws_url("")).await?;
    assert_eq!(g1.metric(names::FOLLOWED_GROUPS, "").await?, 1.0);
    let mut shopper = Socket::widget(&stack.ws_url(""), &mine.key, &mine.origin).await?;
    shopper.ask(json!({"type": "hello", "v": 1})).await?;
    accepted_chat(&mut shopper, &mut agent, mine.sales).await?;
    let after_mine = g1.metric(names::FOLLOWED_EVENTS, CONVERSATIONS).await?;
    assert!(
        after_mine >= 2.0,
        "g1 received {after_mine} of its group's events"
    );

    // A whole chat of `other`, on the stack's own gateway: none of it reaches g1 (before
    // `groups.rs` every gateway received every group's events).
    let mut their_agent = available_agent(&stack, &other, &stack.ws_url("")).await?;
    let mut their_shopper = Socket::widget(&stack.ws_url(""), &other.key, &other.origin).await?;
    their_shopper.ask(json!({"type": "hello", "v": 1})).await?;
    let theirs = accepted_chat(&mut their_shopper, &mut their_agent, other.sales).await?;
    their_agent
        .ask(json!({"type": "end", "conversation_id": theirs}))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        g1.metric(names::FOLLOWED_EVENTS, CONVERSATIONS).await?,
        after_mine,
        "g1 received another group's events"
    );
    assert_eq!(g1.metric(names::FOLLOWED_GROUPS, "").await?, 1.0);
    stack.stop().await
}

/// A gateway process that reaches NATS through a relay the test can cut.
async fn gateway_behind_relay(stack: &Stack) -> anyhow::Result<(Relay, GatewayProcess)> {
    let relay = Relay::start(stack.nats.port).await?;
    let nats_url = format!("nats://127.0.0.1:{}", relay.port);
    let g = stack
        .gateway_process_with(
            service_binary(),
            &["gateway"],
            &[("SHOWROOM_NATS_URL".to_string(), nats_url)],
        )
        .await?;
    Ok((relay, g))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_made_while_a_gateway_was_cut_off_is_read_from_the_stream() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Cut off", 1).await?;
    let (relay, g1) = gateway_behind_relay(&stack).await?;
    let mut agent = available_agent(&stack, &t, &g1.ws_url("")).await?;
    // A second dealer group held on g1 too: it loses events at the same moment.
    let other = Tenant::seed(&stack.pool, "Cut off too", 1).await?;
    let _their_agent = available_agent(&stack, &other, &g1.ws_url("")).await?;
    assert_eq!(g1.metric(names::FOLLOWED_GROUPS, "").await?, 2.0);
    let nats = stack.nats_client().await?;
    let mut offers = nats
        .subscribe(v1::conversation_event(
            t.group,
            ConversationEventKind::Offered,
        ))
        .await?;
    nats.flush().await?;

    // g1 loses NATS; meanwhile a shopper starts a chat and the router offers it to the agent.
    relay.refuse(true);
    relay.cut().await;
    let mut shopper = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    shopper.ask(json!({"type": "hello", "v": 1})).await?;
    let started = shopper
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    tokio::time::timeout(Duration::from_secs(15), offers.next())
        .await?
        .expect("the offer event");

    // Back on NATS, g1 reads what its group's streams stored while it was away: the console
    // gets the offer it missed (before, it never came: core NATS had dropped it).
    relay.refuse(false);
    let offer = tokio::time::timeout(Duration::from_secs(20), agent.recv_type("offer"))
        .await
        .map_err(|_| anyhow::anyhow!("the offer made while g1 was cut off never came"))??;
    assert_eq!(offer["conversation"]["id"], started["conversation"]["id"]);

    // Both groups read again: PRESENCE (filtered by group) once each, CONVERSATIONS and
    // INTERNAL (read whole) once per loss for both (before, once per group each).
    let reads = |stream: &'static str| {
        let g1 = &g1;
        async move {
            g1.metric(names::FOLLOWED_READS, &format!("stream=\"{stream}\""))
                .await
        }
    };
    let (whole, internal, presence) = eventually(
        Duration::from_secs(10),
        "both groups' reads after the loss",
        || async {
            let counts = (
                reads("CONVERSATIONS").await?,
                reads("INTERNAL").await?,
                reads("PRESENCE").await?,
            );
            Ok((counts.0 >= 1.0 && counts.2 >= 2.0 * counts.0).then_some(counts))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}: each group read the whole streams itself, or not at all"))?;
    assert_eq!(
        presence,
        2.0 * whole,
        "PRESENCE read once per group and loss"
    );
    assert_eq!(
        internal, whole,
        "INTERNAL read once per loss, like CONVERSATIONS"
    );
    stack.stop().await
}

/// Sockets routed by dealer group (`docs/architecture.md`): a website's route (asked before a
/// new visitor's first socket, and in each widget `welcome`) and the console's (its agent's
/// `group_id`) are the dealer group; a socket URL that carries one, as the pages send it, is
/// served as before; another group's website names its own group; the route is refused to a
/// page the website does not allow, and unknown for an unknown key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_socket_names_its_dealer_group_as_its_route() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let mine = Tenant::seed(&stack.pool, "Routed", 1).await?;
    let other = Tenant::seed(&stack.pool, "Elsewhere", 1).await?;

    // A new visitor's widget asks where its sockets go.
    let client = reqwest::Client::new();
    let ask = |key: &str, origin: &str| {
        client
            .get(format!("{}/api/v1/widget/{key}/route", stack.base_url))
            .header("Origin", origin)
            .send()
    };
    let r = ask(&mine.key, &mine.origin).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=86400",
        "a route may be cached"
    );
    let asked: serde_json::Value = r.json().await?;
    assert_eq!(asked["route"], mine.group.to_string().as_str(), "{asked}");
    let refused = ask(&mine.key, "https://elsewhere.example").await?;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    let unknown = ask("no-such-key", &mine.origin).await?;
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await?;
    assert_eq!(body["error"]["code"], "unknown_website");

    // Its first socket carries that route.
    let first = format!(
        "{}/ws/widget?key={}&route={}",
        stack.ws_url(""),
        mine.key,
        asked["route"].as_str().unwrap_or_default()
    );
    let mut shopper = Socket::connect(&first, &[("Origin", &mine.origin)])
        .await
        .map_err(|r| anyhow::anyhow!("widget refused: {r:?}"))?;
    let welcome = shopper.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome["type"], "welcome");
    let route = welcome["route"].as_str().unwrap_or_default().to_string();
    assert_eq!(route, mine.group.to_string(), "welcome: {welcome}");

    // Next visit: the route the welcome named; the chat goes on as before.
    let token = welcome["visitor_token"].as_str().unwrap_or_default();
    let next = format!(
        "{}/ws/widget?key={}&route={route}",
        stack.ws_url(""),
        mine.key
    );
    let mut again = Socket::connect(&next, &[("Origin", &mine.origin)])
        .await
        .map_err(|r| anyhow::anyhow!("widget refused: {r:?}"))?;
    let welcome = again
        .ask(json!({"type": "hello", "v": 1, "visitor_token": token}))
        .await?;
    assert_eq!(welcome["route"], route.as_str());

    // The console: the agent's group_id from the login is the same route.
    let http = Http::new(&stack.base_url);
    let body = json!({"email": mine.agents[0].1, "password": PASSWORD}).to_string();
    let (status, login) = http.post("/api/v1/auth/login", &body).await?;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["agent"]["group_id"], route.as_str());
    let bearer = format!("Bearer {}", login["token"].as_str().unwrap_or_default());
    let console = format!("{}/ws/console?route={route}", stack.ws_url(""));
    let mut agent = Socket::connect(&console, &[("Authorization", &bearer)])
        .await
        .map_err(|r| anyhow::anyhow!("console refused: {r:?}"))?;
    let welcome = agent.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    // Another dealer group's website routes elsewhere.
    let mut theirs = Socket::widget(&stack.ws_url(""), &other.key, &other.origin).await?;
    let welcome = theirs.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome["route"], other.group.to_string().as_str());
    assert_ne!(other.group, mine.group);
    stack.stop().await
}

/// A chat whose shopper and agent are on one gateway goes on live while that gateway is cut off
/// from NATS: the gateway hands its own live copies to its sockets in process
/// (`interest::LiveCopies`). Before, the copy waited in the NATS client until it reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chat_on_one_gateway_goes_on_live_while_it_is_cut_off_from_nats() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Cut off chat", 1).await?;
    let (relay, g1) = gateway_behind_relay(&stack).await?;
    let mut agent = available_agent(&stack, &t, &g1.ws_url("")).await?;
    let mut shopper = Socket::widget(&g1.ws_url(""), &t.key, &t.origin).await?;
    shopper.ask(json!({"type": "hello", "v": 1})).await?;
    accepted_chat(&mut shopper, &mut agent, t.sales).await?;

    // g1 loses NATS. The message is stored, and the agent sees it at once. Its `ack` waits for
    // the bus's tries to reach the MESSAGES stream.
    relay.refuse(true);
    relay.cut().await;
    shopper
        .send(json!({"type": "send", "client_msg_id": "cut-1", "text": "Are you still there?"}))
        .await?;
    let got = tokio::time::timeout(
        Duration::from_secs(3),
        agent.recv_matching("message", |m| m["message"]["client_msg_id"] == "cut-1"),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the agent did not get the message while g1 was cut off"))??;
    assert_eq!(got["message"]["text"], "Are you still there?");
    let echo = tokio::time::timeout(
        Duration::from_secs(3),
        shopper.recv_matching("message", |m| m["message"]["client_msg_id"] == "cut-1"),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the shopper's own copy did not come while g1 was cut off"))??;
    assert_eq!(echo["message"]["seq"], got["message"]["seq"]);

    // Back on NATS, the `ack` comes, with the same seq.
    relay.refuse(false);
    let ack = tokio::time::timeout(Duration::from_secs(30), shopper.recv_type("ack"))
        .await
        .map_err(|_| anyhow::anyhow!("no ack once g1 was back on NATS"))??;
    assert_eq!(ack["seq"], got["message"]["seq"], "{ack}");
    stack.stop().await
}
