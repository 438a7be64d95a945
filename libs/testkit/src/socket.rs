//! A WebSocket client that speaks JSON frames.

use std::time::Duration;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

/// A connected socket.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while looking for another type, kept in order.
    backlog: Vec<Value>,
}

/// Why an upgrade was refused: its status and JSON body.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON (or `Null`).
    pub body: Value,
}

impl Socket {
    /// Connects with extra headers (`Origin`, `Cookie`, `Authorization`).
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Socket, Refused> {
        let mut req = url.into_client_request().map_err(|e| Refused {
            status: 0,
            body: json!(e.to_string()),
        })?;
        for (k, v) in headers {
            let value = HeaderValue::from_str(v).map_err(|e| Refused {
                status: 0,
                body: json!(e.to_string()),
            })?;
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Refused {
                status: 0,
                body: json!(e.to_string()),
            })?;
            req.headers_mut().insert(name, value);
        }
        match tokio_tungstenite::connect_async_with_config(req, None, true).await {
            Ok((ws, _)) => Ok(Socket {
                ws,
                backlog: Vec::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err(Refused { status, body })
            }
            Err(e) => Err(Refused {
                status: 0,
                body: json!(e.to_string()),
            }),
        }
    }

    /// A widget socket for `key` from `origin`.
    pub async fn widget(ws_base: &str, key: &str, origin: &str) -> anyhow::Result<Socket> {
        Self::connect(
            &format!("{ws_base}/ws/widget?key={key}"),
            &[("Origin", origin)],
        )
        .await
        .map_err(|r| anyhow::anyhow!("widget refused: {r:?}"))
    }

    /// A console socket with a session token.
    pub async fn console(ws_base: &str, token: &str) -> anyhow::Result<Socket> {
        let auth = format!("Bearer {token}");
        Self::connect(
            &format!("{ws_base}/ws/console"),
            &[("Authorization", &auth)],
        )
        .await
        .map_err(|r| anyhow::anyhow!("console refused: {r:?}"))
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, v: Value) -> anyhow::Result<()> {
        self.send_text(&v.to_string()).await
    }

    /// Sends raw text (for malformed-frame tests).
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .context("socket send")
    }

    /// Writes the header of a masked text frame that says it holds `len` bytes, and none of
    /// them: how a test shows the gateway refuses a frame too big to read on its header alone
    /// (sending the bytes would race the gateway's close: a peer that closes with unread data
    /// resets the connection, and the reset can discard its answer).
    pub async fn send_frame_header(&mut self, len: u64) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut header = vec![0x81, 0x80 | 127];
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]); // the mask key
        let raw = match self.ws.get_mut() {
            MaybeTlsStream::Plain(tcp) => tcp,
            _ => anyhow::bail!("raw frame headers only on plain sockets"),
        };
        raw.write_all(&header).await.context("socket write")?;
        raw.flush().await.context("socket flush")
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.ws
            .send(Message::Binary(data.to_vec().into()))
            .await
            .context("socket send")
    }

    /// The next frame (from the backlog first), waiting at most `wait`. `None` on time-out;
    /// an error when the socket closed.
    pub async fn next_within(&mut self, wait: Duration) -> anyhow::Result<Option<Value>> {
        if !self.backlog.is_empty() {
            return Ok(Some(self.backlog.remove(0)));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => anyhow::bail!("socket closed"),
                Ok(Some(m)) => m.context("socket read")?,
            };
            match msg {
                Message::Text(t) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Message::Close(f) => anyhow::bail!("socket closed: {f:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame of type `ty`, keeping others for later reads.
    pub async fn recv_type(&mut self, ty: &str) -> anyhow::Result<Value> {
        if let Some(i) = self.backlog.iter().position(|v| v["type"] == ty) {
            return Ok(self.backlog.remove(i));
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => anyhow::bail!(
                    "no `{ty}` frame within {WAIT:?}; got meanwhile: {:?}",
                    self.backlog
                ),
                Ok(None) => anyhow::bail!("socket closed while waiting for `{ty}`"),
                Ok(Some(m)) => m.context("socket read")?,
            };
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str())?;
                if v["type"] == ty {
                    return Ok(v);
                }
                self.backlog.push(v);
            }
        }
    }

    /// The next frame of type `ty` for which `pred` holds; frames of that type that do not
    /// match are dropped (others are kept).
    pub async fn recv_matching(
        &mut self,
        ty: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no matching `{ty}` frame within {WAIT:?}"
            );
            let v = self.recv_type(ty).await?;
            if pred(&v) {
                return Ok(v);
            }
        }
    }

    /// Asserts no frame of type `ty` arrives within `wait` (others are kept).
    pub async fn expect_silence(&mut self, ty: &str, wait: Duration) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.backlog.iter().any(|v| v["type"] == ty),
            "unexpected `{ty}` frame: {:?}",
            self.backlog
        );
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(()),
                Ok(None) => return Ok(()),
                Ok(Some(m)) => {
                    if let Message::Text(t) = m.context("socket read")? {
                        let v: Value = serde_json::from_str(t.as_str())?;
                        anyhow::ensure!(v["type"] != ty, "unexpected `{ty}` frame: {v}");
                        self.backlog.push(v);
                    }
                }
            }
        }
    }

    /// Sends `frame` and returns the answer that carries the same `ref` (or an error frame).
    /// The ref is new, so no frame in the backlog can carry it: only frames read from here on
    /// are looked at (a benchmark's socket keeps thousands of echoes in its backlog).
    pub async fn ask(&mut self, mut frame: Value) -> anyhow::Result<Value> {
        let r = format!("r{}", uuid::Uuid::new_v4().simple());
        frame["ref"] = json!(r);
        self.send(frame).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => anyhow::bail!(
                    "no answer within {WAIT:?}; got meanwhile: {:?}",
                    self.backlog
                ),
                Ok(None) => anyhow::bail!("socket closed while waiting for an answer"),
                Ok(Some(m)) => m.context("socket read")?,
            };
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str())?;
                if v["ref"] == r.as_str() {
                    return Ok(v);
                }
                self.backlog.push(v);
            }
        }
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Starts a chat from `shopper` (a widget that said `hello`) in `department`, and has `agent`
/// (a console that will be offered it) accept it; answers the conversation's id.
pub async fn accepted_chat(
    shopper: &mut Socket,
    agent: &mut Socket,
    department: uuid::Uuid,
) -> anyhow::Result<String> {
    let started = shopper
        .ask(json!({"type": "start", "department_id": department}))
        .await?;
    anyhow::ensure!(started["type"] == "started", "{started}");
    let conv = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    agent.recv_type("offer").await?;
    let accepted = agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    anyhow::ensure!(accepted["type"] == "accepted", "{accepted}");
    Ok(conv)
}
