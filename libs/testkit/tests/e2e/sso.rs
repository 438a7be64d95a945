//! Single sign-on with OpenID Connect (libs/rest/src/sso.rs) against a real OpenID provider
//! (npm oidc-provider, `showroom_testkit::OidcProvider`), driven in a real Chromium
//! (`services/gateway/tests/browser/sso.test.mjs`): the group's settings over REST (admins,
//! audited, never the secret), the agent made at the first sign-in with the mapped role and
//! rooftops, refusals (state, nonce, issuer, role), back-channel logout and deactivation, and
//! password sign-in turned off.

use reqwest::StatusCode;
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_store::sqlx;
use showroom_testkit::{Http, OidcClient, OidcProvider, PASSWORD, Stack, Tenant};
use uuid::Uuid;

const SECRET: &str = "client-secret-never-stored-0123456789";

/// Runs the browser test file's phase `phase` (node, playwright-core, Chromium).
async fn browser_phase(
    stack: &Stack,
    provider: &OidcProvider,
    group: Uuid,
    admin_email: &str,
    phase: &str,
) -> anyhow::Result<()> {
    let env = [
        ("OIDC_ISSUER", provider.issuer.clone()),
        ("SSO_GROUP", group.to_string()),
        ("SSO_PHASE", phase.to_string()),
        ("SSO_ADMIN", admin_email.to_string()),
        ("SSO_ADMIN_PASSWORD", PASSWORD.to_string()),
    ];
    showroom_testkit::run_browser_tests(&stack.base_url, &["sso"], &env)
        .await
        .map_err(|e| e.context(format!("browser phase {phase}")))?;
    Ok(())
}

/// The audit rows of a kind in the group, oldest first: (actor label, subject, detail).
async fn audit_rows(
    stack: &Stack,
    group: Uuid,
    kind: &str,
) -> anyhow::Result<Vec<(String, Option<String>, Value)>> {
    Ok(sqlx::query_as(
        "SELECT actor_label, subject, detail FROM audit_events WHERE group_id = $1 AND kind = $2 ORDER BY id",
    )
    .bind(group)
    .bind(kind)
    .fetch_all(&stack.pool)
    .await?)
}

fn settings(issuer: &str, password_sign_in: bool) -> String {
    json!({
        "issuer": issuer,
        "client_id": "showroom",
        "secret_key": "okta-motors",
        "display_name": "Okta",
        "email_domains": ["Okta-Staff.example"],
        "role_claim": "roles",
        "role_map": {
            "showroom-agents": "agent",
            "showroom-rooftop": "rooftop_manager",
            "showroom-admins": "admin"
        },
        "rooftop_claim": "rooftops",
        "password_sign_in": password_sign_in
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_sign_on_with_a_real_provider() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let pool = &stack.pool;
    let t = Tenant::seed(pool, "Okta Motors", 1).await?;
    let other = Tenant::seed(pool, "Elsewhere Autos", 0).await?;
    let north = setup::rooftop(pool, t.group, "North Ford", "America/Chicago").await?;
    let (_, admin_email) = t.add_agent(pool, "boss", "admin", &[]).await?;
    let http = Http::new(&stack.base_url);
    let admin = http.with_token(&http.login(&admin_email, PASSWORD).await?);
    let agent = http.with_token(&http.login(&t.agents[0].1, PASSWORD).await?);

    stack.put_oidc_secret("okta-motors", SECRET)?;
    let provider = OidcProvider::start(&[OidcClient {
        client_id: "showroom".into(),
        client_secret: SECRET.into(),
        redirect_uri: format!("{}/api/v1/auth/sso/callback", stack.base_url),
        backchannel_logout_uri: Some(format!(
            "{}/api/v1/auth/sso/backchannel-logout/{}",
            stack.base_url, t.group
        )),
    }])
    .await?;
    provider
        .put_account(
            "u-rosa",
            json!({ "email": "rosa@okta-staff.example", "password": "rosa-idp-password",
                "given_name": "Rosa", "family_name": "Diaz",
                "roles": ["showroom-rooftop", "everyone"], "rooftops": ["north ford", "Nowhere"] }),
        )
        .await?;
    provider
        .put_account(
            "u-ned",
            json!({ "email": "ned@okta-staff.example", "password": "ned-idp-password",
                "given_name": "Ned", "family_name": "Noone", "roles": ["contractors"] }),
        )
        .await?;

    // --- The settings: admins only, checked, audited without the secret ---------------------
    let (status, _) = agent
        .put("/api/v1/sso/settings", &settings(&provider.issuer, true))
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "an agent cannot set SSO");
    let (status, body) = admin
        .put(
            "/api/v1/sso/settings",
            &json!({ "issuer": "ftp://x", "client_id": "", "secret_key": "../etc/passwd",
                "display_name": "Okta", "email_domains": ["not a domain"], "role_claim": "roles",
                "role_map": { "x": "emperor" }, "rooftop_claim": null, "password_sign_in": true })
            .to_string(),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for field in [
        "issuer",
        "client_id",
        "secret_key",
        "email_domains",
        "role_map",
    ] {
        assert!(
            body["error"]["fields"][field].is_string(),
            "{field}: {body}"
        );
    }
    let (status, body) = admin
        .put("/api/v1/sso/settings", &settings(&provider.issuer, true))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email_domains"], json!(["okta-staff.example"]));
    assert_eq!(body["secret_present"], json!(true));
    let (status, body) = admin.get("/api/v1/sso/settings").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !body.to_string().contains(SECRET),
        "the secret is never answered"
    );
    let changed = audit_rows(&stack, t.group, "sso_settings_changed").await?;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].2["after"]["secret_key"], json!("okta-motors"));
    assert!(
        !changed[0].2.to_string().contains(SECRET),
        "the secret is never audited"
    );
    // Another group cannot claim the domain; nor see this group's settings.
    let (_, other_admin_email) = other.add_agent(pool, "chief", "admin", &[]).await?;
    let other_admin = http.with_token(&http.login(&other_admin_email, PASSWORD).await?);
    let (status, body) = other_admin
        .put("/api/v1/sso/settings", &settings(&provider.issuer, true))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["fields"]["email_domains"].is_string());
    let (status, _) = other_admin.get("/api/v1/sso/settings").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = http
        .get("/api/v1/auth/sso/lookup?email=someone@OKTA-staff.example")
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "sso": true, "display_name": "Okta", "password_sign_in": true })
    );

    let (_, doc) = http.get("/api/openapi.json").await?;
    for path in [
        "/api/v1/auth/sso/lookup",
        "/api/v1/auth/sso/start",
        "/api/v1/auth/sso/callback",
        "/api/v1/auth/sso/backchannel-logout/{group}",
        "/api/v1/sso/settings",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} in the OpenAPI document"
        );
    }

    // --- The first sign-in makes the agent with the mapped role and rooftops ----------------
    browser_phase(&stack, &provider, t.group, &admin_email, "1").await?;
    let (rosa, role): (Uuid, String) = sqlx::query_as(
        "SELECT id, role FROM agents WHERE group_id = $1 AND email = 'rosa@okta-staff.example'",
    )
    .bind(t.group)
    .fetch_one(pool)
    .await?;
    assert_eq!(role, "rooftop_manager");
    let managed = showroom_rest::directory::rooftops_managed_by(pool, t.group, rosa).await?;
    assert_eq!(
        managed,
        vec![north],
        "rooftops matched by name; unknown ones ignored"
    );
    let (issuer, subject): (String, String) =
        sqlx::query_as("SELECT issuer, subject FROM agent_identities WHERE agent_id = $1")
            .bind(rosa)
            .fetch_one(pool)
            .await?;
    assert_eq!(
        (issuer.as_str(), subject.as_str()),
        (provider.issuer.as_str(), "u-rosa")
    );
    let created = audit_rows(&stack, t.group, "agent_created").await?;
    let created = created.last().expect("agent_created");
    assert_eq!(created.0, "system");
    assert_eq!(created.1.as_deref(), Some(format!("agent:{rosa}").as_str()));
    assert_eq!(created.2["source"], json!("oidc"));
    let signed_in = audit_rows(&stack, t.group, "sign_in").await?;
    let subject = format!("agent:{rosa}");
    assert!(
        signed_in
            .iter()
            .any(|r| r.1.as_deref() == Some(subject.as_str()) && r.2["method"] == json!("oidc")),
        "her sign-in is audited with method oidc"
    );

    // --- Refusals, role updates, back-channel logout, deactivation --------------------------
    browser_phase(&stack, &provider, t.group, &admin_email, "2").await?;
    let role: String = sqlx::query_scalar("SELECT role FROM agents WHERE id = $1")
        .bind(rosa)
        .fetch_one(pool)
        .await?;
    assert_eq!(role, "admin", "the role claim's change was applied");
    assert!(
        showroom_rest::directory::rooftops_managed_by(pool, t.group, rosa)
            .await?
            .is_empty()
    );
    let role_changed = audit_rows(&stack, t.group, "role_changed").await?;
    let change = role_changed.last().expect("role_changed");
    assert_eq!(change.0, "system");
    assert_eq!(change.2["before"]["role"], json!("rooftop_manager"));
    assert_eq!(change.2["after"]["role"], json!("admin"));
    let failed: Vec<String> = audit_rows(&stack, t.group, "sign_in_failed")
        .await?
        .into_iter()
        .filter(|r| r.2["method"] == json!("oidc"))
        .map(|r| r.2["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    for reason in ["state_invalid", "nonce_invalid", "role_unmapped", "denied"] {
        assert!(
            failed.iter().any(|r| r == reason),
            "{reason} audited: {failed:?}"
        );
    }
    let ned: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agents WHERE email = 'ned@okta-staff.example'")
            .fetch_one(pool)
            .await?;
    assert_eq!(ned, 0, "no agent for an unmapped role");
    let (deactivated, sessions): (bool, i64) = sqlx::query_as(
        "SELECT a.deactivated_at IS NOT NULL, \
           (SELECT count(*) FROM agent_sessions s WHERE s.agent_id = a.id) FROM agents a WHERE a.id = $1",
    )
    .bind(rosa)
    .fetch_one(pool)
    .await?;
    assert!(
        deactivated,
        "the provider's account-disabled event deactivated her"
    );
    assert_eq!(sessions, 0);
    assert!(!audit_rows(&stack, t.group, "sso_logout").await?.is_empty());
    let gone = audit_rows(&stack, t.group, "agent_deactivated").await?;
    assert_eq!(
        gone.last().expect("agent_deactivated").2["source"],
        json!("oidc")
    );

    // --- A wrong issuer is refused -----------------------------------------------------------
    // The same provider under another name: its discovery document names 127.0.0.1, not
    // localhost, so the configured issuer does not match the provider's.
    let wrong = provider.issuer.replace("127.0.0.1", "localhost");
    let (status, _) = admin
        .put("/api/v1/sso/settings", &settings(&wrong, true))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = raw
        .get(format!(
            "{}/api/v1/auth/sso/start?email=rosa@okta-staff.example",
            stack.base_url
        ))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/console?sso_error=sso_issuer_mismatch"
    );
    // With the right issuer the same start goes to the provider, with PKCE, state and nonce.
    admin
        .put("/api/v1/sso/settings", &settings(&provider.issuer, true))
        .await?;
    let r = raw
        .get(format!(
            "{}/api/v1/auth/sso/start?email=rosa@okta-staff.example",
            stack.base_url
        ))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str()?.to_string();
    assert!(to.starts_with(&provider.issuer), "{to}");
    for p in [
        "state=",
        "nonce=",
        "code_challenge=",
        "code_challenge_method=S256",
    ] {
        assert!(to.contains(p), "{p} in {to}");
    }

    // --- Password sign-in turned off --------------------------------------------------------
    let body = json!({ "email": t.agents[0].1, "password": PASSWORD }).to_string();
    let (status, _) = http.post("/api/v1/auth/login", &body).await?;
    assert_eq!(status, StatusCode::OK, "password sign-in is on");
    let (status, _) = admin
        .put("/api/v1/sso/settings", &settings(&provider.issuer, false))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = http.post("/api/v1/auth/login", &body).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], json!("password_sign_in_disabled"));
    let (status, _) = http
        .post(
            "/api/v1/auth/login",
            &json!({ "email": admin_email, "password": PASSWORD }).to_string(),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins too");
    // A wrong password learns nothing more than before.
    let (status, v) = http
        .post(
            "/api/v1/auth/login",
            &json!({ "email": t.agents[0].1, "password": "wrong password!" }).to_string(),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], json!("invalid_credentials"));
    // Another group's password sign-in is untouched.
    http.login(&other.agents[0].1, PASSWORD).await?;
    let (_, body) = http
        .get("/api/v1/auth/sso/lookup?email=x@okta-staff.example")
        .await?;
    assert_eq!(body["password_sign_in"], json!(false));
    let failed = audit_rows(&stack, t.group, "sign_in_failed").await?;
    assert!(
        failed
            .iter()
            .any(|r| r.2["reason"] == json!("password_sign_in_disabled")),
        "the refused password sign-in is audited"
    );

    // A back-channel logout for a group without a provider, or not a JWT: 4xx with JSON.
    let r = raw
        .post(format!(
            "{}/api/v1/auth/sso/backchannel-logout/{}",
            stack.base_url, other.group
        ))
        .form(&[("logout_token", "a.b.c")])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = raw
        .post(format!(
            "{}/api/v1/auth/sso/backchannel-logout/{}",
            stack.base_url, t.group
        ))
        .form(&[("logout_token", "not-a-jwt")])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await?;
    assert_eq!(v["error"]["code"], json!("invalid_logout_token"));
    drop(provider);
    stack.stop().await
}
