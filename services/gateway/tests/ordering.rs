//! Every socket gets a conversation's messages in seq order, each once, however its writers
//! race: the shopper and the agent, or the agent and the bot, writing at the same moment, on one
//! gateway or on three gateway processes; and a message whose publish is late (its writer
//! paused between the commit and the publish) still arrives in its place.
//!
//! Real servers and services (`showroom-testkit`), clients that speak `docs/protocol.md`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use showroom_bus::Bus;
use showroom_proto::message::{Author, AuthorKind, Message, PostMessage};
use showroom_proto::{Envelope, v1};
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant, Tuning, accepted_chat};
use tokio::sync::Barrier;
use uuid::Uuid;

/// Messages each writer sends per round, in step with the other.
const PAIRS: usize = 100;
/// Rounds per pair of writers.
const ROUNDS: usize = 10;

// The writers send as fast as the gateway answers, 2 000 messages into one chat: far past the
// limits a person meets (5 a second per socket, 60 a minute per chat), so the race tests raise
// them (`Tuning::for_load`).

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_showroom-gateway"))
}

/// One writer of a conversation.
enum Writer {
    /// The shopper's widget socket.
    Shopper(Socket),
    /// The agent's console socket, in this conversation.
    Agent(Socket, String),
    /// The bot, posting over the bus as the bot service does.
    Bot(Bus, Uuid, Uuid),
}

impl Writer {
    /// Writes one message and waits until it is stored; its seq.
    async fn write(&mut self, tag: &str) -> anyhow::Result<i64> {
        let ack = match self {
            Writer::Shopper(s) => {
                s.ask(json!({"type": "send", "client_msg_id": tag, "text": tag}))
                    .await?
            }
            Writer::Agent(s, conv) => {
                s.ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": tag, "text": tag}))
                    .await?
            }
            Writer::Bot(bus, group, conv) => {
                let post = PostMessage {
                    conversation_id: *conv,
                    author: Author {
                        kind: AuthorKind::Bot,
                        id: None,
                        name: Some("Assistant".into()),
                    },
                    text: tag.into(),
                    client_msg_id: tag.into(),
                };
                let m: Message = bus
                    .request(v1::message_post(*group), &Envelope::new(*group, post))
                    .await?
                    .map_err(|e| anyhow::anyhow!("post refused: {e:?}"))?;
                return Ok(m.seq);
            }
        };
        ack["seq"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("not an ack: {ack}"))
    }

    fn socket(self) -> Option<Socket> {
        match self {
            Writer::Shopper(s) | Writer::Agent(s, _) => Some(s),
            Writer::Bot(..) => None,
        }
    }
}

/// Both writers send `PAIRS` messages, each pair at the same moment (a barrier before each).
async fn race(a: Writer, b: Writer, round: usize) -> anyhow::Result<(Writer, Writer)> {
    let barrier = Arc::new(Barrier::new(2));
    let run = |mut w: Writer, name: &'static str| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            for i in 0..PAIRS {
                barrier.wait().await;
                w.write(&format!("{name}-{round}-{i}")).await?;
            }
            anyhow::Ok(w)
        })
    };
    let (a, b) = tokio::join!(run(a, "a"), run(b, "b"));
    Ok((a??, b??))
}

/// The seqs of the conversation's `message` frames a socket receives, in the order they come,
/// until `last` has come and the socket stays quiet for a moment (a late duplicate would show).
async fn seqs_until(sock: &mut Socket, conversation: &str, last: i64) -> anyhow::Result<Vec<i64>> {
    let mut seqs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wait = if seqs.contains(&last) {
            Duration::from_millis(400)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match sock.next_within(wait).await? {
            None => return Ok(seqs),
            Some(f) if is_message_of(&f, conversation) => {
                seqs.push(f["message"]["seq"].as_i64().unwrap_or(-1));
            }
            Some(_) => {}
        }
    }
}

fn is_message_of(f: &Value, conversation: &str) -> bool {
    f["type"] == "message" && f["message"]["conversation_id"] == conversation
}

/// Asserts each socket got exactly the seqs after `before` up to `last`, in order.
async fn all_in_order(
    readers: &mut [(&str, &mut Socket)],
    conversation: &str,
    before: i64,
    last: i64,
    what: &str,
) -> anyhow::Result<()> {
    let want: Vec<i64> = (before + 1..=last).collect();
    for (who, sock) in readers.iter_mut() {
        let got = seqs_until(sock, conversation, last).await?;
        if got != want {
            let missing: Vec<i64> = want.iter().filter(|s| !got.contains(s)).copied().collect();
            anyhow::bail!(
                "{what}: the {who}'s socket got {} frames for seqs {}..={last}; missing {missing:?}; in order: {}",
                got.len(),
                before + 1,
                got.windows(2).all(|w| w[0] < w[1])
            );
        }
    }
    Ok(())
}

/// A started and accepted chat between a shopper on `shopper_ws` and Sales agent 0 on
/// `agent_base`: the shopper's socket and `welcome`, the agent's socket, the conversation id.
async fn chat_between(
    t: &Tenant,
    shopper_ws: &str,
    agent_base: &str,
) -> anyhow::Result<(Socket, Value, Socket, String)> {
    let token = Http::new(agent_base)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let agent_ws = agent_base.replacen("http://", "ws://", 1);
    let mut agent = Socket::console(&agent_ws, &token).await?;
    agent.ask(json!({"type": "hello", "v": 1})).await?;
    let st = agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    anyhow::ensure!(st["status"] == "available", "{st}");

    let mut shopper = Socket::widget(shopper_ws, &t.key, &t.origin).await?;
    let welcome = shopper.ask(json!({"type": "hello", "v": 1})).await?;
    anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    shopper.recv_type("conversation").await?;
    Ok((shopper, welcome, agent, conv))
}

/// Rounds of the shopper and the agent, then of the agent and the bot, each checked on every
/// reader (the writers' own sockets and `extra`).
async fn rounds(
    stack: &Stack,
    t: &Tenant,
    mut shopper: Socket,
    mut agent: Socket,
    mut extra: Option<Socket>,
    conv: &str,
) -> anyhow::Result<()> {
    let bus = stack.bus().await?;
    let conv_id: Uuid = conv.parse()?;
    let written: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
            .bind(conv_id)
            .fetch_one(&stack.pool)
            .await?;
    anyhow::ensure!(written == 0, "the chat starts empty (no Lead Gate)");
    let mut last = 0;
    for pair in ["shopper and agent", "agent and bot"] {
        for round in 0..ROUNDS {
            let agent_writer = Writer::Agent(agent, conv.to_string());
            let (a, b) = if pair == "shopper and agent" {
                let (s, a) = race(Writer::Shopper(shopper), agent_writer, round).await?;
                shopper = s.socket().expect("a socket");
                (a, None)
            } else {
                let bot = Writer::Bot(bus.clone(), t.group, conv_id);
                let (a, b) = race(agent_writer, bot, round).await?;
                (a, Some(b))
            };
            drop(b);
            agent = a.socket().expect("a socket");
            let before = last;
            last += 2 * PAIRS as i64;
            let mut readers: Vec<(&str, &mut Socket)> =
                vec![("shopper", &mut shopper), ("agent", &mut agent)];
            if let Some(x) = extra.as_mut() {
                readers.push(("shopper's other tab", x));
            }
            let what = format!("{pair}, round {round}");
            all_in_order(&mut readers, conv, before, last, &what).await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_at_once_reach_both_sockets_in_order() -> anyhow::Result<()> {
    let stack = Stack::start_tuned(Tuning::for_load()).await?;
    let t = Tenant::seed(&stack.pool, "Order", 1).await?;
    let (shopper, _, agent, conv) = chat_between(&t, &stack.ws_url(""), &stack.base_url).await?;
    rounds(&stack, &t, shopper, agent, None, &conv).await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_three_gateway_processes_reach_every_socket_in_order() -> anyhow::Result<()> {
    let stack = Stack::start_tuned(Tuning::for_load()).await?;
    let t = Tenant::seed(&stack.pool, "Spread", 1).await?;
    // One after the other: each has bound its ports before the next looks for free ones.
    let g1 = stack.gateway_process(gateway_binary()).await?;
    let g2 = stack.gateway_process(gateway_binary()).await?;
    let g3 = stack.gateway_process(gateway_binary()).await?;
    // The shopper on the first, the agent on the second, the shopper's second tab on the third;
    // the bot's posts are taken by any gateway of the queue group.
    let (shopper, welcome, agent, conv) = chat_between(&t, &g1.ws_url(""), &g2.base_url).await?;
    let mut tab = Socket::widget(&g3.ws_url(""), &t.key, &t.origin).await?;
    let tab_welcome = tab
        .ask(json!({"type": "hello", "v": 1, "visitor_token": welcome["visitor_token"]}))
        .await?;
    anyhow::ensure!(
        tab_welcome["conversation"]["id"] == conv.as_str(),
        "the second tab follows the same chat: {tab_welcome}"
    );
    rounds(&stack, &t, shopper, agent, Some(tab), &conv).await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_published_late_still_arrives_in_its_place() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Late", 1).await?;
    let (mut shopper, _, mut agent, conv) =
        chat_between(&t, &stack.ws_url(""), &stack.base_url).await?;
    let conv_id: Uuid = conv.parse()?;
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "s-1", "text": "Is it still there?"}))
        .await?;
    assert_eq!(ack["seq"], 1, "{ack}");
    for sock in [&mut shopper, &mut agent] {
        assert_eq!(seqs_until(sock, &conv, 1).await?, [1]);
    }

    // The bot's writer stores seq 2 and pauses before publishing it (the gateway's own append,
    // without the publish that follows it).
    let bot = Author {
        kind: AuthorKind::Bot,
        id: None,
        name: Some("Assistant".into()),
    };
    let late = showroom_gateway::transcript::append(
        &stack.pool,
        t.group,
        conv_id,
        &bot,
        "A colleague will call you too.",
        "late-1",
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let late = late.message().clone();
    assert_eq!(late.seq, 2);
    // Meanwhile the agent writes seq 3, published at once.
    let ack = agent
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a-1", "text": "Yes, it is."}))
        .await?;
    assert_eq!(ack["seq"], 3, "{ack}");
    // Both sockets get 2 (read from the transcript once the gateway stopped waiting), then 3.
    for (who, sock) in [("shopper", &mut shopper), ("agent", &mut agent)] {
        let mut got = Vec::new();
        while got.len() < 2 {
            let f = sock
                .next_within(Duration::from_secs(10))
                .await?
                .ok_or_else(|| anyhow::anyhow!("the {who} got only {got:?}"))?;
            if is_message_of(&f, &conv) {
                got.push((
                    f["message"]["seq"].as_i64(),
                    f["message"]["text"].as_str().map(str::to_string),
                ));
            }
        }
        assert_eq!(
            got,
            [
                (Some(2), Some(late.text.clone())),
                (Some(3), Some("Yes, it is.".into()))
            ],
            "the {who}'s socket"
        );
    }
    // The paused writer publishes at last: nobody gets it twice.
    let bus = stack.bus().await?;
    let env = Envelope {
        id: late.id,
        tenant: t.group,
        time: late.at,
        data: late.clone(),
    };
    bus.publish_signal(
        v1::live(t.group, late.conversation_id, v1::Live::Message),
        &env,
    )
    .await?;
    bus.publish_event(v1::message_created(t.group), &env)
        .await?;
    for sock in [&mut shopper, &mut agent] {
        sock.expect_silence("message", Duration::from_millis(800))
            .await?;
    }
    stack.stop().await
}
