//! The edge's guarantees: origins, tenant isolation, clear errors for bad input, discovery,
//! the OpenAPI document and the health probes.

use std::time::Duration;

use serde_json::json;
use showroom_testkit::{Http, Service, Socket, Stack, Tenant};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_widget_from_an_origin_not_allowed_is_refused() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Origins", 1).await?;
    let url = format!("{}/ws/widget?key={}", stack.ws_url(""), t.key);

    let refused = Socket::connect(&url, &[("Origin", "https://evil.example")])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.body["error"]["code"], "origin_not_allowed",
        "{:?}",
        refused.body
    );
    let no_origin = Socket::connect(&url, &[]).await.err().expect("refused");
    assert_eq!(no_origin.status, 403);
    // A look-alike origin (another port, a suffix) is not the allowed one.
    for o in [
        format!("{}:8443", t.origin),
        format!("{}.attacker.example", t.origin),
    ] {
        assert_eq!(
            Socket::connect(&url, &[("Origin", &o)])
                .await
                .err()
                .expect("refused")
                .status,
            403,
            "{o}"
        );
    }
    let unknown = Socket::connect(
        &format!("{}/ws/widget?key=nope", stack.ws_url("")),
        &[("Origin", &t.origin)],
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (404, Some("unknown_website"))
    );
    let missing = Socket::connect(
        &format!("{}/ws/widget", stack.ws_url("")),
        &[("Origin", &t.origin)],
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(missing.status, 400);

    // A plain request to a socket's address (no WebSocket handshake) gets a JSON error, first.
    let http = Http::new(&stack.base_url);
    for path in [
        format!("/ws/widget?key={}", t.key),
        "/ws/console".to_string(),
    ] {
        let (status, body) = http.get(&path).await?;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (400, Some("not_websocket")),
            "{path}: {body}"
        );
    }

    // The allowed origin connects.
    let mut ok = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    assert_eq!(
        ok.ask(json!({"type": "hello", "v": 1})).await?["type"],
        "welcome"
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_of_one_dealer_group_is_readable_by_another() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let a = Tenant::seed(&stack.pool, "GroupA", 1).await?;
    let b = Tenant::seed(&stack.pool, "GroupB", 1).await?;
    let http = Http::new(&stack.base_url);
    let token_a = http.login(&a.agents[0].1, PASSWORD).await?;
    let token_b = http.login(&b.agents[0].1, PASSWORD).await?;

    // A conversation in group A, assigned to A's agent.
    let mut agent_a = Socket::console(&stack.ws_url(""), &token_a).await?;
    agent_a.ask(json!({"type": "hello", "v": 1})).await?;
    agent_a
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut w = Socket::widget(&stack.ws_url(""), &a.key, &a.origin).await?;
    w.ask(json!({"type": "hello", "v": 1})).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": a.sales}))
        .await?;
    let conv = started["conversation"]["id"].as_str().unwrap().to_string();
    w.ask(json!({"type": "send", "client_msg_id": "secret", "text": "my phone is 555-0100"}))
        .await?;

    // B's agent, online in B's Sales, is never offered A's chat.
    let mut agent_b = Socket::console(&stack.ws_url(""), &token_b).await?;
    let welcome_b = agent_b.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome_b["incoming"].as_array().map(Vec::len), Some(0));
    agent_b
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    agent_a.recv_type("offer").await?;
    agent_b
        .expect_silence("offer", Duration::from_millis(500))
        .await?;

    // Through REST: 404, exactly as for an id that does not exist; not in lists either.
    let api_b = http.with_token(&token_b);
    let (status, body) = api_b.get(&format!("/api/v1/conversations/{conv}")).await?;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, list) = api_b.get("/api/v1/conversations").await?;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    let (status, list) = http
        .with_token(&token_a)
        .get("/api/v1/conversations")
        .await?;
    assert_eq!(
        (status.as_u16(), list.as_array().map(Vec::len)),
        (200, Some(1))
    );

    // Through the console socket: open, accept, send, end all answer not_found.
    for frame in [
        json!({"type": "open", "conversation_id": conv}),
        json!({"type": "accept", "conversation_id": conv}),
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "x", "text": "hi"}),
        json!({"type": "end", "conversation_id": conv}),
    ] {
        let r = agent_b.ask(frame.clone()).await?;
        assert_eq!(r["code"], "not_found", "{frame} -> {r}");
    }
    // B's widget key never reaches A's conversation either.
    let mut wb = Socket::widget(&stack.ws_url(""), &b.key, &b.origin).await?;
    let welcome = wb.ask(json!({"type": "hello", "v": 1})).await?;
    assert!(welcome["conversation"].is_null());
    let sales_a = wb
        .ask(json!({"type": "start", "department_id": a.sales}))
        .await?;
    assert_eq!(
        sales_a["code"], "not_found",
        "another group's department: {sales_a}"
    );

    // B's manager gets 404 for A's chat too, whatever else the request says (the agent to
    // reassign to is not online: that would be a 403 for a chat of B's own).
    b.set_role(&stack.pool, b.agents[0].0, "manager").await?;
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v1/conversations/{conv}/leads"),
        format!("/api/v1/conversations/{unknown}/leads"),
    ] {
        let (status, body) = api_b.get(&path).await?;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {body}"
        );
    }
    let to_b = json!({"agent_id": b.agents[0].0}).to_string();
    for id in [conv.clone(), unknown.to_string()] {
        let (status, body) = api_b
            .post(&format!("/api/v1/conversations/{id}/reassign"), &to_b)
            .await?;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "reassign {id}: {body}"
        );
    }
    // An address A's agent uses is free in B: nothing tells B that A has it, and each password
    // logs into its own group's account.
    let shared = &a.agents[0].1;
    let other_password = "another group, another password";
    let (status, body) = api_b
        .post(
            "/api/v1/agents",
            &json!({"email": shared, "first_name": "Same", "last_name": "Address",
                "role": "agent", "password": other_password})
            .to_string(),
        )
        .await?;
    assert_eq!(status.as_u16(), 201, "{body}");
    let (status, body) = api_b
        .post(
            "/api/v1/agents",
            &json!({"email": shared.to_uppercase(), "first_name": "Twice", "last_name": "In B",
                "role": "agent", "password": other_password})
            .to_string(),
        )
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            body["error"]["fields"]["email"].is_string()
        ),
        (409, true),
        "twice in one group: {body}"
    );
    for (password, group) in [(PASSWORD, a.group), (other_password, b.group)] {
        let (status, body) = http
            .post(
                "/api/v1/auth/login",
                &json!({"email": shared, "password": password}).to_string(),
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["agent"]["group_id"], json!(group), "{body}");
    }

    // Without a session nothing is readable, and the console socket is refused.
    let (status, _) = http.get(&format!("/api/v1/conversations/{conv}")).await?;
    assert_eq!(status, 401);
    let refused = Socket::connect(&stack.ws_url("/ws/console"), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    let refused = Socket::connect(
        &stack.ws_url("/ws/console"),
        &[("Authorization", "Bearer forged")],
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(refused.status, 401);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_frames_and_bad_json_get_clear_errors_and_never_a_crash() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Errors", 1).await?;
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;

    // Before hello: anything else is refused and the socket closes.
    w.send(json!({"type": "send", "client_msg_id": "1", "text": "hi"}))
        .await?;
    assert_eq!(w.recv_type("error").await?["code"], "hello_required");
    assert!(
        w.next_within(Duration::from_secs(2)).await.is_err(),
        "socket closes after a failed hello"
    );

    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    let v2 = w.ask(json!({"type": "hello", "v": 2})).await?;
    assert_eq!(v2["code"], "unsupported_version");

    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w.ask(json!({"type": "hello", "v": 1})).await?;
    let cases: Vec<(&str, &str)> = vec![
        ("{not json", "bad_json"),
        ("[1,2,3]", "bad_frame"),
        ("\"just a string\"", "bad_frame"),
        (r#"{"no":"type"}"#, "bad_frame"),
        (r#"{"type":"launch_missiles"}"#, "bad_frame"),
        (r#"{"type":"start","department_id":5}"#, "bad_frame"),
        (r#"{"type":"start","language":["es"]}"#, "bad_frame"),
        (
            r#"{"type":"start","department_id":"not-a-uuid"}"#,
            "bad_frame",
        ),
        (r#"{"type":"send","text":"no id"}"#, "bad_frame"),
        (
            r#"{"type":"send","client_msg_id":"1","text":"before any start"}"#,
            "not_found",
        ),
        (r#"{"type":"typing","typing":"yes"}"#, "bad_frame"),
    ];
    for (text, code) in &cases {
        w.send_text(text).await?;
        let e = w.recv_type("error").await?;
        assert_eq!(e["code"], *code, "{text} -> {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    w.send_binary(&[0, 159, 146, 150]).await?;
    assert_eq!(w.recv_type("error").await?["code"], "bad_frame");
    w.send_text(&format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(20_000)
    ))
    .await?;
    assert_eq!(w.recv_type("error").await?["code"], "too_large");

    // Texts: empty, too long; a field naming its problem (in a chat an agent could take).
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    w.ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let empty = w
        .ask(json!({"type": "send", "client_msg_id": "e", "text": "   "}))
        .await?;
    assert_eq!(empty["code"], "bad_frame", "{empty}");
    let long = w
        .ask(json!({"type": "send", "client_msg_id": "l", "text": "x".repeat(4001)}))
        .await?;
    assert_eq!(long["code"], "too_large", "{long}");
    let missing = w.ask(json!({"type": "send", "client_msg_id": "m"})).await?;
    assert!(
        missing["message"].as_str().unwrap_or("").contains("text"),
        "names the field: {missing}"
    );
    let dup_start = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(dup_start["code"], "not_allowed", "{dup_start}");

    // After all that the socket still works.
    assert_eq!(w.ask(json!({"type": "ping"})).await?["type"], "pong");
    let ok = w
        .ask(json!({"type": "send", "client_msg_id": "ok", "text": "<img src=x onerror=alert(1)>"}))
        .await?;
    assert_eq!(ok["type"], "ack", "{ok}");
    // A frame several times the socket's read buffer (1 KiB) is read whole: 4 000 two-byte
    // characters, about 8 KB on the wire, are stored as sent, and the socket reads on.
    let big = "é".repeat(4000);
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": "big", "text": big}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let stored: String =
        showroom_store::sqlx::query_scalar("SELECT body FROM messages WHERE client_msg_id = 'big'")
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(stored, big);
    assert_eq!(w.ask(json!({"type": "ping"})).await?["type"], "pong");

    // The console too.
    let http = Http::new(&stack.base_url);
    let token = http.login(&t.agents[0].1, PASSWORD).await?;
    let mut c = Socket::console(&stack.ws_url(""), &token).await?;
    c.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(
        c.ask(json!({"type": "set_status", "status": "sleeping"}))
            .await?["code"],
        "bad_frame"
    );
    assert_eq!(
        c.ask(json!({"type": "open", "conversation_id": uuid::Uuid::new_v4()}))
            .await?["code"],
        "not_found"
    );
    c.send_text("{{{{").await?;
    assert_eq!(c.recv_type("error").await?["code"], "bad_json");
    assert_eq!(c.ask(json!({"type": "ping"})).await?["type"], "pong");

    // REST: bad JSON, missing fields, wrong credentials, bad ids, bad filters: 4xx with a body.
    for (body, status, code) in [
        ("{oops", 400, "bad_json"),
        (r#"{"email":"x@y.z"}"#, 400, "bad_json"),
        (r#"{"email":"","password":""}"#, 400, "missing_credentials"),
        (
            r#"{"email":"nobody@x.example","password":"wrong"}"#,
            401,
            "invalid_credentials",
        ),
    ] {
        let (s, v) = http.post("/api/v1/auth/login", body).await?;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} -> {v}"
        );
    }
    let wrong_password = format!(r#"{{"email":"{}","password":"wrong"}}"#, t.agents[0].1);
    let (s, v) = http.post("/api/v1/auth/login", &wrong_password).await?;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let api = http.with_token(&token);
    let (s, v) = api.get("/api/v1/conversations/not-a-uuid").await?;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str()),
        (400, Some("bad_id"))
    );
    let (s, v) = api.get("/api/v1/conversations?state=sideways").await?;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str()),
        (400, Some("bad_state"))
    );
    let (s, v) = api.get("/api/v1/conversations?limit=0").await?;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str()),
        (400, Some("bad_limit"))
    );

    // Every service is still up.
    for s in Service::ALL {
        let addr = stack.admin_addr(s).expect("running");
        let (status, _) = Http::new(&format!("http://{addr}")).get("/readyz").await?;
        assert_eq!(status, 200, "{}", s.name());
    }
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_openapi_and_probes() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let anonymous = Http::new(&stack.base_url);
    // The running services, with versions and subjects, are for managers and admins.
    let t = Tenant::seed(&stack.pool, "Operators", 1).await?;
    let (_, ops) = t.add_agent(&stack.pool, "ops", "manager", &[]).await?;
    let (status, body) = anonymous.get("/api/v1/system").await?;
    assert_eq!(status, 401, "{body}");
    let agent = anonymous.with_token(&anonymous.login(&t.agents[0].1, PASSWORD).await?);
    let (status, body) = agent.get("/api/v1/system").await?;
    assert_eq!(status, 403, "{body}");
    let http = anonymous.with_token(&anonymous.login(&ops, PASSWORD).await?);
    // A query string that does not parse gets the JSON error body, like any other 400.
    for path in ["/api/v1/leads?limit=many", "/api/v1/crm/deliveries?limit=x"] {
        let (status, body) = http.get(path).await?;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_query", "{path}: {body}");
    }

    let (status, system) = http.get("/api/v1/system").await?;
    assert_eq!(status, 200);
    let mut names: Vec<&str> = system["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
    expected.sort();
    assert_eq!(names, expected, "{system}");
    for s in system["services"].as_array().unwrap() {
        assert_eq!(s["version"], env!("CARGO_PKG_VERSION"), "{s}");
    }
    let router = system["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "router")
        .unwrap();
    assert!(
        router["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "showroom.v1.*.conversation.accept"),
        "{router}"
    );

    let (status, doc) = http.get("/api/openapi.json").await?;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/conversations",
        "/api/v1/conversations/{id}",
        "/api/v1/system",
        "/api/v1/presence/board",
        "/api/v1/agents/{id}/status",
        "/api/v1/me/auto-away",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("Conversation").is_some());

    for s in Service::ALL {
        let admin = Http::new(&format!("http://{}", stack.admin_addr(s).expect("running")));
        assert_eq!(admin.get("/healthz").await?.0, 200, "{}", s.name());
        let (status, ready) = admin.get("/readyz").await?;
        assert_eq!(status, 200, "{} {ready}", s.name());
        assert_eq!(ready["checks"]["nats"], "ok");
        assert_eq!(ready["checks"]["postgres"], "ok");
    }
    let presence = Http::new(&format!(
        "http://{}",
        stack.admin_addr(Service::Presence).unwrap()
    ));
    assert_eq!(presence.get("/readyz").await?.1["checks"]["redis"], "ok");

    // Readiness follows its dependencies: Redis down, presence is not ready; back, ready.
    stack.redis.stop().await;
    let (status, ready) = presence.get("/readyz").await?;
    assert_eq!(status, 503, "{ready}");
    assert_ne!(ready["checks"]["redis"], "ok");
    stack.redis.restart().await?;
    let mut ok = false;
    for _ in 0..50 {
        if presence.get("/readyz").await?.0 == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "presence ready again after Redis came back");

    // A stopped service leaves discovery.
    stack.stop_service(Service::Bot).await?;
    let (_, system) = http.get("/api/v1/system").await?;
    assert!(
        !system["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "bot"),
        "{system}"
    );
    stack.stop().await
}

/// A database failure means the same on REST as on the bus (`libs/store/src/fault.rs`): a NUL
/// character (which Postgres refuses) is a 400 naming the field, both where the gateway stores
/// itself (the login's lookup) and where it forwards to a service (a message left, stored by the
/// bot): the edge refuses it before either (`showroom_proto::text`); a database that is down is
/// a 503 with a JSON body, never a 500; then everything works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_failures_answer_the_same_on_rest_and_over_the_bus() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "DbFaults", 1).await?;
    let http = Http::new(&stack.base_url);
    let login = json!({"email": "ann\u{0}@example.com", "password": PASSWORD}).to_string();
    let (st, body) = http.post("/api/v1/auth/login", &login).await?;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    assert!(body["error"]["fields"]["email"].is_string(), "{body}");
    let form = json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
        "message": "white Tacoma\u{0}, still there?"});
    let (st, body) = http
        .post(
            &format!("/api/v1/widget/{}/messages", t.key),
            &form.to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{body}");

    let agent = http.with_token(&http.login(&t.agents[0].1, PASSWORD).await?);
    stack.pg.stop().await;
    let (st, body) = agent.get("/api/v1/conversations").await?;
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    stack.pg.restart().await?;
    showroom_testkit::eventually(Duration::from_secs(30), "the database back", || async {
        let (st, _) = agent.get("/api/v1/conversations").await?;
        Ok((st == 200).then_some(()))
    })
    .await?;
    stack.stop().await
}

/// A control character (NUL above all: Postgres refuses it) in any text is refused at the edge
/// with a 400 or an error frame naming the field, before anything stores it, and the socket
/// goes on; a frame too big to read is answered before the socket closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn control_characters_are_refused_naming_the_field() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Controls", 1).await?;
    let http = Http::new(&stack.base_url);
    let field_refused = |(s, v): (reqwest::StatusCode, serde_json::Value), field: &str| {
        assert_eq!(s.as_u16(), 400, "{field}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{field}: {v}");
        assert!(
            v["error"]["fields"][field]
                .as_str()
                .is_some_and(|r| r.contains("control characters")),
            "names `{field}`: {v}"
        );
    };

    // REST bodies, with no login needed: was a 500.
    let login = json!({"email": "a\u{0}@x.example", "password": PASSWORD}).to_string();
    field_refused(http.post("/api/v1/auth/login", &login).await?, "email");
    // A form's nested answer, named by its path: was a 503.
    let left = json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@x.example",
        "message": "call me\u{0}", "consent": {"text": "ok\u{1b}", "version": "1"}})
    .to_string();
    field_refused(
        http.post(&format!("/api/v1/widget/{}/messages", t.key), &left)
            .await?,
        "consent.text",
    );
    // Queries and paths (`%00`).
    let token = http.login(&t.agents[0].1, PASSWORD).await?;
    let api = http.with_token(&token);
    field_refused(
        api.get("/api/v1/conversations?state=open%00").await?,
        "state",
    );
    field_refused(api.get("/api/v1/conversations/%00").await?, "path");
    // Socket frames: an error naming the field, never stored, the socket still open.
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w.ask(json!({"type": "hello", "v": 1})).await?;
    let start = w
        .ask(json!({"type": "start", "department_id": t.sales, "variables": {"x\u{0}": "1"}}))
        .await?;
    assert_eq!(start["code"], "bad_request", "{start}");
    assert!(start["fields"]["variables.x\\u{0}"].is_string(), "{start}");
    w.ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let nul = w
        .ask(json!({"type": "send", "client_msg_id": "n", "text": "hi\u{0}there"}))
        .await?;
    assert_eq!(
        (nul["type"].as_str(), nul["code"].as_str()),
        (Some("error"), Some("bad_request")),
        "{nul}"
    );
    assert!(nul["fields"]["text"].is_string(), "{nul}");
    let ok = w
        .ask(json!({"type": "send", "client_msg_id": "ok", "text": "line one\nline\ttwo"}))
        .await?;
    assert_eq!(ok["type"], "ack", "{ok}");
    let stored: Vec<String> = showroom_store::sqlx::query_scalar(
        "SELECT body FROM messages WHERE conversation_id = $1 AND author_kind = 'shopper'",
    )
    .bind(uuid::Uuid::parse_str(
        ok["conversation_id"].as_str().unwrap_or_default(),
    )?)
    .fetch_all(&stack.pool)
    .await?;
    assert_eq!(stored, vec!["line one\nline\ttwo".to_string()]);

    let mut c = Socket::console(&stack.ws_url(""), &token).await?;
    c.ask(json!({"type": "hello", "v": 1})).await?;
    let esc = c
        .ask(
            json!({"type": "internal_send", "chat_id": uuid::Uuid::new_v4(),
            "client_msg_id": "e", "text": "\u{1b}[31mred"}),
        )
        .await?;
    assert_eq!(esc["code"], "bad_request", "{esc}");
    assert!(esc["fields"]["text"].is_string(), "{esc}");
    assert_eq!(c.ask(json!({"type": "ping"})).await?["type"], "pong");

    // A frame that says it holds 2 MiB is not read: `too_large` comes before the socket closes.
    w.send_frame_header(2 << 20).await?;
    let big = w.recv_type("error").await?;
    assert_eq!(big["code"], "too_large", "{big}");
    let mut closed = false;
    for _ in 0..20 {
        match w.next_within(Duration::from_secs(5)).await {
            Err(_) => {
                closed = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(_)) => {}
        }
    }
    assert!(closed, "the socket closes after a frame it cannot read");
    stack.stop().await
}
