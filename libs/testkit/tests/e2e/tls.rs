//! TLS on every connection: with NATS (`tls://`, TLS required), Postgres
//! (`sslmode=verify-full`) and Redis (`rediss://`) each serving a certificate from a CA made for
//! the test, a whole chat works and every service connection is encrypted; a service given the
//! wrong CA for any of them stops at start with an error that names the server and the reason.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use showroom_config::Secret;
use showroom_testkit::{Service, Stack, Tenant, accepted_chat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// `CLIENT LIST` from Redis's plain port: one line per connection.
async fn redis_clients(port: u16) -> anyhow::Result<Vec<String>> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"CLIENT LIST\r\n").await?;
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await??;
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        // `$<len>\r\n<len bytes>\r\n`
        if let Some((head, rest)) = text.split_once("\r\n")
            && let Ok(len) = head.trim_start_matches('$').parse::<usize>()
            && rest.len() >= len
        {
            return Ok(rest[..len].lines().map(str::to_string).collect());
        }
        anyhow::ensure!(n > 0 && Instant::now() < deadline, "short reply: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_chat_runs_with_nats_postgres_and_redis_on_tls() -> anyhow::Result<()> {
    let stack = Stack::start_tls().await?;
    assert!(stack.nats_url().starts_with("tls://"));
    let t = Tenant::seed(&stack.pool, "Secure", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut w, &mut agent, t.sales).await?;
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": "s1", "text": "Over TLS?"}))
        .await?;
    assert_eq!(ack["seq"], 1, "{ack}");
    let got = agent.recv_type("message").await?;
    assert_eq!(got["message"]["text"], "Over TLS?");
    let ack = agent
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1", "text": "All the way."}))
        .await?;
    assert_eq!(ack["seq"], 2, "{ack}");
    let got = w
        .recv_matching("message", |m| m["message"]["seq"] == 2)
        .await?;
    assert_eq!(got["message"]["text"], "All the way.");

    // Every connection to Postgres is encrypted (the services', the test's own).
    let (count, all_ssl): (i64, Option<bool>) = showroom_store::sqlx::query_as(
        "SELECT count(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = 'showroom' AND a.backend_type = 'client backend'",
    )
    .fetch_one(&stack.pool)
    .await?;
    assert!(count >= 7, "{count} connections");
    assert_eq!(all_ssl, Some(true), "a Postgres connection without TLS");
    // And to NATS (the server requires it; every connection says its TLS version).
    let connz: Value = reqwest::get(format!("{}/connz?limit=1000", stack.nats.monitor_url))
        .await?
        .json()
        .await?;
    let conns = connz["connections"].as_array().cloned().unwrap_or_default();
    assert!(conns.len() >= 8, "{connz}");
    for c in &conns {
        assert!(
            c["tls_version"].as_str().is_some_and(|v| !v.is_empty()),
            "a NATS connection without TLS: {c}"
        );
    }
    // And presence's to Redis is on the TLS port (the plain one is there for the probe only).
    let tls_port = stack.redis.tls_port.unwrap_or_default();
    let clients = redis_clients(stack.redis.port).await?;
    let on_tls = clients
        .iter()
        .filter(|c| c.contains(&format!("laddr=127.0.0.1:{tls_port} ")))
        .count();
    let on_plain = clients
        .iter()
        .filter(|c| c.contains(&format!("laddr=127.0.0.1:{} ", stack.redis.port)))
        .count();
    assert!(on_tls >= 1, "{clients:?}");
    assert_eq!(
        on_plain, 1,
        "only this probe uses the plain port: {clients:?}"
    );
    stack.stop().await
}

/// Starts a router with these shared settings.
fn router(
    common: showroom_config::Common,
) -> impl FnOnce(
    CancellationToken,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<showroom_runtime::Running>> + Send>,
> {
    move |token| {
        Box::pin(showroom_router::start(
            showroom_router::Config {
                common,
                ..Default::default()
            },
            token,
        ))
    }
}

/// Starts a service with `config`; answers its start error, which must come within 10 s.
async fn refused<F, Fut>(start: F) -> anyhow::Result<String>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<showroom_runtime::Running>>,
{
    let began = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), start(CancellationToken::new()))
        .await
        .map_err(|_| anyhow::anyhow!("still trying after 10 s: a retry loop"))?;
    match result {
        Ok(running) => {
            running.stop().await?;
            anyhow::bail!("started with the wrong CA");
        }
        Err(e) => {
            assert!(began.elapsed() < Duration::from_secs(10));
            Ok(format!("{e:#}"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_ca_stops_a_service_at_start_naming_the_server() -> anyhow::Result<()> {
    let stack = Stack::start_tls().await?;
    let tls = stack.tls.clone().expect("a TLS stack");
    let dir = tempfile::tempdir()?;
    let stranger = showroom_testkit::tls::stranger_ca(dir.path(), "stranger")?;
    let certificate = |e: &str| e.to_lowercase().contains("certificate");

    // NATS.
    let mut common = stack.common(Service::Router);
    common.nats_ca = Some(stranger.clone());
    let e = refused(router(common)).await?;
    assert!(
        e.contains(&format!("cannot connect to NATS at {}", stack.nats_url())) && certificate(&e),
        "{e}"
    );

    // Postgres.
    let mut common = stack.common(Service::Router);
    common.database_url = Secret::new(stack.database_url().replace(
        &tls.ca.display().to_string(),
        &stranger.display().to_string(),
    ));
    let e = refused(router(common)).await?;
    assert!(
        e.contains(&format!(
            "connecting to Postgres at 127.0.0.1:{}/showroom",
            stack.pg.port
        )) && certificate(&e),
        "{e}"
    );
    assert!(
        !e.contains("sslrootcert"),
        "the URL stays out of the message: {e}"
    );

    // Redis.
    let e = refused(|token| {
        showroom_presence::start(
            showroom_presence::Config {
                common: stack.common(Service::Presence),
                redis_url: stack.redis_url(),
                redis_ca: Some(stranger.clone()),
                ..Default::default()
            },
            token,
        )
    })
    .await?;
    assert!(
        e.contains(&format!(
            "connecting to Redis at 127.0.0.1:{}",
            stack.redis.tls_port.unwrap_or_default()
        )) && certificate(&e),
        "{e}"
    );
    stack.stop().await?;

    // The right CA, but a certificate for another host: refused too.
    let other = showroom_testkit::tls::server_files_for(
        &dir.path().join("other"),
        &["nats.other.example"],
    )?;
    let config = format!(
        "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
        other.cert.display().to_string(),
        other.key.display().to_string()
    );
    let nats = showroom_localinfra::Nats::start_with(None, Some(&config)).await?;
    let login = showroom_bus::Login {
        name: "test",
        creds: None,
        ca: Some(&other.ca),
    };
    let url = nats.url.replacen("nats://", "tls://", 1);
    let e = match showroom_bus::client(&url, login).await {
        Ok(_) => anyhow::bail!("connected to a certificate for another host"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&url) && e.contains("not valid for name"), "{e}");
    Ok(())
}
