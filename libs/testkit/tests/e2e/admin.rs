//! The admin pages' REST API and the agent profile through the real services: rooftops and
//! departments (named validation errors, duplicate labels, deletion refused while chats
//! reference a department), websites (origins, widget key and snippet that a widget can use at
//! once, appearance), agents and memberships (roles only given by those allowed, a new agent
//! logs in and is offered chats of its department), the profile and the headshot (public, with
//! an ETag), the report's leads and chat-to-lead rate; an agent-role caller gets 403 on
//! writes and another group's ids answer 404.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant, Tuning};
use uuid::Uuid;

// ---- a tiny PNG encoder (stored deflate blocks, no compression) for test headshots ----

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A valid `w` × `h` RGB PNG of one colour.
pub(crate) fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    // Each row: filter byte 0 (none), then the pixels.
    let row: Vec<u8> = std::iter::once(0).chain((0..w).flat_map(|_| rgb)).collect();
    let raw: Vec<u8> = (0..h).flat_map(|_| row.iter().copied()).collect();
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn the_test_png_is_well_formed() {
    let p = png(2, 1, [255, 0, 0]);
    assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
    // Known values: every PNG's IEND CRC, and the Adler-32 example of RFC 1950's readers.
    assert_eq!(crc32(b"IEND"), 0xae42_6082);
    assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
}

// ---- helpers ----

async fn logged_in(stack: &Stack, email: &str) -> anyhow::Result<Http> {
    let token = Http::new(&stack.base_url).login(email, PASSWORD).await?;
    Ok(Http::new(&stack.base_url).with_token(&token))
}

async fn member(
    stack: &Stack,
    t: &Tenant,
    local: &str,
    role: &str,
) -> anyhow::Result<(Uuid, Http)> {
    let (id, email) = t.add_agent(&stack.pool, local, role, &[]).await?;
    Ok((id, logged_in(stack, &email).await?))
}

async fn delete(http: &Http, path: &str) -> anyhow::Result<(StatusCode, Value)> {
    http.call(Method::DELETE, path, None).await
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A raw PUT of bytes with a content type and a bearer token.
async fn put_bytes(
    stack: &Stack,
    token: &str,
    path: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(StatusCode, Value)> {
    let resp = reqwest::Client::new()
        .put(format!("{}{path}", stack.base_url))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

// ---- rooftops, departments, websites ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooftops_departments_and_websites_are_managed_with_named_errors() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Admin", 1).await?;
    let other = Tenant::seed(&stack.pool, "Elsewhere", 1).await?;
    let (_, manager) = member(&stack, &t, "manager", "manager").await?;
    let agent = logged_in(&stack, &t.agents[0].1).await?;

    // Any agent reads the directory: the seeded rooftop with its departments and website.
    let (st, v) = agent.get("/api/v1/rooftops").await?;
    assert_eq!(st, 200, "{v}");
    let rooftops = v["rooftops"].as_array().cloned().unwrap_or_default();
    assert_eq!(rooftops.len(), 1, "{v}");
    assert_eq!(rooftops[0]["id"], t.rooftop.to_string());
    assert_eq!(rooftops[0]["time_zone"], "America/Chicago");
    assert_eq!(rooftops[0]["country"], "US");
    let labels: Vec<String> = rooftops[0]["departments"]
        .as_array()
        .map(|a| a.iter().map(|d| s(&d["label"])).collect())
        .unwrap_or_default();
    assert_eq!(labels, ["Sales", "Service"]);
    assert_eq!(rooftops[0]["departments"][0]["board_section"], "Front End");
    assert_eq!(rooftops[0]["departments"][1]["position"], 1);
    assert_eq!(rooftops[0]["websites"][0]["widget_key"], t.key.as_str());

    // Writes are for managers and admins.
    let body = json!({"name": "North Toyota", "time_zone": "America/Denver", "country": "US"});
    let (st, v) = agent.post("/api/v1/rooftops", &body.to_string()).await?;
    assert_eq!(st, 403, "{v}");
    assert!(s(&v["error"]["message"]).contains("manager"), "{v}");

    // Every wrong field is named.
    let (st, v) = manager
        .post(
            "/api/v1/rooftops",
            &json!({"name": "  ", "time_zone": "Mars/Olympus_Mons", "country": "usa"}).to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    for f in ["name", "time_zone", "country"] {
        assert!(v["error"]["fields"][f].is_string(), "{f}: {v}");
    }
    assert!(s(&v["error"]["fields"]["time_zone"]).contains("Mars/Olympus_Mons"));
    let (st, v) = manager.post("/api/v1/rooftops", "{not json").await?;
    assert_eq!(st, 400, "{v}");

    let (st, north) = manager.post("/api/v1/rooftops", &body.to_string()).await?;
    assert_eq!(st, 201, "{north}");
    assert_eq!(north["name"], "North Toyota");
    assert_eq!(north["departments"], json!([]));
    let north_id = s(&north["id"]);
    let (st, v) = manager
        .put(
            &format!("/api/v1/rooftops/{north_id}"),
            &json!({"name": " North Toyota of Boulder ", "time_zone": "America/Phoenix", "country": "US"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "North Toyota of Boulder");
    assert_eq!(v["time_zone"], "America/Phoenix");
    // Another group's rooftop is as good as none; so is a malformed id.
    let (st, _) = manager
        .put(
            &format!("/api/v1/rooftops/{}", other.rooftop),
            &body.to_string(),
        )
        .await?;
    assert_eq!(st, 404);
    let (st, v) = manager
        .put("/api/v1/rooftops/nope", &body.to_string())
        .await?;
    assert_eq!(st, 400, "{v}");

    // Departments: appended in order; a label taken in the rooftop (any case) is a 409.
    let new_dept = |label: &str| json!({"label": label, "board_section": "Front End"}).to_string();
    let (st, sales) = manager
        .post(
            &format!("/api/v1/rooftops/{north_id}/departments"),
            &new_dept("Sales"),
        )
        .await?;
    assert_eq!(st, 201, "{sales}");
    assert_eq!(sales["position"], 0);
    let (st, parts) = manager
        .post(
            &format!("/api/v1/rooftops/{north_id}/departments"),
            &json!({"label": "Parts"}).to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{parts}");
    assert_eq!(parts["position"], 1);
    assert!(parts["board_section"].is_null());
    let (st, v) = manager
        .post(
            &format!("/api/v1/rooftops/{north_id}/departments"),
            &new_dept("sales"),
        )
        .await?;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"]["fields"]["label"].is_string(), "{v}");
    let (st, v) = manager
        .put(
            &format!(
                "/api/v1/departments/{}",
                parts["id"].as_str().unwrap_or_default()
            ),
            &json!({"label": "SALES"}).to_string(),
        )
        .await?;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"]["fields"]["label"].is_string(), "{v}");
    let (st, v) = manager
        .put(
            &format!("/api/v1/departments/{}", s(&parts["id"])),
            &json!({"label": "Parts & Accessories", "board_section": "Back End", "position": 5})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["label"], "Parts & Accessories");
    assert_eq!(v["board_section"], "Back End");
    assert_eq!(v["position"], 5);
    let (st, v) = manager
        .put(
            &format!("/api/v1/departments/{}", s(&parts["id"])),
            &json!({"label": "Parts", "position": -1}).to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["fields"]["position"].is_string(), "{v}");
    for (st, what) in [
        (
            manager
                .post(
                    &format!("/api/v1/rooftops/{}/departments", other.rooftop),
                    &new_dept("Body Shop"),
                )
                .await?
                .0,
            "another group's rooftop",
        ),
        (
            manager
                .put(
                    &format!("/api/v1/departments/{}", other.sales),
                    &new_dept("Mine now"),
                )
                .await?
                .0,
            "another group's department",
        ),
        (
            delete(&manager, &format!("/api/v1/departments/{}", other.sales))
                .await?
                .0,
            "deleting another group's department",
        ),
    ] {
        assert_eq!(st, 404, "{what}");
    }
    let (st, _) = agent
        .put(
            &format!("/api/v1/departments/{}", t.sales),
            &new_dept("Mine"),
        )
        .await?;
    assert_eq!(st, 403);

    // A department with a chat keeps its history: refused. One without is deleted.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let (st, v) = delete(&manager, &format!("/api/v1/departments/{}", t.sales)).await?;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "in_use");
    assert!(s(&v["error"]["message"]).contains("history"), "{v}");
    let (st, v) = delete(
        &manager,
        &format!("/api/v1/departments/{}", s(&parts["id"])),
    )
    .await?;
    assert_eq!(st, 204, "{v}");
    let (st, v) = delete(
        &manager,
        &format!("/api/v1/departments/{}", s(&parts["id"])),
    )
    .await?;
    assert_eq!(st, 404, "{v}");

    // Websites: origins checked entry by entry.
    let (st, v) = manager
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": north_id, "name": "northtoyota.example",
                "allowed_origins": ["https://www.northtoyota.example", "https://northtoyota.example/inventory"]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    let why = s(&v["error"]["fields"]["allowed_origins"]);
    assert!(why.contains("https://northtoyota.example/inventory"), "{v}");
    let (st, v) = manager
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": other.rooftop, "name": "x", "allowed_origins": []}).to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["fields"]["rooftop_id"].is_string(), "{v}");
    let (st, v) = agent
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": north_id, "name": "x", "allowed_origins": []}).to_string(),
        )
        .await?;
    assert_eq!(st, 403, "{v}");

    let origin = "https://www.northtoyota.example";
    let (st, site) = manager
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": north_id, "name": "northtoyota.example",
                "allowed_origins": ["HTTPS://www.NorthToyota.example/", "http://localhost:3000"]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{site}");
    let key = s(&site["widget_key"]);
    assert_eq!(key.len(), 16, "{site}");
    assert!(
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
    assert_eq!(
        site["allowed_origins"],
        json!([origin, "http://localhost:3000"])
    );
    assert_eq!(
        s(&site["snippet"]),
        format!(
            r#"<script src="{}/widget.js" data-key="{key}" async></script>"#,
            stack.base_url
        )
    );
    assert_eq!(site["appearance"]["color"], "#1f4fd1");
    assert_eq!(site["rooftop_id"], north_id.as_str());
    let site_id = s(&site["id"]);

    // The new key works at once: a widget on the allowed origin says hello.
    let mut widget = Socket::widget(&stack.ws_url(""), &key, origin).await?;
    let welcome = widget.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let dept_labels: Vec<String> = welcome["departments"]
        .as_array()
        .map(|a| a.iter().map(|d| s(&d["label"])).collect())
        .unwrap_or_default();
    assert_eq!(dept_labels, ["Sales"], "{welcome}");

    // Appearance: low contrast is named by its field; a good one is stored and read back.
    let put = |look: Value| {
        json!({"name": "North Toyota", "allowed_origins": [origin], "appearance": look}).to_string()
    };
    let (st, v) = manager
        .put(
            &format!("/api/v1/websites/{site_id}"),
            &put(json!({"color": "#ffffff", "text_color": "#eeeeee"})),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(
        s(&v["error"]["fields"]["appearance.text_color"]).contains("contrast"),
        "{v}"
    );
    let (st, v) = manager
        .put(
            &format!("/api/v1/websites/{site_id}"),
            &put(json!({"colour": "#000000"})),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["fields"]["appearance"].is_string(), "{v}");
    let (st, v) = manager
        .put(
            &format!("/api/v1/websites/{site_id}"),
            &json!({"name": "North Toyota", "allowed_origins": ["ftp://files.example"]})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(s(&v["error"]["fields"]["allowed_origins"]).contains("ftp://files.example"));
    let look = json!({"color": "#0b3d2e", "text_color": "#ffffff", "position": "left", "icon": "car",
        "language": "es", "launcher_label": "Chatea con nosotros"});
    let (st, v) = manager
        .put(&format!("/api/v1/websites/{site_id}"), &put(look.clone()))
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["appearance"], look);
    assert_eq!(v["name"], "North Toyota");
    assert_eq!(v["widget_key"], key.as_str(), "the key never changes");
    assert_eq!(v["allowed_origins"], json!([origin]));
    let (st, v) = agent.get(&format!("/api/v1/websites/{site_id}")).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["appearance"], look);
    // A PUT without appearance keeps it.
    let (st, v) = manager
        .put(
            &format!("/api/v1/websites/{site_id}"),
            &json!({"name": "North Toyota", "allowed_origins": [origin]}).to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["appearance"], look);
    let (st, list) = agent.get("/api/v1/websites").await?;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert!(list.as_array().is_some_and(|a| {
        a.iter()
            .any(|w| w["id"] == site_id.as_str() && w["appearance"] == look)
    }));
    // Another group's website.
    let (st, _) = manager
        .get(&format!("/api/v1/websites/{}", other.website))
        .await?;
    assert_eq!(st, 404);
    let (st, _) = manager
        .put(
            &format!("/api/v1/websites/{}", other.website),
            &put(json!({})),
        )
        .await?;
    assert_eq!(st, 404);
    let (_, stranger_view) = logged_in(&stack, &other.agents[0].1)
        .await?
        .get("/api/v1/rooftops")
        .await?;
    assert_eq!(
        stranger_view["rooftops"].as_array().map(Vec::len),
        Some(1),
        "another group sees only its own: {stranger_view}"
    );

    // All of it is in the OpenAPI document.
    let (_, doc) = Http::new(&stack.base_url).get("/api/openapi.json").await?;
    for path in [
        "/api/v1/rooftops",
        "/api/v1/rooftops/{id}/departments",
        "/api/v1/departments/{id}",
        "/api/v1/agents/{id}/memberships",
        "/api/v1/websites/{id}",
        "/api/v1/me/photo",
        "/api/v1/agents/{id}/photo",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} not documented");
    }
    stack.stop().await
}

// ---- agents and memberships, the profile ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_get_roles_and_departments_and_a_new_one_is_offered_chats() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Staff", 1).await?;
    let other = Tenant::seed(&stack.pool, "Rivals", 1).await?;
    let (manager_id, manager) = member(&stack, &t, "manager", "manager").await?;
    let (admin_id, admin) = member(&stack, &t, "admin", "admin").await?;
    let agent = logged_in(&stack, &t.agents[0].1).await?;

    let (st, parts) = manager
        .post(
            &format!("/api/v1/rooftops/{}/departments", t.rooftop),
            &json!({"label": "Parts", "board_section": "Back End"}).to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{parts}");
    let parts_id = s(&parts["id"]);

    let new_agent = |email: &str, role: &str, departments: Value| {
        json!({"email": email, "first_name": "Pat", "last_name": "Parts", "role": role,
            "password": PASSWORD, "max_chats": 2, "department_ids": departments})
        .to_string()
    };
    let pat_email = format!("pat@{}.example", t.slug);

    // Wrong fields, all named at once.
    let (st, v) = manager
        .post(
            "/api/v1/agents",
            &json!({"email": "pat@", "first_name": "", "last_name": "Parts", "role": "owner",
                "password": "short", "max_chats": 0, "department_ids": ["sales"]})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    for f in [
        "email",
        "first_name",
        "role",
        "password",
        "max_chats",
        "department_ids",
    ] {
        assert!(v["error"]["fields"][f].is_string(), "{f}: {v}");
    }
    // Another group's department, by id.
    let (st, v) = manager
        .post(
            "/api/v1/agents",
            &new_agent(&pat_email, "agent", json!([parts_id, other.sales])),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(
        s(&v["error"]["fields"]["department_ids"]).contains(&other.sales.to_string()),
        "{v}"
    );
    // A taken e-mail, any case.
    let (st, v) = manager
        .post(
            "/api/v1/agents",
            &new_agent(&t.agents[0].1.to_uppercase(), "agent", json!([])),
        )
        .await?;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"]["fields"]["email"].is_string(), "{v}");
    // Roles: agents add nobody, managers no admins.
    let (st, v) = agent
        .post("/api/v1/agents", &new_agent(&pat_email, "agent", json!([])))
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = manager
        .post(
            "/api/v1/agents",
            &new_agent(&format!("boss@{}.example", t.slug), "admin", json!([])),
        )
        .await?;
    assert_eq!(st, 403, "{v}");
    assert!(s(&v["error"]["message"]).contains("admin"), "{v}");
    let (st, boss) = admin
        .post(
            "/api/v1/agents",
            &new_agent(&format!("boss@{}.example", t.slug), "admin", json!([])),
        )
        .await?;
    assert_eq!(st, 201, "{boss}");

    // Pat covers Parts only.
    let (st, pat) = manager
        .post(
            "/api/v1/agents",
            &new_agent(&pat_email, "agent", json!([parts_id])),
        )
        .await?;
    assert_eq!(st, 201, "{pat}");
    assert_eq!(pat["department_ids"], json!([parts_id]));
    assert_eq!(pat["max_chats"], 2);
    assert_eq!(pat["role"], "agent");
    assert_eq!(pat["locale"], "en");
    assert!(pat["photo_url"].is_null());
    let pat_id = s(&pat["id"]);
    let (st, list) = agent.get("/api/v1/agents").await?;
    assert_eq!(st, 200, "{list}");
    let listed = list["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == pat_id.as_str()).cloned())
        .unwrap_or_default();
    assert_eq!(listed["department_ids"], json!([parts_id]), "{list}");
    assert!(
        list["agents"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["email"] != other.agents[0].1.as_str())),
        "only the group's agents"
    );

    // Pat logs in and, Available, is offered a Parts chat (and shows on the Parts board).
    let pat_http = logged_in(&stack, &pat_email).await?;
    let (st, me) = pat_http.get("/api/v1/me").await?;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["email"], pat_email.as_str());
    assert!(me.get("photo_url").is_some_and(Value::is_null), "{me}");
    let mut pat_console = stack.agent(&pat_email, "available").await?;
    let (st, board) = manager
        .get(&format!("/api/v1/presence/board?department_id={parts_id}"))
        .await?;
    assert_eq!(st, 200, "{board}");
    assert!(board.to_string().contains(&pat_id), "{board}");
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": parts_id}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let offer = pat_console.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["id"], started["conversation"]["id"]);

    // Memberships are replaced as a set; ids are checked.
    let path = format!("/api/v1/agents/{pat_id}/memberships");
    let (st, v) = manager
        .put(
            &path,
            &json!({"department_ids": [other.service]}).to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(s(&v["error"]["fields"]["department_ids"]).contains(&other.service.to_string()));
    let (st, v) = manager
        .put(&path, &json!({"department_ids": ["not-an-id"]}).to_string())
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(s(&v["error"]["fields"]["department_ids"]).contains("not-an-id"));
    let (st, v) = agent
        .put(&path, &json!({"department_ids": []}).to_string())
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = manager
        .put(
            &path,
            &json!({"department_ids": [t.sales, t.service, t.sales]}).to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let mut got: Vec<String> = v["department_ids"]
        .as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default();
    got.sort();
    let mut want = vec![t.sales.to_string(), t.service.to_string()];
    want.sort();
    assert_eq!(got, want);
    // The next Sales chat is offered to Pat at once (no cache in between).
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let started = w2
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let offer = pat_console
        .recv_matching("offer", |o| {
            o["conversation"]["id"] == started["conversation"]["id"]
        })
        .await?;
    assert_eq!(offer["type"], "offer");
    let (st, _) = manager
        .put(
            &format!("/api/v1/agents/{}/memberships", other.agents[0].0),
            &json!({"department_ids": []}).to_string(),
        )
        .await?;
    assert_eq!(st, 404, "another group's agent");

    // Editing agents: who may give which role.
    let edit = |role: &str| {
        json!({"first_name": "Patricia", "last_name": "Parts", "role": role, "max_chats": 4})
            .to_string()
    };
    let (st, v) = agent
        .put(&format!("/api/v1/agents/{pat_id}"), &edit("agent"))
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = manager
        .put(&format!("/api/v1/agents/{pat_id}"), &edit("admin"))
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = manager
        .put(&format!("/api/v1/agents/{admin_id}"), &edit("admin"))
        .await?;
    assert_eq!(st, 403, "a manager cannot edit an admin: {v}");
    let (st, v) = manager
        .put(&format!("/api/v1/agents/{manager_id}"), &edit("agent"))
        .await?;
    assert_eq!(st, 403, "{v}");
    assert!(s(&v["error"]["message"]).contains("own role"), "{v}");
    let (st, v) = admin
        .put(&format!("/api/v1/agents/{admin_id}"), &edit("manager"))
        .await?;
    assert_eq!(st, 403, "not even an admin: {v}");
    let (st, v) = manager
        .put(&format!("/api/v1/agents/{pat_id}"), &edit("manager"))
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["first_name"], "Patricia");
    assert_eq!(v["role"], "manager");
    assert_eq!(v["max_chats"], 4);
    let (st, v) = admin
        .put(
            &format!("/api/v1/agents/{}", s(&boss["id"])),
            &edit("agent"),
        )
        .await?;
    assert_eq!(st, 200, "an admin demotes another admin: {v}");
    let (st, v) = manager
        .put(
            &format!("/api/v1/agents/{}", other.agents[0].0),
            &edit("agent"),
        )
        .await?;
    assert_eq!(st, 404, "{v}");
    let (st, v) = manager
        .put(
            &format!("/api/v1/agents/{pat_id}"),
            &json!({"first_name": "P", "last_name": "P", "role": "agent", "max_chats": 500})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["fields"]["max_chats"].is_string(), "{v}");

    // The profile: the agent's own names, e-mail, language and time zone.
    let (st, v) = pat_http.get("/api/v1/me/profile").await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["first_name"], "Patricia");
    assert!(v["time_zone"].is_null());
    let (st, v) = pat_http
        .put(
            "/api/v1/me/profile",
            &json!({"first_name": "Pat", "last_name": "Parts", "email": pat_email,
                "locale": "fr", "time_zone": "Europe/Atlantis"})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["fields"]["locale"].is_string(), "{v}");
    assert!(v["error"]["fields"]["time_zone"].is_string(), "{v}");
    let (st, v) = pat_http
        .put(
            "/api/v1/me/profile",
            &json!({"first_name": "Pat", "last_name": "Parts", "email": t.agents[0].1,
                "locale": "es", "time_zone": "America/Chicago"})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"]["fields"]["email"].is_string(), "{v}");
    let new_email = format!("pat.parts@{}.example", t.slug);
    let (st, v) = pat_http
        .put(
            "/api/v1/me/profile",
            &json!({"first_name": "Pat", "last_name": "Parts", "email": new_email,
                "locale": "es", "time_zone": "America/Chicago"})
            .to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["locale"], "es");
    assert_eq!(v["time_zone"], "America/Chicago");
    assert_eq!(v["email"], new_email.as_str());
    // The new e-mail logs in; the role did not move.
    let again = logged_in(&stack, &new_email).await?;
    let (_, me) = again.get("/api/v1/me").await?;
    assert_eq!(me["role"], "manager");
    // The console formats times in the agent's zone and language, from `/me`.
    assert_eq!(me["locale"], "es", "{me}");
    assert_eq!(me["time_zone"], "America/Chicago", "{me}");
    stack.stop().await
}

// ---- the headshot and the report ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_photo_round_trips_with_an_etag_and_the_report_counts_leads() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Photos", 1).await?;
    let (_, manager) = member(&stack, &t, "manager", "manager").await?;
    let (agent_id, agent_email) = t.agents[0].clone();
    let token = Http::new(&stack.base_url)
        .login(&agent_email, PASSWORD)
        .await?;
    let agent = Http::new(&stack.base_url).with_token(&token);

    // Wrong photos, each refused with its reason.
    let (st, v) = put_bytes(
        &stack,
        &token,
        "/api/v1/me/photo",
        "image/png",
        png(100, 80, [9, 9, 9]),
    )
    .await?;
    assert_eq!(st, 400, "{v}");
    assert_eq!(
        v["error"]["fields"]["photo"],
        "the photo must be 222 × 222 pixels (got 100 × 80)"
    );
    let (st, v) = put_bytes(
        &stack,
        &token,
        "/api/v1/me/photo",
        "image/png",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec(),
    )
    .await?;
    assert_eq!(st, 400, "fake PNG bytes: {v}");
    assert!(v["error"]["fields"]["photo"].is_string(), "{v}");
    let mut truncated = png(222, 222, [1, 2, 3]);
    truncated.truncate(16);
    let (st, v) = put_bytes(&stack, &token, "/api/v1/me/photo", "image/png", truncated).await?;
    assert_eq!(st, 400, "a PNG signature with nothing behind it: {v}");
    let (st, v) = put_bytes(
        &stack,
        &token,
        "/api/v1/me/photo",
        "image/gif",
        png(222, 222, [1, 2, 3]),
    )
    .await?;
    assert_eq!(st, 415, "{v}");
    let (st, v) = put_bytes(
        &stack,
        &token,
        "/api/v1/me/photo",
        "image/jpeg",
        png(222, 222, [1, 2, 3]),
    )
    .await?;
    assert_eq!(st, 400, "{v}");
    let mut huge = png(222, 222, [1, 2, 3]);
    huge.resize(300 * 1024, 0);
    let (st, v) = put_bytes(&stack, &token, "/api/v1/me/photo", "image/png", huge).await?;
    assert_eq!(st, 413, "{v}");
    let (st, _) = put_bytes(
        &stack,
        "nobody",
        "/api/v1/me/photo",
        "image/png",
        png(222, 222, [1, 2, 3]),
    )
    .await?;
    assert_eq!(st, 401);

    // A good one: public, with its type, ETag and cache headers.
    let face = png(222, 222, [200, 120, 40]);
    assert!(face.len() < 256 * 1024);
    let (st, v) = put_bytes(
        &stack,
        &token,
        "/api/v1/me/photo",
        "image/png",
        face.clone(),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let url = s(&v["photo_url"]);
    assert!(
        url.starts_with(&format!("/api/v1/agents/{agent_id}/photo?v=")),
        "{url}"
    );
    let public = reqwest::Client::new();
    let resp = public
        .get(format!("{}{url}", stack.base_url))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["cache-control"], "public, no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str()?.to_string();
    assert_eq!(resp.bytes().await?.to_vec(), face);
    let resp = public
        .get(format!("{}{url}", stack.base_url))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(resp.status(), 304);
    let (_, me) = agent.get("/api/v1/me").await?;
    assert_eq!(me["photo_url"], url.as_str());
    let (_, profile) = agent.get("/api/v1/me/profile").await?;
    assert_eq!(profile["photo_url"], url.as_str());
    let (_, list) = manager.get("/api/v1/agents").await?;
    assert!(
        list["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["photo_url"] == url.as_str())),
        "{list}"
    );

    // A new upload is a new version: a new URL and ETag.
    let (st, v) = put_bytes(
        &stack,
        &token,
        "/api/v1/me/photo",
        "image/png",
        png(222, 222, [0, 0, 0]),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let url2 = s(&v["photo_url"]);
    assert_ne!(url2, url);
    let resp = public
        .get(format!("{}{url2}", stack.base_url))
        .send()
        .await?;
    assert_ne!(resp.headers()["etag"].to_str()?, etag);
    let resp = public
        .get(format!("{}{url2}", stack.base_url))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(resp.status(), 200, "the old ETag no longer matches");

    // Deleted: 404 JSON, and null everywhere.
    let (st, _) = agent.call(Method::DELETE, "/api/v1/me/photo", None).await?;
    assert_eq!(st, 204);
    let (st, v) = Http::new(&stack.base_url).get(&url2).await?;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    let (st, v) = Http::new(&stack.base_url)
        .get("/api/v1/agents/not-a-uuid/photo")
        .await?;
    assert_eq!(st, 400, "{v}");
    let (_, me) = agent.get("/api/v1/me").await?;
    assert!(me["photo_url"].is_null(), "{me}");
    // A photo after a deletion never reuses an old version.
    let (_, v) = put_bytes(&stack, &token, "/api/v1/me/photo", "image/png", face).await?;
    let url3 = s(&v["photo_url"]);
    assert!(url3 != url && url3 != url2, "{url3}");

    // The report: one Sales chat, one lead made from it.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "name": "Maria"}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let conversation = s(&started["conversation"]["id"]);
    let (st, lead) = agent
        .post(
            &format!("/api/v1/conversations/{conversation}/leads"),
            &json!({"first_name": "Maria", "last_name": "Lopez", "phone": "+13125550000"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{lead}");
    let (st, v) = agent.get("/api/v1/reports/departments").await?;
    assert_eq!(st, 403, "{v}");
    let (st, rep) = manager.get("/api/v1/reports/departments").await?;
    assert_eq!(st, 200, "{rep}");
    let dept = |label: &str| {
        rep["departments"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|d| d["department"]["label"] == label)
                    .cloned()
            })
            .unwrap_or_default()
    };
    let sales = dept("Sales");
    assert_eq!(sales["chats"], 1, "{rep}");
    assert_eq!(sales["leads"], 1, "{rep}");
    assert_eq!(sales["chat_to_lead_rate"], 1.0, "{rep}");
    for kept in [
        "answered",
        "missed",
        "offline",
        "missed_rate",
        "chats_per_agent",
    ] {
        assert!(
            sales.get(kept).is_some(),
            "existing field {kept} stays: {rep}"
        );
    }
    let service = dept("Service");
    assert_eq!(service["chats"], 0);
    assert_eq!(service["leads"], 0);
    assert!(service["chat_to_lead_rate"].is_null(), "{rep}");
    let rooftops = rep["rooftops"].as_array().cloned().unwrap_or_default();
    assert_eq!(rooftops.len(), 1, "{rep}");
    assert_eq!(rooftops[0]["rooftop"]["id"], t.rooftop.to_string());
    assert_eq!(rooftops[0]["chats"], 1);
    assert_eq!(rooftops[0]["leads"], 1);
    assert_eq!(rooftops[0]["chat_to_lead_rate"], 1.0);
    assert_eq!(rooftops[0]["missed"], 0);
    assert!(
        rooftops[0]["time_to_pickup_secs"].is_null(),
        "nobody picked up yet"
    );
    stack.stop().await
}

/// An agent who left is deactivated: refused while they hold an active chat (named), then no
/// login, their open console closed within a heartbeat, their REST session gone, off the board
/// and out of their departments (a new chat is not offered to them); reactivated, they log in
/// again. Nobody deactivates themselves; an agent-role caller cannot; a manager cannot touch an
/// admin. Changing one's own password checks the current one and ends the other sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deactivated_agent_cannot_log_in_or_get_chats_and_passwords_change() -> anyhow::Result<()>
{
    let stack = Stack::start_tuned(Tuning {
        heartbeat_secs: 1,
        device_ttl_secs: 3,
        ..Tuning::default()
    })
    .await?;
    let t = Tenant::seed(&stack.pool, "Leavers", 2).await?;
    let (manager_id, manager) = member(&stack, &t, "manager", "manager").await?;
    let (admin_id, _admin) = member(&stack, &t, "admin", "admin").await?;
    let (leaver_id, leaver_email) = (t.agents[0].0, t.agents[0].1.clone());
    let leaver_http = logged_in(&stack, &leaver_email).await?;
    let mut leaver = stack.agent(&leaver_email, "available").await?;

    // A shopper's chat is taken by the leaver: deactivation is refused, naming the chat count.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let chat = started["conversation"]["id"].clone();
    let offer = leaver.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["id"], chat);
    let taken = leaver
        .ask(json!({"type": "accept", "conversation_id": chat}))
        .await?;
    assert_ne!(taken["type"], "error", "{taken}");
    let path = format!("/api/v1/agents/{leaver_id}/deactivate");
    let (st, v) = manager.post(&path, "{}").await?;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "holds_chats", "{v}");
    assert!(s(&v["error"]["message"]).contains("1 active chat"), "{v}");

    // Who may: not an agent, not oneself, not a manager on an admin.
    let (st, v) = leaver_http
        .post(
            &format!("/api/v1/agents/{}/deactivate", t.agents[1].0),
            "{}",
        )
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = manager
        .post(&format!("/api/v1/agents/{manager_id}/deactivate"), "{}")
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = manager
        .post(&format!("/api/v1/agents/{admin_id}/deactivate"), "{}")
        .await?;
    assert_eq!(st, 403, "{v}");

    // The chat ends; now the leaver is deactivated.
    let ended = leaver
        .ask(json!({"type": "end", "conversation_id": chat}))
        .await?;
    assert_ne!(ended["type"], "error", "{ended}");
    let (st, v) = manager.post(&path, "{}").await?;
    assert_eq!(st, 200, "{v}");
    assert!(v["deactivated_at"].is_string(), "{v}");
    assert_eq!(v["department_ids"], json!([]), "{v}");

    // Their open console is told and closed at its next heartbeat; their REST session is gone;
    // they cannot log in again (the same answer as a wrong password).
    let mut told = false;
    for _ in 0..20 {
        match leaver
            .next_within(std::time::Duration::from_millis(500))
            .await
        {
            Ok(Some(f)) if f["type"] == "error" && f["code"] == "session_ended" => told = true,
            Ok(_) => {}
            Err(_) => break, // closed
        }
    }
    assert!(told, "the console was told its session ended");
    assert!(
        leaver
            .next_within(std::time::Duration::from_secs(3))
            .await
            .is_err(),
        "and then closed"
    );
    let (st, _) = leaver_http.get("/api/v1/me").await?;
    assert_eq!(st, 401);
    let (st, v) = Http::new(&stack.base_url)
        .post(
            "/api/v1/auth/login",
            &json!({"email": leaver_email, "password": PASSWORD}).to_string(),
        )
        .await?;
    assert_eq!(st, 401, "{v}");

    // Off the board, but still in the agents list (marked); the department's next chat goes to
    // the colleague.
    let (st, board) = manager.get("/api/v1/presence/board").await?;
    assert_eq!(st, 200, "{board}");
    assert!(
        !board.to_string().contains(&leaver_id.to_string()),
        "{board}"
    );
    let (_, list) = manager.get("/api/v1/agents").await?;
    let listed = list["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == leaver_id.to_string()).cloned())
        .unwrap_or_default();
    assert!(listed["deactivated_at"].is_string(), "{list}");
    let mut colleague = stack.agent(&t.agents[1].1, "available").await?;
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let started = w2
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let offer = colleague.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["id"], started["conversation"]["id"]);

    // Reactivated, they log in again (with no department until one is given back).
    let (st, v) = manager
        .post(&format!("/api/v1/agents/{leaver_id}/reactivate"), "{}")
        .await?;
    assert_eq!(st, 200, "{v}");
    assert!(v["deactivated_at"].is_null(), "{v}");
    let again = logged_in(&stack, &leaver_email).await?;
    let (st, _) = again.get("/api/v1/me").await?;
    assert_eq!(st, 200);

    // A password change: the current one is checked, the new one too; other sessions end.
    let other_device = logged_in(&stack, &leaver_email).await?;
    let (st, v) = again
        .put(
            "/api/v1/me/password",
            &json!({"current_password": "wrong-password", "new_password": "short"}).to_string(),
        )
        .await?;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["fields"]["current_password"].is_string(), "{v}");
    assert!(v["error"]["fields"]["new_password"].is_string(), "{v}");
    let (st, v) = again
        .put(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "a-much-longer-secret"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 204, "{v}");
    let (st, _) = again.get("/api/v1/me").await?;
    assert_eq!(st, 200, "this session stays");
    let (st, _) = other_device.get("/api/v1/me").await?;
    assert_eq!(st, 401, "the other device is logged out");
    Http::new(&stack.base_url)
        .login(&leaver_email, "a-much-longer-secret")
        .await?;
    stack.stop().await
}
