//! Abuse limits through real HTTP and sockets, at the product's own defaults
//! (`libs/rest/src/limits.rs`, `docs/architecture.md` "Limits"): failed logins wait longer and
//! longer (shared by two gateways through Redis, a right password refused too) and go on when
//! Redis is down; conversations per address and per website; a socket flooding `send` or `ping`
//! is answered `rate_limited`, stays open, and only what was accepted is stored and forwarded;
//! uploads per visitor; never more password hashes at once than the gateway's permits.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use showroom_store::sqlx;
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant, accepted_chat};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::service_binary;

/// A raw request's status, `Retry-After` (seconds) and JSON body.
async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Option<u64>, Value)> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok((
        status,
        retry_after,
        resp.json().await.unwrap_or(Value::Null),
    ))
}

async fn login(
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<(u16, Option<u64>, Value)> {
    call(
        reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

/// Asserts a 429 `rate_limited` whose `Retry-After` header and `retry_after_secs` agree; the
/// wait.
fn limited(answer: &(u16, Option<u64>, Value)) -> u64 {
    let (status, retry_after, body) = answer;
    assert_eq!(*status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let secs = retry_after.expect("a Retry-After header");
    assert_eq!(body["error"]["retry_after_secs"], secs, "{body}");
    secs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_wait_longer_each_time_on_every_gateway_and_a_right_password_waits_too()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Logins", 2).await?;
    // A second gateway replica on the same Redis: the counts are shared.
    let second = showroom_gateway::start(stack.gateway_config(), CancellationToken::new()).await?;
    let other = format!("http://{}", second.http_addr.expect("an http address"));
    let gateways = [stack.base_url.clone(), other];
    let email = t.agents[0].1.as_str();

    // Five free failures, then a sixth: each a plain 401, on either gateway.
    for i in 0..6 {
        let (status, _, body) = login(&gateways[i % 2], email, "wrong password").await?;
        assert_eq!(status, 401, "failure {}: {body}", i + 1);
    }
    // Now every attempt waits 1 s, on both gateways, whatever the password, the right one too
    // (and the address in any case: no oracle).
    let right = login(&gateways[0], &email.to_uppercase(), PASSWORD).await?;
    assert_eq!(limited(&right), 1, "{right:?}");
    let mut waits = vec![limited(&login(&gateways[1], email, "wrong").await?)];
    // Each further failure doubles the wait: 1 s, 2 s, 4 s.
    for turn in 0..2 {
        tokio::time::sleep(Duration::from_millis(waits[turn] * 1000 + 150)).await;
        let (status, _, body) = login(&gateways[turn % 2], email, "still wrong").await?;
        assert_eq!(status, 401, "{body}");
        waits.push(limited(
            &login(&gateways[(turn + 1) % 2], email, PASSWORD).await?,
        ));
    }
    assert_eq!(waits, [1, 2, 4]);

    // Another account from the same address is not held up.
    let (status, _, body) = login(&gateways[1], &t.agents[1].1, PASSWORD).await?;
    assert_eq!(status, 200, "{body}");
    // After the wait the right password works and clears the account's count: the next
    // failures are free again.
    tokio::time::sleep(Duration::from_millis(4150)).await;
    let (status, _, body) = login(&gateways[0], email, PASSWORD).await?;
    assert_eq!(status, 200, "{body}");
    for _ in 0..2 {
        let (status, _, body) = login(&gateways[1], email, "wrong again").await?;
        assert_eq!(status, 401, "{body}");
    }

    // One address guessing at many accounts: 50 free failures (10 of them above), then it
    // waits too, whichever account it tries, on both gateways.
    for i in 0..41 {
        let (status, _, body) =
            login(&gateways[i % 2], &format!("nobody{i}@logins.example"), "x").await?;
        assert_eq!(status, 401, "spray {i}: {body}");
    }
    let spray = login(&gateways[1], &t.agents[2].1, PASSWORD).await?;
    assert_eq!(limited(&spray), 1, "{spray:?}");
    assert!(
        spray.2["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("network")),
        "{spray:?}"
    );
    second.stop().await?;
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_go_on_when_redis_is_down() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "NoRedis", 1).await?;
    let email = t.agents[0].1.as_str();
    stack.redis.stop().await;
    // The shared limits fail open: no 429, no 5xx, the right password works.
    for _ in 0..8 {
        let (status, _, body) = login(&stack.base_url, email, "wrong password").await?;
        assert_eq!(status, 401, "{body}");
    }
    let (status, _, body) = login(&stack.base_url, email, PASSWORD).await?;
    assert_eq!(status, 200, "{body}");
    // Redis back: the limits hold again (a few failures after the gateway reconnects).
    stack.redis.restart().await?;
    let mut failures = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = login(&stack.base_url, email, "wrong password").await?;
        if answer.0 == 429 {
            limited(&answer);
            break;
        }
        assert_eq!(answer.0, 401, "{answer:?}");
        failures += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "no limit {failures} failures after Redis came back"
        );
    }
    assert!(failures >= 6, "at least the free failures: {failures}");
    stack.stop().await
}

/// A dealer form's message (`POST /api/v1/widget/{key}/messages`).
async fn leave_message(
    stack: &Stack,
    key: &str,
    n: usize,
) -> anyhow::Result<(u16, Option<u64>, Value)> {
    call(
        reqwest::Client::new()
            .post(format!("{}/api/v1/widget/{key}/messages", stack.base_url))
            .json(&json!({"first_name": "Ana", "last_name": "Ruiz",
                "email": format!("ana{n}@example.com"), "message": "Is the CR-V still there?"})),
    )
    .await
}

async fn conversations_of(stack: &Stack, website: Uuid) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM conversations WHERE website_id = $1")
            .bind(website)
            .fetch_one(&stack.pool)
            .await?,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conversations_from_one_address_and_on_one_website_are_limited() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Starts", 0).await?;

    // Clients written from the OpenAPI document learn of the 429 and its Retry-After.
    let (_, doc) = Http::new(&stack.base_url).get("/api/openapi.json").await?;
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/widget/{key}/messages", "post"),
        ("/api/v1/widget/{key}/attachments", "post"),
    ] {
        let answer = &doc["paths"][path][method]["responses"]["429"];
        assert!(
            answer["headers"]["Retry-After"].is_object(),
            "{path}: {answer}"
        );
    }
    assert!(
        doc["components"]["schemas"]["ErrorDetail"]["properties"]["retry_after_secs"].is_object(),
        "the error body names the wait"
    );

    // 20 conversations an hour from one address (all at once if it likes): the dealer's own
    // form first.
    for n in 0..20 {
        let (status, _, body) = leave_message(&stack, &t.key, n).await?;
        assert_eq!(status, 202, "message {n}: {body}");
    }
    let over = leave_message(&stack, &t.key, 20).await?;
    let wait = limited(&over);
    assert!(
        (170..=180).contains(&wait),
        "one more every 3 min: {over:?}"
    );

    // The widget's `start` from the same address counts in the same place: refused with the
    // wait, nothing started, the socket still open.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let refused = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert!(
        refused["retry_after_secs"]
            .as_u64()
            .is_some_and(|s| (170..=180).contains(&s)),
        "{refused}"
    );
    assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(w.ask(json!({"type": "ping"})).await?["type"], "pong");
    assert_eq!(conversations_of(&stack, t.website).await?, 0);

    // A website sets its own limits (admin API), here lower: 2 per address per hour, 3 a
    // minute in all.
    let (_, manager) = t.add_agent(&stack.pool, "manager", "manager", &[]).await?;
    let admin = Http::new(&stack.base_url)
        .with_token(&Http::new(&stack.base_url).login(&manager, PASSWORD).await?);
    let (status, site) = admin
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": t.rooftop, "name": "Kiosk", "allowed_origins": [t.origin],
                "limits": {"conversations_per_ip_per_hour": 2}})
            .to_string(),
        )
        .await?;
    assert_eq!(status, 201, "{site}");
    assert_eq!(
        site["limits"],
        json!({"conversations_per_ip_per_hour": 2, "conversations_per_minute": null})
    );
    let (status, bad) = admin
        .put(
            &format!("/api/v1/websites/{}", site["id"].as_str().unwrap_or("")),
            &json!({"name": "Kiosk", "allowed_origins": [t.origin],
                "limits": {"conversations_per_minute": 0}})
            .to_string(),
        )
        .await?;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["fields"]["limits.conversations_per_minute"].is_string(),
        "{bad}"
    );
    let key = site["widget_key"].as_str().unwrap_or_default().to_string();
    for n in 0..2 {
        let (status, _, body) = leave_message(&stack, &key, n).await?;
        assert_eq!(status, 202, "{body}");
    }
    let kiosk = leave_message(&stack, &key, 2).await?;
    assert!((1700..=1800).contains(&limited(&kiosk)), "{kiosk:?}");
    assert!(
        kiosk.2["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("address")),
        "{kiosk:?}"
    );

    // The default website, now limited to 3 conversations a minute from all addresses: the
    // website's own bucket refuses (a wait of a third of a minute, not the address's).
    let (status, view) = admin
        .put(
            &format!("/api/v1/websites/{}", t.website),
            &json!({"name": "Starts", "allowed_origins": [t.origin],
                "limits": {"conversations_per_ip_per_hour": 1000, "conversations_per_minute": 3}})
            .to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["limits"]["conversations_per_minute"], 3, "{view}");
    // Another website's address bucket is its own: a fresh key for this one.
    let (status, fresh) = admin
        .post(
            "/api/v1/websites",
            &json!({"rooftop_id": t.rooftop, "name": "Busy", "allowed_origins": [t.origin],
                "limits": {"conversations_per_minute": 3}})
            .to_string(),
        )
        .await?;
    assert_eq!(status, 201, "{fresh}");
    let busy = fresh["widget_key"].as_str().unwrap_or_default().to_string();
    for n in 0..3 {
        let (status, _, body) = leave_message(&stack, &busy, n).await?;
        assert_eq!(status, 202, "{body}");
    }
    let full = leave_message(&stack, &busy, 3).await?;
    assert!((15..=20).contains(&limited(&full)), "{full:?}");
    assert!(
        full.2["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("website")),
        "{full:?}"
    );
    stack.stop().await
}

/// Sends `n` frames made by `frame(i)` (each with `ref` `r<i>`) without waiting, then reads
/// until every one is answered: the answers by ref.
async fn flood(
    s: &mut Socket,
    n: usize,
    frame: impl Fn(usize) -> Value,
) -> anyhow::Result<Vec<Value>> {
    for i in 0..n {
        let mut f = frame(i);
        f["ref"] = json!(format!("r{i}"));
        s.send(f).await?;
    }
    let mut answers: Vec<Option<Value>> = vec![None; n];
    while answers.iter().any(Option::is_none) {
        let f = s
            .next_within(Duration::from_secs(10))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no answer to every frame within 10 s"))?;
        if let Some(i) = f["ref"]
            .as_str()
            .and_then(|r| r.strip_prefix('r'))
            .and_then(|i| i.parse::<usize>().ok())
            && i < n
        {
            answers[i] = Some(f);
        }
    }
    Ok(answers.into_iter().flatten().collect())
}

/// The answers of a flood: how many of type `ok`, and the `rate_limited` errors (anything else
/// fails).
fn tally<'a>(answers: &'a [Value], ok: &str) -> (usize, Vec<&'a Value>) {
    let mut passed = 0;
    let mut refused = Vec::new();
    for a in answers {
        if a["type"] == ok {
            passed += 1;
        } else {
            assert_eq!(a["type"], "error", "{a}");
            assert_eq!(a["code"], "rate_limited", "{a}");
            assert!(
                a["retry_after_secs"].as_u64().is_some_and(|s| s >= 1),
                "{a}"
            );
            refused.push(a);
        }
    }
    (passed, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_socket_flooding_messages_or_pings_is_limited_stays_open_and_stores_only_what_passed()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Flood", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut w, &mut agent, t.sales).await?;

    // 100 messages at once: 20 pass (then 5 a second), the rest are refused.
    let answers = flood(
        &mut w,
        100,
        |i| json!({"type": "send", "client_msg_id": format!("m{i}"), "text": format!("flood {i}")}),
    )
    .await?;
    let (passed, refused) = tally(&answers, "ack");
    assert!((20..=40).contains(&passed), "{passed} passed");
    assert_eq!(passed + refused.len(), 100);
    assert!(
        refused.iter().all(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("you are sending"))),
        "the socket's own limit: {refused:?}"
    );
    let acked: BTreeSet<String> = answers
        .iter()
        .filter(|a| a["type"] == "ack")
        .filter_map(|a| a["client_msg_id"].as_str().map(str::to_string))
        .collect();
    // The transcript holds exactly the acknowledged ones; the agent got exactly those.
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT client_msg_id FROM messages WHERE conversation_id = $1 AND author_kind = 'shopper'",
    )
    .bind(conv.parse::<Uuid>()?)
    .fetch_all(&stack.pool)
    .await?;
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), acked);
    let mut forwarded = BTreeSet::new();
    while let Some(f) = agent.next_within(Duration::from_millis(800)).await? {
        if f["type"] == "message" && f["message"]["author"]["kind"] == "shopper" {
            forwarded.insert(
                f["message"]["client_msg_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    assert_eq!(forwarded, acked, "the agent got only what was stored");

    // The socket is open: a refused message sent again after the wait goes through.
    let again = refused[0].clone();
    tokio::time::sleep(Duration::from_secs(
        again["retry_after_secs"].as_u64().unwrap_or(1),
    ))
    .await;
    let i: usize = again["ref"].as_str().unwrap_or("r0")[1..].parse()?;
    let ack = w
        .ask(
            json!({"type": "send", "client_msg_id": format!("m{i}"), "text": format!("flood {i}")}),
        )
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");

    // The conversation's own limit (30 at once, then one a second) counts every writer: the
    // agent, on another socket, meets what the shopper left of it.
    let answers = flood(&mut agent, 20, |i| {
        json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("a{i}"), "text": "ok"})
    })
    .await?;
    let (passed, refused) = tally(&answers, "ack");
    assert!(passed < 20 && !refused.is_empty(), "{answers:?}");
    assert!(
        refused.iter().any(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.contains("conversation"))),
        "{refused:?}"
    );

    // Pings: 10 at once, then 2 a second; past them `rate_limited` instead of `pong`, and the
    // socket stays open. On the console too.
    for s in [&mut w, &mut agent] {
        let answers = flood(s, 50, |_| json!({"type": "ping"})).await?;
        let (pongs, refused) = tally(&answers, "pong");
        assert!((10..=14).contains(&pongs), "{pongs} pongs");
        assert_eq!(pongs + refused.len(), 50);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(s.ask(json!({"type": "ping"})).await?["type"], "pong");
    }

    // Every other frame: 60 at once, then 20 a second, so no frame type makes the gateway read
    // the transcript without end (`history` reads Postgres each time).
    let open = json!({"type": "open", "conversation_id": conv});
    for (s, frame) in [(&mut w, json!({"type": "history"})), (&mut agent, open)] {
        let answers = flood(s, 150, |_| frame.clone()).await?;
        let (read, refused) = tally(&answers, "history");
        assert!((60..=90).contains(&read), "{read} answered to {frame}");
        assert_eq!(read + refused.len(), 150, "{frame}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(w.ask(json!({"type": "history"})).await?["type"], "history");
    stack.stop().await
}

async fn upload(
    stack: &Stack,
    t: &Tenant,
    token: &str,
) -> anyhow::Result<(u16, Option<u64>, Value)> {
    call(
        reqwest::Client::new()
            .post(format!(
                "{}/api/v1/widget/{}/attachments?form=pre_chat&field=photo",
                stack.base_url, t.key
            ))
            .header("x-visitor-token", token)
            .header("x-filename", "car.png")
            .body(crate::admin::png(2, 2, [255, 0, 0])),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_are_limited_per_visitor_and_per_address_without_a_token() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Uploads", 0).await?;
    let (_, manager) = t.add_agent(&stack.pool, "manager", "manager", &[]).await?;
    let admin = Http::new(&stack.base_url)
        .with_token(&Http::new(&stack.base_url).login(&manager, PASSWORD).await?);
    let (status, body) = admin
        .put(
            &format!("/api/v1/websites/{}/forms/pre_chat", t.website),
            &json!({"fields": [{"id": "photo", "label": "Photo", "type": "attachment",
                "accept": "image/*"}]})
            .to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let (_, first) = stack.shopper(&t, None, 0).await?;
    let (_, second) = stack.shopper(&t, None, 0).await?;
    let token = |w: &Value| w["visitor_token"].as_str().unwrap_or_default().to_string();

    // 10 at once, then one every 3 minutes (20 an hour).
    for n in 0..10 {
        let (status, _, body) = upload(&stack, &t, &token(&first)).await?;
        assert_eq!(status, 201, "upload {n}: {body}");
    }
    let over = upload(&stack, &t, &token(&first)).await?;
    assert!((170..=180).contains(&limited(&over)), "{over:?}");
    // Another visitor has their own.
    let (status, _, body) = upload(&stack, &t, &token(&second)).await?;
    assert_eq!(status, 201, "{body}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments WHERE website_id = $1")
        .bind(t.website)
        .fetch_one(&stack.pool)
        .await?;
    assert_eq!(stored, 11, "nothing of a refused upload is stored");

    // Without a valid token the address counts: 401s, then 429.
    for _ in 0..10 {
        let (status, _, body) = upload(&stack, &t, "v1.forged").await?;
        assert_eq!(status, 401, "{body}");
    }
    limited(&upload(&stack, &t, "v1.forged").await?);
    stack.stop().await
}

/// The value of an unlabelled-but-`service` gauge in a Prometheus text page (0 when absent).
fn gauge(page: &str, name: &str) -> f64 {
    showroom_testkit::metric_sum(page, name, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_never_run_more_password_hashes_than_the_permits() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Hashes", 1).await?;
    // A gateway process of its own, whose metrics page shows the hashes in flight.
    let gateway = stack
        .gateway_process_with(service_binary(), &["gateway"], &[])
        .await?;
    let permits = showroom_rest::limits::hash_permits() as f64;

    // Watch the gauge while 24 logins run at once.
    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, most) = (done.clone(), most.clone());
        let metrics = format!("{}/metrics", gateway.admin_url);
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                if let Ok(r) = client.get(&metrics).send().await
                    && let Ok(page) = r.text().await
                {
                    let now = gauge(&page, "showroom_password_hashes_in_flight");
                    most.fetch_max(now as u64, Ordering::Relaxed);
                    samples += 1;
                }
            }
            samples
        })
    };
    let logins: Vec<_> = (0..24)
        .map(|_| {
            let (base, email) = (gateway.base_url.clone(), t.agents[0].1.clone());
            tokio::spawn(async move { login(&base, &email, PASSWORD).await })
        })
        .collect();
    for l in logins {
        let (status, _, body) = l.await??;
        assert_eq!(status, 200, "{body}");
    }
    done.store(true, Ordering::Relaxed);
    let samples = watcher.await?;
    let most = most.load(Ordering::Relaxed) as f64;
    println!("hashes in flight: at most {most} of {permits} permits, {samples} samples");
    assert!(samples > 5, "the gauge was read while the logins ran");
    assert!(most >= 1.0, "the gauge saw the hashes run");
    assert!(most <= permits, "{most} hashes at once, {permits} permits");
    stack.stop().await
}
