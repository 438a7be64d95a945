//! Search (issue 19, item 3) through the real services: `GET /api/v1/search` finds a chat by a
//! word of one of its messages (in Spanish too, by another form of the word), by its contact's
//! e-mail and phone and by a lead's notes; the filters and the paging work; the snippets mark
//! the match as plain text parts. Each searcher sees only their own: an agent their chats and
//! their departments' (not another department's chat of another agent), a rooftop manager
//! their rooftops (not another rooftop's), nobody another group's. Bad input is a 400 naming
//! the field. In Chromium, the Search tab (`search.test.mjs`, run from `browser.rs`).

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use showroom_rest::directory::setup;
use showroom_store::sqlx::{self, PgPool};
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

async fn logged_in(stack: &Stack, email: &str) -> anyhow::Result<Http> {
    let http = Http::new(&stack.base_url);
    Ok(http.with_token(&http.login(email, PASSWORD).await?))
}

/// Where a seeded chat is.
struct Place {
    group: Uuid,
    website: Uuid,
    rooftop: Uuid,
    department: Uuid,
}

/// Seeds a chat with its messages (shopper and agent in turn), as the router and the gateway
/// would have stored it.
async fn chat(
    pool: &PgPool,
    at: &Place,
    agent: Option<Uuid>,
    state: &str,
    started: DateTime<Utc>,
    messages: &[&str],
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
         state, agent_id, created_at, ended_at, shopper_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         CASE WHEN $7 IN ('ended', 'missed', 'offline', 'timed_out') THEN $9 END, 'Sam')",
    )
    .bind(id)
    .bind(at.group)
    .bind(at.website)
    .bind(at.rooftop)
    .bind(at.department)
    .bind(Uuid::new_v4())
    .bind(state)
    .bind(agent)
    .bind(started)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO transcripts (conversation_id, group_id, last_seq) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(at.group)
    .bind(messages.len() as i64)
    .execute(pool)
    .await?;
    for (i, body) in messages.iter().enumerate() {
        let (kind, author) = if i % 2 == 0 {
            ("shopper", None)
        } else {
            ("agent", agent)
        };
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, author_id, body, created_at, \
             client_msg_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'seed-' || $4)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(at.group)
        .bind(i as i64 + 1)
        .bind(kind)
        .bind(author)
        .bind(*body)
        .bind(started + Duration::seconds(i as i64))
        .execute(pool)
        .await?;
    }
    Ok(id)
}

/// The ids of a page's results, in order.
fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The marked words of a snippet.
fn marked(snippet: &Value) -> Vec<String> {
    snippet["parts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["match"] == true)
                .map(|p| p["text"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn has(v: &Value, id: Uuid) -> bool {
    ids(v).contains(&id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_finds_chats_by_words_contacts_and_leads_within_scope() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let pool = &stack.pool;
    // Two Sales agents and one Service agent.
    let t = Tenant::seed(pool, "Search", 2).await?;
    let other = Tenant::seed(pool, "SearchOther", 0).await?;
    let rooftop_b = setup::rooftop(pool, t.group, "Search Toyota", "America/Denver").await?;
    let sales_b = setup::department(pool, t.group, rooftop_b, "Sales", None, 0).await?;
    let (_, manager_email) = t.add_agent(pool, "gm", "manager", &[]).await?;
    let (rm_id, rm_email) = t.add_agent(pool, "rita", "rooftop_manager", &[]).await?;
    sqlx::query("INSERT INTO agent_rooftops (agent_id, rooftop_id, group_id) VALUES ($1, $2, $3)")
        .bind(rm_id)
        .bind(t.rooftop)
        .bind(t.group)
        .execute(pool)
        .await?;
    let (_, other_admin_email) = other.add_agent(pool, "boss", "admin", &[]).await?;
    let (sales0, sales1, service) = (t.agents[0].0, t.agents[1].0, t.agents[2].0);

    let now = Utc::now();
    let place = |rooftop, department| Place {
        group: t.group,
        website: t.website,
        rooftop,
        department,
    };
    // A: Sales, the first Sales agent's, in English and Spanish; with a tag in it.
    let a = chat(
        pool,
        &place(t.rooftop, t.sales),
        Some(sales0),
        "ended",
        now - Duration::hours(3),
        &[
            "Is the <b>Tacoma</b> still available?",
            "Yes, it is on the lot.",
            "Busco coches usados baratos",
        ],
    )
    .await?;
    // B: Service, the Service agent's; its contact and lead below.
    let b = chat(
        pool,
        &place(t.rooftop, t.service),
        Some(service),
        "ended",
        now - Duration::hours(2),
        &["My tacoma brakes squeak"],
    )
    .await?;
    // C: rooftop B.
    let c = chat(
        pool,
        &place(rooftop_b, sales_b),
        None,
        "missed",
        now - Duration::hours(1),
        &["Any tacoma trucks in Denver?"],
    )
    .await?;
    // D: another group.
    let d = chat(
        pool,
        &Place {
            group: other.group,
            website: other.website,
            rooftop: other.rooftop,
            department: other.sales,
        },
        None,
        "missed",
        now,
        &["A tacoma for the other group"],
    )
    .await?;
    // B's contact and lead (lead-capture's tables), classified qualified with notes.
    let contact = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO contacts (id, group_id, first_name, last_name, email, phone) \
         VALUES ($1, $2, 'Ana', 'Lopez', 'Ana.Lopez@Example.com', '+13125550134')",
    )
    .bind(contact)
    .bind(t.group)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO leads (id, group_id, rooftop_id, department_id, contact_id, origin, conversation_id, \
         message, classification) VALUES ($1, $2, $3, $4, $5, 'agent', $6, 'Brake job quote', \
         '{\"qualified\": true, \"tags\": [], \"notes\": \"Wants financing for a new truck\"}')",
    )
    .bind(Uuid::now_v7())
    .bind(t.group)
    .bind(t.rooftop)
    .bind(t.service)
    .bind(contact)
    .bind(b)
    .execute(pool)
    .await?;

    let manager = logged_in(&stack, &manager_email).await?;
    let rm = logged_in(&stack, &rm_email).await?;
    let sales_agent = logged_in(&stack, &t.agents[1].1).await?;
    let service_agent = logged_in(&stack, &t.agents[2].1).await?;
    let outsider = logged_in(&stack, &other_admin_email).await?;

    // A word of a message: the manager sees the group's three, newest first, never D.
    let (st, v) = manager.get("/api/v1/search?q=tacoma").await?;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), [c, b, a].map(|i| i.to_string()), "{v}");
    assert!(v["next_cursor"].is_null(), "{v}");
    let hit_a = &v["results"][2];
    assert_eq!(hit_a["rooftop_id"], t.rooftop.to_string());
    assert_eq!(hit_a["department_id"], t.sales.to_string());
    assert_eq!(hit_a["agent_id"], sales0.to_string());
    assert_eq!(hit_a["state"], "ended");
    assert_eq!(hit_a["shopper_name"], "Sam");
    let parts = &hit_a["snippets"][0]["parts"];
    assert_eq!(hit_a["snippets"][0]["seq"], 1, "{v}");
    assert_eq!(marked(&hit_a["snippets"][0]), ["Tacoma"], "{v}");
    let whole: String = parts
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    // Plain text: Postgres' parser reads `<b>` as a tag and leaves it out of the snippet; no
    // mark character is left in.
    assert!(
        whole.starts_with("Is the") && whole.contains("still available?"),
        "{v}"
    );
    assert!(!whole.contains(['<', '\u{E000}', '\u{E001}']), "{v}");
    // B's contact is its lead's.
    assert_eq!(v["results"][1]["shopper_name"], "Ana Lopez", "{v}");

    // Spanish, by another form of the word ("coche" finds "coches"), marked.
    let (st, v) = manager.get("/api/v1/search?q=coche").await?;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), [a.to_string()], "{v}");
    assert_eq!(marked(&v["results"][0]["snippets"][0]), ["coches"], "{v}");
    // A form only the Spanish configuration knows: "buscar" finds "Busco".
    let (_, v) = manager.get("/api/v1/search?q=buscar").await?;
    assert_eq!(ids(&v), [a.to_string()], "{v}");
    assert_eq!(marked(&v["results"][0]["snippets"][0]), ["Busco"], "{v}");
    // English stems too: "trucks" by "truck".
    let (_, v) = manager.get("/api/v1/search?q=truck").await?;
    assert!(has(&v, c), "{v}");

    // The contact's e-mail (from its start, any case), phone (its last digits), name, and the
    // lead's notes.
    for q in [
        "ana.lopez@example.com",
        "ANA.LOPEZ@exam",
        "(312)%20555-0134",
        "3125550134",
        "Lopez",
        "financing",
    ] {
        let (st, v) = manager.get(&format!("/api/v1/search?q={q}")).await?;
        assert_eq!(st, StatusCode::OK, "{q}: {v}");
        assert_eq!(ids(&v), [b.to_string()], "{q}: {v}");
    }

    // Filters.
    let search = |filters: String| format!("/api/v1/search?q=tacoma&{filters}");
    let cases: Vec<(String, Vec<Uuid>)> = vec![
        (format!("rooftop_id={rooftop_b}"), vec![c]),
        (format!("department_id={}", t.service), vec![b]),
        (format!("agent_id={sales0}"), vec![a]),
        ("state=missed".into(), vec![c]),
        ("state=active".into(), vec![]),
        ("classification=qualified".into(), vec![b]),
        ("classification=not_qualified".into(), vec![]),
        (
            format!(
                "from={}&to={}",
                (now - Duration::minutes(150)).format("%Y-%m-%dT%H:%M:%SZ"),
                (now - Duration::minutes(30)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            vec![c, b],
        ),
    ];
    for (f, want) in cases {
        let (st, v) = manager.get(&search(f.clone())).await?;
        assert_eq!(st, StatusCode::OK, "{f}: {v}");
        let want: Vec<String> = want.iter().map(Uuid::to_string).collect();
        assert_eq!(ids(&v), want, "{f}: {v}");
    }

    // Paging: two, then the last one, then nothing repeats.
    let (_, p1) = manager.get("/api/v1/search?q=tacoma&limit=2").await?;
    assert_eq!(ids(&p1), [c, b].map(|i| i.to_string()), "{p1}");
    let cursor = p1["next_cursor"].as_str().unwrap_or_default().to_string();
    assert!(!cursor.is_empty(), "{p1}");
    let (_, p2) = manager
        .get(&format!("/api/v1/search?q=tacoma&limit=2&cursor={cursor}"))
        .await?;
    assert_eq!(ids(&p2), [a.to_string()], "{p2}");
    assert!(p2["next_cursor"].is_null(), "{p2}");

    // Scope: a Sales agent sees Sales' chats (another agent's too) but not the Service agent's
    // chat nor rooftop B's; the Service agent their own; the rooftop manager their rooftop's;
    // another group only its own.
    let (_, v) = sales_agent.get("/api/v1/search?q=tacoma").await?;
    assert_eq!(ids(&v), [a.to_string()], "sales agent {sales1}: {v}");
    let (_, v) = sales_agent.get("/api/v1/search?q=3125550134").await?;
    assert_eq!(ids(&v), Vec::<String>::new(), "{v}");
    let (_, v) = service_agent.get("/api/v1/search?q=tacoma").await?;
    assert_eq!(ids(&v), [b.to_string()], "{v}");
    let (_, v) = rm.get("/api/v1/search?q=tacoma").await?;
    assert_eq!(ids(&v), [b, a].map(|i| i.to_string()), "{v}");
    let (_, v) = rm
        .get(&format!("/api/v1/search?q=tacoma&rooftop_id={rooftop_b}"))
        .await?;
    assert_eq!(ids(&v), Vec::<String>::new(), "{v}");
    let (_, v) = outsider.get("/api/v1/search?q=tacoma").await?;
    assert_eq!(ids(&v), [d.to_string()], "{v}");
    let (_, v) = outsider
        .get("/api/v1/search?q=ana.lopez@example.com")
        .await?;
    assert_eq!(ids(&v), Vec::<String>::new(), "{v}");

    // Bad input: each named.
    for (q, field) in [
        ("q=%20", "q"),
        ("", "q"),
        ("q=tacoma&state=open", "state"),
        ("q=tacoma&classification=hot", "classification"),
        ("q=tacoma&limit=0", "limit"),
        ("q=tacoma&limit=51", "limit"),
        ("q=tacoma&cursor=nope", "cursor"),
        (
            "q=tacoma&from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
            "to",
        ),
    ] {
        let (st, e) = manager.get(&format!("/api/v1/search?{q}")).await?;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert!(e["error"]["fields"][field].is_string(), "{q}: {e}");
    }
    for q in ["q=tacoma&from=yesterday", "q=tacoma&agent_id=7"] {
        let (st, e) = manager.get(&format!("/api/v1/search?{q}")).await?;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert_eq!(e["error"]["code"], "bad_query", "{q}: {e}");
    }
    // In the OpenAPI document, with its parameters and answers.
    let (_, doc) = Http::new(&stack.base_url).get("/api/openapi.json").await?;
    let op = &doc["paths"]["/api/v1/search"]["get"];
    for status in ["200", "400", "401"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    for name in [
        "q",
        "rooftop_id",
        "department_id",
        "agent_id",
        "from",
        "to",
        "state",
        "classification",
        "cursor",
        "limit",
    ] {
        assert!(params.contains(&name), "{name}: {op}");
    }
    // No session: 401.
    let (st, _) = Http::new(&stack.base_url)
        .get("/api/v1/search?q=tacoma")
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// In Chromium (`search.test.mjs`): Ann, an agent of the demo group, finds her ended chat about
/// a Tacoma in the Search tab, opens it with the keyboard and sees the two matching messages
/// highlighted with the word marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_tab_finds_and_highlights_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let group = showroom_rest::demo::seed(&stack.pool, &[stack.origin()])
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo group was there already"))?;
    let (ann, department, rooftop, website): (Uuid, Uuid, Uuid, Uuid) = sqlx::query_as(
        "SELECT a.id, d.id, d.rooftop_id, w.id FROM agents a \
         JOIN agent_memberships m ON m.agent_id = a.id \
         JOIN departments d ON d.id = m.department_id \
         JOIN websites w ON w.rooftop_id = d.rooftop_id \
         WHERE a.group_id = $1 AND a.email = 'ann@demo.showroom.test' ORDER BY d.id LIMIT 1",
    )
    .bind(group)
    .fetch_one(&stack.pool)
    .await?;
    let at = Place {
        group,
        website,
        rooftop,
        department,
    };
    let id = chat(
        &stack.pool,
        &at,
        Some(ann),
        "ended",
        Utc::now() - Duration::hours(1),
        &[
            "Do you still have the blue Tacoma?",
            "Yes, the Tacoma is on the lot.",
            "Great, thanks",
        ],
    )
    .await?;
    sqlx::query(
        "UPDATE conversations SET shopper_name = 'Sam Searcher', ended_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&stack.pool)
    .await?;
    let report = showroom_testkit::run_browser_tests(&stack.base_url, &["search"], &[]).await?;
    println!("{report}");
    anyhow::ensure!(report.contains("pass 1"), "the test did not run: {report}");
    stack.stop().await
}
