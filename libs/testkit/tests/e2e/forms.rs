//! The form builder through REST and the widget socket, against real servers: a pre-chat form
//! with every field type, answers checked field by field, attachments refused when too large
//! or of a type the field does not take (by their real bytes), served only to agents of the
//! same group; the answers steering routing and skipping the Lead Gate; an offline form.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use showroom_proto::bot::BotSettings;
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A form as the API answers it: with its defaults written out.
fn normalized(form: Value) -> Value {
    let f: showroom_proto::forms::Form = serde_json::from_value(form).expect("a valid form");
    serde_json::to_value(f).expect("serialisable")
}

async fn manager(stack: &Stack, t: &Tenant) -> anyhow::Result<Http> {
    let (_, email) = t.add_agent(&stack.pool, "manager", "manager", &[]).await?;
    let token = Http::new(&stack.base_url).login(&email, PASSWORD).await?;
    Ok(Http::new(&stack.base_url).with_token(&token))
}

fn every_field() -> Value {
    json!({"fields": [
        {"id": "intro", "label": "Tell us about you", "type": "label"},
        {"id": "first", "label": "First name", "type": "input", "input": "text", "required": true,
         "maps_to": {"contact": "first_name"}},
        {"id": "last", "label": "Last name", "type": "input", "input": "text", "required": true,
         "maps_to": {"contact": "last_name"}},
        {"id": "mail", "label": "E-mail", "type": "input", "input": "email", "required": true,
         "maps_to": {"contact": "email"}},
        {"id": "budget", "label": "Budget", "type": "input", "input": "number"},
        {"id": "interest", "label": "Interest", "type": "select", "options": ["New", "Used", "Trade-in"],
         "required": true, "maps_to": {"variable": "interest"}},
        {"id": "contact_by", "label": "Contact me by", "type": "radio", "options": ["E-mail", "Phone"]},
        {"id": "features", "label": "Must have", "type": "checkboxes", "options": ["AWD", "Sunroof", "Tow hitch"]},
        {"id": "notes", "label": "Anything else?", "type": "textarea"},
        {"id": "terms", "label": "Terms", "type": "agreement", "text": "I agree to be contacted about my trade-in."},
        {"id": "photos", "label": "Photos of your car", "type": "attachment", "accept": ".pdf,image/*", "multiple": true},
    ]})
}

/// Uploads `bytes` as `name` for a field; answers the status and body.
async fn upload(
    stack: &Stack,
    t: &Tenant,
    token: Option<&str>,
    form: &str,
    field: &str,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/widget/{}/attachments?form={form}&field={field}",
            stack.base_url, t.key
        ))
        .header("x-filename", name)
        .header("content-type", "application/octet-stream")
        .body(bytes);
    if let Some(tok) = token {
        req = req.header("x-visitor-token", tok);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pre_chat_form_with_every_field_type_is_checked_stored_and_routes() -> anyhow::Result<()>
{
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Forms", 1).await?;
    showroom_bot::settings::store(&stack.pool, t.group, t.website, &BotSettings::default()).await?;
    let http = manager(&stack, &t).await?;
    let path = format!("/api/v1/websites/{}/forms/pre_chat", t.website);

    // Forms are checked field by field.
    let mut dup = every_field();
    dup["fields"][2]["id"] = json!("first");
    let mut bad_accept = every_field();
    bad_accept["fields"][10]["accept"] = json!("pdf");
    let mut no_options = every_field();
    no_options["fields"][5]["options"] = json!([]);
    for (form, field) in [
        (dup, "fields[2].id"),
        (bad_accept, "fields[10].accept"),
        (no_options, "fields[5].options"),
    ] {
        let (s, v) = http.put(&path, &form.to_string()).await?;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"]["fields"][field].is_string(), "{field}: {v}");
    }
    let (s, v) = http
        .put(
            &format!("/api/v1/websites/{}/forms/offline", t.website),
            &json!({"fields": [{"id": "first", "label": "First", "type": "input", "input": "text",
                "maps_to": {"contact": "first_name"}}]})
            .to_string(),
        )
        .await?;
    assert_eq!(
        s, 400,
        "an offline form must fill names, e-mail and message: {v}"
    );
    let (s, v) = http.put(&path, &every_field().to_string()).await?;
    assert_eq!(s, 200, "{v}");
    let (_, got) = http.get(&path).await?;
    assert_eq!(got, normalized(every_field()));
    // Trade-ins go to Service.
    let (s, v) = http
        .put(
            &format!("/api/v1/websites/{}/routing", t.website),
            &json!({"rules": [{"variable": "interest", "value": "Trade-in", "department_id": t.service}]})
                .to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");

    let mut service_agent = stack.agent(&t.agents[1].1, "available").await?;
    let (mut w, welcome) = stack.shopper(&t, None, 0).await?;
    assert_eq!(welcome["forms"]["pre_chat"], normalized(every_field()));
    assert!(welcome["forms"]["offline"].is_null());
    let token = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Files: too large, a refused real type, no token, no such field; then good ones.
    let (s, v) = upload(
        &stack,
        &t,
        Some(&token),
        "pre_chat",
        "photos",
        "big.png",
        vec![0u8; 10 * 1024 * 1024 + 1],
    )
    .await?;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{v}"
    );
    let (s, v) = upload(
        &stack,
        &t,
        Some(&token),
        "pre_chat",
        "photos",
        "notes.pdf",
        b"not really a pdf".to_vec(),
    )
    .await?;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (415, Some("type_not_accepted")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("text/plain")),
        "{v}"
    );
    // A picture named .pdf is a picture: this field takes pictures too.
    let (s, v) = upload(
        &stack,
        &t,
        Some(&token),
        "pre_chat",
        "photos",
        "car.pdf",
        PNG.to_vec(),
    )
    .await?;
    assert_eq!(
        (s, v["content_type"].as_str()),
        (201, Some("image/png")),
        "{v}"
    );
    let (s, v) = upload(
        &stack,
        &t,
        None,
        "pre_chat",
        "photos",
        "car.png",
        PNG.to_vec(),
    )
    .await?;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("bad_visitor")),
        "{v}"
    );
    let (s, v) = upload(
        &stack,
        &t,
        Some(&token),
        "pre_chat",
        "notes",
        "car.png",
        PNG.to_vec(),
    )
    .await?;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("bad_field")),
        "{v}"
    );
    let (s, png) = upload(
        &stack,
        &t,
        Some(&token),
        "pre_chat",
        "photos",
        "my%20car.png",
        PNG.to_vec(),
    )
    .await?;
    assert_eq!(s, 201, "{png}");
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["filename"], "my car.png");
    assert_eq!(png["size"], PNG.len());
    let pdf_bytes = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let (s, pdf) = upload(
        &stack,
        &t,
        Some(&token),
        "pre_chat",
        "photos",
        "quote.pdf",
        pdf_bytes,
    )
    .await?;
    assert_eq!(
        (s, pdf["content_type"].as_str()),
        (201, Some("application/pdf")),
        "{pdf}"
    );
    // Another visitor's upload cannot be claimed.
    let (_, other_welcome) = stack.shopper(&t, None, 0).await?;
    let other = other_welcome["visitor_token"].as_str().unwrap_or_default();
    let (_, theirs) = upload(
        &stack,
        &t,
        Some(other),
        "pre_chat",
        "photos",
        "x.png",
        PNG.to_vec(),
    )
    .await?;

    // Every kind of wrong answer is named; nothing starts.
    let bad = json!({
        "first": "Maria", "last": "L0pez", "mail": "maria@example", "budget": "lots",
        "interest": "Lease", "features": ["AWD", "Jetpack"], "terms": false,
        "photos": [theirs["id"]], "nosuch": "x",
    });
    let refused = w
        .ask(json!({"type": "start", "department_id": t.sales, "form": bad}))
        .await?;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "bad_request");
    let named: Vec<&str> = refused["fields"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        named,
        [
            "budget", "features", "interest", "last", "mail", "nosuch", "photos", "terms"
        ],
        "{refused}"
    );
    let (n,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM conversations WHERE website_id = $1")
            .bind(t.website)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(n, 0);

    // Good answers: stored, the trade-in goes to Service, and the gate asks nothing.
    let good = json!({
        "first": "Maria", "last": "Lopez", "mail": "maria@example.com", "budget": "25000",
        "interest": "Trade-in", "contact_by": "Phone", "features": ["AWD", "Tow hitch"],
        "notes": "<script>alert(1)</script> two keys", "terms": true,
        "photos": [png["id"], pdf["id"]],
    });
    // Sales chosen, but the website's rule sends trade-ins to Service.
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "form": good}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let incoming = w
        .recv_matching("conversation", |f| f["conversation"]["state"] == "incoming")
        .await?;
    let c = &incoming["conversation"];
    assert_eq!(
        c["department"]["label"], "Service",
        "routed by the form's variable"
    );
    assert_eq!(c["contact"]["email"], "maria@example.com");
    assert_eq!(c["shopper"]["name"], "Maria Lopez");
    let only = w
        .recv_matching("message", |f| f["message"]["author"]["kind"] == "bot")
        .await?;
    assert_eq!(
        only["message"]["text"],
        "Thanks, Maria! Someone will be right with you."
    );
    let offer = service_agent.recv_type("offer").await?;
    let form = offer["conversation"]["form"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let answer = |field: &str| {
        form.iter()
            .find(|a| a["field"] == field)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(form.len(), 10, "every answer but the label: {form:?}");
    assert_eq!(answer("features")["value"], json!(["AWD", "Tow hitch"]));
    assert_eq!(
        answer("notes")["value"],
        "<script>alert(1)</script> two keys"
    );
    assert_eq!(answer("terms")["value"], true);
    assert_eq!(
        answer("terms")["agreement_text"],
        "I agree to be contacted about my trade-in."
    );
    assert_eq!(answer("photos")["value"][0]["filename"], "my car.png");
    assert_eq!(answer("interest")["label"], "Interest");

    // The file, to agents of the group only.
    let agent_token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let file = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/attachments/{}",
            stack.base_url,
            png["id"].as_str().unwrap_or_default()
        ))
        .bearer_auth(&agent_token)
        .send()
        .await?;
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");
    assert!(
        file.headers()["content-disposition"]
            .to_str()?
            .starts_with("attachment")
    );
    assert_eq!(file.bytes().await?.as_ref(), PNG);
    let stranger_group = Tenant::seed(&stack.pool, "Strangers", 1).await?;
    let stranger = Http::new(&stack.base_url)
        .login(&stranger_group.agents[0].1, PASSWORD)
        .await?;
    let denied = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/attachments/{}",
            stack.base_url,
            png["id"].as_str().unwrap_or_default()
        ))
        .bearer_auth(&stranger)
        .send()
        .await?;
    assert_eq!(denied.status().as_u16(), 404);
    let anonymous = reqwest::get(format!(
        "{}/api/v1/attachments/{}",
        stack.base_url,
        png["id"].as_str().unwrap_or_default()
    ))
    .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offline_form_replaces_the_leave_a_message_fields() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Offline Forms", 0).await?;
    let http = manager(&stack, &t).await?;
    let form = json!({"fields": [
        {"id": "name1", "label": "Nombre", "type": "input", "input": "text", "required": true, "maps_to": {"contact": "first_name"}},
        {"id": "name2", "label": "Apellido", "type": "input", "input": "text", "required": true, "maps_to": {"contact": "last_name"}},
        {"id": "mail", "label": "Correo", "type": "input", "input": "email", "required": true, "maps_to": {"contact": "email"}},
        {"id": "cell", "label": "Celular", "type": "input", "input": "text", "maps_to": {"contact": "phone"}},
        {"id": "msg", "label": "Mensaje", "type": "textarea", "required": true, "maps_to": {"contact": "message"}},
        {"id": "when", "label": "Best time", "type": "radio", "options": ["Morning", "Evening"], "maps_to": {"variable": "best_time"}},
        {"id": "docs", "label": "Documents", "type": "attachment", "accept": ".pdf"},
    ]});
    let (s, v) = http
        .put(
            &format!("/api/v1/websites/{}/forms/offline", t.website),
            &form.to_string(),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    let nats = stack.nats_client().await?;
    let mut sub =
        showroom_testkit::watch::subscribed(&nats, showroom_proto::v1::message_left(t.group))
            .await?;

    // Nobody is online: the chat goes offline and the shopper fills the website's own form.
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    let welcome = w.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome["forms"]["offline"], normalized(form.clone()));
    let token = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let s = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(s["conversation"]["state"], "offline", "{s}");
    let (code, doc) = upload(
        &stack,
        &t,
        Some(&token),
        "offline",
        "docs",
        "license.pdf",
        b"%PDF-1.4\n%%EOF\n".to_vec(),
    )
    .await?;
    assert_eq!(code, 201, "{doc}");
    // This field takes PDFs only: a PNG named .pdf is refused by its bytes.
    let (code, v) = upload(
        &stack,
        &t,
        Some(&token),
        "offline",
        "docs",
        "scan.pdf",
        PNG.to_vec(),
    )
    .await?;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (415, Some("type_not_accepted")),
        "{v}"
    );
    let refused = w
        .ask(
            json!({"type": "leave_message", "form_id": "o1", "answers": {
            "name1": "Ana", "name2": "Ruiz", "mail": "ana@", "msg": "", "cell": "12"}}),
        )
        .await?;
    let named: Vec<&str> = refused["fields"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(named, ["cell", "mail", "msg"], "{refused}");
    let left = w
        .ask(
            json!({"type": "leave_message", "form_id": "o1", "answers": {
            "name1": "Ana", "name2": "Ruiz", "mail": "ana@example.com", "msg": "Llámenme",
            "cell": "(312) 555-2368", "when": "Evening", "docs": [doc["id"]]}}),
        )
        .await?;
    assert_eq!(left["type"], "message_left", "{left}");
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    let ev: Value = serde_json::from_slice(&msg.payload)?;
    let ev = &ev["data"];
    assert_eq!(ev["id"], left["id"]);
    assert_eq!(ev["trigger"], "nobody_available");
    assert_eq!(ev["contact"]["first_name"], "Ana");
    assert_eq!(ev["contact"]["phone"], "+13125552368");
    assert!(
        ev["contact"]["consent"]["text"].is_string(),
        "the bot's consent with the phone"
    );
    assert_eq!(ev["message"], "Llámenme");
    let answers = ev["answers"].as_array().cloned().unwrap_or_default();
    assert_eq!(answers.len(), 7);
    assert!(
        answers
            .iter()
            .any(|a| a["field"] == "docs" && a["value"][0]["filename"] == "license.pdf")
    );
    // Without an offline form, answers are refused by name.
    let (s, _) = http
        .put(
            &format!("/api/v1/websites/{}/forms/offline", t.website),
            r#"{"fields": []}"#,
        )
        .await?;
    assert_eq!(s, 200);
    let none = w
        .ask(json!({"type": "leave_message", "form_id": "o2", "answers": {"x": "y"}}))
        .await?;
    assert!(none["fields"]["answers"].is_string(), "{none}");
    stack.stop().await
}
