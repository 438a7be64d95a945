//! Trade-in details (issue 20, item 3) through the real services: the agent's form over REST
//! (a wrong VIN check digit refused naming `vin`, another group and an agent not of the chat
//! refused as if the chat did not exist), the lead made afterwards carrying it into an ADF
//! e-mail that xmllint validates against the DTD, a later change published as `lead.updated`;
//! and the Lead Gate asking for it in the chat when a pre-chat form says the shopper's interest
//! is a trade-in, its answers reaching the missed chat's lead.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant, accepted_chat, eventually};
use uuid::Uuid;

use crate::crm::{Crm, gate_and_miss_after, xmllint};
use crate::leads::{Bot, bot_says};

async fn login(stack: &Stack, email: &str) -> anyhow::Result<Http> {
    let anon = Http::new(&stack.base_url);
    Ok(anon.with_token(&anon.login(email, PASSWORD).await?))
}

async fn next_lead_event(sub: &mut async_nats::Subscriber) -> anyhow::Result<Value> {
    let msg = tokio::time::timeout(Duration::from_secs(15), futures::StreamExt::next(sub))
        .await?
        .context("subscription ended")?;
    Ok(serde_json::from_slice(&msg.payload)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agent_saves_a_trade_in_that_reaches_the_lead_and_a_valid_adf() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Trade In", 1).await?;
    let other = Tenant::seed(&stack.pool, "Trade Elsewhere", 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    crm.put_destination(
        Uuid::now_v7(),
        json!({"rooftop_id": t.rooftop, "name": "ADF", "target": {"kind": "adf_email", "to": "leads@trade-in.example"}}),
    )
    .await?;
    let nats = stack.nats_client().await?;
    let mut events =
        showroom_testkit::watch::subscribed(&nats, format!("showroom.v1.{}.lead.*", t.group))
            .await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, _) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let path = format!("/api/v1/conversations/{conv}/trade-in");
    let http = login(&stack, &t.agents[0].1).await?;

    let (s, v) = http.get(&path).await?;
    assert_eq!((s.as_u16(), &v["trade_in"]), (200, &Value::Null), "{v}");

    // A wrong check digit (the 9th character of a 2003 Accord's VIN changed from 3 to 4) is
    // refused naming the field and the digit it should have; nothing is stored.
    let (s, v) = http
        .put(
            &path,
            &json!({"model": "Accord", "mileage": 142000, "condition": "fair",
                "vin": "1HGCM82643A004352"})
            .to_string(),
        )
        .await?;
    assert_eq!(s, 400, "{v}");
    let why = v["error"]["fields"]["vin"].as_str().unwrap_or_default();
    assert!(
        why.contains("check digit") && why.contains("make it 3"),
        "{v}"
    );
    let (s, v) = http
        .put(
            &path,
            &json!({"year": 2003, "make": "Honda", "model": "Accord",
            "mileage": -5, "condition": "great"})
            .to_string(),
        )
        .await?;
    assert_eq!(s, 400, "a body that does not parse: {v}");
    let (_, v) = http.get(&path).await?;
    assert_eq!(v["trade_in"], Value::Null);

    // Saved: the VIN fills year and make.
    let (s, v) = http
        .put(
            &path,
            &json!({"model": "Accord", "mileage": 142000, "mileage_unit": "mi", "condition": "fair",
                "vin": " 1hgcm82633a004352 ", "payoff_cents": 250000, "comments": "Dent in the <rear> bumper"})
            .to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let saved = &v["trade_in"];
    assert_eq!(
        (&saved["year"], &saved["make"], &saved["vin"]),
        (&json!(2003), &json!("Honda"), &json!("1HGCM82633A004352")),
        "{v}"
    );

    // Another group, and an agent of the group who never had the chat, see no such chat; the
    // group's manager does.
    let stranger = login(&stack, &other.agents[0].1).await?;
    let (s, _) = stranger.get(&path).await?;
    assert_eq!(s, 404);
    let (s, _) = stranger
        .put(&path, &json!({"year": 2003, "make": "Honda", "model": "Accord", "mileage": 1, "condition": "good"}).to_string())
        .await?;
    assert_eq!(s, 404);
    let (_, colleague) = t
        .add_agent(&stack.pool, "colleague", "agent", &[t.sales])
        .await?;
    let (s, _) = login(&stack, &colleague).await?.get(&path).await?;
    assert_eq!(s, 404, "not their chat");
    let (_, manager) = t.add_agent(&stack.pool, "boss", "manager", &[]).await?;
    let (s, v) = login(&stack, &manager).await?.get(&path).await?;
    assert_eq!(
        (s.as_u16(), &v["trade_in"]["model"]),
        (200, &json!("Accord"))
    );

    // The lead made from the chat carries it, on the bus and in the ADF e-mail.
    let (s, lead) = http
        .post(
            &format!("/api/v1/conversations/{conv}/leads"),
            &json!({"first_name": "Maria", "last_name": "Lopez", "email": "maria@trade-in.example"})
                .to_string(),
        )
        .await?;
    assert_eq!(s, 201, "{lead}");
    assert_eq!(lead["trade_in"]["vin"], "1HGCM82633A004352", "{lead}");
    let created = next_lead_event(&mut events).await?;
    assert_eq!(created["type"], "showroom.lead.created");
    assert_eq!(created["data"]["trade_in"]["mileage"], 142000, "{created}");

    let mail = eventually(Duration::from_secs(15), "the ADF e-mail", || async {
        let all = stack.smtp.messages().await?;
        Ok(all
            .into_iter()
            .find(|m| m["to"][0]["address"] == "leads@trade-in.example"))
    })
    .await?;
    let xml = mail["text"].as_str().context("a text body")?.to_string();
    xmllint(&xml, &["--noout"]).await?;
    let trade = "//prospect/vehicle[@interest='trade-in'][@status='used']";
    for (path, want) in [
        (format!("count({trade})"), "1"),
        (format!("string({trade}/year)"), "2003"),
        (format!("string({trade}/make)"), "Honda"),
        (format!("string({trade}/model)"), "Accord"),
        (format!("string({trade}/vin)"), "1HGCM82633A004352"),
        (format!("string({trade}/odometer)"), "142000"),
        (format!("string({trade}/odometer/@units)"), "mi"),
        (
            format!("string({trade}/comments)"),
            "Condition: fair. Payoff: 2500.00. Dent in the <rear> bumper",
        ),
        // The vehicle they were looking at stays the first.
        ("count(//prospect/vehicle)".to_string(), "2"),
    ] {
        assert_eq!(xmllint(&xml, &["--xpath", &path]).await?, want, "{path}");
    }

    // A change once the lead exists: the lead says so in lead.updated and its history.
    let changed = json!({"year": 2003, "make": "Honda", "model": "Accord", "mileage": 143000,
        "condition": "good", "vin": "1HGCM82633A004352"})
    .to_string();
    let (s, v) = http.put(&path, &changed).await?;
    assert_eq!(s, 200, "{v}");
    let updated = next_lead_event(&mut events).await?;
    assert_eq!(updated["type"], "showroom.lead.updated", "{updated}");
    assert_eq!(updated["data"]["id"], lead["id"]);
    assert_eq!(updated["data"]["trade_in"]["condition"], "good");
    assert_eq!(updated["data"]["trade_in"]["mileage"], 143000);
    let (_, with_history) = http
        .get(&format!(
            "/api/v1/leads/{}",
            lead["id"].as_str().unwrap_or_default()
        ))
        .await?;
    let whats: Vec<&str> = with_history["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|c| c["what"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(whats, ["created", "trade_in"], "{with_history}");
    // The same again changes nothing and publishes nothing.
    let (s, _) = http.put(&path, &changed).await?;
    assert_eq!(s, 200);
    let quiet = tokio::time::timeout(
        Duration::from_millis(800),
        futures::StreamExt::next(&mut events),
    )
    .await;
    assert!(quiet.is_err(), "no event for the same trade-in");

    // What the shopper tells the bot later never replaces what the agent saved.
    let env = json!({"id": Uuid::now_v7(), "tenant": t.group, "time": chrono::Utc::now(), "data": {
        "conversation_id": conv, "agent_id": null,
        "trade_in": {"year": 2019, "make": "Kia", "model": "Soul", "mileage": 20000, "condition": "excellent"}}});
    let reply = nats
        .request(
            showroom_proto::v1::lead_command(t.group, showroom_proto::lead::LeadCommand::TradeIn),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    let reply: Value = serde_json::from_slice(&reply.payload)?;
    assert_eq!(reply["ok"]["model"], "Accord", "the agent's stays: {reply}");
    let (_, v) = http.get(&path).await?;
    assert_eq!(v["trade_in"]["mileage"], 143000, "{v}");

    // The leads' CSV carries it, read back as a spreadsheet would.
    let boss = login(&stack, &manager).await?;
    let (s, bytes) = boss.download("/api/v1/leads.csv").await?;
    assert_eq!(s.as_u16(), 200);
    let text = String::from_utf8(bytes)?;
    let mut csv = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = csv.headers()?.iter().map(str::to_string).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap_or(usize::MAX);
    let rows: Vec<csv::StringRecord> = csv.records().collect::<Result<_, _>>()?;
    let row = rows
        .iter()
        .find(|r| r.get(col("conversation_id")) == Some(conv.as_str()))
        .with_context(|| format!("the chat's lead in {text}"))?;
    assert_eq!(row.get(col("trade_in_vin")), Some("1HGCM82633A004352"));
    assert!(
        row.get(col("trade_in"))
            .is_some_and(|t| t.contains("Honda Accord") && t.contains("143000 mi")),
        "{row:?}"
    );
    stack.stop().await
}

/// Sends the shopper's answer; the bot's next message.
async fn answer(w: &mut Socket, text: &str) -> anyhow::Result<String> {
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": Uuid::new_v4().to_string(), "text": text}))
        .await?;
    anyhow::ensure!(ack["type"] == "ack", "{ack}");
    bot_says(w).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lead_gate_asks_for_the_trade_in_when_the_interest_is_one() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Trade Gate", 1).await?;
    gate_and_miss_after(&stack, &t, 1).await?;
    let (_, manager) = t.add_agent(&stack.pool, "boss", "manager", &[]).await?;
    let http = login(&stack, &manager).await?;
    let (s, v) = http
        .put(
            &format!("/api/v1/websites/{}/forms/pre_chat", t.website),
            &json!({"fields": [{"id": "interest", "label": "Interés", "type": "select",
                "options": ["Nuevo", "Trade-in"], "required": true, "maps_to": {"variable": "interest"}}]})
            .to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(
            json!({"type": "start", "department_id": t.sales, "language": "es",
            "form": {"interest": "Trade-in"}}),
        )
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let conv = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Greeting and the first question.
    let mut bot = Bot::after(&started);
    bot.says(&mut w).await?;
    bot.says(&mut w).await?;
    answer(&mut w, "María").await?;
    let contact = answer(&mut w, "López").await?;
    assert!(contact.contains("correo"), "{contact}");
    let _consent = bot_says(&mut w).await?;
    // Each answer, and what the bot says next: the next question, or why it asks again.
    for (said, next) in [
        ("maria@trade-gate.example", "año, marca y modelo"),
        ("un Honda", "Indique año, marca y modelo"),
        ("2003 Honda Accord", "kilómetros"),
        ("142,000 millas", "excelente, bueno, regular o malo"),
        ("regular", "VIN"),
        // The check digit it should have, in Spanish.
        ("1HGCM82643A004352", "debería ser 3"),
        ("1HGCM82633A004352", "¡Gracias, María!"),
    ] {
        let reply = answer(&mut w, said).await?;
        assert!(reply.contains(next), "after {said:?}: {reply}");
    }

    // Stored for the chat before it was routed; nobody takes it, and its lead carries it.
    let (s, v) = http
        .get(&format!("/api/v1/conversations/{conv}/trade-in"))
        .await?;
    assert_eq!(s, 200, "{v}");
    let stored = &v["trade_in"];
    assert_eq!(
        (
            &stored["year"],
            &stored["make"],
            &stored["model"],
            &stored["mileage"]
        ),
        (
            &json!(2003),
            &json!("Honda"),
            &json!("Accord"),
            &json!(142000)
        ),
        "{v}"
    );
    assert_eq!(
        (
            &stored["mileage_unit"],
            &stored["condition"],
            &stored["vin"]
        ),
        (&json!("mi"), &json!("fair"), &json!("1HGCM82633A004352"))
    );
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;
    let leads = eventually(
        Duration::from_secs(15),
        "the missed chat's lead",
        || async {
            let (_, v) = http
                .get(&format!("/api/v1/conversations/{conv}/leads"))
                .await?;
            Ok(v.as_array().filter(|l| !l.is_empty()).cloned())
        },
    )
    .await?;
    assert_eq!(leads[0]["origin"], "missed_chat");
    assert_eq!(
        leads[0]["trade_in"]["vin"], "1HGCM82633A004352",
        "{leads:?}"
    );
    stack.stop().await
}
