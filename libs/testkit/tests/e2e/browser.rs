//! A person can chat from `/demo` to `/console`, and watch the Live Agent Status board, in a real Chromium (driven by playwright-core,
//! see `services/gateway/tests/browser/`), against the real services; and both pages run under
//! their Content-Security-Policy without a single violation (`csp.test.mjs`).

use std::time::Duration;

use showroom_testkit::{Service, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_work_in_chromium() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    showroom_rest::demo::seed(&stack.pool, &[stack.origin()]).await?;
    // `node --test` runs the files of one call in name order; the admin pages' test changes the
    // demo group (a department, an agent, a website), so it runs last, in a call of its own,
    // with the check that the console and the demo page raise no CSP violation (it logs in as
    // the manager the admin test uses, and needs no agent to take its chat).
    let batches: [&[&str]; 2] = [
        &[
            "chat",
            "board",
            "internal",
            "gate",
            "forms",
            "leads",
            "offline",
            "transfer",
            "gap",
            "files",
            "appointments",
        ],
        &["admin", "csp"],
    ];
    for batch in batches {
        let maildev = [("SHOWROOM_MAILDEV_URL", stack.smtp.web_url.clone())];
        showroom_testkit::run_browser_tests(&stack.base_url, batch, &maildev).await?;
    }
    stack.stop().await
}

/// A shopper's start while the router is away is tried again by the widget until the chat starts
/// (`busy.test.mjs`): the router is stopped, the page picks Sales, and once the widget shows its
/// busy notice (the page writes the signal file) the router starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_refused_while_the_router_is_away_is_tried_again() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    showroom_rest::demo::seed(&stack.pool, &[stack.origin()]).await?;
    stack.stop_service(Service::Router).await?;
    let dir = tempfile::tempdir()?;
    let signal = dir.path().join("refused");
    let (base, env) = (
        stack.base_url.clone(),
        [("SHOWROOM_SIGNAL_FILE", signal.display().to_string())],
    );
    let run =
        tokio::spawn(
            async move { showroom_testkit::run_browser_tests(&base, &["busy"], &env).await },
        );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !signal.exists() && !run.is_finished() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.start_service(Service::Router).await?;
    run.await??;
    stack.stop().await
}
