//! Canned responses (issue 19, item 1) through the real services: a manager manages the
//! group's and any rooftop's, a rooftop manager only their rooftops' (another rooftop's answer
//! 404, the group's 403 to add), every agent their own (anyone else's 404); a duplicate shortcut
//! of one owner is 409 naming `shortcut`, an unknown placeholder 400 naming it; another group
//! sees nothing (404). In a Spanish chat the agent gets the group's, the chat's rooftop's and
//! their own, in Spanish where there is a Spanish text, with the shopper's, the agent's, the
//! rooftop's and the vehicle's placeholders filled. Group and rooftop changes are in the audit
//! trail. In Chromium, the composer's `/` picker (`canned.test.mjs`, run from `browser.rs`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

async fn logged_in(stack: &Stack, email: &str) -> anyhow::Result<Http> {
    let http = Http::new(&stack.base_url);
    Ok(http.with_token(&http.login(email, PASSWORD).await?))
}

fn body(shortcut: &str, title: &str, en: &str, es: Option<&str>) -> String {
    json!({"shortcut": shortcut, "title": title, "text_en": en, "text_es": es}).to_string()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// The shortcuts of a list's responses, with their scope.
fn listed(v: &Value) -> Vec<(String, String)> {
    v["responses"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    (s("shortcut"), s("scope"))
                })
                .collect()
        })
        .unwrap_or_default()
}

const GROUP_EN: &str = "Hi {shopper.first_name}, {rooftop.name} ({rooftop.phone}) is open 9 to 6. \
    The {vehicle.year} {vehicle.make} {vehicle.model} is here. {agent.first_name}";
const GROUP_ES: &str = "Hola {shopper.first_name}, {rooftop.name} ({rooftop.phone}) abre de 9 a 6. \
    El {vehicle.year} {vehicle.make} {vehicle.model} está aquí. {agent.first_name}";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canned_responses_by_scope_filled_for_a_spanish_chat() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Canned", 1).await?;
    let other = Tenant::seed(&stack.pool, "CannedOther", 0).await?;
    let rooftop_b = setup::rooftop(&stack.pool, t.group, "Canned Toyota", "America/Denver").await?;
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
    let (_, other_admin_email) = other.add_agent(&stack.pool, "boss", "admin", &[]).await?;
    let manager = logged_in(&stack, &manager_email).await?;
    let rm = logged_in(&stack, &rm_email).await?;
    let agent = logged_in(&stack, &t.agents[0].1).await?;
    let outsider = logged_in(&stack, &other_admin_email).await?;
    // The rooftop's phone, for `{rooftop.phone}`: set with its other settings.
    let rooftop = |phone: &str| {
        json!({"name": "Canned Honda", "time_zone": "America/Chicago", "country": "US", "phone": phone})
            .to_string()
    };
    let roof = format!("/api/v1/rooftops/{}", t.rooftop);
    let (st, e) = manager.put(&roof, &rooftop("call us")).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["error"]["fields"]["phone"].is_string(), "{e}");
    let (st, r) = manager.put(&roof, &rooftop(" +1 312 555 0100 ")).await?;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["phone"], "+1 312 555 0100");
    // Absent: unchanged.
    let same = json!({"name": "Canned Honda", "time_zone": "America/Chicago", "country": "US"});
    let (_, r) = manager.put(&roof, &same.to_string()).await?;
    assert_eq!(r["phone"], "+1 312 555 0100");
    const MANAGED: &str = "/api/v1/canned-responses";
    const MINE: &str = "/api/v1/me/canned-responses";

    // The group's: made by the manager; the same shortcut again is 409 naming it.
    let (st, hours) = manager
        .post(
            MANAGED,
            &body("hours", "Opening hours", GROUP_EN, Some(GROUP_ES)),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{hours}");
    assert_eq!(hours["scope"], "group");
    let hours_id = id_of(&hours);
    let (st, dup) = manager
        .post(MANAGED, &body("hours", "Again", "Hello", None))
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "{dup}");
    assert_eq!(dup["error"]["code"], "already_taken", "{dup}");
    assert!(dup["error"]["fields"]["shortcut"].is_string(), "{dup}");

    // Bad input: an unknown placeholder named, a bad shortcut, a missing text, all at once.
    let (st, bad) = manager
        .post(MANAGED, &body("ok", "Ok", "Hi {shopper.last_name}", None))
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    let why = bad["error"]["fields"]["text_en"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("{shopper.last_name}"), "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("{shopper.last_name}"),
        "{bad}"
    );
    let (st, bad) = manager
        .post(MANAGED, &body("Hours!", "", "", Some("{vehicle.color}")))
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    for f in ["shortcut", "title", "text_en", "text_es"] {
        assert!(bad["error"]["fields"][f].is_string(), "{f}: {bad}");
    }
    let (st, bad) = manager.post(MANAGED, "{\"shortcut\": 3}").await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["code"], "bad_json", "{bad}");

    // A rooftop manager: their rooftop's (the same shortcut is another owner's), not the
    // group's (403) nor rooftop B's (404).
    let rooftop_a = json!({"rooftop_id": t.rooftop, "shortcut": "hours", "title": "Our hours",
        "text_en": "{rooftop.name} opens at 9.", "text_es": null})
    .to_string();
    let (st, a_hours) = rm.post(MANAGED, &rooftop_a).await?;
    assert_eq!(st, StatusCode::CREATED, "{a_hours}");
    assert_eq!(a_hours["scope"], "rooftop");
    assert_eq!(a_hours["rooftop_id"], json!(t.rooftop));
    let (st, e) = rm.post(MANAGED, &body("x", "X", "x", None)).await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let to_b = json!({"rooftop_id": rooftop_b, "shortcut": "x", "title": "X", "text_en": "x"});
    let (st, e) = rm.post(MANAGED, &to_b.to_string()).await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    let parts = json!({"rooftop_id": rooftop_b, "shortcut": "parts", "title": "Parts desk",
        "text_en": "Parts is open."});
    let (st, b_parts) = manager.post(MANAGED, &parts.to_string()).await?;
    assert_eq!(st, StatusCode::CREATED, "{b_parts}");
    let b_parts_id = id_of(&b_parts);
    // Another group's rooftop is no rooftop.
    let to_other =
        json!({"rooftop_id": other.rooftop, "shortcut": "y", "title": "Y", "text_en": "y"});
    let (st, e) = manager.post(MANAGED, &to_other.to_string()).await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");

    let (st, list) = rm.get(MANAGED).await?;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(listed(&list), vec![("hours".into(), "rooftop".into())]);
    let (_, list) = manager.get(MANAGED).await?;
    assert_eq!(
        listed(&list),
        vec![
            ("hours".into(), "group".into()),
            ("hours".into(), "rooftop".into()),
            ("parts".into(), "rooftop".into()),
        ]
    );
    for (method, path) in [
        (Method::PUT, format!("{MANAGED}/{b_parts_id}")),
        (Method::DELETE, format!("{MANAGED}/{b_parts_id}")),
        (Method::PUT, format!("{MANAGED}/{hours_id}")),
    ] {
        let (st, e) = rm
            .call(method.clone(), &path, Some(&body("z", "Z", "z", None)))
            .await?;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {e}");
    }

    // An agent manages only their own.
    let (st, e) = agent.get(MANAGED).await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let (st, e) = agent.post(MANAGED, &body("a", "A", "a", None)).await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let (st, hi) = agent
        .post(
            MINE,
            &body(
                "hi",
                "My hello",
                "Hi {shopper.first_name}, I'm {agent.first_name}.",
                None,
            ),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{hi}");
    assert_eq!(hi["scope"], "personal");
    let hi_id = id_of(&hi);
    let (st, e) = agent.post(MINE, &body("hi", "Again", "x", None)).await?;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["error"]["fields"]["shortcut"].is_string(), "{e}");
    // Another agent's personal one is not theirs to see or change, nor a managed one.
    let (_, mine) = manager.get(MINE).await?;
    assert_eq!(listed(&mine), vec![]);
    for path in [format!("{MINE}/{hi_id}"), format!("{MANAGED}/{hi_id}")] {
        let (st, e) = manager
            .call(Method::PUT, &path, Some(&body("z", "Z", "z", None)))
            .await?;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {e}");
    }
    let (st, e) = agent
        .call(
            Method::PUT,
            &format!("{MINE}/{hours_id}"),
            Some(&body("z", "Z", "z", None)),
        )
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    let (st, changed) = agent
        .call(
            Method::PUT,
            &format!("{MINE}/{hi_id}"),
            Some(&body(
                "hi",
                "My hello",
                "Hi {shopper.first_name}, I'm {agent.first_name}!",
                None,
            )),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{changed}");
    let (_, mine) = agent.get(MINE).await?;
    assert_eq!(listed(&mine), vec![("hi".into(), "personal".into())]);

    // Nothing is visible across groups.
    let (_, theirs) = outsider.get(MANAGED).await?;
    assert_eq!(listed(&theirs), vec![]);
    for (method, path) in [
        (Method::PUT, format!("{MANAGED}/{hours_id}")),
        (Method::DELETE, format!("{MANAGED}/{hours_id}")),
        (Method::PUT, format!("{MINE}/{hi_id}")),
        (Method::DELETE, format!("{MINE}/{hi_id}")),
    ] {
        let (st, e) = outsider
            .call(method.clone(), &path, Some(&body("z", "Z", "z", None)))
            .await?;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {e}");
    }
    let (st, e) = manager.get(&format!("{MANAGED}/nope")).await?;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{e}");
    let (st, e) = manager
        .call(Method::DELETE, &format!("{MANAGED}/nope"), None)
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");

    // A Spanish chat with a named shopper and a vehicle, accepted by the agent.
    let mut console = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(
            json!({"type": "start", "department_id": t.sales, "language": "es",
            "name": "Ana López", "vehicle": {"year": 2023, "make": "Honda", "model": "Civic"}}),
        )
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let conv = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    console.recv_type("offer").await?;
    let accepted = console
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(accepted["type"], "accepted", "{accepted}");

    let path = format!("/api/v1/conversations/{conv}/canned-responses");
    let (st, usable) = agent.get(&path).await?;
    assert_eq!(st, StatusCode::OK, "{usable}");
    assert_eq!(
        listed(&usable),
        vec![
            ("hi".into(), "personal".into()),
            ("hours".into(), "rooftop".into()),
            ("hours".into(), "group".into()),
        ],
        "rooftop B's is not for this chat: {usable:#}"
    );
    let text = |i: usize| {
        usable["responses"][i]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        text(0),
        "Hi Ana, I'm Agent0!",
        "no Spanish text: the English one"
    );
    assert_eq!(text(1), "Canned Honda opens at 9.");
    assert_eq!(
        text(2),
        "Hola Ana, Canned Honda (+1 312 555 0100) abre de 9 a 6. El 2023 Honda Civic está aquí. Agent0"
    );
    // A vehicle without a make: the empty placeholder leaves one space.
    showroom_store::sqlx::query(
        "UPDATE conversations SET vehicle = '{\"year\": 2023, \"model\": \"Civic\"}', \
         language = 'en' WHERE id = $1::uuid",
    )
    .bind(&conv)
    .execute(&stack.pool)
    .await?;
    let (_, usable) = agent.get(&path).await?;
    assert_eq!(
        usable["responses"][2]["text"],
        "Hi Ana, Canned Honda (+1 312 555 0100) is open 9 to 6. The 2023 Civic is here. Agent0"
    );
    // The rooftop manager's own rooftop's chat: they see it; another group's admin does not.
    let (st, _) = rm.get(&path).await?;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = outsider.get(&path).await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    let (st, e) = agent
        .get(&format!(
            "/api/v1/conversations/{}/canned-responses",
            Uuid::now_v7()
        ))
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");

    // Changes and deletions; the group's and rooftops' are in the audit trail.
    let (st, changed) = manager
        .call(
            Method::PUT,
            &format!("{MANAGED}/{hours_id}"),
            Some(&body("hours", "Hours", GROUP_EN, Some(GROUP_ES))),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{changed}");
    assert_eq!(changed["title"], "Hours");
    let (st, _) = manager
        .call(Method::DELETE, &format!("{MANAGED}/{b_parts_id}"), None)
        .await?;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = agent
        .call(Method::DELETE, &format!("{MINE}/{hi_id}"), None)
        .await?;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, page) = manager
        .get("/api/v1/audit?kind=canned_response_changed&limit=50")
        .await?;
    assert_eq!(st, StatusCode::OK, "{page}");
    let events = page["events"].as_array().cloned().unwrap_or_default();
    let about = |id: &str, action: &str| {
        events.iter().find(|e| {
            e["subject"] == format!("canned_response:{id}") && e["detail"]["action"] == action
        })
    };
    let created = about(&hours_id, "created").expect("the group's response created");
    assert_eq!(created["detail"]["after"]["shortcut"], "hours");
    assert_eq!(created["detail"]["scope"], "group");
    let changed = about(&hours_id, "changed").expect("changed");
    assert_eq!(changed["detail"]["before"]["title"], "Opening hours");
    assert_eq!(changed["detail"]["after"]["title"], "Hours");
    let deleted = about(&b_parts_id, "deleted").expect("deleted");
    assert_eq!(deleted["detail"]["rooftop_id"], json!(rooftop_b));
    assert!(about(&id_of(&a_hours), "created").is_some());
    assert!(
        about(&hi_id, "created").is_none(),
        "an agent's own are not recorded"
    );
    assert_eq!(events.len(), 5, "{events:#?}");

    // All of it is in the OpenAPI document, with the answers it gives.
    let (_, doc) = Http::new(&stack.base_url).get("/api/openapi.json").await?;
    for (path, method, statuses) in [
        (
            "/api/v1/conversations/{id}/canned-responses",
            "get",
            &["200", "404"][..],
        ),
        ("/api/v1/canned-responses", "get", &["200", "403"][..]),
        (
            "/api/v1/canned-responses",
            "post",
            &["201", "400", "403", "404", "409"][..],
        ),
        (
            "/api/v1/canned-responses/{id}",
            "put",
            &["200", "400", "404", "409"][..],
        ),
        (
            "/api/v1/canned-responses/{id}",
            "delete",
            &["204", "404"][..],
        ),
        ("/api/v1/me/canned-responses", "get", &["200"][..]),
        (
            "/api/v1/me/canned-responses",
            "post",
            &["201", "400", "409"][..],
        ),
        (
            "/api/v1/me/canned-responses/{id}",
            "put",
            &["200", "404", "409"][..],
        ),
        (
            "/api/v1/me/canned-responses/{id}",
            "delete",
            &["204", "404"][..],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} not documented");
        for st in statuses {
            assert!(op["responses"][st].is_object(), "{method} {path}: no {st}");
        }
    }
    assert!(
        doc["components"]["schemas"]["RooftopBody"]["properties"]["phone"].is_object(),
        "the rooftop's phone is documented"
    );
    stack.stop().await
}

/// In Chromium (`canned.test.mjs`): the demo group has a group response `hours` with
/// placeholders; Ann types `/ho` in a chat's composer, picks it with the keyboard, sees it
/// filled, edits it and sends it; the shopper gets the edited text. Then Maria (a manager)
/// adds, changes and deletes responses in Admin ▸ Canned responses (an unknown placeholder and
/// a taken shortcut shown next to their fields), and Ann adds her own under Profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_composer_picks_canned_responses_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let group = showroom_rest::demo::seed(&stack.pool, &[stack.origin()])
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo group was there already"))?;
    showroom_store::sqlx::query(
        "UPDATE rooftops SET phone = '(312) 555-0100' WHERE group_id = $1 AND name = 'Showroom Honda'",
    )
    .bind(group)
    .execute(&stack.pool)
    .await?;
    for (shortcut, title, text) in [
        (
            "hours",
            "Opening hours",
            "Hi {shopper.first_name}, {rooftop.name} is open 9 to 6; call {rooftop.phone}. \
             The {vehicle.year} {vehicle.make} {vehicle.model} is ready. {agent.first_name}",
        ),
        ("holiday", "Holiday closing", "We are closed on holidays."),
        (
            "trade",
            "Trade-in",
            "Bring your trade-in, {shopper.first_name}.",
        ),
    ] {
        showroom_store::sqlx::query(
            "INSERT INTO canned_responses (id, group_id, shortcut, title, text_en) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(group)
        .bind(shortcut)
        .bind(title)
        .bind(text)
        .execute(&stack.pool)
        .await?;
    }
    let report = showroom_testkit::run_browser_tests(&stack.base_url, &["canned"], &[]).await?;
    println!("{report}");
    anyhow::ensure!(report.contains("pass 2"), "the test did not run: {report}");
    stack.stop().await
}
