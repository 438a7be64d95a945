//! The audit trail (issue 17, item 4) through the real services: every kind recorded appears
//! after doing the action over REST, with before and after and without secrets; another group
//! sees none of it; agents are refused; the CSV export is quoted and neutralises formulas; the
//! chain check finds an edited row and a removed one (the database owner's doing: the product
//! cannot UPDATE or DELETE the table); concurrent sign-ins keep one unbroken chain.

use std::collections::BTreeSet;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use showroom_store::sqlx;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

/// The kinds of the group's trail, newest first, as `GET /api/v1/audit` lists them.
async fn events(http: &Http, query: &str) -> anyhow::Result<Vec<Value>> {
    let (st, page) = http.get(&format!("/api/v1/audit{query}")).await?;
    anyhow::ensure!(st == StatusCode::OK, "{st} {page}");
    Ok(page["events"].as_array().cloned().unwrap_or_default())
}

/// The one event of `kind` (the newest), panicking with the trail when there is none.
fn one<'a>(all: &'a [Value], kind: &str) -> &'a Value {
    all.iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {all:#?}"))
}

/// An intact check of `rows` rows, answering its head (`head_id`, `head_hash`).
fn intact(check: &Value, rows: usize) -> (i64, String) {
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["rows"], rows, "{check}");
    let head = check["head_hash"].as_str().unwrap_or_default().to_string();
    assert_eq!(head.len(), 64, "{check}");
    (check["head_id"].as_i64().unwrap_or_default(), head)
}

/// A login that waits out `busy` (the password-hash permits) as a client would.
async fn login_retrying(http: &Http, email: &str) -> anyhow::Result<()> {
    let body = json!({"email": email, "password": PASSWORD}).to_string();
    for _ in 0..50 {
        let (st, v) = http.post("/api/v1/auth/login", &body).await?;
        match st {
            StatusCode::OK => return Ok(()),
            StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            _ => anyhow::bail!("login: {st} {v}"),
        }
    }
    anyhow::bail!("still busy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_change_is_in_its_groups_trail_only() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "AuditA", 1).await?;
    let b = Tenant::seed(&stack.pool, "AuditB", 1).await?;
    let (admin_id, admin_email) = a.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let (_, agent_email) = a.add_agent(&stack.pool, "plain", "agent", &[]).await?;
    let (_, admin_b_email) = b.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let http = Http::new(&stack.base_url);

    // A failed sign-in to an account of A, and one of an e-mail nobody has (no group: nowhere).
    let wrong = json!({"email": admin_email, "password": "not the password"}).to_string();
    assert_eq!(http.post("/api/v1/auth/login", &wrong).await?.0, 401);
    let nobody = json!({"email": "nobody@nowhere.example", "password": "x"}).to_string();
    assert_eq!(http.post("/api/v1/auth/login", &nobody).await?.0, 401);
    let admin = http.with_token(&http.login(&admin_email, PASSWORD).await?);
    let agent = http.with_token(&http.login(&agent_email, PASSWORD).await?);
    let admin_b = http.with_token(&http.login(&admin_b_email, PASSWORD).await?);

    // An agent whose name is a spreadsheet formula.
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let new_password = "another horse battery staple";
    let (st, created) = admin
        .post(
            "/api/v1/agents",
            &json!({"email": format!("new@{}.example", a.slug), "first_name": formula,
                "last_name": "Hire", "role": "agent", "password": new_password})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{created}");
    let new_id = created["id"].as_str().unwrap_or_default().to_string();
    let (st, body) = admin
        .put(
            &format!("/api/v1/agents/{new_id}"),
            &json!({"first_name": formula, "last_name": "Hire", "role": "manager"}).to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{body}");
    let (st, body) = admin
        .put(
            &format!("/api/v1/agents/{new_id}/memberships"),
            &json!({"department_ids": [a.sales]}).to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{body}");
    for step in ["deactivate", "reactivate"] {
        let (st, body) = admin
            .post(&format!("/api/v1/agents/{new_id}/{step}"), "")
            .await?;
        assert_eq!(st, 200, "{step}: {body}");
    }
    let hire = http.with_token(
        &http
            .login(&format!("new@{}.example", a.slug), new_password)
            .await?,
    );
    let (st, body) = hire
        .put(
            "/api/v1/me/password",
            &json!({"current_password": new_password, "new_password": "a third horse staple"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 204, "{body}");

    // A CRM destination created, renamed, removed (crm-export owns it: recorded after).
    let dest = Uuid::now_v7();
    let path = format!("/api/v1/crm/destinations/{dest}");
    for name in ["DealerSocket", "VinSolutions"] {
        let (st, body) = admin
            .put(
                &path,
                &json!({"rooftop_id": a.rooftop, "name": name, "target": {
                    "kind": "adf_email", "to": "leads@crm.example"}})
                .to_string(),
            )
            .await?;
        assert_eq!(st, 200, "{body}");
    }
    assert_eq!(admin.call(Method::DELETE, &path, None).await?.0, 200);
    // An integrator credential issued and revoked.
    let (st, issued) = admin
        .post("/api/v1/integrations", r#"{"name":"Acme CRM"}"#)
        .await?;
    assert_eq!(st, 201, "{issued}");
    let creds = issued["creds"].as_str().unwrap_or_default().to_string();
    let integration = issued["integration"]["id"].as_str().unwrap_or_default();
    let (st, body) = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/integrations/{integration}"),
            None,
        )
        .await?;
    assert_eq!(st, 200, "{body}");

    let all = events(&admin, "?limit=500").await?;
    let kinds: BTreeSet<&str> = all.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in [
        "sign_in",
        "sign_in_failed",
        "agent_created",
        "role_changed",
        "membership_changed",
        "agent_deactivated",
        "agent_reactivated",
        "password_changed",
        "crm_destination_changed",
        "integration_issued",
        "integration_revoked",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    // Sign-ins: who, from where, how; a failure names the e-mail typed and no actor.
    let failed = one(&all, "sign_in_failed");
    assert_eq!(failed["actor_label"], admin_email.as_str());
    assert!(failed["actor_id"].is_null());
    assert_eq!(failed["subject"], format!("agent:{admin_id}"));
    assert_eq!(
        (&failed["ip"], &failed["ip_source"]),
        (&json!("127.0.0.1"), &json!("peer"))
    );
    assert_eq!(failed["detail"]["method"], "password");
    let signed_in: Vec<&Value> = all.iter().filter(|e| e["kind"] == "sign_in").collect();
    assert_eq!(
        signed_in.len(),
        3,
        "boss, plain and the new hire: {signed_in:#?}"
    );
    assert!(signed_in.iter().all(|e| e["ip"] == "127.0.0.1"));
    assert!(
        !all.iter()
            .any(|e| e["actor_label"] == "nobody@nowhere.example")
    );
    // Changes: who did it, to whom, before and after.
    let role = one(&all, "role_changed");
    assert_eq!(role["actor_id"], admin_id.to_string());
    assert_eq!(role["subject"], format!("agent:{new_id}"));
    assert_eq!(
        (
            &role["detail"]["before"]["role"],
            &role["detail"]["after"]["role"]
        ),
        (&json!("agent"), &json!("manager"))
    );
    let members = one(&all, "membership_changed");
    assert_eq!(members["detail"]["before"]["department_ids"], json!([]));
    assert_eq!(
        members["detail"]["after"]["department_ids"],
        json!([a.sales])
    );
    let crm: Vec<&Value> = all
        .iter()
        .filter(|e| e["kind"] == "crm_destination_changed")
        .collect();
    let actions: Vec<&str> = crm
        .iter()
        .filter_map(|e| e["detail"]["action"].as_str())
        .collect();
    assert_eq!(actions, ["deleted", "changed", "created"], "newest first");
    assert_eq!(crm[1]["detail"]["before"]["name"], "DealerSocket");
    assert_eq!(crm[1]["detail"]["after"]["name"], "VinSolutions");
    assert_eq!(crm[0]["subject"], format!("crm_destination:{dest}"));
    // Never a password or a secret.
    let text = serde_json::to_string(&all)?;
    for secret in [PASSWORD, new_password, "a third horse staple", &creds] {
        assert!(!text.contains(secret), "a secret in the trail: {secret}");
    }

    // Filters and paging.
    let roles = events(&admin, "?kind=role_changed").await?;
    assert_eq!(roles.len(), 1);
    let mine = events(&admin, &format!("?actor_id={admin_id}&limit=500")).await?;
    assert!(mine.iter().all(|e| e["actor_id"] == admin_id.to_string()));
    let (_, page) = admin.get("/api/v1/audit?limit=2").await?;
    let next = page["next_before_id"].as_i64().unwrap_or_default();
    assert_eq!(page["events"][1]["id"].as_i64(), Some(next));
    let older = events(&admin, &format!("?limit=2&before_id={next}")).await?;
    assert!(older[0]["id"].as_i64() < Some(next));
    let future = events(&admin, "?from=2999-01-01T00:00:00Z").await?;
    assert!(future.is_empty());
    assert_eq!(admin.get("/api/v1/audit?limit=0").await?.0, 400);
    assert_eq!(admin.get("/api/v1/audit?limit=501").await?.0, 400);

    // Agents may not read it; another group sees only its own.
    for path in ["/api/v1/audit", "/api/v1/audit.csv", "/api/v1/audit/verify"] {
        assert_eq!(agent.get(path).await?.0, 403, "{path}");
        assert_eq!(http.get(path).await?.0, 401, "{path}");
    }
    let theirs = events(&admin_b, "?limit=500").await?;
    assert_eq!(theirs.len(), 1, "only B's own sign-in: {theirs:#?}");
    assert_eq!(theirs[0]["actor_label"], admin_b_email.as_str());
    let (_, other) = admin_b.get("/api/v1/audit/verify").await?;
    intact(&other, 1);

    // The CSV: the same rows, quoted, the formula neutralised.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/audit.csv?limit=500", stack.base_url))
        .bearer_auth(http.login(&admin_email, PASSWORD).await?)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str()?,
        "text/csv; charset=utf-8"
    );
    let bytes = resp.bytes().await?;
    let csv = std::str::from_utf8(&bytes)?
        .strip_prefix('\u{feff}')
        .context("a byte-order mark first")?;
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "\"id\",\"at\",\"actor_id\",\"actor_label\",\"kind\",\"subject\",\"subject_name\",\"ip\",\"ip_source\",\"detail\""
    );
    assert_eq!(
        lines.len(),
        all.len() + 2,
        "the header, and a sign-in since"
    );
    assert!(
        csv.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\") Hire\","),
        "{csv}"
    );
    assert!(!csv.contains(",\"=HYPERLINK"), "a live formula: {csv}");

    let (_, check) = admin.get("/api/v1/audit/verify").await?;
    intact(&check, all.len() + 1);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chain_check_finds_an_edited_row_and_a_removed_one() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "AuditChain", 1).await?;
    let (_, email) = t.add_agent(&stack.pool, "boss", "manager", &[]).await?;
    let http = Http::new(&stack.base_url);
    for _ in 0..4 {
        http.login(&email, PASSWORD).await?;
    }
    let boss = http.with_token(&http.login(&email, PASSWORD).await?);
    let (_, check) = boss.get("/api/v1/audit/verify").await?;
    let (head_id, head_hash) = intact(&check, 5);
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM audit_events WHERE group_id = $1 ORDER BY id")
            .bind(t.group)
            .fetch_all(&stack.pool)
            .await?;
    assert_eq!(ids.len(), 5);
    assert_eq!(head_id, ids[4]);
    let anchored = format!("/api/v1/audit/verify?anchor_id={head_id}&anchor_hash={head_hash}");
    intact(&boss.get(&anchored).await?.1, 5);
    for bad in [
        "anchor_id=1",
        "anchor_id=1&anchor_hash=zz",
        "anchor_id=1&anchor_hash=abcd",
    ] {
        let (st, body) = boss.get(&format!("/api/v1/audit/verify?{bad}")).await?;
        assert_eq!(st, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_anchor", "{bad}: {body}");
    }

    // Nobody edits or removes a row through SQL while the trigger stands (not even the owner).
    let edit = "UPDATE audit_events SET detail = '{\"method\": \"sso\"}' WHERE id = $1";
    let refused = sqlx::query(edit).bind(ids[2]).execute(&stack.pool).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("append-only")),
        "{refused:?}"
    );
    let refused = sqlx::query("DELETE FROM audit_events WHERE id = $1")
        .bind(ids[2])
        .execute(&stack.pool)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        sqlx::query("TRUNCATE audit_events")
            .execute(&stack.pool)
            .await
            .is_err()
    );

    // The database owner can disable the trigger: the chain still tells.
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
        .execute(&stack.pool)
        .await?;
    sqlx::query(edit).bind(ids[2]).execute(&stack.pool).await?;
    let (_, check) = boss.get("/api/v1/audit/verify").await?;
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(check["broken_at"], ids[2], "{check}");
    assert!(check["why"].as_str().unwrap_or_default().contains("edited"));
    // Put back as it was: intact again.
    sqlx::query("UPDATE audit_events SET detail = '{\"method\": \"password\"}' WHERE id = $1")
        .bind(ids[2])
        .execute(&stack.pool)
        .await?;
    let (_, check) = boss.get("/api/v1/audit/verify").await?;
    intact(&check, 5);
    // The newest row removed: the chain alone cannot tell (what is left links up), the anchor
    // taken before can.
    sqlx::query("DELETE FROM audit_events WHERE id = $1")
        .bind(ids[4])
        .execute(&stack.pool)
        .await?;
    intact(&boss.get("/api/v1/audit/verify").await?.1, 4);
    let (_, check) = boss.get(&anchored).await?;
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(check["broken_at"], ids[4], "{check}");
    assert!(
        check["why"].as_str().unwrap_or_default().contains("gone"),
        "{check}"
    );
    // A row removed: the next one no longer links to the one before it.
    sqlx::query("DELETE FROM audit_events WHERE id = $1")
        .bind(ids[1])
        .execute(&stack.pool)
        .await?;
    let (_, check) = boss.get("/api/v1/audit/verify").await?;
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(check["broken_at"], ids[2], "{check}");
    assert!(
        check["why"]
            .as_str()
            .unwrap_or_default()
            .contains("removed")
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ins_keep_one_unbroken_chain() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "AuditRace", 1).await?;
    let mut emails = Vec::new();
    for i in 0..20 {
        emails.push(
            t.add_agent(&stack.pool, &format!("a{i}"), "agent", &[])
                .await?
                .1,
        );
    }
    let http = Http::new(&stack.base_url);
    let logins = emails.iter().map(|e| login_retrying(&http, e));
    for r in futures::future::join_all(logins).await {
        r?;
    }
    let (id, email) = t.add_agent(&stack.pool, "boss", "manager", &[]).await?;
    let boss = http.with_token(&http.login(&email, PASSWORD).await?);
    let (_, check) = boss.get("/api/v1/audit/verify").await?;
    intact(&check, 21);
    // One chain: every row but the first links to a distinct predecessor.
    let links: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT prev_hash) FROM audit_events WHERE group_id = $1",
    )
    .bind(t.group)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(links, 21);
    let last = events(&boss, "?limit=1").await?;
    assert_eq!(last[0]["actor_id"], id.to_string());
    stack.stop().await
}

/// Reads of customer data are in the trail, written before the data is answered: a transcript
/// viewed and downloaded, leads downloaded as CSV (formulas neutralised). Another group's chat
/// is 404 and leaves no row. While the trail cannot be written (a trigger that fails every
/// insert, the database owner's doing) the reads are refused 503 and answer no data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_of_customer_data_are_recorded_before_they_are_answered() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "ReadsA", 1).await?;
    let b = Tenant::seed(&stack.pool, "ReadsB", 1).await?;
    let (_, manager_email) = a.add_agent(&stack.pool, "desk", "manager", &[]).await?;
    let http = Http::new(&stack.base_url);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let agent = http.with_token(&http.login(&a.agents[0].1, PASSWORD).await?);
    let stranger = http.with_token(&http.login(&b.agents[0].1, PASSWORD).await?);

    let mut console = stack.agent(&a.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&a, None, 0).await?;
    let conv = showroom_testkit::accepted_chat(&mut w, &mut console, a.sales).await?;
    let said = w
        .ask(json!({"type": "send", "client_msg_id": "r1", "text": "Is the white Tacoma in?"}))
        .await?;
    assert_eq!(said["type"], "ack", "{said}");
    let (st, lead) = agent
        .post(
            &format!("/api/v1/conversations/{conv}/leads"),
            &json!({"first_name": "=cmd|' /C calc'!A0", "last_name": "Lopez", "phone": "+13125550100"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{lead}");

    // Viewed, then downloaded as text.
    let (st, detail) = agent.get(&format!("/api/v1/conversations/{conv}")).await?;
    assert_eq!(st, 200, "{detail}");
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/conversations/{conv}/transcript.txt",
            stack.base_url
        ))
        .bearer_auth(http.login(&a.agents[0].1, PASSWORD).await?)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()?
            .contains(&format!("transcript-{conv}.txt"))
    );
    let text = resp.text().await?;
    assert!(text.contains("Is the white Tacoma in?"), "{text}");
    assert!(
        text.starts_with(&format!("Conversation {conv}\n")),
        "{text}"
    );

    // Leads as CSV: managers only; the formula a shopper typed is neutralised.
    assert_eq!(agent.get("/api/v1/leads.csv").await?.0, 403);
    assert_eq!(manager.get("/api/v1/leads.csv?limit=0").await?.0, 400);
    let (st, bytes) = manager.download("/api/v1/leads.csv").await?;
    let csv = String::from_utf8(bytes)?;
    assert_eq!(st, 200, "{csv}");
    let csv = csv
        .strip_prefix('\u{feff}')
        .context("a byte-order mark first")?;
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("\"id\",\"created_at\""), "{csv}");
    assert!(lines[1].contains("\"'=cmd|' /C calc'!A0\""), "{csv}");

    // Another group's session: 404, nothing recorded in either trail about it.
    for path in [
        format!("/api/v1/conversations/{conv}"),
        format!("/api/v1/conversations/{conv}/transcript.txt"),
    ] {
        assert_eq!(stranger.get(&path).await?.0, 404, "{path}");
    }

    let all = events(&manager, "?limit=500").await?;
    let subject = format!("conversation:{conv}");
    for kind in ["transcript_viewed", "transcript_exported"] {
        let e = one(&all, kind);
        assert_eq!(e["subject"], subject.as_str(), "{e}");
        assert_eq!(e["actor_label"], a.agents[0].1.as_str(), "{e}");
    }
    assert_eq!(one(&all, "leads_exported")["detail"]["count"], 1);
    assert_eq!(
        all.iter()
            .filter(|e| e["kind"] == "transcript_viewed")
            .count(),
        1,
        "the 404s recorded nothing"
    );
    let (_, theirs) = stranger.get("/api/v1/audit").await?;
    assert_eq!(
        theirs["error"]["code"], "forbidden",
        "B's agent cannot read it"
    );

    // The trail cannot be written: every read is refused, without its data.
    sqlx::query(
        "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'audit down'; END $$",
    )
    .execute(&stack.pool)
    .await?;
    sqlx::query(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
         FOR EACH ROW EXECUTE FUNCTION audit_down()",
    )
    .execute(&stack.pool)
    .await?;
    for (who, path) in [
        (&agent, format!("/api/v1/conversations/{conv}")),
        (
            &agent,
            format!("/api/v1/conversations/{conv}/transcript.txt"),
        ),
        (&manager, "/api/v1/leads.csv".to_string()),
    ] {
        let (st, body) = who.get(&path).await?;
        assert_eq!(st, 503, "{path}: {body}");
        assert_eq!(body["error"]["code"], "audit_unavailable", "{path}: {body}");
        assert!(!body.to_string().contains("Tacoma"), "{body}");
    }
    sqlx::query("DROP TRIGGER audit_down ON audit_events")
        .execute(&stack.pool)
        .await?;
    assert_eq!(
        agent.get(&format!("/api/v1/conversations/{conv}")).await?.0,
        200
    );
    stack.stop().await
}

/// Settings that other services own (routing, teams, the bot, forms, a website's e-mails) are
/// recorded with what they were before and after, by the manager who changed them; replacing a
/// setting with what it already is records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settings_other_services_own_are_recorded_with_before_and_after() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "AuditSettings", 1).await?;
    let (_, email) = t.add_agent(&stack.pool, "desk", "manager", &[]).await?;
    let http = Http::new(&stack.base_url);
    let boss = http.with_token(&http.login(&email, PASSWORD).await?);
    let (site, dep) = (t.website, t.sales);

    // Each setting read, one field changed, written back: (path, the change, the kind).
    let (_, routing) = boss
        .get(&format!("/api/v1/departments/{dep}/routing"))
        .await?;
    let mut routing = routing["settings"].clone();
    routing["ring_secs"] = json!(routing["ring_secs"].as_u64().unwrap_or(30) + 7);
    let (_, bot) = boss.get(&format!("/api/v1/websites/{site}/bot")).await?;
    let mut bot = bot.clone();
    bot["bot_name"] = json!("Sparky");
    let (_, emails) = boss
        .get(&format!("/api/v1/websites/{site}/notifications"))
        .await?;
    let mut emails = emails.clone();
    emails["forward_messages_to"] = json!(["desk@dealer.example"]);
    let form = json!({"fields": [{"id": "zip", "label": "ZIP code", "type": "input",
        "input": "text", "required": false}]});
    let team = Uuid::now_v7();
    let changes = [
        (
            format!("/api/v1/departments/{dep}/routing"),
            routing,
            "routing_changed",
            format!("department:{dep}"),
        ),
        (
            format!("/api/v1/websites/{site}/routing"),
            json!({"max_sessions": 12, "rules": []}),
            "routing_changed",
            format!("website:{site}"),
        ),
        (
            format!("/api/v1/teams/{team}"),
            json!({"name": "BDC", "members": [t.agents[0].0]}),
            "team_changed",
            format!("team:{team}"),
        ),
        (
            format!("/api/v1/websites/{site}/bot"),
            bot,
            "bot_settings_changed",
            format!("website:{site}"),
        ),
        (
            format!("/api/v1/websites/{site}/forms/pre_chat"),
            form,
            "form_changed",
            format!("website:{site}"),
        ),
        (
            format!("/api/v1/websites/{site}/notifications"),
            emails,
            "website_emails_changed",
            format!("website:{site}"),
        ),
    ];
    for (path, body, _, _) in &changes {
        let (st, answer) = boss.put(path, &body.to_string()).await?;
        assert_eq!(st, 200, "{path}: {answer}");
    }
    let all = events(&boss, "?limit=500").await?;
    for (path, _, kind, subject) in &changes {
        let e = all
            .iter()
            .find(|e| e["kind"] == *kind && e["subject"] == subject.as_str())
            .unwrap_or_else(|| panic!("no {kind} about {subject} ({path}) in {all:#?}"));
        assert_eq!(e["actor_label"], email.as_str(), "{e}");
        assert_ne!(e["detail"]["before"], e["detail"]["after"], "{e}");
    }
    let routed = all
        .iter()
        .find(|e| e["subject"] == format!("department:{dep}").as_str())
        .expect("the department's row");
    assert_eq!(
        routed["detail"]["after"]["settings"]["ring_secs"].as_u64(),
        routed["detail"]["before"]["settings"]["ring_secs"]
            .as_u64()
            .map(|s| s + 7),
        "{routed}"
    );
    assert_eq!(
        all.iter().find(|e| e["kind"] == "team_changed").unwrap()["detail"]["before"],
        Value::Null,
        "a new team has no before"
    );
    assert_eq!(
        all.iter().find(|e| e["kind"] == "form_changed").unwrap()["detail"]["form"],
        "pre_chat"
    );

    // The same again: nothing changed, nothing recorded.
    for (path, body, _, _) in &changes {
        assert_eq!(boss.put(path, &body.to_string()).await?.0, 200, "{path}");
    }
    assert_eq!(events(&boss, "?limit=500").await?.len(), all.len());
    stack.stop().await
}
