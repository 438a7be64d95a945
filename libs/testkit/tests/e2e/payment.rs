//! Payment estimates (issue 20, item 2) through the real services: managers keep a rooftop's
//! finance and lease settings (a rooftop manager only their rooftops', another group 404; 400
//! naming each wrong field, 409 naming `make` for a second row of one make, audited); the
//! chat's agent computes an estimate from them for the chat's vehicle (its make's row, else the
//! default) and sends it, and it reaches the shopper's socket as a card with the disclaimer;
//! the shopper's own estimate in the widget goes into the lead and the ADF `<finance>`
//! (xmllint-valid).

use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use showroom_proto::payment::{PaymentEstimate, PaymentKind};
use showroom_rest::directory::setup;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, eventually};
use uuid::Uuid;

use crate::crm::{Crm, gate_and_miss_after, xmllint};

const SETTINGS: &str = "/api/v1/payment-settings";

async fn logged_in(stack: &Stack, email: &str) -> anyhow::Result<Http> {
    let http = Http::new(&stack.base_url);
    Ok(http.with_token(&http.login(email, PASSWORD).await?))
}

/// A settings body: the worked examples' rates (6.9 % for 60 months, $3,000 down; MF 0.00125,
/// 58 % residual, 36 months, $695 fees, $2,000 down), with `apr` and `tax` given.
fn rates(rooftop: Option<Uuid>, make: Option<&str>, apr: i32, tax: i32) -> String {
    json!({"rooftop_id": rooftop, "make": make, "finance_apr_bp": apr, "finance_term_months": 60,
        "finance_down_cents": 300_000, "finance_fees_cents": 0, "tax_rate_bp": tax,
        "lease_money_factor_millionths": 1250, "lease_residual_bp": 5800, "lease_term_months": 36,
        "lease_fees_cents": 69_500, "lease_down_cents": 200_000,
        "disclaimer": "Estimate only. Westside Honda, with approved credit."})
    .to_string()
}

/// The lease of the unit test's worked example, as a lead carries it.
pub(crate) fn lease_estimate() -> PaymentEstimate {
    PaymentEstimate {
        kind: PaymentKind::Lease,
        currency: "USD".into(),
        price_cents: 3_000_000,
        down_cents: 200_000,
        fees_cents: 69_500,
        term_months: 36,
        apr_bp: None,
        money_factor_millionths: Some(1250),
        residual_cents: Some(1_740_000),
        tax_rate_bp: 700,
        tax_cents: 2_600,
        amount_financed_cents: None,
        due_at_signing_cents: Some(239_737),
        monthly_cents: 39_737,
        disclaimer: "Estimate only.".into(),
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// Starts a chat about a $30,000 Honda (the shopper's `start`), answering its id.
async fn start_about_a_honda(
    w: &mut showroom_testkit::Socket,
    t: &Tenant,
) -> anyhow::Result<String> {
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales,
            "vehicle": {"year": 2025, "make": "Honda", "model": "Accord", "price": 30000}}))
        .await?;
    anyhow::ensure!(started["type"] == "started", "{started}");
    Ok(started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settings_by_scope_and_an_agents_estimate_reaches_the_shopper_as_a_card()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Pay", 1).await?;
    let other = Tenant::seed(&stack.pool, "PayOther", 0).await?;
    let rooftop_b = setup::rooftop(&stack.pool, t.group, "Pay Toyota", "America/Denver").await?;
    let (_, manager_email) = t.add_agent(&stack.pool, "gm", "manager", &[]).await?;
    let (rm_id, rm_email) = t
        .add_agent(&stack.pool, "rita", "rooftop_manager", &[])
        .await?;
    showroom_store::sqlx::query(
        "INSERT INTO agent_rooftops (agent_id, rooftop_id, group_id) VALUES ($1, $2, $3)",
    )
    .bind(rm_id)
    .bind(t.rooftop)
    .bind(t.group)
    .execute(&stack.pool)
    .await?;
    let (_, colleague_email) = t
        .add_agent(&stack.pool, "carl", "agent", &[t.sales])
        .await?;
    let (_, other_admin_email) = other.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let manager = logged_in(&stack, &manager_email).await?;
    let rm = logged_in(&stack, &rm_email).await?;
    let agent = logged_in(&stack, &t.agents[0].1).await?;
    let colleague = logged_in(&stack, &colleague_email).await?;
    let outsider = logged_in(&stack, &other_admin_email).await?;

    // Agents do not manage settings.
    let (st, _) = agent.get(SETTINGS).await?;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The rooftop's default (0 % APR) and Honda's (6.9 %); a second default, or Honda written
    // another way, is 409 naming `make`.
    let (st, default) = manager
        .post(SETTINGS, &rates(Some(t.rooftop), None, 0, 0))
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{default}");
    assert_eq!(default["make"], Value::Null);
    assert_eq!(default["finance_apr_bp"], 0);
    let (st, dup) = manager
        .post(SETTINGS, &rates(Some(t.rooftop), None, 100, 0))
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "{dup}");
    assert_eq!(dup["error"]["code"], "already_taken");
    assert!(dup["error"]["fields"]["make"].is_string(), "{dup}");
    let (st, honda) = manager
        .post(SETTINGS, &rates(Some(t.rooftop), Some("Honda"), 690, 0))
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{honda}");
    let (st, dup) = manager
        .post(SETTINGS, &rates(Some(t.rooftop), Some(" HONDA "), 500, 0))
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "{dup}");
    assert!(dup["error"]["fields"]["make"].is_string(), "{dup}");

    // Bad input: every wrong field named at once; a missing one named too.
    let mut bad: Value = serde_json::from_str(&rates(Some(t.rooftop), Some("Kia"), 5000, 0))?;
    bad["lease_residual_bp"] = json!(0);
    bad["make"] = json!("K".repeat(41));
    let (st, e) = manager.post(SETTINGS, &bad.to_string()).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let fields = &e["error"]["fields"];
    assert!(fields["make"].is_string(), "{e}");
    assert!(
        fields["finance_apr_bp"].is_string() || fields["lease_residual_bp"].is_string(),
        "{e}"
    );
    let mut missing: Value = serde_json::from_str(&rates(Some(t.rooftop), Some("Kia"), 500, 0))?;
    missing
        .as_object_mut()
        .context("object")?
        .remove("tax_rate_bp");
    let (st, e) = manager.post(SETTINGS, &missing.to_string()).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e.to_string().contains("tax_rate_bp"), "{e}");

    // A rooftop manager: their rooftop's only.
    let (st, toyota) = manager
        .post(SETTINGS, &rates(Some(rooftop_b), None, 390, 0))
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{toyota}");
    let (st, _) = rm
        .post(SETTINGS, &rates(Some(rooftop_b), Some("Toyota"), 390, 0))
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let toyota_path = format!("{SETTINGS}/{}", id_of(&toyota));
    let (st, _) = rm.put(&toyota_path, &rates(None, None, 100, 0)).await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = rm.call(Method::DELETE, &toyota_path, None).await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, list) = rm.get(SETTINGS).await?;
    assert_eq!(st, StatusCode::OK);
    let listed = list["settings"].as_array().context("settings")?;
    assert_eq!(listed.len(), 2, "{list}");
    assert!(
        listed.iter().all(|s| s["rooftop_id"] == json!(t.rooftop)),
        "{list}"
    );
    assert_eq!(listed[0]["make"], Value::Null, "the default first: {list}");
    // Another group sees none and changes none.
    let (_, list) = outsider.get(SETTINGS).await?;
    assert_eq!(list["settings"], json!([]), "{list}");
    let honda_path = format!("{SETTINGS}/{}", id_of(&honda));
    let (st, _) = outsider
        .put(&honda_path, &rates(None, Some("Honda"), 100, 0))
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = outsider
        .post(SETTINGS, &rates(Some(t.rooftop), Some("Audi"), 100, 0))
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The rooftop manager changes their rooftop's row.
    let (st, changed) = rm
        .put(&honda_path, &rates(None, Some("Honda"), 690, 0))
        .await?;
    assert_eq!(st, StatusCode::OK, "{changed}");

    // A chat about a $30,000 Honda.
    let mut console = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, _) = stack.shopper(&t, None, 0).await?;
    let conv = start_about_a_honda(&mut shopper, &t).await?;
    console.recv_type("offer").await?;
    let accepted = console
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    let estimate_path = format!("/api/v1/conversations/{conv}/payment-estimate");

    // Honda's rates: $30,000 at 6.9 % for 60 months with $3,000 down is $533.36.
    let (st, est) = agent.post(&estimate_path, r#"{"kind": "finance"}"#).await?;
    assert_eq!(st, StatusCode::OK, "{est}");
    assert_eq!(est["estimate"]["monthly_cents"], 53_336, "{est}");
    assert_eq!(est["estimate"]["amount_financed_cents"], 2_700_000);
    assert_eq!(est["estimate"]["currency"], "USD");
    let text = est["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Estimated payment (finance): $533.36/month for 60 months"),
        "{text}"
    );
    // Overrides: a lease of the same car, and a bad term named.
    let (st, lease) = agent
        .post(&estimate_path, r#"{"kind": "lease", "term_months": 36}"#)
        .await?;
    assert_eq!(st, StatusCode::OK, "{lease}");
    assert_eq!(lease["estimate"]["monthly_cents"], 37_137, "{lease}");
    assert_eq!(lease["estimate"]["residual_cents"], 1_740_000);
    let (st, e) = agent
        .post(&estimate_path, r#"{"kind": "lease", "term_months": 6}"#)
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["error"]["fields"]["term_months"].is_string(), "{e}");
    let (st, e) = agent
        .post(&estimate_path, r#"{"down_cents": 4000000}"#)
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["error"]["fields"]["down_cents"].is_string(), "{e}");
    // Another agent of the group is refused; another group does not see the chat.
    let (st, _) = colleague.post(&estimate_path, "{}").await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = outsider.post(&estimate_path, "{}").await?;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Sent into the chat: the shopper gets the card, computed by the server, with the
    // dealer's disclaimer, and the text says the same.
    let ack = console
        .ask(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": "est-1",
            "estimate_id": id_of(&est)}),
        )
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let got = shopper
        .recv_matching("message", |m| m["message"]["seq"] == ack["seq"])
        .await?;
    let card = &got["message"]["estimate"];
    assert_eq!(card["kind"], "finance", "{got}");
    assert_eq!(card["monthly_cents"], 53_336, "{got}");
    assert_eq!(card["apr_bp"], 690);
    assert_eq!(
        card["disclaimer"],
        "Estimate only. Westside Honda, with approved credit."
    );
    let text = got["message"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("$533.36/month") && text.ends_with("with approved credit."),
        "{text}"
    );
    // An estimate id not of this chat and agent is refused, and nothing is sent.
    let refused = console
        .ask(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": "est-2",
            "estimate_id": Uuid::now_v7()}),
        )
        .await?;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "not_found", "{refused}");
    // Not with a file at once.
    let both = console
        .ask(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": "est-3",
            "estimate_id": id_of(&est), "file_id": Uuid::now_v7()}),
        )
        .await?;
    assert_eq!(both["code"], "bad_frame", "{both}");
    // The transcript over REST keeps the card.
    let (_, detail) = agent.get(&format!("/api/v1/conversations/{conv}")).await?;
    let cards: Vec<&Value> = detail["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["estimate"].is_object()).collect())
        .unwrap_or_default();
    assert_eq!(cards.len(), 1, "{detail}");

    // Without Honda's row, the rooftop's default applies (0 %: $27,000 / 60 = $450.00).
    let (st, _) = manager.call(Method::DELETE, &honda_path, None).await?;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, est) = agent.post(&estimate_path, "{}").await?;
    assert_eq!(est["estimate"]["monthly_cents"], 45_000, "{est}");
    assert_eq!(est["estimate"]["apr_bp"], 0);

    // Every change is in the audit trail.
    let (st, audit) = manager
        .get("/api/v1/audit?kind=payment_settings_changed&limit=50")
        .await?;
    assert_eq!(st, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["detail"]["action"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        actions,
        ["deleted", "created", "created", "created"],
        "newest first (the unchanged PUT is not recorded): {audit}"
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shoppers_estimate_goes_into_the_lead_and_the_adf() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "PayLead", 1).await?;
    let other = Tenant::seed(&stack.pool, "PayLeadOther", 0).await?;
    gate_and_miss_after(&stack, &t, 1).await?;
    let (_, manager_email) = t.add_agent(&stack.pool, "gm", "manager", &[]).await?;
    let manager = logged_in(&stack, &manager_email).await?;
    let (st, s) = manager
        .post(SETTINGS, &rates(Some(t.rooftop), None, 690, 700))
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    let crm = Crm::new(&stack, t.group).await?;
    crm.put_destination(
        Uuid::now_v7(),
        json!({"rooftop_id": t.rooftop, "name": "ADF", "target": {"kind": "adf_email", "to": "leads@pay.example"}}),
    )
    .await?;

    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    let visitor = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv = start_about_a_honda(&mut w, &t).await?;
    let client = reqwest::Client::new();
    let ask = |key: &str, token: Option<&str>, body: Value| {
        let mut req = client
            .post(format!(
                "{}/api/v1/widget/{key}/payment-estimate",
                stack.base_url
            ))
            .json(&body);
        if let Some(tok) = token {
            req = req.header("x-visitor-token", tok);
        }
        async move {
            let resp = req.send().await?;
            let st = resp.status();
            anyhow::Ok((st, resp.json::<Value>().await.unwrap_or(Value::Null)))
        }
    };
    // Without the token, with another chat, on another group's website: refused.
    let (st, _) = ask(&t.key, None, json!({"conversation_id": conv})).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = ask(
        &t.key,
        Some(&visitor),
        json!({"conversation_id": Uuid::now_v7()}),
    )
    .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = ask(&other.key, Some(&visitor), json!({"conversation_id": conv})).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // The shopper may not name a price.
    let (st, _) = ask(
        &t.key,
        Some(&visitor),
        json!({"conversation_id": conv, "price_cents": 100}),
    )
    .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Finance, then a lease: the lease is the last figure they saw.
    let (st, fin) = ask(&t.key, Some(&visitor), json!({"conversation_id": conv})).await?;
    assert_eq!(st, StatusCode::OK, "{fin}");
    assert_eq!(
        fin["estimate"]["tax_cents"], 210_000,
        "7 % of $30,000: {fin}"
    );
    let (st, lease) = ask(
        &t.key,
        Some(&visitor),
        json!({"conversation_id": conv, "kind": "lease", "down_cents": 200_000, "term_months": 36}),
    )
    .await?;
    assert_eq!(st, StatusCode::OK, "{lease}");
    assert_eq!(
        lease["estimate"]["monthly_cents"], 39_737,
        "the worked example: {lease}"
    );
    assert_eq!(lease["estimate"]["due_at_signing_cents"], 239_737);

    // The Lead Gate's answers, then nobody answers: a missed chat, a lead, an ADF.
    for answer in ["Maria", "Lopez", "(312) 555-2368"] {
        w.recv_matching("message", |f| f["message"]["author"]["kind"] == "bot")
            .await?;
        let ack = w
            .ask(json!({"type": "send", "client_msg_id": Uuid::new_v4().to_string(), "text": answer}))
            .await?;
        anyhow::ensure!(ack["type"] == "ack", "{ack}");
    }
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;
    let leads = eventually(Duration::from_secs(15), "the chat's lead", || async {
        let (_, leads) = manager
            .get(&format!("/api/v1/conversations/{conv}/leads"))
            .await?;
        Ok(leads.as_array().filter(|l| !l.is_empty()).cloned())
    })
    .await?;
    let payment = &leads[0]["payment"];
    assert_eq!(payment["kind"], "lease", "{leads:?}");
    assert_eq!(payment["monthly_cents"], 39_737);
    // The leads' CSV has it in columns a spreadsheet sums.
    let (st, bytes) = manager.download("/api/v1/leads.csv").await?;
    assert_eq!(st.as_u16(), 200);
    let mut csv = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = csv.headers()?.iter().map(str::to_string).collect();
    let row = csv.records().next().context("one lead")??;
    let cell = |n: &str| {
        let i = header.iter().position(|h| h == n).unwrap_or(usize::MAX);
        row.get(i).unwrap_or("<none>").to_string()
    };
    assert_eq!(
        (
            cell("payment_kind"),
            cell("payment_monthly"),
            cell("payment_term_months")
        ),
        ("lease".to_string(), "397.37".to_string(), "36".to_string())
    );

    let mails = eventually(Duration::from_secs(15), "the ADF e-mail", || async {
        let all = stack.smtp.messages().await?;
        let adf: Vec<Value> = all
            .into_iter()
            .filter(|m| m["to"][0]["address"] == "leads@pay.example")
            .collect();
        Ok((!adf.is_empty()).then_some(adf))
    })
    .await?;
    let xml = mails[0]["text"].as_str().unwrap_or_default();
    xmllint(xml, &["--noout"]).await?;
    for (path, want) in [
        ("string(//vehicle/finance/method)", "lease"),
        (
            "string(//vehicle/finance/amount[@type='monthly'])",
            "397.37",
        ),
        (
            "string(//vehicle/finance/amount[@type='monthly']/@currency)",
            "USD",
        ),
        (
            "string(//vehicle/finance/amount[@type='downpayment'])",
            "2000.00",
        ),
        (
            "string(//vehicle/finance/balance[@type='residual'])",
            "17400.00",
        ),
    ] {
        assert_eq!(xmllint(xml, &["--xpath", path]).await?, want, "{path}");
    }
    stack.stop().await
}

/// In Chromium (`services/gateway/tests/browser/payment.test.mjs`): the agent's Details form
/// sends a card the shopper sees; the shopper's "Estimate my payment" shows a lease; a manager
/// adds a make's settings in Admin ▸ Payment estimates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn estimates_in_the_console_and_the_widget_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let group = showroom_rest::demo::seed(&stack.pool, &[stack.origin()])
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo group was there already"))?;
    showroom_store::sqlx::query(
        "INSERT INTO payment_settings (id, group_id, rooftop_id, finance_apr_bp, \
         finance_term_months, finance_down_cents, finance_fees_cents, tax_rate_bp, \
         lease_money_factor_millionths, lease_residual_bp, lease_term_months, lease_fees_cents, \
         lease_down_cents, disclaimer) \
         SELECT $1, $2, id, 690, 60, 300000, 0, 0, 1250, 5800, 36, 69500, 200000, \
           'Estimate only. Showroom Honda, with approved credit.' \
         FROM rooftops WHERE group_id = $2 AND name = 'Showroom Honda'",
    )
    .bind(Uuid::now_v7())
    .bind(group)
    .execute(&stack.pool)
    .await?;
    let report = showroom_testkit::run_browser_tests(&stack.base_url, &["payment"], &[]).await?;
    println!("{report}");
    anyhow::ensure!(report.contains("pass 2"), "the tests did not run: {report}");
    stack.stop().await
}
