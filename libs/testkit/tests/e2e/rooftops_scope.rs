//! Managers scoped to rooftops (issue 17, item 3) and settings changes in the audit trail
//! (item 4), through the real services. A group with rooftops A and B; a group manager gives
//! an agent the `rooftop_manager` role for A (`rooftop_ids` required, another group's rooftop
//! refused naming the field). The rooftop manager sees and edits A's rooftop, departments,
//! websites, agents, routing, bot, e-mail and CRM settings and report rows; B's answer 404 and
//! are absent from every list; they cannot make anyone a manager, admin or rooftop manager, nor
//! widen their own scope; group-wide things (adding rooftops, teams, the audit trail) stay
//! 403. The group manager still sees everything. Every change of a rooftop, department or
//! website is in the trail with `before` and `after`. In Chromium, the rooftop manager's Admin
//! pages list only A's departments and websites (`rooftop-scope.test.mjs`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

/// Rooftop B of `t`'s group: its id, its department (Parts) and its website.
struct Other {
    rooftop: Uuid,
    parts: Uuid,
    website: Uuid,
}

async fn rooftop_b(stack: &Stack, t: &Tenant) -> anyhow::Result<Other> {
    let rooftop = setup::rooftop(
        &stack.pool,
        t.group,
        &format!("{} Toyota", t.slug),
        "America/Denver",
    )
    .await?;
    let parts = setup::department(&stack.pool, t.group, rooftop, "Parts", None, 0).await?;
    let website = setup::website(
        &stack.pool,
        t.group,
        rooftop,
        &format!("toyota.{}.example", t.slug),
        &format!("key-b-{}", t.slug),
        &[format!("https://toyota.{}.example", t.slug)],
    )
    .await?;
    Ok(Other {
        rooftop,
        parts,
        website,
    })
}

/// The ids of a JSON list's objects (`key` of each).
fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v[key].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The newest audit event of `kind` about `subject`.
async fn audit_row(http: &Http, kind: &str, subject: &str) -> anyhow::Result<Value> {
    let (st, page) = http.get("/api/v1/audit?limit=200").await?;
    anyhow::ensure!(st == StatusCode::OK, "{st} {page}");
    page["events"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|e| e["kind"] == kind && e["subject"] == subject)
                .cloned()
        })
        .ok_or_else(|| anyhow::anyhow!("no {kind} about {subject} in {page:#}"))
}

/// A group, its rooftop B, a group manager and a rooftop manager of A made over the admin API.
struct Setup {
    stack: Stack,
    t: Tenant,
    b: Other,
    manager: Http,
    rm: Http,
    rm_id: String,
    rm_email: String,
    /// An agent of B (Parts).
    b_agent: Uuid,
}

async fn setup(name: &str) -> anyhow::Result<Setup> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, name, 1).await?;
    let b = rooftop_b(&stack, &t).await?;
    let (b_agent, _) = t
        .add_agent(&stack.pool, "partsguy", "agent", &[b.parts])
        .await?;
    let (_, manager_email) = t.add_agent(&stack.pool, "gm", "manager", &[]).await?;
    let http = Http::new(&stack.base_url);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let rm_email = format!("rm@{}.example", t.slug);
    let (st, made) = manager
        .post(
            "/api/v1/agents",
            &json!({"email": rm_email, "first_name": "Rita", "last_name": "Roof",
                "role": "rooftop_manager", "password": PASSWORD, "department_ids": [t.sales],
                "rooftop_ids": [t.rooftop]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["rooftop_ids"], json!([t.rooftop]));
    let rm_id = made["id"].as_str().unwrap_or_default().to_string();
    let rm = http.with_token(&http.login(&rm_email, PASSWORD).await?);
    Ok(Setup {
        stack,
        t,
        b,
        manager,
        rm,
        rm_id,
        rm_email,
        b_agent,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_role_is_given_with_rooftops_by_a_group_manager_only() -> anyhow::Result<()> {
    let s = setup("ScopeGive").await?;
    let other = Tenant::seed(&s.stack.pool, "ScopeGiveOther", 0).await?;
    let new = |email: &str, rooftops: Value| {
        json!({"email": email, "first_name": "N", "last_name": "M", "role": "rooftop_manager",
            "password": PASSWORD, "rooftop_ids": rooftops})
        .to_string()
    };
    // Required and non-empty for the role; another group's rooftop named as the wrong field.
    for rooftops in [json!([]), json!([other.rooftop]), json!(["nope"])] {
        let (st, e) = s
            .manager
            .post(
                "/api/v1/agents",
                &new("x@scopegive.example", rooftops.clone()),
            )
            .await?;
        assert_eq!(st, 400, "{rooftops}: {e}");
        assert!(e["error"]["fields"]["rooftop_ids"].is_string(), "{e}");
    }
    // Ignored for another role.
    let (st, plain) = s
        .manager
        .post(
            "/api/v1/agents",
            &json!({"email": "p@scopegive.example", "first_name": "P", "last_name": "Q",
                "role": "agent", "password": PASSWORD, "rooftop_ids": [s.t.rooftop],
                "department_ids": [s.t.sales]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{plain}");
    assert_eq!(plain["rooftop_ids"], json!([]));
    let plain_id = plain["id"].as_str().unwrap_or_default().to_string();

    // The group manager widens the rooftop manager to B: recorded as scope_changed.
    let (st, v) = s
        .manager
        .put(
            &format!("/api/v1/agents/{}", s.rm_id),
            &json!({"first_name": "Rita", "last_name": "Roof", "role": "rooftop_manager",
                "rooftop_ids": [s.t.rooftop, s.b.rooftop]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rooftop_ids"].as_array().map(Vec::len), Some(2));
    let row = audit_row(&s.manager, "scope_changed", &format!("agent:{}", s.rm_id)).await?;
    assert_eq!(row["detail"]["before"]["rooftop_ids"], json!([s.t.rooftop]));
    assert_eq!(
        row["detail"]["after"]["rooftop_ids"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Back to A only; then made an agent: the rooftops are cleared (role_changed).
    let (st, v) = s
        .manager
        .put(
            &format!("/api/v1/agents/{}", s.rm_id),
            &json!({"first_name": "Rita", "last_name": "Roof", "role": "rooftop_manager",
                "rooftop_ids": [s.t.rooftop]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .manager
        .put(
            &format!("/api/v1/agents/{plain_id}"),
            &json!({"first_name": "P", "last_name": "Q", "role": "rooftop_manager"}).to_string(),
        )
        .await?;
    assert_eq!(st, 400, "a new rooftop manager without rooftops: {v}");
    let (st, v) = s
        .manager
        .put(
            &format!("/api/v1/agents/{plain_id}"),
            &json!({"first_name": "P", "last_name": "Q", "role": "rooftop_manager",
                "rooftop_ids": [s.b.rooftop]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .manager
        .put(
            &format!("/api/v1/agents/{plain_id}"),
            &json!({"first_name": "P", "last_name": "Q", "role": "agent"}).to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rooftop_ids"], json!([]));
    let row = audit_row(&s.manager, "role_changed", &format!("agent:{plain_id}")).await?;
    assert_eq!(row["detail"]["before"]["rooftop_ids"], json!([s.b.rooftop]));
    assert_eq!(row["detail"]["after"]["rooftop_ids"], json!([]));

    // The rooftop manager gives no role but agent, edits no manager, not themselves.
    let rm = &s.rm;
    for role in ["rooftop_manager", "manager", "admin"] {
        let (st, e) = rm
            .post(
                "/api/v1/agents",
                &json!({"email": format!("{role}@scopegive.example"), "first_name": "A",
                    "last_name": "B", "role": role, "password": PASSWORD,
                    "department_ids": [s.t.sales], "rooftop_ids": [s.t.rooftop]})
                .to_string(),
            )
            .await?;
        assert_eq!(st, 403, "{role}: {e}");
        let (st, e) = rm
            .put(
                &format!("/api/v1/agents/{plain_id}"),
                &json!({"first_name": "P", "last_name": "Q", "role": role,
                    "rooftop_ids": [s.t.rooftop]})
                .to_string(),
            )
            .await?;
        assert_eq!(st, 403, "promote to {role}: {e}");
    }
    let (st, e) = rm
        .put(
            &format!("/api/v1/agents/{}", s.rm_id),
            &json!({"first_name": "Rita", "last_name": "Roof", "role": "rooftop_manager",
                "rooftop_ids": [s.t.rooftop, s.b.rooftop]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 403, "widening their own scope: {e}");
    let (st, e) = rm
        .put(
            &format!("/api/v1/agents/{}", s.rm_id),
            &json!({"first_name": "Rita", "last_name": "Roof", "role": "manager"}).to_string(),
        )
        .await?;
    assert_eq!(st, 403, "making themselves a manager: {e}");
    // Nor demote a manager, or another rooftop manager, they see (both cover A's Sales).
    let (floor, _) =
        s.t.add_agent(&s.stack.pool, "floor", "manager", &[s.t.sales])
            .await?;
    let (peer, _) =
        s.t.add_agent(&s.stack.pool, "peer", "rooftop_manager", &[s.t.sales])
            .await?;
    for (id, was) in [(floor, "manager"), (peer, "rooftop_manager")] {
        let (st, e) = rm
            .put(
                &format!("/api/v1/agents/{id}"),
                &json!({"first_name": "X", "last_name": "Y", "role": "agent"}).to_string(),
            )
            .await?;
        assert_eq!(st, 403, "demoting a {was}: {e}");
        let (st, e) = rm
            .put(
                &format!("/api/v1/agents/{id}/memberships"),
                &json!({"department_ids": []}).to_string(),
            )
            .await?;
        assert_eq!(st, 403, "a {was}'s departments: {e}");
    }
    let (st, me) = rm.get("/api/v1/me").await?;
    assert_eq!(
        (st, me["role"].as_str()),
        (StatusCode::OK, Some("rooftop_manager"))
    );
    // They add an agent to their rooftop's department, not to B's, and not with none.
    let add = |email: &str, deps: Value| {
        json!({"email": email, "first_name": "New", "last_name": "Hire", "role": "agent",
            "password": PASSWORD, "department_ids": deps})
        .to_string()
    };
    let (st, e) = rm
        .post(
            "/api/v1/agents",
            &add("b@scopegive.example", json!([s.b.parts])),
        )
        .await?;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["fields"]["department_ids"].is_string(), "{e}");
    let (st, e) = rm
        .post("/api/v1/agents", &add("none@scopegive.example", json!([])))
        .await?;
    assert_eq!(st, 400, "{e}");
    let (st, v) = rm
        .post(
            "/api/v1/agents",
            &add("a@scopegive.example", json!([s.t.service])),
        )
        .await?;
    assert_eq!(st, 201, "{v}");
    s.stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rooftop_manager_sees_and_changes_only_their_rooftops() -> anyhow::Result<()> {
    let s = setup("ScopeUse").await?;
    let (t, b, rm) = (&s.t, &s.b, &s.rm);

    // Lists: A's only.
    let (st, list) = rm.get("/api/v1/rooftops").await?;
    assert_eq!(st, 200, "{list}");
    assert_eq!(ids(&list["rooftops"], "id"), vec![t.rooftop.to_string()]);
    let (_, sites) = rm.get("/api/v1/websites").await?;
    assert_eq!(ids(&sites, "id"), vec![t.website.to_string()]);
    let (_, agents) = rm.get("/api/v1/agents").await?;
    let seen = ids(&agents["agents"], "id");
    assert!(seen.contains(&t.agents[0].0.to_string()), "{agents}");
    assert!(
        !seen.contains(&s.b_agent.to_string()),
        "B's agent listed: {agents}"
    );
    let (st, report) = rm.get("/api/v1/reports/departments").await?;
    assert_eq!(st, 200, "{report}");
    let rows: Vec<Value> = report["departments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let depts: Vec<String> = rows
        .iter()
        .filter_map(|d| d["department"]["id"].as_str().map(str::to_string))
        .collect();
    assert!(depts.contains(&t.sales.to_string()), "{report}");
    assert!(!depts.contains(&b.parts.to_string()), "B's row: {report}");
    assert!(
        !report["rooftops"]
            .to_string()
            .contains(&b.rooftop.to_string()),
        "{report}"
    );

    // B's things answer 404, as another group's do.
    let body = |v: Value| v.to_string();
    let roof = body(json!({"name": "Mine now", "time_zone": "America/Chicago", "country": "US"}));
    let dep = body(json!({"label": "Taken"}));
    let site = body(json!({"name": "x", "allowed_origins": ["https://x.example"]}));
    // A valid body (A's), so that only the scope can refuse it.
    let (st, a_routing) = rm
        .get(&format!("/api/v1/departments/{}/routing", t.sales))
        .await?;
    assert_eq!(st, 200, "{a_routing}");
    let dept_routing = a_routing["settings"].to_string();
    for (method, path, payload) in [
        (
            Method::PUT,
            format!("/api/v1/rooftops/{}", b.rooftop),
            Some(&roof),
        ),
        (
            Method::POST,
            format!("/api/v1/rooftops/{}/departments", b.rooftop),
            Some(&dep),
        ),
        (
            Method::PUT,
            format!("/api/v1/departments/{}", b.parts),
            Some(&dep),
        ),
        (
            Method::DELETE,
            format!("/api/v1/departments/{}", b.parts),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/departments/{}/routing", b.parts),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/departments/{}/routing", b.parts),
            Some(&dept_routing),
        ),
        (Method::GET, format!("/api/v1/websites/{}", b.website), None),
        (
            Method::PUT,
            format!("/api/v1/websites/{}", b.website),
            Some(&site),
        ),
        (
            Method::GET,
            format!("/api/v1/websites/{}/routing", b.website),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/websites/{}/bot", b.website),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/websites/{}/notifications", b.website),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/websites/{}/forms/pre_chat", b.website),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/agents/{}", s.b_agent),
            Some(&body(
                json!({"first_name": "X", "last_name": "Y", "role": "agent"}),
            )),
        ),
        (
            Method::PUT,
            format!("/api/v1/agents/{}/memberships", s.b_agent),
            Some(&body(json!({"department_ids": [t.sales]}))),
        ),
    ] {
        let (st, e) = rm
            .call(method.clone(), &path, payload.map(String::as_str))
            .await?;
        assert_eq!(st, 404, "{method} {path}: {e}");
        assert!(e["error"]["code"].is_string(), "{method} {path}: {e}");
    }
    // A website for B, a CRM destination for B: the field named.
    let (st, e) = rm
        .post(
            "/api/v1/websites",
            &body(json!({"rooftop_id": b.rooftop, "name": "Sneaky",
                "allowed_origins": ["https://sneaky.example"]})),
        )
        .await?;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["fields"]["rooftop_id"].is_string(), "{e}");
    let crm = |rooftop: Uuid| {
        body(json!({"rooftop_id": rooftop, "name": "ADF", "target":
            {"kind": "adf_email", "to": "leads@crm.example"}}))
    };
    let (st, e) = rm
        .put(
            &format!("/api/v1/crm/destinations/{}", Uuid::now_v7()),
            &crm(b.rooftop),
        )
        .await?;
    assert_eq!(st, 400, "{e}");
    // Group-wide things stay refused.
    for (method, path, payload) in [
        (Method::POST, "/api/v1/rooftops".to_string(), Some(&roof)),
        (Method::GET, "/api/v1/audit".to_string(), None),
        (Method::GET, "/api/v1/integrations".to_string(), None),
        (
            Method::PUT,
            format!("/api/v1/teams/{}", Uuid::now_v7()),
            Some(&body(json!({"name": "BDC", "members": []}))),
        ),
        (
            Method::POST,
            format!("/api/v1/agents/{}/deactivate", t.agents[0].0),
            Some(&body(json!({}))),
        ),
    ] {
        let (st, e) = rm
            .call(method.clone(), &path, payload.map(String::as_str))
            .await?;
        assert_eq!(st, 403, "{method} {path}: {e}");
    }

    // A's are theirs to change.
    let (st, v) = rm
        .put(&format!("/api/v1/rooftops/{}", t.rooftop), &roof)
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, d) = rm
        .post(
            &format!("/api/v1/rooftops/{}/departments", t.rooftop),
            &body(json!({"label": "F&I"})),
        )
        .await?;
    assert_eq!(st, 201, "{d}");
    let new_dep = d["id"].as_str().unwrap_or_default().to_string();
    let (st, v) = rm
        .put(
            &format!("/api/v1/departments/{new_dep}"),
            &body(json!({"label": "Finance"})),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm
        .put(
            &format!("/api/v1/departments/{}/routing", t.sales),
            &dept_routing,
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm
        .put(
            &format!("/api/v1/websites/{}", t.website),
            &body(json!({"name": "Renamed", "allowed_origins": [t.origin]})),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm
        .get(&format!("/api/v1/websites/{}/bot", t.website))
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm
        .put(
            &format!("/api/v1/websites/{}/bot", t.website),
            &v.to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm
        .get(&format!("/api/v1/websites/{}/notifications", t.website))
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm
        .put(
            &format!("/api/v1/websites/{}/notifications", t.website),
            &v.to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let dest = Uuid::now_v7();
    let (st, v) = rm
        .put(&format!("/api/v1/crm/destinations/{dest}"), &crm(t.rooftop))
        .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rm.get("/api/v1/crm/destinations").await?;
    assert_eq!(
        (st, ids(&v, "id")),
        (StatusCode::OK, vec![dest.to_string()]),
        "{v}"
    );
    // The group manager's B destination is neither listed to nor changeable by them.
    let b_dest = Uuid::now_v7();
    let (st, v) = s
        .manager
        .put(
            &format!("/api/v1/crm/destinations/{b_dest}"),
            &crm(b.rooftop),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (_, v) = rm.get("/api/v1/crm/destinations").await?;
    assert!(!ids(&v, "id").contains(&b_dest.to_string()), "{v}");
    let (st, v) = rm
        .put(
            &format!("/api/v1/crm/destinations/{b_dest}"),
            &crm(t.rooftop),
        )
        .await?;
    assert_eq!(st, 404, "taking B's destination: {v}");
    let (st, v) = rm
        .call(
            Method::DELETE,
            &format!("/api/v1/crm/destinations/{b_dest}"),
            None,
        )
        .await?;
    assert_eq!(st, 404, "{v}");
    // An agent who covers A and B: the rooftop manager sees A's membership only and keeps B's
    // when they change the agent's A departments.
    let (both, _) = t
        .add_agent(&s.stack.pool, "both", "agent", &[t.sales, b.parts])
        .await?;
    let (_, agents) = rm.get("/api/v1/agents").await?;
    let row = agents["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == both.to_string()).cloned())
        .unwrap_or_default();
    assert_eq!(row["department_ids"], json!([t.sales]), "{agents}");
    let (st, v) = rm
        .put(
            &format!("/api/v1/agents/{both}/memberships"),
            &body(json!({"department_ids": [t.service]})),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let (_, all) = s.manager.get("/api/v1/agents").await?;
    let row = all["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == both.to_string()).cloned())
        .unwrap_or_default();
    let mut want = vec![t.service.to_string(), b.parts.to_string()];
    want.sort();
    assert_eq!(row["department_ids"], json!(want), "{all}");

    // The group manager still sees everything.
    let (_, list) = s.manager.get("/api/v1/rooftops").await?;
    assert_eq!(list["rooftops"].as_array().map(Vec::len), Some(2), "{list}");
    let (_, sites) = s.manager.get("/api/v1/websites").await?;
    assert_eq!(sites.as_array().map(Vec::len), Some(2), "{sites}");
    let (st, _) = s
        .manager
        .get(&format!("/api/v1/departments/{}/routing", b.parts))
        .await?;
    assert_eq!(st, 200);
    let (_, report) = s.manager.get("/api/v1/reports/departments").await?;
    assert!(
        report.to_string().contains(&b.parts.to_string()),
        "{report}"
    );
    let (_, agents) = s.manager.get("/api/v1/agents").await?;
    assert!(ids(&agents["agents"], "id").contains(&s.b_agent.to_string()));
    s.stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settings_changes_are_in_the_trail_with_before_and_after() -> anyhow::Result<()> {
    let s = setup("ScopeAudit").await?;
    let (t, m) = (&s.t, &s.manager);
    let (st, r) = m
        .post(
            "/api/v1/rooftops",
            &json!({"name": "Lot C", "time_zone": "America/Chicago", "country": "US"}).to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{r}");
    let lot_c = r["id"].as_str().unwrap_or_default().to_string();
    let row = audit_row(m, "rooftop_changed", &format!("rooftop:{lot_c}")).await?;
    assert_eq!(row["detail"]["action"], "created");
    assert_eq!(row["detail"]["before"], Value::Null);
    assert_eq!(row["detail"]["after"]["name"], "Lot C");
    // Changed by the rooftop manager: they are the actor.
    let (st, v) =
        s.rm.put(
            &format!("/api/v1/rooftops/{}", t.rooftop),
            &json!({"name": "Renamed Honda", "time_zone": "America/New_York", "country": "US"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let row = audit_row(m, "rooftop_changed", &format!("rooftop:{}", t.rooftop)).await?;
    assert_eq!(row["actor_label"], s.rm_email.as_str(), "{row}");
    assert_eq!(
        row["detail"]["before"]["name"],
        format!("{} Honda", "ScopeAudit")
    );
    assert_eq!(row["detail"]["before"]["time_zone"], "America/Chicago");
    assert_eq!(row["detail"]["after"]["name"], "Renamed Honda");
    assert_eq!(row["detail"]["after"]["time_zone"], "America/New_York");

    let (st, d) = m
        .post(
            &format!("/api/v1/rooftops/{lot_c}/departments"),
            &json!({"label": "Used"}).to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{d}");
    let dep = d["id"].as_str().unwrap_or_default().to_string();
    let (st, _) = m
        .put(
            &format!("/api/v1/departments/{dep}"),
            &json!({"label": "Pre-owned", "board_section": "Front"}).to_string(),
        )
        .await?;
    assert_eq!(st, 200);
    let row = audit_row(m, "department_changed", &format!("department:{dep}")).await?;
    assert_eq!(row["detail"]["action"], "changed");
    assert_eq!(row["detail"]["before"]["label"], "Used");
    assert_eq!(row["detail"]["before"]["board_section"], Value::Null);
    assert_eq!(row["detail"]["after"]["label"], "Pre-owned");
    assert_eq!(row["detail"]["after"]["board_section"], "Front");
    let (st, _) = m
        .call(Method::DELETE, &format!("/api/v1/departments/{dep}"), None)
        .await?;
    assert_eq!(st, 204);
    let row = audit_row(m, "department_changed", &format!("department:{dep}")).await?;
    assert_eq!(row["detail"]["action"], "deleted");
    assert_eq!(row["detail"]["before"]["label"], "Pre-owned");
    assert_eq!(row["detail"]["after"], Value::Null);

    let (st, w) = m
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": lot_c, "name": "lotc.example",
            "allowed_origins": ["https://lotc.example"]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{w}");
    let site = w["id"].as_str().unwrap_or_default().to_string();
    let row = audit_row(m, "website_changed", &format!("website:{site}")).await?;
    assert_eq!(row["detail"]["action"], "created");
    assert_eq!(
        row["detail"]["after"]["allowed_origins"],
        json!(["https://lotc.example"])
    );
    let (st, _) = m
        .put(
            &format!("/api/v1/websites/{site}"),
            &json!({"name": "lotc.example",
            "allowed_origins": ["https://lotc.example", "https://www.lotc.example"],
            "appearance": {"position": "left"}})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 200);
    let row = audit_row(m, "website_changed", &format!("website:{site}")).await?;
    assert_eq!(row["detail"]["action"], "changed");
    assert_eq!(
        row["detail"]["before"]["allowed_origins"],
        json!(["https://lotc.example"])
    );
    assert_eq!(
        row["detail"]["after"]["allowed_origins"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(row["detail"]["after"]["appearance"]["position"], "left");
    // The chain still verifies.
    let (st, v) = m.get("/api/v1/audit/verify").await?;
    assert_eq!(st, 200, "{v}");
    s.stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_pages_show_a_rooftop_manager_their_rooftops_only() -> anyhow::Result<()> {
    let s = setup("ScopePage").await?;
    let env = [
        ("SCOPE_EMAIL", s.rm_email.clone()),
        ("SCOPE_PASSWORD", PASSWORD.to_string()),
        ("SCOPE_A", "ScopePage Honda".to_string()),
        ("SCOPE_B", format!("{} Toyota", s.t.slug)),
        ("SCOPE_A_WEBSITE", format!("{}.example", s.t.slug)),
        ("SCOPE_B_WEBSITE", format!("toyota.{}.example", s.t.slug)),
    ];
    showroom_testkit::run_browser_tests(&s.stack.base_url, &["rooftop-scope"], &env).await?;
    s.stack.stop().await
}
