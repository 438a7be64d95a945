//! The WebSocket upgrade and the socket it gives, done here rather than by axum's
//! `WebSocketUpgrade` so that the gateway writes frames itself (see [`send`]).
//!
//! Why: tungstenite frames every outgoing message into one write buffer that keeps its
//! capacity for the socket's life. A widget's `welcome` (the website's departments, bot, forms
//! and look: a few KB) therefore left a few KB per idle socket behind. axum's socket can only
//! send whole messages; this one sends a long text as fragments of at most
//! [`FRAGMENT_BYTES`] (RFC 6455 §5.4, which every browser and client library reassembles), so
//! the buffer never grows past one fragment.
//!
//! The handshake is RFC 6455's over HTTP/1.1 (`Connection: upgrade`, `Upgrade: websocket`,
//! `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Key`); a request that is not one is refused with
//! a JSON error (`docs/protocol.md`, "Conventions") before anything else is checked.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::SinkExt;
use futures::stream::SplitSink;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use showroom_rest::error::ApiError;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::{Role, WebSocketConfig};

pub use tungstenite::Message;

/// An upgraded socket.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Largest frame the gateway reads: a frame up to this is answered `too_large` and the socket
/// goes on; past it the gateway does not hold the bytes, answers `too_large` and the socket
/// closes (see `docs/protocol.md`, "Conventions").
pub const READ_LIMIT_BYTES: usize = 1 << 20;

/// The read buffer of a socket, allocated when it opens. A socket mostly idles and clients'
/// frames are small (a `hello` or a `ping` well under this, a `send` a few hundred bytes): a
/// small buffer keeps an idle socket small (tungstenite's default is 128 KiB, zero-filled, so
/// resident), and a bigger frame grows it (a chatting socket's buffer stays at its largest
/// frame).
pub const READ_BUFFER_BYTES: usize = 512;

/// The longest frame the gateway writes, header included: a longer text goes out as
/// continuation frames. The write buffer keeps this much at most (a jemalloc size class).
pub const FRAGMENT_BYTES: usize = 1024;

/// The payload of one fragment: [`FRAGMENT_BYTES`] less a server frame's header (2 bytes, and
/// 2 more for a length of 126 to 65 535; a server's frames are not masked).
const FRAGMENT_PAYLOAD: usize = FRAGMENT_BYTES - 4;

/// A checked WebSocket upgrade request.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return Err(not_websocket(
                "the `Connection` header must include `upgrade`",
            ));
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return Err(not_websocket("the `Upgrade` header must be `websocket`"));
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(b"13")
        {
            return Err(not_websocket(
                "the `Sec-WebSocket-Version` header must be `13`",
            ));
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or_else(|| not_websocket("the `Sec-WebSocket-Key` header is missing"))?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(|| {
            ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "not_upgradable",
                "this connection cannot be upgraded to a WebSocket (HTTP/1.1 is required)",
            )
        })?;
        Ok(Self { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and runs `callback` on the socket once the client has
    /// it. Frames are read up to [`READ_LIMIT_BYTES`] with a [`READ_BUFFER_BYTES`] read buffer
    /// (grown for a bigger frame), and every frame is written at once (the writer flushes each
    /// frame anyway; nothing is held to batch).
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let config = WebSocketConfig::default()
            .max_message_size(Some(READ_LIMIT_BYTES))
            .max_frame_size(Some(READ_LIMIT_BYTES))
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0);
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let socket = Socket::from_raw_socket(io, Role::Server, Some(config)).await;
                    // The socket's life is a task of its own: this one ends, and with it the
                    // room it kept for the upgrade and the callback's captures.
                    tokio::spawn(callback(socket));
                }
                Err(e) => tracing::debug!(error = %e, "a WebSocket upgrade failed"),
            }
        });
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (
                    header::SEC_WEBSOCKET_ACCEPT,
                    HeaderValue::try_from(accept).expect("base64 is a header value"),
                ),
            ],
        )
            .into_response()
    }
}

fn not_websocket(message: &str) -> ApiError {
    ApiError::bad_request(
        "not_websocket",
        format!("not a WebSocket upgrade: {message}"),
    )
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// A frame's text, shared with every socket that sends it (no copy per socket).
struct Shared(std::sync::Arc<str>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Sends one text message: in one frame up to [`FRAGMENT_BYTES`], else as fragments of it.
pub async fn send(
    sink: &mut SplitSink<Socket, Message>,
    text: std::sync::Arc<str>,
) -> Result<(), tungstenite::Error> {
    let mut frames = fragments(Bytes::from_owner(Shared(text))).peekable();
    while let Some(frame) = frames.next() {
        if frames.peek().is_some() {
            sink.feed(Message::Frame(frame)).await?;
        } else {
            sink.send(Message::Frame(frame)).await?;
        }
    }
    Ok(())
}

/// A text message's frames: the first is a text frame, the rest continuations; only the last
/// is final.
fn fragments(bytes: Bytes) -> impl Iterator<Item = Frame> {
    let count = bytes.len().div_ceil(FRAGMENT_PAYLOAD).max(1);
    (0..count).map(move |i| {
        let (at, end) = (
            i * FRAGMENT_PAYLOAD,
            ((i + 1) * FRAGMENT_PAYLOAD).min(bytes.len()),
        );
        let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
        Frame::message(bytes.slice(at..end), opcode, i + 1 == count)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_goes_out_in_fragments_no_longer_than_the_bound() {
        let text: String = "é, ".repeat(1500); // 6 000 bytes, a fragment may cut a character
        let frames: Vec<Frame> = fragments(Bytes::from(text.clone())).collect();
        assert_eq!(frames.len(), 6000usize.div_ceil(FRAGMENT_PAYLOAD));
        let mut joined = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            assert!(f.len() <= FRAGMENT_BYTES, "frame {i} is {} bytes", f.len());
            let want = if i == 0 { Data::Text } else { Data::Continue };
            assert_eq!(f.header().opcode, OpCode::Data(want));
            assert_eq!(f.header().is_final, i == frames.len() - 1);
            joined.extend_from_slice(f.payload());
        }
        assert_eq!(joined, text.as_bytes());
    }

    #[test]
    fn a_short_text_is_one_final_frame() {
        let frames: Vec<Frame> = fragments(Bytes::from_static(b"{\"type\":\"pong\"}")).collect();
        assert_eq!(frames.len(), 1);
        assert!(frames[0].header().is_final);
        assert_eq!(frames[0].header().opcode, OpCode::Data(Data::Text));
    }
}
