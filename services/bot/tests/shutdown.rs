//! The real binary: configured by environment, ready on its admin port, JSON logs off a
//! terminal, and a clean exit on SIGTERM. Every service shares this start-up and shutdown
//! sequence (`showroom-runtime`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use showroom_localinfra::{Nats, Postgres, PostgresOptions, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly() -> anyhow::Result<()> {
    let (nats, pg) = tokio::try_join!(
        Nats::start(None),
        Postgres::start(PostgresOptions::throwaway())
    )?;
    let admin = free_port()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_showroom-bot"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SHOWROOM_NATS_URL", &nats.url)
        .env("SHOWROOM_DATABASE_URL", &pg.url)
        .env("SHOWROOM_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{admin}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(&ready).send().await
            && r.status() == 200
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "bot never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pid = child.id().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await??;
    assert!(status.success(), "exit status {status:?}");

    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .await?;
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        lines.len(),
        stderr.lines().count(),
        "every log line is JSON off a terminal:\n{stderr}"
    );
    let said = |m: &str| lines.iter().any(|l| l["message"] == m);
    assert!(
        said("started") && said("shutdown requested; draining") && said("stopped"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&pg.url),
        "the database URL is a secret and never logged"
    );
    Ok(())
}
