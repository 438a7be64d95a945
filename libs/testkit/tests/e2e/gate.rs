//! The bot through the widget socket and REST, against real servers: the Lead Gate with good
//! and bad answers in English and Spanish, the gate off, the leave-a-message form in each of
//! its four triggers, the REST call with good input and each kind of bad input, and the bot's
//! settings.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use showroom_proto::bot::BotSettings;
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant};
use uuid::Uuid;

use crate::leads::{Bot, bot_says};

/// Turns the tenant's Lead Gate on (the test kit seeds it off).
async fn gate_on(stack: &Stack, t: &Tenant) -> anyhow::Result<()> {
    showroom_bot::settings::store(&stack.pool, t.group, t.website, &BotSettings::default()).await?;
    Ok(())
}

/// Sends a shopper message and waits for its `ack`.
async fn say(w: &mut Socket, text: &str) -> anyhow::Result<()> {
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": Uuid::new_v4().to_string(), "text": text}))
        .await?;
    anyhow::ensure!(ack["type"] == "ack", "{ack}");
    Ok(())
}

async fn until_state(w: &mut Socket, state: &str) -> anyhow::Result<Value> {
    w.recv_matching("conversation", |f| f["conversation"]["state"] == state)
        .await
}

/// A manager of the tenant, logged in over REST.
async fn manager(stack: &Stack, t: &Tenant) -> anyhow::Result<Http> {
    let (_, email) = t.add_agent(&stack.pool, "manager", "manager", &[]).await?;
    let token = Http::new(&stack.base_url).login(&email, PASSWORD).await?;
    Ok(Http::new(&stack.base_url).with_token(&token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lead_gate_asks_checks_each_answer_and_hands_over() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Gate", 1).await?;
    gate_on(&stack, &t).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    assert_eq!(welcome["bot"]["lead_gate"], true, "{welcome}");
    assert_eq!(welcome["language"], "en");
    let consent_shown = welcome["bot"]["texts"]["en"]["consent"]
        .as_str()
        .unwrap_or_default()
        .replace("{rooftop}", "Gate Honda");
    assert!(consent_shown.contains("Gate Honda"), "{consent_shown}");

    // No department chosen: the bot asks it; nobody is offered the chat meanwhile.
    let started = w
        .ask(json!({"type": "start", "page_url": "https://www.gate.example/new/civic"}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let c = &started["conversation"];
    assert_eq!(c["state"], "bot", "{started}");
    assert_eq!(c["department_pending"], true);
    let mut bot = Bot::after(&started);
    assert!(bot.says(&mut w).await?.contains("Gate Honda"), "greeting");
    let q = bot.says(&mut w).await?;
    assert!(
        q.contains("Which department") && q.contains("Sales, Service"),
        "{q}"
    );
    agent
        .expect_silence("offer", Duration::from_millis(300))
        .await?;

    say(&mut w, "Finance").await?;
    let again = bot_says(&mut w).await?;
    assert!(again.contains("didn't find that department"), "{again}");
    say(&mut w, "sales").await?;
    assert_eq!(bot_says(&mut w).await?, "What's your first name?");
    say(&mut w, "R2D2").await?;
    assert!(bot_says(&mut w).await?.contains("just your name"));
    say(&mut w, "  Maria ").await?;
    assert_eq!(
        bot_says(&mut w).await?,
        "Thanks, Maria. And your last name?"
    );
    say(&mut w, "López").await?;
    assert!(
        bot_says(&mut w)
            .await?
            .contains("e-mail address or mobile number")
    );
    assert_eq!(
        bot_says(&mut w).await?,
        consent_shown,
        "the consent follows"
    );
    say(&mut w, "555-12").await?;
    let bad = bot_says(&mut w).await?;
    assert!(bad.contains("valid phone number for US"), "{bad}");
    agent
        .expect_silence("offer", Duration::from_millis(200))
        .await?;
    say(&mut w, "(312) 555-2368").await?;

    // Done: the chat is offered with what the gate collected.
    let incoming = until_state(&mut w, "incoming").await?;
    let contact = &incoming["conversation"]["contact"];
    assert_eq!(contact["first_name"], "Maria");
    assert_eq!(contact["last_name"], "López");
    assert_eq!(contact["phone"], "+13125552368");
    assert!(
        contact.get("consent").is_none(),
        "the widget never sees the consent record"
    );
    assert_eq!(incoming["conversation"]["department"]["label"], "Sales");
    assert_eq!(
        bot_says(&mut w).await?,
        "Thanks, Maria! Someone will be right with you."
    );
    let offer = agent.recv_type("offer").await?;
    let oc = &offer["conversation"];
    assert_eq!(oc["shopper"]["name"], "Maria López");
    assert_eq!(oc["contact"]["phone"], "+13125552368");
    assert_eq!(oc["contact"]["consent"]["text"], consent_shown.as_str());
    assert_eq!(oc["contact"]["consent"]["version"], "v1-en");
    assert_eq!(
        oc["contact"]["consent"]["page_url"],
        "https://www.gate.example/new/civic"
    );
    assert_eq!(oc["contact"]["consent"]["ip"], "127.0.0.1");
    assert_eq!(oc["language"], "en");

    // The agent takes it: the shopper is told who joined.
    let id = oc["id"].as_str().unwrap_or_default().to_string();
    let accepted = agent
        .ask(json!({"type": "accept", "conversation_id": id}))
        .await?;
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    let joined = w
        .recv_matching("message", |f| f["message"]["author"]["kind"] == "system")
        .await?;
    assert_eq!(joined["message"]["text"], "Agent0 Gate joined the chat.");

    // Every answer is in the transcript, once; the bot answered each exactly once.
    let (shopper_msgs, bot_msgs): (i64, i64) = showroom_store::sqlx::query_as(
        "SELECT count(*) FILTER (WHERE author_kind = 'shopper'), count(*) FILTER (WHERE author_kind = 'bot') \
         FROM messages WHERE conversation_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(shopper_msgs, 7);
    // greeting, department, again, first name, again, last name, contact, consent, bad phone,
    // online.
    assert_eq!(bot_msgs, 10);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gate_speaks_spanish_and_the_gate_off_goes_straight_to_agents() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Puerta", 1).await?;
    gate_on(&stack, &t).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;

    // The browser says es-MX: the welcome, the bot and the conversation are in Spanish.
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    let welcome = w
        .ask(json!({"type": "hello", "v": 1, "locale": "es-MX"}))
        .await?;
    assert_eq!(welcome["language"], "es", "{welcome}");
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["conversation"]["language"], "es", "{started}");
    assert!(started["conversation"].get("department_pending").is_none());
    let mut bot = Bot::after(&started);
    assert!(bot.says(&mut w).await?.starts_with("Hola"));
    assert_eq!(
        bot.says(&mut w).await?,
        "¿Cuál es su nombre?",
        "no department question"
    );
    say(&mut w, "123").await?;
    assert!(bot_says(&mut w).await?.contains("solo su nombre"));
    say(&mut w, "José").await?;
    assert_eq!(bot_says(&mut w).await?, "Gracias, José. ¿Y su apellido?");
    say(&mut w, "Pérez").await?;
    assert!(bot_says(&mut w).await?.contains("correo electrónico"));
    let _consent = bot_says(&mut w).await?;
    say(&mut w, "jose@ejemplo").await?;
    assert!(bot_says(&mut w).await?.contains("no parece completo"));
    say(&mut w, "Jose@Ejemplo.MX").await?;
    let incoming = until_state(&mut w, "incoming").await?;
    assert_eq!(
        incoming["conversation"]["contact"]["email"],
        "Jose@ejemplo.mx"
    );
    assert!(incoming["conversation"]["contact"].get("phone").is_none());
    assert!(bot_says(&mut w).await?.starts_with("¡Gracias, José!"));
    let offer = agent.recv_type("offer").await?;
    assert!(
        offer["conversation"]["contact"].get("consent").is_none(),
        "no phone, no consent"
    );
    let id = offer["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    agent
        .ask(json!({"type": "accept", "conversation_id": id}))
        .await?;
    let joined = w
        .recv_matching("message", |f| f["message"]["author"]["kind"] == "system")
        .await?;
    assert_eq!(joined["message"]["text"], "Agent0 Puerta se unió al chat.");

    // With the gate off, a chat is offered at once and the bot says nothing.
    let off = BotSettings {
        lead_gate: false,
        ..Default::default()
    };
    showroom_bot::settings::store(&stack.pool, t.group, t.website, &off).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the router's settings cache
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let started = w2
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["conversation"]["state"], "incoming", "{started}");
    agent.recv_type("offer").await?;
    w2.expect_silence("message", Duration::from_millis(500))
        .await?;
    stack.stop().await
}

/// Subscribes to the group's `bot.message_left` events (with the client that keeps it open).
async fn messages_left(
    stack: &Stack,
    group: Uuid,
) -> anyhow::Result<(async_nats::Client, async_nats::Subscriber)> {
    let nats = stack.nats_client().await?;
    let sub =
        showroom_testkit::watch::subscribed(&nats, showroom_proto::v1::message_left(group)).await?;
    Ok((nats, sub))
}

async fn next_left(sub: &mut async_nats::Subscriber) -> anyhow::Result<Value> {
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("subscription ended"))?;
    let env: Value = serde_json::from_slice(&msg.payload)?;
    Ok(env["data"].clone())
}

/// Leaves a message from the widget: a bad e-mail first (named), then the good form, twice
/// with the same form id (stored once). Answers the id.
async fn leave(w: &mut Socket, form_id: &str) -> anyhow::Result<String> {
    let mut form = json!({
        "type": "leave_message", "form_id": form_id, "first_name": "Ana", "last_name": "Ruiz",
        "email": "ana@", "phone": "(312) 555-2368", "message": "Call me about the Civic",
    });
    let refused = w.ask(form.clone()).await?;
    anyhow::ensure!(
        refused["type"] == "error" && refused["fields"]["email"].is_string(),
        "{refused}"
    );
    anyhow::ensure!(
        refused["fields"].as_object().map(|f| f.len()) == Some(1),
        "{refused}"
    );
    form["email"] = json!("ana@example.com");
    let left = w.ask(form.clone()).await?;
    anyhow::ensure!(left["type"] == "message_left", "{left}");
    let again = w.ask(form).await?;
    anyhow::ensure!(again["id"] == left["id"], "{again} vs {left}");
    Ok(left["id"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_is_left_after_each_of_the_four_offline_triggers() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Leave", 1).await?;
    let http = manager(&stack, &t).await?;
    let (_nats, mut sub) = messages_left(&stack, t.group).await?;
    let dept = |settings: Value| {
        let http = http.clone();
        let path = format!("/api/v1/departments/{}/routing", t.sales);
        async move {
            let (s, b) = http.put(&path, &settings.to_string()).await?;
            anyhow::ensure!(s == 200, "{s} {b}");
            tokio::time::sleep(Duration::from_millis(1100)).await; // other replicas' caches
            Ok::<_, anyhow::Error>(())
        }
    };
    let mut triggers = Vec::new();

    // 1. Nobody available: no console is connected.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let s = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(
        s["conversation"]["offline_reason"], "nobody_available",
        "{s}"
    );
    triggers.push((leave(&mut w, "f1").await?, "nobody_available"));

    // 2. After hours: Sales has no open hours.
    dept(json!({"hours": {"intervals": []}})).await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let s = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(s["conversation"]["offline_reason"], "after_hours", "{s}");
    triggers.push((leave(&mut w, "f2").await?, "after_hours"));
    dept(json!({"wait_secs": 1, "incoming_timeout_secs": 60})).await?;

    // 3. The wait time ran out with an agent online who did not answer.
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let s = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(s["conversation"]["state"], "incoming", "{s}");
    let off = until_state(&mut w, "offline").await?;
    assert_eq!(off["conversation"]["offline_reason"], "wait_expired");
    triggers.push((leave(&mut w, "f3").await?, "wait_expired"));

    // 4. The website's cap: one open chat at most, and one is open.
    let (s, b) = http
        .put(
            &format!("/api/v1/websites/{}/routing", t.website),
            &json!({"max_sessions": 1}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{b}");
    dept(json!({"incoming_timeout_secs": 60})).await?;
    let (mut first, _) = stack.shopper(&t, None, 0).await?;
    let s = first
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(s["conversation"]["state"], "incoming", "{s}");
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let s = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(s["conversation"]["offline_reason"], "max_sessions", "{s}");
    triggers.push((leave(&mut w, "f4").await?, "max_sessions"));

    // Each is stored once with its trigger and the consent shown, and published once.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_left(&mut sub).await?);
    }
    for (id, trigger) in &triggers {
        let ev = seen
            .iter()
            .find(|e| e["id"] == id.as_str())
            .ok_or_else(|| anyhow::anyhow!("no event for {id}"))?;
        assert_eq!(ev["trigger"], *trigger, "{ev}");
        assert_eq!(ev["contact"]["phone"], "+13125552368");
        assert_eq!(ev["contact"]["consent"]["version"], "v1-en");
        assert!(
            ev["contact"]["consent"]["text"]
                .as_str()
                .is_some_and(|c| c.contains("Leave Honda"))
        );
        assert_eq!(ev["department"]["label"], "Sales");
        assert!(ev["conversation_id"].is_string());
        let (n, stored): (i64, String) = showroom_store::sqlx::query_as(
            "SELECT count(*) OVER (), trigger FROM left_messages WHERE id = $1::uuid",
        )
        .bind(id)
        .fetch_one(&stack.pool)
        .await?;
        assert_eq!((n, stored.as_str()), (1, *trigger));
    }
    let (total,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM left_messages WHERE group_id = $1")
            .bind(t.group)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(total, 4, "resending a form stores nothing new");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), sub.next())
            .await
            .is_err(),
        "each message is published once"
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rest_call_takes_a_dealers_form_and_names_each_wrong_field() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Forms", 0).await?;
    let (_nats, mut sub) = messages_left(&stack, t.group).await?;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/widget/{}/messages", stack.base_url, t.key);
    let post = |body: Value, headers: Vec<(&'static str, String)>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut req = client.post(&url).json(&body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            Ok::<_, anyhow::Error>((status, v))
        }
    };
    let good = json!({
        "first_name": "Maria", "last_name": "Lopez", "email": "maria@example.com",
        "phone": "+52 55 1234 5678", "message": "Is the <b>blue</b> CR-V still there?",
        "department_id": t.service, "language": "es",
        "page_url": "https://www.forms.example/used/crv",
        "consent": {"text": "You agree that we may text you.", "version": "2026-01"},
        "vehicle": {"vin": "5J6RW2H85NL001234", "year": 2022, "make": "Honda", "model": "CR-V"},
    });
    // A client's own X-Forwarded-For is not believed: no proxy is trusted by default.
    let forged = vec![
        ("Idempotency-Key", "form-77".into()),
        ("X-Forwarded-For", "203.0.113.77".into()),
    ];
    let (s, v) = post(good.clone(), forged).await?;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let ev = next_left(&mut sub).await?;
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["trigger"], "rest");
    assert_eq!(ev["language"], "es");
    assert_eq!(ev["department"]["label"], "Service");
    assert_eq!(
        ev["message"], "Is the <b>blue</b> CR-V still there?",
        "text, kept as typed"
    );
    assert_eq!(ev["contact"]["phone"], "+525512345678");
    assert_eq!(
        ev["contact"]["consent"]["text"],
        "You agree that we may text you."
    );
    assert_eq!(ev["contact"]["consent"]["version"], "2026-01");
    assert_eq!(
        ev["contact"]["consent"]["page_url"],
        "https://www.forms.example/used/crv"
    );
    assert_eq!(ev["contact"]["consent"]["ip"], "127.0.0.1");
    assert_eq!(ev["contact"]["consent"]["ip_source"], "peer");
    assert_eq!(ev["vehicle"]["vin"], "5J6RW2H85NL001234");

    // The same key again: the same id, nothing new stored or published.
    let (s, v) = post(good.clone(), vec![("Idempotency-Key", "form-77".into())]).await?;
    assert_eq!((s, v["id"].as_str()), (202, Some(id.as_str())));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), sub.next())
            .await
            .is_err()
    );

    // Each kind of bad input names its fields; nothing is stored.
    let cases = [
        (
            json!({}),
            vec!["email", "first_name", "last_name", "message"],
        ),
        (
            json!({"first_name": "M4ria", "last_name": "Lopez", "email": "maria@example", "message": "hi"}),
            vec!["email", "first_name"],
        ),
        (
            json!({"first_name": "Maria", "last_name": "Lopez", "email": "m@example.com", "message": "hi",
                   "phone": "12", "language": "fr", "page_url": "javascript:alert(1)"}),
            vec!["language", "page_url", "phone"],
        ),
        (
            json!({"first_name": "Maria", "last_name": "Lopez", "email": "m@example.com", "message": "x".repeat(4001),
                   "department_id": Uuid::new_v4(), "consent": {"text": "", "version": "1"},
                   "vehicle": {"vin": "short"}}),
            vec!["consent", "department_id", "message", "vehicle"],
        ),
    ];
    for (body, fields) in cases {
        let (s, v) = post(body.clone(), vec![]).await?;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "bad_request");
        let got: Vec<&str> = v["error"]["fields"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(got, fields, "{v}");
    }
    let raw = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"first_name\": ")
        .send()
        .await?;
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(raw.json::<Value>().await?["error"]["code"], "bad_json");
    let (s, v) = post(
        good.clone(),
        vec![("Origin", "https://evil.example".into())],
    )
    .await?;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    let (s, _) = post(good.clone(), vec![("Origin", t.origin.clone())]).await?;
    assert_eq!(s, 202, "the website's own origin may post");
    let bad_key = client
        .post(format!(
            "{}/api/v1/widget/no-such-key/messages",
            stack.base_url
        ))
        .json(&good)
        .send()
        .await?;
    assert_eq!(bad_key.status().as_u16(), 404);
    let (total,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM left_messages WHERE group_id = $1")
            .bind(t.group)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(total, 2);
    // Behind a trusted proxy (here: loopback), its header says who the client is; a hop the
    // client wrote itself, to the left, is not read.
    let behind = showroom_gateway::start(
        showroom_gateway::Config {
            trusted_proxies: "127.0.0.1/32"
                .to_string()
                .try_into()
                .map_err(anyhow::Error::msg)?,
            ..stack.gateway_config()
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await?;
    let proxied = client
        .post(format!(
            "http://{}/api/v1/widget/{}/messages",
            behind.http_addr.expect("http"),
            t.key
        ))
        .header("X-Forwarded-For", "198.51.100.1, 203.0.113.77")
        .json(&good)
        .send()
        .await?;
    assert_eq!(proxied.status().as_u16(), 202);
    let id = proxied.json::<Value>().await?["id"].clone();
    let mut ev = next_left(&mut sub).await?;
    while ev["id"] != id {
        ev = next_left(&mut sub).await?;
    }
    assert_eq!(ev["contact"]["consent"]["ip"], "203.0.113.77");
    assert_eq!(ev["contact"]["consent"]["ip_source"], "x_forwarded_for");
    behind.stop().await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managers_set_the_bot_and_a_new_consent_text_gets_a_new_version() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Settings", 1).await?;
    let path = format!("/api/v1/websites/{}/bot", t.website);
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let agent = Http::new(&stack.base_url).with_token(&token);
    let (s, v) = agent.get(&path).await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lead_gate"], false, "the test kit's setting");
    let (s, _) = agent.put(&path, "{}").await?;
    assert_eq!(s, 403, "agents cannot change it");

    let http = manager(&stack, &t).await?;
    let greeting = json!({"lead_gate": true, "bot_name": "Ava",
        "texts": {"es": {"greeting": "¡Hola! Soy {bot} de {rooftop}."}}});
    let (s, v) = http.put(&path, &greeting.to_string()).await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["consent_version"], 1, "the consent did not change");
    // A PUT replaces the whole settings: the Spanish greeting is sent again.
    let consent = json!({"lead_gate": true, "bot_name": "Ava",
        "texts": {"en": {"consent": "Text me, {rooftop}."},
                  "es": {"greeting": "¡Hola! Soy {bot} de {rooftop}."}}});
    let (_, v) = http.put(&path, &consent.to_string()).await?;
    assert_eq!(v["consent_version"], 2, "{v}");
    let (_, v) = http.put(&path, &consent.to_string()).await?;
    assert_eq!(v["consent_version"], 2, "same text, same version");

    for (body, field) in [
        (
            json!({"avatar_url": "http://x.example/a.png"}),
            "avatar_url",
        ),
        (json!({"bot_name": "x".repeat(61)}), "bot_name"),
        (
            json!({"texts": {"en": {"online": "x".repeat(1001)}}}),
            "texts.en.online",
        ),
    ] {
        let (s, v) = http.put(&path, &body.to_string()).await?;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"]["fields"][field].is_string(), "{field}: {v}");
    }
    let (s, v) = http.put(&path, r#"{"lead_gat": true}"#).await?;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str()),
        (400, Some("bad_json"))
    );
    let (s, _) = http
        .get(&format!("/api/v1/websites/{}/bot", Uuid::new_v4()))
        .await?;
    assert_eq!(s, 404);

    // The widget gets the bot's name and the website's texts, the rest built in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    let welcome = w
        .ask(json!({"type": "hello", "v": 1, "locale": "es"}))
        .await?;
    let bot = &welcome["bot"];
    assert_eq!(bot["name"], "Ava");
    assert_eq!(bot["texts"]["en"]["consent"], "Text me, {rooftop}.");
    assert!(
        bot["texts"]["es"]["consent"]
            .as_str()
            .is_some_and(|c| c.starts_with("Al darnos"))
    );
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["conversation"]["state"], "bot", "{started}");
    assert_eq!(
        Bot::after(&started).says(&mut w).await?,
        "¡Hola! Soy Ava de Settings Honda."
    );
    stack.stop().await
}
