//! A person can chat from `/demo` to `/console`, and watch the Live Agent Status board, in a real Chromium (driven by playwright-core,
//! see `services/gateway/tests/browser/`), against the real services; and both pages run under
//! their Content-Security-Policy without a single violation (`csp.test.mjs`).

use std::path::PathBuf;

use showroom_testkit::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_work_in_chromium() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()?;
    // deploy/install.sh puts playwright-core in deploy/node_modules; a variable may point elsewhere.
    let modules = std::env::var_os("SHOWROOM_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("deploy/node_modules"));
    anyhow::ensure!(
        modules.join("playwright-core").is_dir()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Chromium and playwright-core: run deploy/install.sh"
    );
    let stack = Stack::start().await?;
    showroom_rest::demo::seed(&stack.pool, &[stack.origin()]).await?;
    // `node --test` runs the files of one call in name order; the admin pages' test changes the
    // demo group (a department, an agent, a website), so it runs last, in a call of its own,
    // with the check that the console and the demo page raise no CSP violation (it logs in as
    // the manager the admin test uses, and needs no agent to take its chat).
    let batches: [&[&str]; 2] = [
        &[
            "chat", "board", "internal", "gate", "forms", "leads", "offline", "transfer", "gap",
        ],
        &["admin", "csp"],
    ];
    for batch in batches {
        let mut node = tokio::process::Command::new("node");
        node.arg("--test")
            .arg("--test-reporter=spec")
            // One file at a time: they log in as the same few demo agents and change their statuses.
            .arg("--test-concurrency=1");
        for name in batch {
            node.arg(root.join(format!("services/gateway/tests/browser/{name}.test.mjs")));
        }
        let out = node
            .env("SHOWROOM_BASE_URL", &stack.base_url)
            .env("SHOWROOM_MAILDEV_URL", &stack.smtp.web_url)
            .env("SHOWROOM_NODE_MODULES", &modules)
            .env(
                "SHOWROOM_SCREENSHOTS",
                std::env::var_os("SHOWROOM_SCREENSHOTS").unwrap_or_default(),
            )
            .kill_on_drop(true)
            .output()
            .await?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "browser test failed:\n{report}");
    }
    stack.stop().await
}
