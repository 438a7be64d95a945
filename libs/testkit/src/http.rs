//! A small JSON HTTP client for the gateway's REST API.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Talks JSON to the gateway, optionally with a session token.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl Http {
    /// A client for the gateway at `base` (e.g. `http://127.0.0.1:1234`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::new(),
            token: None,
        }
    }

    /// The same client with a bearer token.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// Sends a request; returns the status and the body as JSON (`Null` when empty, a string
    /// when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// `GET` of a file: its status and its exact bytes (no charset decoding, so a byte-order
    /// mark stays).
    pub async fn download(&self, path: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        Ok((resp.status(), resp.bytes().await?.to_vec()))
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, None).await
    }

    /// `POST` with a raw JSON body.
    pub async fn post(&self, path: &str, body: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT` with a raw JSON body.
    pub async fn put(&self, path: &str, body: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let (status, v) = self.post("/api/v1/auth/login", &body).await?;
        anyhow::ensure!(status == StatusCode::OK, "login failed: {status} {v}");
        v["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no token in {v}"))
    }
}
