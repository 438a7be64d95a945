//! A real OpenID provider for single sign-on tests: npm `oidc-provider` run by
//! `libs/testkit/oidc/provider.mjs` (node, with `deploy/node_modules` from deploy/install.sh or
//! `SHOWROOM_NODE_MODULES`) on a free loopback port, killed when dropped. Its test account store
//! and its switches (disable an account, send a back-channel logout, issue a wrong nonce) are
//! driven over its `/test/` control API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// A client registered at the provider.
#[derive(Debug, Clone)]
pub struct OidcClient {
    /// Its client id.
    pub client_id: String,
    /// Its secret (`client_secret_basic`).
    pub client_secret: String,
    /// Where the provider may send the browser back.
    pub redirect_uri: String,
    /// Where the provider posts logout tokens, if anywhere.
    pub backchannel_logout_uri: Option<String>,
}

/// The running provider.
pub struct OidcProvider {
    /// Its issuer, e.g. `http://127.0.0.1:41234`.
    pub issuer: String,
    http: reqwest::Client,
    _child: Child,
}

impl OidcProvider {
    /// Starts the provider with these clients; ready when it printed its issuer.
    pub async fn start(clients: &[OidcClient]) -> anyhow::Result<Self> {
        let modules = crate::browser::node_modules();
        anyhow::ensure!(
            modules.join("oidc-provider/package.json").is_file(),
            "the SSO tests need npm oidc-provider in {}: run deploy/install.sh",
            modules.display()
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc/provider.mjs");
        let clients: Vec<Value> = clients
            .iter()
            .map(|c| {
                json!({
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "redirect_uris": [c.redirect_uri],
                    "backchannel_logout_uri": c.backchannel_logout_uri,
                })
            })
            .collect();
        let mut child = tokio::process::Command::new("node")
            .arg(&script)
            .env("SHOWROOM_NODE_MODULES", &modules)
            .env("OIDC_CLIENTS", serde_json::to_string(&clients)?)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting node {}", script.display()))?;
        let stdout = child.stdout.take().context("the provider's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    return Ok::<_, anyhow::Error>(issuer.trim().to_string());
                }
            }
            anyhow::bail!("the OpenID provider exited before it listened")
        })
        .await
        .context("the OpenID provider did not start within 30 s")??;
        // Keep reading its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            issuer,
            http: reqwest::Client::new(),
            _child: child,
        })
    }

    /// Adds or replaces the account `id` (`email`, `password`, `given_name`, `family_name`,
    /// `roles`, `rooftops`).
    pub async fn put_account(&self, id: &str, account: Value) -> anyhow::Result<()> {
        let r = self
            .http
            .put(format!("{}/test/accounts/{id}", self.issuer))
            .json(&account)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "put_account: {}", r.status());
        Ok(())
    }

    /// Sends every client a back-channel logout for `id`; answers the deliveries
    /// (`[{client_id, status, body, token}]`).
    pub async fn logout(&self, id: &str) -> anyhow::Result<Value> {
        self.post(&format!("/test/accounts/{id}/logout")).await
    }

    /// Disables the account `id` at the provider (no more sign-ins) and sends every client a
    /// logout token that also carries the RISC `account-disabled` event.
    pub async fn disable(&self, id: &str) -> anyhow::Result<Value> {
        self.post(&format!("/test/accounts/{id}/disable")).await
    }

    /// The next ID token the provider issues carries a nonce of its own, not the client's.
    pub async fn wrong_nonce_next(&self) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}/test/wrong-nonce", self.issuer))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "wrong_nonce_next: {}", r.status());
        Ok(())
    }

    async fn post(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.issuer))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(r.json().await?)
    }
}
