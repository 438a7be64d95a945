//! Multi-factor sign-in (issue 17, item 2) through the real gateway: a group with the
//! migration's default policy makes a manager enrol before any session; TOTP codes computed
//! here (totp-rs, from the enrolment's secret) sign in once each, a replayed or wrong one is
//! refused and counts toward the login limits; a recovery code works once, also when two
//! requests race with it; the policy is an admin's; an admin's reset (403 for a manager, 404
//! for another group's admin); every step is in the audit trail. `passkeys_in_chromium` enrols
//! a passkey in Profile and signs in with it (services/gateway/tests/browser/passkey.test.mjs).

use reqwest::StatusCode;
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_store::sqlx;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use tokio_util::sync::CancellationToken;
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The authenticator app of a base32 secret.
fn app(secret: &str) -> TOTP {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes, None, "x".into())
}

/// A password login that must answer the second step: the ticket and the whole answer.
async fn ticket(http: &Http, email: &str) -> anyhow::Result<(String, Value)> {
    let body = json!({"email": email, "password": PASSWORD}).to_string();
    let (st, v) = http.post("/api/v1/auth/login", &body).await?;
    anyhow::ensure!(st == StatusCode::OK, "login: {st} {v}");
    anyhow::ensure!(v["mfa_required"] == true, "no second step: {v}");
    anyhow::ensure!(
        v.get("token").is_none(),
        "a session before the second factor: {v}"
    );
    Ok((v["ticket"].as_str().unwrap().to_string(), v))
}

/// Signs `email` in through the enrolment the policy requires: their TOTP secret, session
/// token and recovery codes.
async fn enrol(http: &Http, email: &str) -> anyhow::Result<(String, String, Vec<String>)> {
    let (t, v) = ticket(http, email).await?;
    anyhow::ensure!(v["enrol_required"] == true, "{v}");
    let (st, e) = http
        .post(
            "/api/v1/auth/mfa/enrol/totp",
            &json!({"ticket": t}).to_string(),
        )
        .await?;
    anyhow::ensure!(st == StatusCode::OK, "{st} {e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    assert!(
        e["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let code = app(&secret).generate(now());
    let (st, s) = http
        .post(
            "/api/v1/auth/mfa/enrol/totp/confirm",
            &json!({"ticket": t, "code": code}).to_string(),
        )
        .await?;
    anyhow::ensure!(st == StatusCode::OK, "{st} {s}");
    let codes: Vec<String> = serde_json::from_value(s["recovery_codes"].clone())?;
    Ok((secret, s["token"].as_str().unwrap().to_string(), codes))
}

async fn kinds(stack: &Stack, group: Uuid) -> anyhow::Result<Vec<(String, Value)>> {
    Ok(sqlx::query_as::<_, (String, Value)>(
        "SELECT kind, detail FROM audit_events WHERE group_id = $1 ORDER BY id",
    )
    .bind(group)
    .fetch_all(&stack.pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn totp_recovery_codes_policy_and_reset() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    // Every group is created with the default policy, `privileged`.
    let fresh = setup::group(&stack.pool, "Fresh Motors").await?;
    let (p,): (String,) = sqlx::query_as("SELECT mfa_policy FROM dealer_groups WHERE id = $1")
        .bind(fresh)
        .fetch_one(&stack.pool)
        .await?;
    assert_eq!(p, "privileged");
    // The test tenants turn MFA off; this one goes back to the column's default.
    let a = Tenant::seed(&stack.pool, "MfaA", 1).await?;
    sqlx::query("UPDATE dealer_groups SET mfa_policy = DEFAULT WHERE id = $1")
        .bind(a.group)
        .execute(&stack.pool)
        .await?;
    let b = Tenant::seed(&stack.pool, "MfaB", 1).await?;
    let (manager_id, manager) = a.add_agent(&stack.pool, "boss", "manager", &[]).await?;
    let (_, admin) = a.add_agent(&stack.pool, "chief", "admin", &[]).await?;
    let (_, plain) = a.add_agent(&stack.pool, "plain", "agent", &[]).await?;
    let (_, admin_b) = b.add_agent(&stack.pool, "chief", "admin", &[]).await?;
    let http = Http::new(&stack.base_url);

    // An agent of a `privileged` group signs in with the password alone.
    http.login(&plain, PASSWORD).await?;
    // A manager gets no session: a ticket that only enrols.
    let (t, v) = ticket(&http, &manager).await?;
    assert_eq!(v["enrol_required"], true, "{v}");
    assert!(
        v["methods"].as_array().unwrap().contains(&json!("totp")),
        "{v}"
    );
    let (st, e) = http
        .post(
            "/api/v1/auth/mfa/totp",
            &json!({"ticket": t, "code": "123456"}).to_string(),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "an enrol-only ticket proves nothing: {e}"
    );
    // Enrolling completes the sign-in, with ten recovery codes.
    let (secret, token, codes) = enrol(&http, &manager).await?;
    assert_eq!(codes.len(), 10);
    let me = http.with_token(&token);
    assert_eq!(me.get("/api/v1/me").await?.0, StatusCode::OK);
    let (st, status) = me.get("/api/v1/me/mfa").await?;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(status["totp"], true, "{status}");
    assert_eq!(status["recovery_codes_left"], 10, "{status}");
    // The secret is sealed at rest: the row does not hold it.
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT secret_sealed FROM agent_totp WHERE agent_id = $1")
            .bind(manager_id)
            .fetch_one(&stack.pool)
            .await?;
    let raw = Secret::Encoded(secret.clone()).to_bytes().unwrap();
    assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));

    // Next sign-in: the code of the next step (±1 step is accepted) signs in ...
    let (t, v) = ticket(&http, &manager).await?;
    assert_eq!(v["enrol_required"], false);
    assert_eq!(v["methods"], json!(["totp", "recovery_code"]), "{v}");
    let wrong = {
        let right = app(&secret).generate(now() + 30);
        format!("{:06}", (right.parse::<u32>()? + 1) % 1_000_000)
    };
    let (st, e) = http
        .post(
            "/api/v1/auth/mfa/totp",
            &json!({"ticket": t, "code": wrong}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{e}");
    assert_eq!(e["error"]["code"], "invalid_code");
    let code = app(&secret).generate(now() + 30);
    let (st, s) = http
        .post(
            "/api/v1/auth/mfa/totp",
            &json!({"ticket": t, "code": code}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert!(s["token"].is_string());
    // ... once: the ticket is spent, and the code replayed on a new ticket is refused.
    let (st, _) = http
        .post(
            "/api/v1/auth/mfa/totp",
            &json!({"ticket": t, "code": code}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (t, _) = ticket(&http, &manager).await?;
    let (st, e) = http
        .post(
            "/api/v1/auth/mfa/totp",
            &json!({"ticket": t, "code": code}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a replayed code: {e}");

    // A recovery code works once, even when two sign-ins race with it.
    let (t1, _) = ticket(&http, &manager).await?;
    let (t2, _) = ticket(&http, &manager).await?;
    let use_code = |t: String| {
        let http = http.clone();
        let body = json!({"ticket": t, "code": codes[0].to_uppercase()}).to_string();
        async move { http.post("/api/v1/auth/mfa/recovery-code", &body).await }
    };
    let (r1, r2) = tokio::join!(use_code(t1), use_code(t2));
    let mut got = [r1?.0, r2?.0];
    got.sort();
    assert_eq!(got, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    let (t, _) = ticket(&http, &manager).await?;
    let (st, s) = http
        .post(
            "/api/v1/auth/mfa/recovery-code",
            &json!({"ticket": t, "code": codes[1]}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{s}");
    let me = http.with_token(s["token"].as_str().unwrap());
    assert_eq!(me.get("/api/v1/me/mfa").await?.1["recovery_codes_left"], 8);
    let (st, fresh_codes) = me.post("/api/v1/me/mfa/recovery-codes", "{}").await?;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(fresh_codes["recovery_codes"].as_array().unwrap().len(), 10);

    // Wrong codes count toward the e-mail's login limit: past the free failures, 429.
    let mut limited = false;
    let login = json!({"email": manager, "password": PASSWORD}).to_string();
    for _ in 0..8 {
        let (st, v) = http.post("/api/v1/auth/login", &login).await?;
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
        let t = v["ticket"].as_str().unwrap_or_default();
        let (st, _) = http
            .post(
                "/api/v1/auth/mfa/totp",
                &json!({"ticket": t, "code": "000000"}).to_string(),
            )
            .await?;
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "wrong second factors never met the login limit");
    // (The limit is the manager's e-mail's: the others go on.)

    // The policy is an admin's (the admin enrols first: `privileged` covers them).
    let (_, admin_token, _) = enrol(&http, &admin).await?;
    let boss = http.with_token(&admin_token);
    let (st, v) = boss.get("/api/v1/mfa/policy").await?;
    assert_eq!(
        (st, v["policy"].clone()),
        (StatusCode::OK, json!("privileged"))
    );
    let plain_session = http.with_token(&http.login(&plain, PASSWORD).await?);
    assert_eq!(
        plain_session.get("/api/v1/mfa/policy").await?.0,
        StatusCode::FORBIDDEN
    );
    let (st, e) = boss
        .put("/api/v1/mfa/policy", r#"{"policy":"sometimes"}"#)
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, _) = boss
        .put("/api/v1/mfa/policy", r#"{"policy":"everyone"}"#)
        .await?;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = ticket(&http, &plain).await?;
    assert_eq!(v["enrol_required"], true, "`everyone` covers agents: {v}");

    // An admin's reset: a manager may not, another group's admin sees no such agent.
    let reset = format!("/api/v1/agents/{manager_id}/mfa/reset");
    let (st, _) = plain_session.post(&reset, "{}").await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let other = http.with_token(&http.login(&admin_b, PASSWORD).await?);
    let (st, _) = other.post(&reset, "{}").await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let sessions = "SELECT count(*) FROM agent_sessions WHERE agent_id = $1";
    let before: i64 = sqlx::query_scalar(sessions)
        .bind(manager_id)
        .fetch_one(&stack.pool)
        .await?;
    assert!(before > 0, "the manager signed in above");
    let (st, e) = boss.post(&reset, "{}").await?;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    // Everything the lost device held goes, its sessions too.
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM agent_totp WHERE agent_id = $1), \
           (SELECT count(*) FROM agent_recovery_codes WHERE agent_id = $1), \
           (SELECT count(*) FROM agent_sessions WHERE agent_id = $1)",
    )
    .bind(manager_id)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(left, (0, 0, 0));

    // The admin's own factors through the admin's reset: refused, nothing removed, the
    // session still good (the reset needs no password; Profile's removal does).
    let (_, me) = boss.get("/api/v1/me").await?;
    let own = format!(
        "/api/v1/agents/{}/mfa/reset",
        me["id"].as_str().unwrap_or_default()
    );
    let (st, e) = boss.post(&own, "{}").await?;
    assert_eq!(
        (st, e["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("own_factors")),
        "{e}"
    );
    assert_eq!(boss.get("/api/v1/me/mfa").await?.0, StatusCode::OK);

    // The admin removes their own app with their password.
    let (st, e) = boss
        .post("/api/v1/me/mfa/totp/remove", r#"{"password":"not it"}"#)
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let body = json!({ "password": PASSWORD }).to_string();
    assert_eq!(
        boss.post("/api/v1/me/mfa/totp/remove", &body).await?.0,
        StatusCode::NO_CONTENT
    );

    // The trail: each kind, the sign-ins naming their method, never a secret.
    let trail = kinds(&stack, a.group).await?;
    let text = serde_json::to_string(&trail)?;
    for kind in [
        "mfa_enrolled",
        "mfa_removed",
        "recovery_codes_regenerated",
        "mfa_reset",
        "mfa_policy_changed",
    ] {
        assert!(trail.iter().any(|(k, _)| k == kind), "no {kind} in {text}");
    }
    for method in ["password+totp", "password+recovery_code"] {
        assert!(
            trail
                .iter()
                .any(|(k, d)| k == "sign_in" && d["method"] == method),
            "no sign-in by {method}: {text}"
        );
    }
    assert!(
        trail
            .iter()
            .any(|(k, d)| k == "sign_in_failed" && d["reason"] == "wrong_or_used_code"),
        "{text}"
    );
    assert!(
        trail.iter().any(|(k, d)| k == "mfa_policy_changed"
            && d["before"]["mfa_policy"] == "privileged"
            && d["after"]["mfa_policy"] == "everyone"),
        "{text}"
    );
    assert!(
        !text.contains(&secret) && !text.contains(&codes[2]),
        "a secret in {text}"
    );
    assert!(
        kinds(&stack, b.group)
            .await?
            .iter()
            .all(|(k, _)| !k.starts_with("mfa"))
    );
    stack.stop().await
}

/// A free loopback port (a gateway of its own binds it next).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// With the DevTools virtual authenticator, an agent enrols a passkey in Profile and signs in
/// with it (`passkey.test.mjs`), against a gateway whose public URL is
/// `http://localhost:<port>` (a WebAuthn relying party cannot be an IP address).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passkeys_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    showroom_rest::demo::seed(&stack.pool, &[stack.origin()]).await?;
    let port = free_port()?;
    let base = format!("http://localhost:{port}");
    let gateway = showroom_gateway::start(
        showroom_gateway::Config {
            http_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            public_url: Some(base.clone()),
            ..stack.gateway_config()
        },
        CancellationToken::new(),
    )
    .await?;
    let report = showroom_testkit::run_browser_tests(&base, &["passkey"], &[]).await?;
    println!("{report}");
    // The sign-in by passkey is in the demo group's trail.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_events WHERE kind = 'sign_in' \
           AND detail->>'method' = 'password+passkey'",
    )
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(n, 1, "{report}");
    gateway.stop().await?;
    stack.stop().await
}
