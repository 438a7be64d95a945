//! Files in the chat (issue 19, item 2): the shopper uploads an image and sends it, the agent a
//! PDF; each reaches the other side as a file message, is downloaded by the chat's shopper and
//! the group's agents (404 for another group), is in the transcript over REST, and a resend is
//! stored once. A file's type is read from its bytes: HTML named `.jpg` is refused.

use serde_json::{Value, json};
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, accepted_chat};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";

/// Posts `bytes` as `name` to `url` (with the visitor token or the agent's bearer token).
async fn post_file(
    url: &str,
    visitor: Option<&str>,
    bearer: Option<&str>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<(u16, Value)> {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("x-filename", name)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec());
    if let Some(v) = visitor {
        req = req.header("x-visitor-token", v);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

/// GETs `url` with the visitor token or the bearer token: the status and the bytes.
async fn get_file(
    url: &str,
    visitor: Option<&str>,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut req = reqwest::Client::new().get(url);
    if let Some(v) = visitor {
        req = req.header("x-visitor-token", v);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await?;
    Ok((resp.status().as_u16(), resp.bytes().await?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_go_both_ways_to_the_right_people_only() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Files", 1).await?;
    let other = Tenant::seed(&stack.pool, "Elsewhere", 1).await?;
    let http = Http::new(&stack.base_url);
    let agent_token = http.login(&t.agents[0].1, PASSWORD).await?;
    let stranger_token = http.login(&other.agents[0].1, PASSWORD).await?;
    let mut console = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, welcome) = stack.shopper(&t, None, 0).await?;
    let visitor = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv = accepted_chat(&mut shopper, &mut console, t.sales).await?;
    let widget_upload = format!(
        "{}/api/v1/widget/{}/attachments?form=chat",
        stack.base_url, t.key
    );

    // The real type is read from the bytes: HTML named .jpg is refused.
    let (st, body) = post_file(
        &widget_upload,
        Some(&visitor),
        None,
        "car.jpg",
        b"<html><script>alert(1)</script></html>",
    )
    .await?;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (415, Some("type_not_accepted")),
        "{body}"
    );
    // Without the visitor token, nothing is stored.
    let (st, _) = post_file(&widget_upload, None, None, "car.png", PNG).await?;
    assert_eq!(st, 401);

    // The shopper's image.
    let (st, image) = post_file(&widget_upload, Some(&visitor), None, "my car.png", PNG).await?;
    assert_eq!(st, 201, "{image}");
    assert_eq!(image["content_type"], "image/png");
    let image_id = image["id"].as_str().unwrap_or_default().to_string();
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "f1", "file_id": image_id}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let got = console
        .recv_matching("message", |m| m["message"]["seq"] == ack["seq"])
        .await?;
    let file = &got["message"]["file"];
    assert_eq!(file["id"], image_id.as_str(), "{got}");
    assert_eq!(file["name"], "my car.png");
    assert_eq!(file["type"], "image/png");
    assert_eq!(file["size"], PNG.len());
    // A resend is the same message, stored once.
    let again = shopper
        .ask(json!({"type": "send", "client_msg_id": "f1", "file_id": image_id}))
        .await?;
    assert_eq!(again["seq"], ack["seq"], "{again}");
    assert_eq!(again["id"], ack["id"], "{again}");

    // The agent's PDF.
    let (st, pdf) = post_file(
        &format!("{}/api/v1/conversations/{conv}/files", stack.base_url),
        None,
        Some(&agent_token),
        "quote.pdf",
        PDF,
    )
    .await?;
    assert_eq!(st, 201, "{pdf}");
    assert_eq!(pdf["content_type"], "application/pdf");
    let pdf_id = pdf["id"].as_str().unwrap_or_default().to_string();
    // Another group's agent cannot upload to this chat.
    let (st, _) = post_file(
        &format!("{}/api/v1/conversations/{conv}/files", stack.base_url),
        None,
        Some(&stranger_token),
        "x.pdf",
        PDF,
    )
    .await?;
    assert_eq!(st, 404);
    // The shopper cannot send the agent's file as theirs.
    let stolen = shopper
        .ask(json!({"type": "send", "client_msg_id": "f2", "file_id": pdf_id}))
        .await?;
    assert_eq!(stolen["code"], "not_found", "{stolen}");
    let sent = console
        .ask(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1",
            "text": "Your quote", "file_id": pdf_id}),
        )
        .await?;
    assert_eq!(sent["type"], "ack", "{sent}");
    let got = shopper
        .recv_matching("message", |m| m["message"]["seq"] == sent["seq"])
        .await?;
    assert_eq!(got["message"]["file"]["type"], "application/pdf", "{got}");
    assert_eq!(got["message"]["file"]["name"], "quote.pdf");
    assert_eq!(got["message"]["text"], "Your quote");

    // Downloads: the chat's shopper and the group's agents; 404 for another group.
    for (id, bytes, kind) in [
        (&image_id, PNG, "image/png"),
        (&pdf_id, PDF, "application/pdf"),
    ] {
        let (st, got) = get_file(
            &format!("{}/api/v1/widget/{}/files/{id}", stack.base_url, t.key),
            Some(&visitor),
            None,
        )
        .await?;
        assert_eq!(
            (st, got.as_slice()),
            (200, bytes),
            "the shopper gets {kind}"
        );
        let (st, got) = get_file(
            &format!("{}/api/v1/attachments/{id}", stack.base_url),
            None,
            Some(&agent_token),
        )
        .await?;
        assert_eq!((st, got.as_slice()), (200, bytes), "the agent gets {kind}");
        let (st, _) = get_file(
            &format!("{}/api/v1/attachments/{id}", stack.base_url),
            None,
            Some(&stranger_token),
        )
        .await?;
        assert_eq!(st, 404, "another group's agent");
    }
    // Another shopper of the same website gets 404.
    let (_, stranger_welcome) = stack.shopper(&t, None, 0).await?;
    let (st, _) = get_file(
        &format!("{}/api/v1/widget/{}/files/{pdf_id}", stack.base_url, t.key),
        stranger_welcome["visitor_token"].as_str(),
        None,
    )
    .await?;
    assert_eq!(st, 404, "another shopper");

    // The transcript over REST: both file messages, the image once.
    let (st, detail) = http
        .with_token(&agent_token)
        .get(&format!("/api/v1/conversations/{conv}"))
        .await?;
    assert_eq!(st, 200, "{detail}");
    let files: Vec<&Value> = detail["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m.get("file")).collect())
        .unwrap_or_default();
    assert_eq!(files.len(), 2, "{detail}");
    assert_eq!(files[0]["id"], image_id.as_str());
    assert_eq!(files[1]["id"], pdf_id.as_str());
    let stored: i64 = showroom_store::sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE conversation_id = $1 AND file_id IS NOT NULL",
    )
    .bind(conv.parse::<uuid::Uuid>()?)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(stored, 2);

    // Retention: the chat's files go with its transcript, even when files alone would be kept
    // longer (the group keeps attachments ten years, transcripts the default two).
    let conv_id: uuid::Uuid = conv.parse()?;
    showroom_store::sqlx::query(
        "INSERT INTO retention_settings (group_id, attachments_days) VALUES ($1, 3650)",
    )
    .bind(t.group)
    .execute(&stack.pool)
    .await?;
    let ended = shopper.ask(json!({"type": "end"})).await?;
    assert_ne!(ended["type"], "error", "{ended}");
    let files_of_chat = || async {
        showroom_store::sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM attachments WHERE conversation_id = $1",
        )
        .bind(conv_id)
        .fetch_one(&stack.pool)
        .await
    };
    assert_eq!(files_of_chat().await?, 2);
    let later = chrono::Utc::now() + chrono::Duration::days(731);
    showroom_testkit::eventually(
        std::time::Duration::from_secs(10),
        "the chat's files swept with its transcript",
        || async {
            showroom_runtime::retention::run(
                &stack.pool,
                showroom_gateway::retention::SWEEPS,
                later,
                100,
            )
            .await?;
            Ok((files_of_chat().await? == 0).then_some(()))
        },
    )
    .await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasing_the_shopper_erases_the_files_of_their_chat() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Erase files", 2).await?;
    let (manager_id, manager_email) = t.agents[1].clone();
    t.set_role(&stack.pool, manager_id, "manager").await?;
    let http = Http::new(&stack.base_url);
    let agent_token = http.login(&t.agents[0].1, PASSWORD).await?;
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let mut console = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, welcome) = stack.shopper(&t, None, 0).await?;
    let visitor = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv = accepted_chat(&mut shopper, &mut console, t.sales).await?;
    let (st, image) = post_file(
        &format!(
            "{}/api/v1/widget/{}/attachments?form=chat",
            stack.base_url, t.key
        ),
        Some(&visitor),
        None,
        "car.png",
        PNG,
    )
    .await?;
    assert_eq!(st, 201, "{image}");
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "f1", "file_id": image["id"]}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let (st, pdf) = post_file(
        &format!("{}/api/v1/conversations/{conv}/files", stack.base_url),
        None,
        Some(&agent_token),
        "quote.pdf",
        PDF,
    )
    .await?;
    assert_eq!(st, 201, "{pdf}");
    let sent = console
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1", "file_id": pdf["id"]}))
        .await?;
    assert_eq!(sent["type"], "ack", "{sent}");
    // The agent makes a lead: the chat is the shopper's, found by their e-mail.
    let (st, lead) = http
        .with_token(&agent_token)
        .post(
            &format!("/api/v1/conversations/{conv}/leads"),
            &json!({"first_name": "Erin", "last_name": "Files", "email": "erin.files@example.com"})
                .to_string(),
        )
        .await?;
    assert_eq!(st, 201, "{lead}");

    let (st, erased) = manager
        .post(
            "/api/v1/privacy/erasures",
            &json!({"email": "erin.files@example.com"}).to_string(),
        )
        .await?;
    assert_eq!(st, 200, "{erased}");
    assert_eq!(erased["counts"]["attachments"], 2, "{erased}");
    let left: i64 =
        showroom_store::sqlx::query_scalar("SELECT count(*) FROM attachments WHERE id = ANY($1)")
            .bind(vec![
                image["id"]
                    .as_str()
                    .unwrap_or_default()
                    .parse::<uuid::Uuid>()?,
                pdf["id"]
                    .as_str()
                    .unwrap_or_default()
                    .parse::<uuid::Uuid>()?,
            ])
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(left, 0);
    stack.stop().await
}
