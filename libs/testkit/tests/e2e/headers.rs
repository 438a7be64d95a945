//! The edge's security headers (`services/gateway/src/headers.rs`), read through real HTTP: the
//! console's Content-Security-Policy and framing rules, what the embeddable widget and the demo
//! page get, `charset=utf-8` on text, `nosniff` and `no-store` on the API, and a `Secure`
//! session cookie by default.

use std::collections::HashMap;
use std::net::SocketAddr;

use reqwest::header::{HeaderMap, HeaderName};
use serde_json::json;
use showroom_config::Secret;
use showroom_testkit::{Http, PASSWORD, Service, Stack, Tenant};
use tokio_util::sync::CancellationToken;

/// `GET path`: the headers and the body as text.
async fn fetch(base: &str, path: &str) -> anyhow::Result<(u16, HeaderMap, String)> {
    let resp = reqwest::get(format!("{base}{path}")).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Ok((status, headers, resp.text().await?))
}

/// The value of a header, `""` when missing.
fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(HeaderName::from_bytes(name.as_bytes()).expect("a header name"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A policy's directives: name → sources.
fn directives(csp: &str) -> HashMap<String, Vec<String>> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

/// The sources of `name`, or those of `default-src` it falls back to.
fn sources<'a>(d: &'a HashMap<String, Vec<String>>, name: &str) -> &'a [String] {
    d.get(name)
        .or_else(|| d.get("default-src"))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Markup that would need `'unsafe-inline'`: an inline script, an event handler attribute, a
/// `javascript:` URL, a `style` attribute or block.
fn inline_code(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for tag in lower.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name = tag.split_whitespace().next().unwrap_or("");
        if name == "script" && !tag.contains(" src=") {
            found.push(format!("inline <{tag}>"));
        }
        if name == "style" {
            found.push("a <style> block".into());
        }
        for attr in tag.split_whitespace().skip(1) {
            let attr_name = attr.split('=').next().unwrap_or("");
            if attr.contains('=') && (attr_name.starts_with("on") || attr_name == "style") {
                found.push(format!("attribute {attr} in <{name}>"));
            }
        }
    }
    if lower.contains("javascript:") {
        found.push("a javascript: URL".into());
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_runs_only_its_own_code_and_is_never_framed() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let base = &stack.base_url;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/main.js", "javascript"),
        ("/console/admin/photo.js", "javascript"),
        ("/console.css", "text/css"),
        ("/admin.css", "text/css"),
    ] {
        let (status, h, body) = fetch(base, path).await?;
        assert_eq!(status, 200, "{path}");
        let csp = header(&h, "content-security-policy");
        let d = directives(csp);
        assert_eq!(
            sources(&d, "script-src"),
            ["'self'"],
            "{path}: scripts from the gateway only: {csp}"
        );
        for (name, want) in [
            ("frame-ancestors", "'none'"),
            ("object-src", "'none'"),
            ("base-uri", "'none'"),
            ("form-action", "'self'"),
            ("connect-src", "'self'"),
        ] {
            assert_eq!(
                d.get(name).map(Vec::as_slice),
                Some(&[want.to_string()][..]),
                "{path}: {name} in {csp}"
            );
        }
        assert!(
            !csp.contains("unsafe-"),
            "{path}: no unsafe-inline or unsafe-eval: {csp}"
        );
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&h, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&h, "referrer-policy"), "same-origin", "{path}");
        let ct = header(&h, "content-type");
        assert!(
            ct.contains(kind) && ct.ends_with("; charset=utf-8"),
            "{path}: {ct}"
        );
        if path == "/console" {
            assert_eq!(
                inline_code(&body),
                Vec::<String>::new(),
                "console.html needs 'unsafe-inline'"
            );
        }
    }
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_widget_loads_on_any_origin_in_utf8_and_the_demo_page_allows_only_it()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let base = &stack.base_url;

    let (status, h, body) = fetch(base, "/widget.js").await?;
    assert_eq!(status, 200);
    let ct = header(&h, "content-type");
    assert!(
        [
            "text/javascript; charset=utf-8",
            "application/javascript; charset=utf-8"
        ]
        .contains(&ct),
        "widget.js is served as {ct}"
    );
    assert_eq!(header(&h, "cross-origin-resource-policy"), "cross-origin");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    // Read as UTF-8 (what the charset says), the close button is "×", never "Ã—".
    assert!(body.contains("'×'") && !body.contains("Ã—"));

    let (status, h, html) = fetch(base, "/demo").await?;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    let csp = header(&h, "content-security-policy");
    let d = directives(csp);
    assert_eq!(sources(&d, "script-src"), ["'self'"], "{csp}");
    assert_eq!(sources(&d, "connect-src"), ["'self'"], "{csp}");
    assert_eq!(sources(&d, "style-src"), ["'self'"], "{csp}");
    assert_eq!(sources(&d, "frame-ancestors"), ["'none'"], "{csp}");
    assert!(!csp.contains("unsafe-"), "{csp}");
    assert_eq!(
        inline_code(&html),
        Vec::<String>::new(),
        "demo.html needs 'unsafe-inline'"
    );
    // What the page loads is what its policy allows: the gateway's own files.
    assert!(html.contains(r#"<script src="/widget.js""#));
    let (status, h, _) = fetch(base, "/demo.css").await?;
    assert_eq!(
        (status, header(&h, "content-type")),
        (200, "text/css; charset=utf-8")
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_answers_are_never_sniffed_nor_stored_but_headshots_keep_their_cache_rule()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Headers", 1).await?;
    let base = &stack.base_url;
    let token = Http::new(base).login(&t.agents[0].1, PASSWORD).await?;
    let client = reqwest::Client::new();

    // Without a session, with one, and the OpenAPI document.
    let anonymous = client.get(format!("{base}/api/v1/me")).send().await?;
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await?;
    let openapi = client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await?;
    for (what, resp, no_store) in [
        ("401", anonymous, true),
        ("me", me, true),
        ("openapi", openapi, false),
    ] {
        let h = resp.headers();
        assert!(
            header(h, "content-type").starts_with("application/json"),
            "{what}"
        );
        assert_eq!(header(h, "x-content-type-options"), "nosniff", "{what}");
        assert_eq!(
            header(h, "content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'",
            "{what}"
        );
        if no_store {
            assert_eq!(header(h, "cache-control"), "no-store", "{what}");
        }
    }

    // A headshot is public and revalidated by ETag: it keeps its own rule.
    let put = client
        .put(format!("{base}/api/v1/me/photo"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(crate::admin::png(222, 222, [40, 90, 160]))
        .send()
        .await?;
    assert_eq!(put.status(), 200);
    let url: serde_json::Value = put.json().await?;
    let url = url["photo_url"].as_str().expect("photo_url").to_string();
    let photo = client.get(format!("{base}{url}")).send().await?;
    assert_eq!(photo.status(), 200);
    let etag = header(photo.headers(), "etag").to_string();
    for resp in [
        photo,
        client
            .get(format!("{base}{url}"))
            .header("if-none-match", etag)
            .send()
            .await?,
    ] {
        let h = resp.headers();
        assert_eq!(
            header(h, "cache-control"),
            "public, no-cache",
            "{}",
            resp.status()
        );
        assert_eq!(header(h, "x-content-type-options"), "nosniff");
        assert_eq!(header(h, "cross-origin-resource-policy"), "cross-origin");
    }
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_session_cookie_is_secure_unless_the_gateway_is_told_otherwise() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Cookies", 1).await?;
    let login = json!({"email": t.agents[0].1, "password": PASSWORD});
    let cookie_of = |base: String| {
        let login = login.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{base}/api/v1/auth/login"))
                .json(&login)
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 200, "login: {}", resp.status());
            Ok::<_, anyhow::Error>(header(resp.headers(), "set-cookie").to_string())
        }
    };

    // A second gateway beside the stack's, configured as production is: the defaults.
    let token = CancellationToken::new();
    let config = showroom_gateway::Config {
        common: stack.common(Service::Gateway),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        visitor_token_secret: Secret::new("headers-test-visitor-secret-0123456789"),
        ..Default::default()
    };
    let running = showroom_gateway::start(config, token).await?;
    let addr = running.http_addr.expect("an http address");
    let secure = cookie_of(format!("http://{addr}")).await?;
    assert!(
        secure.starts_with("showroom_session=") && secure.contains("; Secure"),
        "by default the session cookie is Secure: {secure}"
    );
    running.stop().await?;

    // The test kit's gateway serves plain http on loopback, with SHOWROOM_SECURE_COOKIES=false.
    let plain = cookie_of(stack.base_url.clone()).await?;
    assert!(
        plain.starts_with("showroom_session=") && !plain.contains("Secure"),
        "{plain}"
    );
    stack.stop().await
}
