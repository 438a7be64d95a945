//! Notices through the real services and a real SMTP catcher: desktop notices pushed to the
//! agent's consoles (coalesced, and off when the agent turns them off), missed chats e-mailed
//! to the department's managers, messages left forwarded, and the transcript mailed to the
//! shopper once the chat has been quiet (3 s in tests, 30 minutes in the product).

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use showroom_proto::bot::BotSettings;
use showroom_proto::notification::DesktopNotices;
use showroom_proto::v1;
use showroom_testkit::{Http, PASSWORD, Service, Socket, Stack, Tenant};

/// Waits for an e-mail to `to` whose subject starts with `subject`.
async fn mail_to(stack: &Stack, to: &str, subject: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let all = stack.smtp.messages().await?;
        if let Some(m) = all.into_iter().find(|m| {
            m["to"]
                .as_array()
                .is_some_and(|t| t.iter().any(|a| a["address"] == to))
                && m["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(subject))
        }) {
            return Ok(m);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no e-mail to {to} starting {subject:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count_to(stack: &Stack, to: &str) -> anyhow::Result<usize> {
    Ok(stack
        .smtp
        .messages()
        .await?
        .iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|t| t.iter().any(|a| a["address"] == to))
        })
        .count())
}

async fn say(w: &mut Socket, text: &str) -> anyhow::Result<()> {
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": uuid::Uuid::new_v4().to_string(), "text": text}))
        .await?;
    anyhow::ensure!(ack["type"] == "ack", "{ack}");
    Ok(())
}

/// A burst of messages (`gap` apart) in a chat the agent holds gives one notice: the first,
/// returned. Nothing more for `silent_ms`; once 2.2 s have passed since that notice (the test
/// stacks' coalescing time is 2 s), the message `then` gets its own.
async fn one_notice_per_burst(
    agent: &mut Socket,
    w: &mut Socket,
    burst: &[impl AsRef<str>],
    gap: Option<Duration>,
    silent_ms: u64,
    then: &str,
) -> anyhow::Result<Value> {
    for text in burst {
        say(w, text.as_ref()).await?;
        if let Some(gap) = gap {
            tokio::time::sleep(gap).await;
        }
    }
    let first = agent.recv_type("notify").await?;
    agent
        .expect_silence("notify", Duration::from_millis(silent_ms))
        .await?;
    tokio::time::sleep(Duration::from_millis(2200 - silent_ms)).await;
    say(w, then).await?;
    let later = agent.recv_type("notify").await?;
    anyhow::ensure!(later["notice"]["body"] == then, "{later}");
    Ok(first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn desktop_notices_reach_the_agent_coalesced_and_can_be_turned_off() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Notices", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Maria"}))
        .await?;
    let id = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let incoming = agent.recv_type("notify").await?;
    assert_eq!(incoming["notice"]["kind"], "incoming");
    assert_eq!(incoming["notice"]["title"], "New chat · Sales");
    assert_eq!(incoming["notice"]["conversation_id"], id.as_str());
    assert_eq!(incoming["notice"]["sound"], true);
    agent
        .ask(json!({"type": "accept", "conversation_id": id}))
        .await?;

    // A burst of messages: one notice (the incoming one is another kind of news, but the same
    // chat: wait the coalescing time out first).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let burst = ["Hi", "Is the Pilot here?", "Blue one"];
    let first = one_notice_per_burst(&mut agent, &mut w, &burst, None, 1500, "Hello?").await?;
    assert_eq!(first["notice"]["kind"], "message");
    assert_eq!(first["notice"]["title"], "New message · Maria");
    assert_eq!(first["notice"]["body"], "Hi");

    // Turned off: nothing more; the sound choice rides each notice.
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let http = Http::new(&stack.base_url).with_token(&token);
    let (s, v) = http.get("/api/v1/me/notifications").await?;
    assert_eq!(
        (s.as_u16(), v.clone()),
        (200, json!({"desktop": true, "email": true, "sound": true}))
    );
    let (s, v) = http
        .put(
            "/api/v1/me/notifications",
            &json!({"desktop": false, "email": true, "sound": false}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let (s, _) = http
        .put("/api/v1/me/notifications", r#"{"desktop": "no"}"#)
        .await?;
    assert_eq!(s, 400);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    say(&mut w, "Anyone?").await?;
    agent
        .expect_silence("notify", Duration::from_millis(1500))
        .await?;
    stack.stop().await
}

/// Coalescing holds whichever notification replica takes a message: the marks are in the
/// Redis every replica shares (`services/notification/src/marks.rs`). With two replicas taking
/// the messages of a burst, the agent still gets one notice until the coalescing time (2 s in
/// test stacks) is over, then the next message's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coalescing_holds_across_notification_replicas() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    stack.start_service(Service::Notification).await?;
    let t = Tenant::seed(&stack.pool, "Marks", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Maria"}))
        .await?;
    let id = started["conversation"]["id"].clone();
    assert_eq!(
        agent.recv_type("notify").await?["notice"]["kind"],
        "incoming"
    );
    agent
        .ask(json!({"type": "accept", "conversation_id": id}))
        .await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Each message in its own batch, so both replicas take some.
    let burst: Vec<String> = (0..8).map(|n| format!("Message {n}")).collect();
    let gap = Some(Duration::from_millis(60));
    let first = one_notice_per_burst(&mut agent, &mut w, &burst, gap, 1200, "Still there?").await?;
    assert_eq!(first["notice"]["body"], "Message 0");
    stack.stop().await
}

/// An offer to several agents is noticed in one go (`Notices::desktop_all`): each agent who
/// keeps desktop notices on hears of it once, one who turned them off hears nothing, and the
/// gateways get all of it in one bus message (`DesktopNotices`), not one per agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_to_several_agents_notifies_each_who_wants_it_once() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Many", 3).await?;
    let nats = stack.nats_client().await?;
    let mut bus_notices = nats.subscribe(v1::notification_desktop(t.group)).await?;
    nats.flush().await?;
    let mut on = Vec::new();
    for (_, email) in &t.agents[..2] {
        on.push(stack.agent(email, "available").await?);
    }
    let mut off = stack.agent(&t.agents[2].1, "available").await?;
    let token = Http::new(&stack.base_url)
        .login(&t.agents[2].1, PASSWORD)
        .await?;
    let (s, v) = Http::new(&stack.base_url)
        .with_token(&token)
        .put(
            "/api/v1/me/notifications",
            &json!({"desktop": false, "email": true, "sound": true}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Maria"}))
        .await?;
    let id = started["conversation"]["id"].as_str().unwrap_or_default();
    for agent in &mut on {
        let offer = agent.recv_type("offer").await?;
        assert_eq!(offer["conversation"]["id"], id);
        let notice = agent.recv_type("notify").await?;
        assert_eq!(notice["notice"]["kind"], "incoming");
        assert_eq!(notice["notice"]["conversation_id"], id);
        agent
            .expect_silence("notify", Duration::from_millis(500))
            .await?;
    }
    // Offered too, and not told.
    assert_eq!(off.recv_type("offer").await?["conversation"]["id"], id);
    off.expect_silence("notify", Duration::from_millis(1000))
        .await?;

    // One bus message carried both notices.
    let mut carried = Vec::new();
    while let Ok(Some(m)) =
        tokio::time::timeout(Duration::from_millis(300), bus_notices.next()).await
    {
        let env = showroom_bus::decode::<DesktopNotices>(&m.payload)?;
        carried.push(env.data.iter().map(|n| n.agent_id).collect::<Vec<_>>());
    }
    let mut want: Vec<_> = t.agents[..2].iter().map(|(a, _)| *a).collect();
    want.sort();
    assert_eq!(
        carried.len(),
        1,
        "one bus message, not one per agent: {carried:?}"
    );
    carried[0].sort();
    assert_eq!(carried[0], want);
    stack.stop().await
}

/// Messages taken in one batch (`Notices::on_messages`; held back here while the service was
/// down, so the consumer pulls them together): the agent hears of each chat once, with its
/// first message of the batch, and only the chat whose shopper gave an e-mail gets a transcript
/// due.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_messages_notices_each_chat_once_and_dues_each_transcript() -> anyhow::Result<()>
{
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Batch", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let mut shoppers = Vec::new();
    for name in ["Maria", "Luis"] {
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales, "name": name}))
            .await?;
        let id: uuid::Uuid = started["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .parse()?;
        assert_eq!(
            agent.recv_type("offer").await?["conversation"]["id"],
            id.to_string()
        );
        agent
            .ask(json!({"type": "accept", "conversation_id": id}))
            .await?;
        shoppers.push((w, id));
    }
    // Both offers were noticed before the service stops.
    for _ in 0..2 {
        agent
            .recv_matching("notify", |n| n["notice"]["kind"] == "incoming")
            .await?;
    }
    // Only Maria's chat has an e-mail.
    showroom_store::sqlx::query(
        "UPDATE conversations SET contact = jsonb_build_object('email', 'maria@mails.example') \
         WHERE id = $1",
    )
    .bind(shoppers[0].1)
    .execute(&stack.pool)
    .await?;
    stack.stop_service(Service::Notification).await?;
    // Past the coalescing time of the offers' notices.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for text in ["maria 1", "luis 1", "maria 2", "luis 2"] {
        let w = &mut shoppers[usize::from(text.starts_with("luis"))].0;
        say(w, text).await?;
    }
    stack.start_service(Service::Notification).await?;
    let mut heard = Vec::new();
    for _ in 0..2 {
        let n = agent.recv_type("notify").await?;
        assert_eq!(n["notice"]["kind"], "message", "{n}");
        heard.push((
            n["notice"]["conversation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            n["notice"]["body"].as_str().unwrap_or_default().to_string(),
        ));
    }
    heard.sort();
    let mut want = vec![
        (shoppers[0].1.to_string(), "maria 1".to_string()),
        (shoppers[1].1.to_string(), "luis 1".to_string()),
    ];
    want.sort();
    assert_eq!(heard, want);
    agent
        .expect_silence("notify", Duration::from_millis(1000))
        .await?;
    let due: Vec<(uuid::Uuid,)> = showroom_store::sqlx::query_as(
        "SELECT conversation_id FROM transcript_mails WHERE conversation_id = ANY($1)",
    )
    .bind(vec![shoppers[0].1, shoppers[1].1])
    .fetch_all(&stack.pool)
    .await?;
    assert_eq!(due, vec![(shoppers[0].1,)]);
    stack.stop().await
}

/// Offers taken in one batch (`Notices::on_conversations`; held back while the service was
/// down): the agent hears of each new chat once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_offers_notices_each_chat_once() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Offers", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    stack.stop_service(Service::Notification).await?;
    let mut ids = Vec::new();
    let mut shoppers = Vec::new();
    for name in ["Maria", "Luis", "Ana"] {
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales, "name": name}))
            .await?;
        let id = started["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(agent.recv_type("offer").await?["conversation"]["id"], id);
        ids.push(id);
        shoppers.push(w);
    }
    stack.start_service(Service::Notification).await?;
    let mut heard = Vec::new();
    for _ in 0..ids.len() {
        let n = agent.recv_type("notify").await?;
        assert_eq!(n["notice"]["kind"], "incoming", "{n}");
        assert_eq!(n["notice"]["title"], "New chat · Sales", "{n}");
        heard.push(
            n["notice"]["conversation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    heard.sort();
    ids.sort();
    assert_eq!(heard, ids);
    agent
        .expect_silence("notify", Duration::from_millis(1000))
        .await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missed_chats_forwards_and_transcripts_are_mailed() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Mails", 1).await?;
    showroom_bot::settings::store(&stack.pool, t.group, t.website, &BotSettings::default()).await?;
    let (_, manager_email) = t
        .add_agent(&stack.pool, "salesmanager", "manager", &[t.sales])
        .await?;
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
    let (s, v) = manager
        .put(
            &format!("/api/v1/websites/{}/notifications", t.website),
            &json!({"forward_messages_to": ["bdc@mails.example"]}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let (s, v) = manager
        .put(
            &format!("/api/v1/websites/{}/notifications", t.website),
            &json!({"forward_messages_to": ["not an address"]}).to_string(),
        )
        .await?;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["fields"]["forward_messages_to"].is_string());
    let _agent = stack.agent(&t.agents[0].1, "available").await?;

    // A Spanish shopper gives an e-mail in the gate; nobody answers.
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w.ask(json!({"type": "hello", "v": 1, "locale": "es"}))
        .await?;
    w.ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    for answer in ["José", "Pérez", "jose@mails.example"] {
        w.recv_matching("message", |f| f["message"]["author"]["kind"] == "bot")
            .await?;
        say(&mut w, answer).await?;
    }
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;
    let missed = mail_to(&stack, &manager_email, "Missed chat · Mails Honda · Sales").await?;
    let text = missed["text"].as_str().unwrap_or_default();
    assert!(text.contains("José Pérez"), "{text}");
    assert!(text.contains("jose@mails.example"), "{text}");
    assert!(text.contains("#conversation="), "{text}");
    assert_eq!(
        count_to(&stack, &t.agents[0].1).await?,
        0,
        "agents are not managers"
    );

    // After the quiet time, the shopper gets the transcript, in Spanish, once.
    let transcript = mail_to(&stack, "jose@mails.example", "Su chat con Mails Honda").await?;
    let text = transcript["text"].as_str().unwrap_or_default();
    assert!(text.contains("Usted: José"), "{text}");
    assert!(text.contains("¿Cuál es su nombre?"), "{text}");

    // A message left is forwarded to the website's address.
    w.ask(
        json!({"type": "leave_message", "form_id": "f", "first_name": "José", "last_name": "Pérez",
        "email": "jose@mails.example", "message": "Llámenme <mañana>"}),
    )
    .await?;
    let forward = mail_to(&stack, "bdc@mails.example", "Message left · Mails Honda").await?;
    assert!(
        forward["text"]
            .as_str()
            .is_some_and(|t| t.contains("Llámenme <mañana>"))
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        count_to(&stack, "jose@mails.example").await?,
        1,
        "one transcript"
    );
    assert_eq!(
        count_to(&stack, &manager_email).await?,
        1,
        "one missed-chat e-mail"
    );
    stack.stop().await
}

/// "Email me this chat" through the widget's socket: a wrong address has its own error code,
/// the transcript arrives once, in the chat's language, however often the same frame is sent,
/// and the fourth e-mail of the hour is refused. The welcome carries the website's appearance
/// (what the widget looks like, and its fixed language) on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shoppers_get_the_transcript_by_email_on_request_once_and_rate_limited()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Requests", 1).await?;
    let _agent = stack.agent(&t.agents[0].1, "available").await?;

    let (_, welcome) = stack.shopper(&t, None, 0).await?;
    assert_eq!(welcome["appearance"]["position"], "right", "{welcome}");
    assert_eq!(welcome["appearance"]["icon"], "chat");
    showroom_store::sqlx::query("UPDATE websites SET appearance = $1 WHERE id = $2")
        .bind(
            json!({"color": "#0b6e4f", "position": "left", "icon": "car", "language": "es",
            "launcher_label": "¡Hablemos!"}),
        )
        .bind(t.website)
        .execute(&stack.pool)
        .await?;
    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    let look = &welcome["appearance"];
    assert_eq!(
        (look["color"].as_str(), look["text_color"].as_str()),
        (Some("#0b6e4f"), Some("#ffffff")),
        "{look}"
    );
    assert_eq!(
        (look["position"].as_str(), look["icon"].as_str()),
        (Some("left"), Some("car"))
    );
    assert_eq!(look["launcher_label"], "¡Hablemos!");
    assert_eq!(welcome["language"], "es", "the website's fixed language");

    // Nothing to send before a chat; then a Spanish chat with a message.
    let none = w
        .ask(json!({"type": "email_transcript", "email": "ana@requests.example"}))
        .await?;
    assert_eq!(
        (none["type"].as_str(), none["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{none}"
    );
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Ana"}))
        .await?;
    assert_eq!(started["conversation"]["language"], "es", "{started}");
    say(&mut w, "Hola, ¿tienen el Civic <azul>?").await?;

    let bad = w
        .ask(json!({"type": "email_transcript", "email": "ana@requests"}))
        .await?;
    assert_eq!(
        (bad["type"].as_str(), bad["code"].as_str()),
        (Some("error"), Some("bad_email")),
        "{bad}"
    );

    // Sent once, however often the same request comes.
    let ask = json!({"type": "email_transcript", "email": " ana@Requests.EXAMPLE "});
    let sent = w.ask(ask.clone()).await?;
    assert_eq!(sent["type"], "transcript_sent", "{sent}");
    assert_eq!(sent["email"], "ana@requests.example");
    let again = w.ask(ask.clone()).await?;
    assert_eq!(
        again["type"], "transcript_sent",
        "a retry gets the same answer: {again}"
    );
    let mail = mail_to(&stack, "ana@requests.example", "Su chat con Requests Honda").await?;
    let text = mail["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Aquí está su chat con Requests Honda."),
        "{text}"
    );
    assert!(
        text.contains("Usted: Hola, ¿tienen el Civic <azul>?"),
        "{text}"
    );

    // Two more addresses this hour; the fourth e-mail is refused, and says when to retry.
    for to in ["luis@requests.example", "bdc@requests.example"] {
        let ok = w
            .ask(json!({"type": "email_transcript", "email": to}))
            .await?;
        assert_eq!(ok["type"], "transcript_sent", "{ok}");
    }
    let limited = w
        .ask(json!({"type": "email_transcript", "email": "more@requests.example"}))
        .await?;
    assert_eq!(limited["code"], "rate_limited", "{limited}");
    let wait = limited["retry_after_secs"].as_u64().unwrap_or_default();
    assert!((3000..=3600).contains(&wait), "{limited}");
    // A retry of one already sent still answers (it sends nothing, so it is not limited).
    let retry = w.ask(ask).await?;
    assert_eq!(retry["type"], "transcript_sent", "{retry}");

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        count_to(&stack, "ana@requests.example").await?,
        1,
        "one e-mail"
    );
    assert_eq!(count_to(&stack, "luis@requests.example").await?, 1);
    assert_eq!(
        count_to(&stack, "more@requests.example").await?,
        0,
        "limited"
    );
    stack.stop().await
}

/// Two notification replicas share the transcript sweep and the e-mails' keys: every shopper
/// gets their transcript exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_mail_each_transcript_once() -> anyhow::Result<()> {
    const CHATS: usize = 12;
    let mut stack = Stack::start().await?;
    stack
        .start_service(showroom_testkit::Service::Notification)
        .await?;
    let t = Tenant::seed(&stack.pool, "Twice", 1).await?;
    showroom_store::sqlx::query("UPDATE agents SET max_chats = 100")
        .execute(&stack.pool)
        .await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let mut shoppers = Vec::new();
    for i in 0..CHATS {
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let conv = showroom_testkit::accepted_chat(&mut w, &mut agent, t.sales).await?;
        // The contact the Lead Gate would have collected.
        showroom_store::sqlx::query("UPDATE conversations SET contact = $2 WHERE id = $1")
            .bind(uuid::Uuid::parse_str(&conv)?)
            .bind(json!({"first_name": "Shopper", "last_name": format!("No{i}"), "email": format!("twice{i}@mails.example")}))
            .execute(&stack.pool)
            .await?;
        say(&mut w, "Thanks, that is all.").await?;
        shoppers.push(w);
    }
    // Quiet for 3 s (the tests' transcript delay), then both replicas sweep every 200 ms.
    for i in 0..CHATS {
        mail_to(&stack, &format!("twice{i}@mails.example"), "Your chat with").await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..CHATS {
        let to = format!("twice{i}@mails.example");
        assert_eq!(count_to(&stack, &to).await?, 1, "{to} got one transcript");
    }
    stack.stop().await
}
