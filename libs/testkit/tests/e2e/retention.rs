//! Retention, erasure and export of a shopper's data (issue 17, item 5), on the real stack.
//!
//! Each shopper here leaves everything the product can hold of them: a chat started with a
//! pre-chat form (their names and e-mail, a file whose bytes hold the e-mail) that is missed
//! and becomes a lead, a message left with their e-mail and phone (merged into that lead), and
//! the lead's delivery to a CRM webhook that answers 503 with `Retry-After: 3600`, so the
//! delivery stays pending.
//!
//! - Retention: the sweeps run as of a "now" the test passes to the same runner the scheduled
//!   sweep uses (`showroom_runtime::retention::run` with each service's `SWEEPS`), so nothing
//!   is rewritten by hand and the service code decides what is old. A group with 10-day periods
//!   loses everything at +11 days and nothing at +9; a group on the 730-day default keeps all;
//!   two "replicas" sweep at once without failing and their counts add up to the rows there were.
//! - The sweeps reach their rows through an index: with thousands of recent rows in every table
//!   they read, each statement touches under 100 buffers (`EXPLAIN (ANALYZE, BUFFERS)`), not
//!   its tables whole, and still deletes every expired row (the `retention_horizon` bound of
//!   `migrations/20261203000043_retention_horizon.sql` narrows, the per-row condition decides).
//! - Erasure by e-mail leaves no trace of the shopper in any text, jsonb, bytea or array column
//!   of any table (outside the other group, where a shopper with the same e-mail stays), the
//!   pending delivery is gone, another shopper stays, and the audit row holds counts, no e-mail.
//! - Export answers the shopper's rows and nothing of another shopper or group.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use showroom_runtime::retention::Sweep;
use showroom_store::plan::explain;
use showroom_store::sqlx::{self, PgPool};
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, eventually};
use uuid::Uuid;

/// A PDF (sniffed by its `%PDF` magic) whose bytes hold `text`.
fn pdf_with(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n").into_bytes()
}

/// Letters only (names are checked to be letters), different every run.
fn letters() -> String {
    Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(10)
        .map(|c| (b'a' + c.to_digit(16).unwrap_or(0) as u8) as char)
        .collect()
}

/// A CRM webhook that refuses every lead for an hour: deliveries stay pending.
async fn refusing_crm() -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(|| async {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3600".parse().expect("a header value"));
        (AxumStatus::SERVICE_UNAVAILABLE, h, "busy")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/leads", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

async fn signed_in(stack: &Stack, t: &Tenant, local: &str, role: &str) -> anyhow::Result<Http> {
    let (_, email) = t.add_agent(&stack.pool, local, role, &[]).await?;
    let http = Http::new(&stack.base_url);
    Ok(http.with_token(&http.login(&email, PASSWORD).await?))
}

/// A group ready for shoppers: the bot on, a pre-chat form with a file field, chats missed after
/// 1 s, and its leads sent to `crm`.
async fn prepare(stack: &Stack, t: &Tenant, manager: &Http, crm: &str) -> anyhow::Result<()> {
    showroom_bot::settings::store(
        &stack.pool,
        t.group,
        t.website,
        &showroom_proto::bot::BotSettings::default(),
    )
    .await?;
    sqlx::query(
        "INSERT INTO department_routing (department_id, group_id, incoming_timeout_secs) VALUES ($1, $2, 1)",
    )
    .bind(t.sales)
    .bind(t.group)
    .execute(&stack.pool)
    .await?;
    let form = json!({"fields": [
        {"id": "first", "label": "First name", "type": "input", "input": "text", "required": true,
         "maps_to": {"contact": "first_name"}},
        {"id": "last", "label": "Last name", "type": "input", "input": "text", "required": true,
         "maps_to": {"contact": "last_name"}},
        {"id": "mail", "label": "E-mail", "type": "input", "input": "email", "required": true,
         "maps_to": {"contact": "email"}},
        {"id": "photos", "label": "Documents", "type": "attachment", "accept": ".pdf,image/*", "multiple": true},
    ]});
    let (s, v) = manager
        .put(
            &format!("/api/v1/websites/{}/forms/pre_chat", t.website),
            &form.to_string(),
        )
        .await?;
    anyhow::ensure!(s == StatusCode::OK, "form: {s} {v}");
    let (s, v) = manager
        .put(
            &format!("/api/v1/crm/destinations/{}", Uuid::now_v7()),
            &json!({"rooftop_id": t.rooftop, "name": "Refusing CRM",
                "target": {"kind": "webhook", "url": crm,
                    "secrets": ["whsec_YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="]}})
            .to_string(),
        )
        .await?;
    anyhow::ensure!(s.is_success(), "destination: {s} {v}");
    Ok(())
}

/// One shopper.
struct Person {
    first: String,
    last: String,
    email: String,
    phone: Option<&'static str>,
}

impl Person {
    fn new(first: &str, email: &str, phone: Option<&'static str>) -> Self {
        Self {
            first: first.to_string(),
            last: format!("Vandersloot{}", letters()),
            email: email.to_string(),
            phone,
        }
    }
}

/// `p` chats through the pre-chat form with a file attached (missed: a lead), then leaves a
/// message with their phone; answers once their lead's CRM delivery is pending after a try.
async fn visit(stack: &Stack, t: &Tenant, p: &Person) -> anyhow::Result<()> {
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, welcome) = stack.shopper(t, None, 0).await?;
    let token = welcome["visitor_token"]
        .as_str()
        .context("a visitor token")?
        .to_string();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/widget/{}/attachments?form=pre_chat&field=photos",
            stack.base_url, t.key
        ))
        .header("x-filename", "quote.pdf")
        .header("content-type", "application/octet-stream")
        .header("x-visitor-token", &token)
        .body(pdf_with(&p.email))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == StatusCode::CREATED,
        "upload {}",
        resp.status()
    );
    let file: Value = resp.json().await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "form": {
            "first": p.first, "last": p.last, "mail": p.email, "photos": [file["id"]]}}))
        .await?;
    anyhow::ensure!(started["type"] == "started", "{started}");
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;
    // A trade-in for the chat, as the Lead Gate hands it to lead-capture; its comments name
    // the shopper, so the erasure's "no trace" covers it.
    let nats = stack.nats_client().await?;
    let env = json!({"id": Uuid::now_v7(), "tenant": t.group, "time": Utc::now(), "data": {
        "conversation_id": started["conversation"]["id"], "agent_id": null,
        "trade_in": {"year": 2003, "make": "Honda", "model": "Accord", "mileage": 142000,
            "condition": "fair", "comments": format!("{} keeps the spare key", p.last)}}});
    let reply = nats
        .request(
            showroom_proto::v1::lead_command(t.group, showroom_proto::lead::LeadCommand::TradeIn),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    let reply: Value = serde_json::from_slice(&reply.payload)?;
    anyhow::ensure!(reply["ok"]["model"] == "Accord", "trade-in: {reply}");

    let mut w2 = showroom_testkit::Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w2.ask(json!({"type": "hello", "v": 1})).await?;
    let mut frame = json!({"type": "leave_message", "form_id": Uuid::new_v4().to_string(),
        "first_name": p.first, "last_name": p.last, "email": p.email,
        "message": format!("Please call {} about the trade-in.", p.first)});
    if let Some(phone) = p.phone {
        frame["phone"] = json!(phone);
    }
    let left = w2.ask(frame).await?;
    anyhow::ensure!(left["type"] == "message_left", "{left}");

    let email = p.email.to_lowercase();
    eventually(
        Duration::from_secs(30),
        "a pending, tried delivery of each lead",
        || {
            let (pool, group, email) = (stack.pool.clone(), t.group, email.clone());
            async move {
                let (leads, pending, messages): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT count(*) FROM leads l JOIN contacts k ON k.id = l.contact_id \
                         WHERE k.group_id = $1 AND lower(k.email) = $2), \
                        (SELECT count(*) FROM crm_deliveries d JOIN leads l ON l.id = d.lead_id \
                         JOIN contacts k ON k.id = l.contact_id \
                         WHERE k.group_id = $1 AND lower(k.email) = $2 \
                           AND d.status = 'pending' AND d.attempts > 0), \
                        (SELECT count(*) FROM left_messages m WHERE m.group_id = $1 \
                         AND lower(m.email) = $2 AND m.published_at IS NOT NULL)",
                )
                .bind(group)
                .bind(&email)
                .fetch_one(&pool)
                .await?;
                Ok((leads > 0 && pending >= leads && messages > 0).then_some(()))
            }
        },
    )
    .await
}

/// Every place `needle` is stored (case-insensitively; bytes as UTF-8), outside `except`'s rows
/// in tables that have a `group_id`: `table.column` and how many rows.
async fn traces(pool: &PgPool, needle: &str, except: Uuid) -> anyhow::Result<Vec<String>> {
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
           EXISTS (SELECT 1 FROM information_schema.columns g WHERE g.table_schema = 'public' \
                   AND g.table_name = c.table_name AND g.column_name = 'group_id') \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'ARRAY')",
    )
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(columns.len() > 40, "the scan sees the schema: {columns:?}");
    let mut found = Vec::new();
    for (table, column, kind, has_group) in columns {
        let matches = if kind == "bytea" {
            format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
        } else {
            format!("strpos(lower(\"{column}\"::text), lower($1)) > 0")
        };
        let outside = if has_group {
            " AND group_id IS DISTINCT FROM $2"
        } else {
            " AND $2::uuid IS NOT NULL"
        };
        let sql = format!("SELECT count(*) FROM \"{table}\" WHERE {matches}{outside}");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .bind(except)
            .fetch_one(pool)
            .await?;
        if n > 0 {
            found.push(format!("{table}.{column}: {n}"));
        }
    }
    Ok(found)
}

/// The group's rows in each table the sweeps reach.
async fn rows_of(pool: &PgPool, group: Uuid) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for table in [
        "conversations",
        "messages",
        "transcripts",
        "gate_sessions",
        "transcript_mails",
        "attachments",
        "form_submissions",
        "left_messages",
        "contacts",
        "leads",
        "crm_deliveries",
        "crm_lead_events",
        "trade_ins",
        "appointments",
        "appointment_slots",
    ] {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE group_id = $1"
        )))
        .bind(group)
        .fetch_one(pool)
        .await?;
        out.insert(table.to_string(), n);
    }
    Ok(out)
}

/// Every owner's sweeps, in the order they run (the owners depend on each other's deletions).
const OWNERS: [&[Sweep]; 6] = [
    showroom_gateway::retention::SWEEPS,
    showroom_bot::retention::SWEEPS,
    showroom_notification::retention::SWEEPS,
    showroom_crm_export::retention::SWEEPS,
    showroom_lead_capture::retention::SWEEPS,
    showroom_router::retention::SWEEPS,
];

/// Every owner's sweep as of `now`, each run by two replicas at once, in the order the owners
/// depend on each other; answers the rows deleted per table, both replicas together.
async fn sweep_everything(
    pool: &PgPool,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<BTreeMap<String, u64>> {
    use showroom_runtime::retention::run;
    let mut total = BTreeMap::new();
    for sweeps in OWNERS {
        // A batch of 2: several transactions per table, interleaved between the replicas.
        let (a, b) = tokio::try_join!(run(pool, sweeps, now, 2), run(pool, sweeps, now, 2))?;
        for (table, n) in a.into_iter().chain(b) {
            *total.entry(table.to_string()).or_default() += n;
        }
    }
    Ok(total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_removes_what_is_past_the_period_and_keeps_the_rest() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "Keep Short", 1).await?;
    let b = Tenant::seed(&stack.pool, "Keep Long", 1).await?;
    let crm = refusing_crm().await?;
    let manager_a = signed_in(&stack, &a, "boss", "manager").await?;
    let manager_b = signed_in(&stack, &b, "boss", "manager").await?;
    let agent_a = signed_in(&stack, &a, "plain", "agent").await?;
    prepare(&stack, &a, &manager_a, &crm).await?;
    prepare(&stack, &b, &manager_b, &crm).await?;

    // The periods: the law's default until changed, checked, audited, managers only.
    let (s, v) = manager_a.get("/api/v1/retention").await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"transcripts_days": 730, "attachments_days": 730, "contacts_days": 730, "leads_days": 730})
    );
    let (s, v) = agent_a.get("/api/v1/retention").await?;
    assert_eq!(s, 403, "{v}");
    let (s, v) = manager_a
        .put(
            "/api/v1/retention",
            &json!({"transcripts_days": 0, "attachments_days": 10, "contacts_days": 4000, "leads_days": 10})
                .to_string(),
        )
        .await?;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["fields"]["transcripts_days"].is_string(), "{v}");
    assert!(v["error"]["fields"]["contacts_days"].is_string(), "{v}");
    let ten = json!({"transcripts_days": 10, "attachments_days": 10, "contacts_days": 10, "leads_days": 10});
    let (s, v) = manager_a.put("/api/v1/retention", &ten.to_string()).await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(manager_a.get("/api/v1/retention").await?.1, ten);
    assert_eq!(
        manager_b.get("/api/v1/retention").await?.1["leads_days"],
        730
    );
    let (_, trail) = manager_a.get("/api/v1/audit").await?;
    let changed = trail["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "retention_changed"))
        .cloned()
        .context("retention_changed in the trail")?;
    assert_eq!(changed["detail"]["before"]["transcripts_days"], 730);
    assert_eq!(changed["detail"]["after"]["transcripts_days"], 10);

    visit(
        &stack,
        &a,
        &Person::new("Ottoline", "short@keep.example", Some("(312) 555-2368")),
    )
    .await?;
    visit(
        &stack,
        &b,
        &Person::new("Ottoline", "long@keep.example", Some("(312) 555-2368")),
    )
    .await?;
    // Settled: nothing still arriving (lead updates, their deliveries).
    let before_a = eventually(Duration::from_secs(15), "settled rows", || async {
        let first = rows_of(&stack.pool, a.group).await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let again = rows_of(&stack.pool, a.group).await?;
        Ok((first == again).then_some(again))
    })
    .await?;
    let before_b = rows_of(&stack.pool, b.group).await?;
    for kind in [
        "conversations",
        "messages",
        "attachments",
        "form_submissions",
        "left_messages",
        "contacts",
        "leads",
        "crm_deliveries",
        "trade_ins",
    ] {
        assert!(before_a[kind] > 0, "{kind} of A: {before_a:?}");
        assert!(before_b[kind] > 0, "{kind} of B: {before_b:?}");
    }

    // Nine days on: within every period, nothing goes.
    let swept = sweep_everything(&stack.pool, Utc::now() + chrono::Duration::days(9)).await?;
    assert!(swept.values().all(|n| *n == 0), "{swept:?}");
    assert_eq!(rows_of(&stack.pool, a.group).await?, before_a);

    // Eleven days on: A's rows are past their 10 days, in every kind; B keeps its 730.
    let swept = sweep_everything(&stack.pool, Utc::now() + chrono::Duration::days(11)).await?;
    let after_a = rows_of(&stack.pool, a.group).await?;
    assert!(after_a.values().all(|n| *n == 0), "A after: {after_a:?}");
    assert_eq!(rows_of(&stack.pool, b.group).await?, before_b);
    // Two replicas at once: every row counted once, by the one that deleted it.
    for (table, n) in &swept {
        assert_eq!(
            *n as i64, before_a[table],
            "{table}: deleted {swept:?}, there were {before_a:?}"
        );
    }
    stack.stop().await
}

/// `n` shoppers of `t` last seen at `at`, each with a row in every table a sweep reads: a closed
/// chat (three messages, its transcript counter, Lead Gate session, transcript e-mail, trade-in
/// and a file sent in it), a form submission with a file, a message left, a contact with a lead,
/// its CRM delivery and handled event, and an appointment that ended a day after `at`.
async fn shoppers(
    pool: &PgPool,
    t: &Tenant,
    n: i32,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "WITH c AS ( \
           INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, \
             visitor_id, state, created_at, ended_at, ended_by) \
           SELECT gen_random_uuid(), $1, $2, $3, $4, gen_random_uuid(), 'ended', \
             $6 - interval '10 minutes', $6, 'shopper' \
           FROM generate_series(1, $5) RETURNING id, visitor_id), \
         m AS (INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, \
             client_msg_id, body, created_at) \
           SELECT gen_random_uuid(), c.id, $1, s, 'shopper', gen_random_uuid()::text, \
             'Is the blue one still there?', $6 - make_interval(mins => 4 - s) \
           FROM c, generate_series(1, 3) AS s), \
         t AS (INSERT INTO transcripts (conversation_id, group_id, last_seq) SELECT id, $1, 3 FROM c), \
         g AS (INSERT INTO gate_sessions (conversation_id, group_id, step, created_at, updated_at) \
           SELECT id, $1, 'done', $6, $6 FROM c), \
         x AS (INSERT INTO transcript_mails (conversation_id, group_id, due_at, sent_at) \
           SELECT id, $1, $6, $6 FROM c), \
         ti AS (INSERT INTO trade_ins (conversation_id, group_id, trade_in, source, created_at, \
             updated_at) \
           SELECT id, $1, '{\"make\": \"Honda\"}', 'shopper', $6, $6 FROM c), \
         a AS (INSERT INTO attachments (id, group_id, website_id, visitor_id, field, filename, \
             content_type, size, data, created_at, conversation_id) \
           SELECT gen_random_uuid(), $1, $2, visitor_id, 'chat', 'quote.pdf', 'application/pdf', \
             4, decode('25504446', 'hex'), $6, id FROM c), \
         k AS (INSERT INTO contacts (id, group_id, first_name, last_name, created_at, updated_at) \
           SELECT gen_random_uuid(), $1, 'Rosalind', 'Featherstone', $6, $6 \
           FROM generate_series(1, $5) RETURNING id), \
         l AS (INSERT INTO leads (id, group_id, rooftop_id, contact_id, origin, created_at, updated_at) \
           SELECT gen_random_uuid(), $1, $3, k.id, 'message_left', $6, $6 FROM k RETURNING id), \
         crm AS (INSERT INTO crm_destinations (id, group_id, rooftop_id, name, kind, settings) \
           VALUES (gen_random_uuid(), $1, $3, 'Sweep CRM', 'webhook', '{}') RETURNING id), \
         d AS (INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, payload, status, \
             created_at, updated_at) \
           SELECT gen_random_uuid(), $1, crm.id, l.id, '{}', 'delivered', $6, $6 FROM l, crm), \
         e AS (INSERT INTO crm_lead_events (event_id, group_id, lead_id, kind, handled_at) \
           SELECT gen_random_uuid(), $1, l.id, 'created', $6 FROM l), \
         f AS (INSERT INTO form_submissions (id, group_id, website_id, kind, visitor_id, answers, \
             created_at) \
           SELECT gen_random_uuid(), $1, $2, 'offline', gen_random_uuid(), '{}', $6 \
           FROM generate_series(1, $5)), \
         fa AS (INSERT INTO attachments (id, group_id, website_id, visitor_id, field, filename, \
             content_type, size, data, created_at) \
           SELECT gen_random_uuid(), $1, $2, gen_random_uuid(), 'photos', 'quote.pdf', \
             'application/pdf', 4, decode('25504446', 'hex'), $6 FROM generate_series(1, $5)), \
         lm AS (INSERT INTO left_messages (id, group_id, website_id, rooftop_id, trigger, \
             first_name, last_name, email, message, language, event, created_at, published_at) \
           SELECT gen_random_uuid(), $1, $2, $3, 'offline', 'Rosalind', 'Featherstone', \
             'rosalind@sweep.example', 'Please call me.', 'en', '{}', $6, $6 \
           FROM generate_series(1, $5)) \
         INSERT INTO appointments (id, group_id, rooftop_id, department_id, kind, starts_at, \
           ends_at, booked_by, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, $3, $4, 'test_drive', $6 + interval '1 day', \
           $6 + interval '1 day 30 minutes', 'shopper', $6, $6 FROM generate_series(1, $5)",
    )
    .bind(t.group)
    .bind(t.website)
    .bind(t.rooftop)
    .bind(t.sales)
    .bind(n)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The hourly sweep when (almost) nothing is expired: 4 000 recent shoppers on the 730-day
/// default, and three shoppers each of a 10-day group 20 days ago and of the default group
/// (kept). Every statement reaches its candidates through an index range below
/// `retention_horizon` and touches under 100 buffers (19 to 83 when written); without the bound
/// each read its tables whole and ran the per-row functions on every row: 4 100 to 23 600
/// buffers per statement, and 302 for the transcripts' (its tables whole, anti-joined before
/// the per-row check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sweep_reaches_its_rows_through_an_index() -> anyhow::Result<()> {
    let (_pg, pool) = showroom_testkit::database().await?;
    let short = Tenant::seed(&pool, "Sweep Short", 0).await?;
    let long = Tenant::seed(&pool, "Sweep Long", 0).await?;
    sqlx::query(
        "INSERT INTO retention_settings (group_id, transcripts_days, attachments_days, \
           contacts_days, leads_days) VALUES ($1, 10, 10, 10, 10)",
    )
    .bind(short.group)
    .execute(&pool)
    .await?;
    let now = Utc::now();
    shoppers(&pool, &long, 4000, now - chrono::Duration::days(1)).await?;
    // Before the horizon (10 days) but within their group's 730: the per-row condition keeps them.
    shoppers(&pool, &long, 3, now - chrono::Duration::days(20)).await?;
    shoppers(&pool, &short, 3, now - chrono::Duration::days(20)).await?;
    sqlx::raw_sql("ANALYZE").execute(&pool).await?;
    let before_short = rows_of(&pool, short.group).await?;
    let before_long = rows_of(&pool, long.group).await?;

    let mut conn = pool.acquire().await?;
    let mut costs = Vec::new();
    for sweep in OWNERS.into_iter().flatten() {
        // Twice, rolled back: a session's first call of each SQL function also reads the
        // catalog; the second run's buffers are the statement's own.
        let mut plan = None;
        for _ in 0..2 {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            plan = Some(explain(&mut tx, sweep.delete, |q| q.bind(now).bind(500_i64)).await?);
            tx.rollback().await?;
        }
        let plan = plan.context("a plan")?;
        costs.push((sweep.table, plan.buffers, plan.read_whole, plan.plan));
    }
    drop(conn);
    let summary: Vec<_> = costs.iter().map(|(t, b, w, _)| (*t, *b, w)).collect();
    eprintln!("buffers per sweep (table, buffers, read whole): {summary:?}");
    for (table, buffers, _, plan) in &costs {
        assert!(
            *buffers < 150,
            "the {table} sweep read {buffers} buffers with 3 of 4 000 rows expired: \
             {summary:?}\n{plan:#}"
        );
    }

    // And the expired rows go, in every table; the rest stays.
    sweep_everything(&pool, now).await?;
    let after_short = rows_of(&pool, short.group).await?;
    assert!(
        after_short.values().all(|n| *n == 0),
        "the 10-day group after: {after_short:?}, before: {before_short:?}"
    );
    assert_eq!(rows_of(&pool, long.group).await?, before_long);
    Ok(())
}

/// The bound on `ended_at` is only safe if every closed conversation has one: Postgres refuses a
/// closed conversation without its end, whoever writes it (migration 44), and takes an open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_conversation_without_its_end_is_refused() -> anyhow::Result<()> {
    let (_pg, pool) = showroom_testkit::database().await?;
    let t = Tenant::seed(&pool, "Sweep Ends", 0).await?;
    let insert = |state: &'static str| {
        sqlx::query(
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, \
               visitor_id, state) VALUES (gen_random_uuid(), $1, $2, $3, $4, gen_random_uuid(), $5)",
        )
        .bind(t.group)
        .bind(t.website)
        .bind(t.rooftop)
        .bind(t.sales)
        .bind(state)
        .execute(&pool)
    };
    for state in ["ended", "missed", "offline", "timed_out"] {
        let refused = insert(state)
            .await
            .expect_err("a closed chat without its end");
        let constraint = refused
            .as_database_error()
            .and_then(|e| e.constraint().map(str::to_string));
        assert_eq!(
            constraint.as_deref(),
            Some("conversations_closed_has_end"),
            "{state}: {refused}"
        );
    }
    insert("incoming").await?;
    let closed = sqlx::query(
        "UPDATE conversations SET state = 'ended' WHERE group_id = $1 AND state = 'incoming'",
    )
    .bind(t.group)
    .execute(&pool)
    .await;
    assert!(closed.is_err(), "closing without an end was taken");
    Ok(())
}

/// Each sweep's per-row condition comes with the bound of the same kind (a bound of another
/// kind, with a longer period, would keep rows past their own period): the test above sees
/// the bound's cost, this one which bound.
#[test]
fn each_bound_is_of_its_condition_s_kind() {
    for sweep in OWNERS.into_iter().flatten() {
        let sql = sweep.delete;
        let mut kinds = Vec::new();
        for (at, _) in sql.match_indices("retention_cutoff(") {
            let kind = sql[at..].split('\'').nth(1).unwrap_or_default();
            kinds.push(kind);
        }
        if sql.contains("conversation_expired(c, $1)") {
            assert!(
                sql.contains("c.ended_at < retention_horizon('transcripts', $1)"),
                "{}: {sql}",
                sweep.table
            );
        }
        for kind in kinds {
            assert!(
                sql.contains(&format!("retention_horizon('{kind}', $1)")),
                "{} ({kind}): {sql}",
                sweep.table
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_shopper_leaves_no_trace_and_an_export_holds_only_theirs() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "Erase Here", 1).await?;
    let b = Tenant::seed(&stack.pool, "Erase Elsewhere", 1).await?;
    let crm = refusing_crm().await?;
    let manager_a = signed_in(&stack, &a, "boss", "manager").await?;
    let manager_b = signed_in(&stack, &b, "boss", "manager").await?;
    let agent_a = signed_in(&stack, &a, "plain", "agent").await?;
    prepare(&stack, &a, &manager_a, &crm).await?;
    prepare(&stack, &b, &manager_b, &crm).await?;

    let tag = letters();
    let email = format!("quinn.{tag}@erase.example");
    let shopper = Person::new("Zephyrine", &email, Some("(312) 555-2368"));
    let phone_e164 = "+13125552368";
    let other = Person::new("Marguerite", &format!("other.{tag}@erase.example"), None);
    // The same e-mail in another group is another group's shopper.
    let namesake = Person::new("Philippa", &email, None);
    let elsewhere_only = Person::new("Henrietta", &format!("only.{tag}@erase.example"), None);
    visit(&stack, &a, &shopper).await?;
    visit(&stack, &a, &other).await?;
    visit(&stack, &b, &namesake).await?;
    visit(&stack, &b, &elsewhere_only).await?;

    // Export: the shopper's rows, nobody else's.
    let (s, v) = agent_a
        .get(&format!("/api/v1/privacy/export?email={email}"))
        .await?;
    assert_eq!(s, 403, "{v}");
    let (s, export) = manager_a
        .get(&format!("/api/v1/privacy/export?email={email}"))
        .await?;
    assert_eq!(s, 200, "{export}");
    assert_eq!(export["identifier"], "email");
    for table in [
        "conversations",
        "messages",
        "attachments",
        "form_submissions",
        "left_messages",
        "contacts",
        "leads",
        "crm_deliveries",
        "trade_ins",
    ] {
        let rows = export["tables"][table].as_array().map_or(0, Vec::len);
        assert!(rows > 0, "{table} in {export:#}");
    }
    let text = export.to_string();
    assert!(text.contains(&shopper.last), "their name");
    assert!(text.contains(phone_e164), "their phone, from their contact");
    for foreign in [
        &other.email,
        &other.last,
        &namesake.last,
        &elsewhere_only.email,
    ] {
        assert!(!text.contains(foreign.as_str()), "{foreign} in {text}");
    }
    assert!(
        export["tables"]["attachments"][0].get("data").is_none(),
        "files are described, not inlined: {export}"
    );
    // By phone, as contacts store it: the same person.
    let (s, by_phone) = manager_a
        .get("/api/v1/privacy/export?phone=312-555-2368")
        .await?;
    assert_eq!(s, 200, "{by_phone}");
    assert_eq!(by_phone["identifier"], "phone");
    assert_eq!(by_phone["tables"]["contacts"], export["tables"]["contacts"]);
    // Another group's shopper is not found; the namesake's group sees only its own.
    let (s, v) = manager_a
        .get(&format!(
            "/api/v1/privacy/export?email={}",
            elsewhere_only.email
        ))
        .await?;
    assert_eq!(s, 404, "{v}");
    let (s, theirs) = manager_b
        .get(&format!("/api/v1/privacy/export?email={email}"))
        .await?;
    assert_eq!(s, 200, "{theirs}");
    assert!(theirs.to_string().contains(&namesake.last));
    assert!(!theirs.to_string().contains(&shopper.last));
    let (s, v) = manager_a
        .get("/api/v1/privacy/export?email=x@y.example&phone=3125552368")
        .await?;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["fields"]["phone"].is_string(), "{v}");

    let (others_pending,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM crm_deliveries d JOIN leads l ON l.id = d.lead_id \
         JOIN contacts k ON k.id = l.contact_id \
         WHERE d.group_id = $1 AND d.status = 'pending' AND lower(k.email) = $2",
    )
    .bind(a.group)
    .bind(other.email.to_lowercase())
    .fetch_one(&stack.pool)
    .await?;
    assert!(others_pending > 0);

    // Erasure: managers only, one identifier, checked.
    let (s, v) = agent_a
        .post(
            "/api/v1/privacy/erasures",
            &json!({"email": email}).to_string(),
        )
        .await?;
    assert_eq!(s, 403, "{v}");
    let (s, v) = manager_a
        .post(
            "/api/v1/privacy/erasures",
            &json!({"email": "not an address"}).to_string(),
        )
        .await?;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["fields"]["email"].is_string(), "{v}");
    // The domain in another case is the same address, as contacts match it.
    let (local, _) = email.split_once('@').context("an address")?;
    let (s, erased) = manager_a
        .post(
            "/api/v1/privacy/erasures",
            &json!({"email": format!("{local}@ERASE.example")}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{erased}");
    for table in [
        "conversations",
        "messages",
        "attachments",
        "form_submissions",
        "left_messages",
        "contacts",
        "leads",
        "crm_deliveries",
        "trade_ins",
    ] {
        assert!(
            erased["counts"][table].as_u64().unwrap_or(0) > 0,
            "{table} in {erased}"
        );
    }

    // No trace in any table, outside the other group (whose events may still sit in an
    // outbox for a moment: outboxes have no group column).
    let needles = [
        email.clone(),
        phone_e164.to_string(),
        "3125552368".to_string(),
        shopper.last.clone(),
        shopper.first.clone(),
    ];
    eventually(
        Duration::from_secs(10),
        "no trace of the shopper",
        || async {
            let mut found = Vec::new();
            for needle in &needles {
                for place in traces(&stack.pool, needle, b.group).await? {
                    found.push(format!("{needle} in {place}"));
                }
            }
            if !found.is_empty() {
                eprintln!("still found: {found:?}");
            }
            Ok(found.is_empty().then_some(()))
        },
    )
    .await?;
    let (pending,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM crm_deliveries WHERE group_id = $1 AND status = 'pending'",
    )
    .bind(a.group)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(
        pending, others_pending,
        "only the other shopper's deliveries wait"
    );
    // The other shopper and the other group keep everything.
    for (who, group) in [(&other, a.group), (&namesake, b.group)] {
        let (contacts, left): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM contacts WHERE group_id = $1 AND lower(email) = lower($2)), \
                    (SELECT count(*) FROM left_messages WHERE group_id = $1 AND last_name = $3)",
        )
        .bind(group)
        .bind(&who.email)
        .bind(&who.last)
        .fetch_one(&stack.pool)
        .await?;
        assert_eq!((contacts, left), (1, 1), "{}", who.first);
    }
    assert!(
        !traces(&stack.pool, &other.last, b.group).await?.is_empty(),
        "the scan finds what is there"
    );

    // The trail: counts and the identifier's type, never the address.
    let (_, trail) = manager_a.get("/api/v1/audit").await?;
    let row = trail["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "shopper_erased"))
        .cloned()
        .context("shopper_erased in the trail")?;
    assert_eq!(row["detail"]["identifier"], "email");
    assert_eq!(row["detail"]["counts"], erased["counts"]);
    assert!(!row.to_string().to_lowercase().contains(&email), "{row}");
    assert!(
        trail["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "shopper_exported")),
        "{trail}"
    );

    // Idempotent: again, nothing left to delete; and nothing to export.
    let (s, again) = manager_a
        .post(
            "/api/v1/privacy/erasures",
            &json!({"email": email}).to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["total"], 0, "{again}");
    let (s, _) = manager_a
        .get(&format!("/api/v1/privacy/export?email={email}"))
        .await?;
    assert_eq!(s, 404);
    stack.stop().await
}

/// Admin ▸ Privacy in Chromium (`services/gateway/tests/browser/privacy.test.mjs`): the periods
/// are shown, a wrong one named, new ones saved; a shopper exported and erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_privacy_page_works_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Privacy Page", 1).await?;
    let (_, manager_email) = t.add_agent(&stack.pool, "boss", "manager", &[]).await?;
    // A shopper leaves a message through the dealer's own form.
    let shopper = format!("page.{}@privacy.example", letters());
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/widget/{}/messages",
            stack.base_url, t.key
        ))
        .json(
            &json!({"first_name": "Rosalind", "last_name": "Featherstone", "email": shopper,
            "message": "Is the blue one still there?"}),
        )
        .send()
        .await?;
    anyhow::ensure!(resp.status() == StatusCode::ACCEPTED, "{}", resp.status());
    eventually(Duration::from_secs(15), "the shopper's contact", || async {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM contacts WHERE group_id = $1 AND lower(email) = lower($2)",
        )
        .bind(t.group)
        .bind(&shopper)
        .fetch_one(&stack.pool)
        .await?;
        Ok((n > 0).then_some(()))
    })
    .await?;

    let env = [
        ("PRIVACY_EMAIL", manager_email.clone()),
        ("PRIVACY_PASSWORD", PASSWORD.to_string()),
        ("PRIVACY_SHOPPER", shopper.clone()),
    ];
    showroom_testkit::run_browser_tests(&stack.base_url, &["privacy"], &env).await?;

    // What the page did, seen from the server.
    let http = Http::new(&stack.base_url);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let (_, periods) = manager.get("/api/v1/retention").await?;
    assert_eq!(periods["transcripts_days"], 30, "{periods}");
    assert_eq!(periods["leads_days"], 365, "{periods}");
    let (left,): (i64,) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM contacts WHERE group_id = $1 AND lower(email) = lower($2)) \
              + (SELECT count(*) FROM left_messages WHERE group_id = $1 AND lower(email) = lower($2))",
    )
    .bind(t.group)
    .bind(&shopper)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(left, 0, "erased");
    stack.stop().await
}
