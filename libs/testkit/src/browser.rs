//! The browser tests' runner: `node --test` on files of `services/gateway/tests/browser`, which
//! drive Debian's Chromium with playwright-core against a stack's gateway.

use std::path::{Path, PathBuf};

/// Where the npm packages are: `$SHOWROOM_NODE_MODULES`, else the repo's `deploy/node_modules`
/// (`deploy/install.sh` puts playwright-core and oidc-provider there).
pub fn node_modules() -> PathBuf {
    std::env::var_os("SHOWROOM_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("deploy/node_modules"))
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the browser test files `names` (`chat` for `chat.test.mjs`), one at a time in that
/// order, against the gateway at `base_url`, with `env` besides `SHOWROOM_BASE_URL`,
/// `SHOWROOM_NODE_MODULES` and `SHOWROOM_SCREENSHOTS` (passed on when set). Answers the report;
/// an error holding it when a test failed, and one naming `deploy/install.sh` when Chromium or
/// playwright-core is missing.
pub async fn run_browser_tests(
    base_url: &str,
    names: &[&str],
    env: &[(&str, String)],
) -> anyhow::Result<String> {
    let modules = node_modules();
    anyhow::ensure!(
        modules.join("playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Chromium and playwright-core: run deploy/install.sh"
    );
    let dir = repo_root().join("services/gateway/tests/browser");
    let mut node = tokio::process::Command::new("node");
    node.arg("--test")
        .arg("--test-reporter=spec")
        // One file at a time: they sign in as the same few agents and change their statuses.
        .arg("--test-concurrency=1");
    for name in names {
        node.arg(dir.join(format!("{name}.test.mjs")));
    }
    node.env("SHOWROOM_BASE_URL", base_url)
        .env("SHOWROOM_NODE_MODULES", &modules)
        .env(
            "SHOWROOM_SCREENSHOTS",
            std::env::var_os("SHOWROOM_SCREENSHOTS").unwrap_or_default(),
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true);
    let out = node.output().await?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        out.status.success(),
        "browser tests {names:?} failed:\n{report}"
    );
    Ok(report)
}
