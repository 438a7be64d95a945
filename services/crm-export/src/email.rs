//! ADF e-mails over SMTP: a text/plain body holding only the XML, a subject with the
//! dealership's name, and a `Message-ID` made from the delivery id, so a resend (after a crash,
//! or a redelivery) is recognisably the same e-mail.
//!
//! **Connections.** Every e-mail goes through the one SMTP server of `SHOWROOM_SMTP_URL`, over
//! a small pool of connections kept open ([`Pool`]): a connection greets once (EHLO, STARTTLS,
//! AUTH) and then carries e-mails one after another. Its socket is connected here, with
//! `TCP_NODELAY`: lettre writes a message and its final `.` in two writes, and without it
//! Nagle's algorithm holds the `.` until the server's delayed ACK, about 40 ms per e-mail.
//! (`smtps://`, TLS from the first byte, is connected by lettre itself, without `TCP_NODELAY`:
//! lettre takes an existing socket only before TLS.)
//!
//! **Pipelining.** When the server offers `PIPELINING` (RFC 2920), an e-mail takes two round
//! trips instead of four: `MAIL FROM`, `RCPT TO` and `DATA` go in one write and their three
//! answers are read together, then the body and its final `.` go in one write. A server that
//! does not offer it gets the commands one at a time, as lettre sends them. Either way a failed
//! e-mail closes its connection (its answers may be out of step), as lettre does.
//!
//! **Stale connections.** A server may close a connection that sat idle (its own time-out, a
//! restart). A connection idle for longer than [`CHECK_AFTER`] is checked with a `NOOP` before
//! it is used; and when an e-mail fails on a reused connection without any answer from the
//! server (the socket was closed under it), it is sent once more over a new connection. The
//! receiver may then see it twice, with the same `Message-ID`, as after a crash.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::{Address, address::Envelope};
use uuid::Uuid;

use crate::answer::Answer;

/// A pooled connection idle for longer than this is checked (`NOOP`) before it is used.
pub const CHECK_AFTER: Duration = Duration::from_secs(2);
/// A pooled connection idle for longer than this is closed instead of used (servers commonly
/// drop idle clients after a minute).
pub const IDLE_FOR: Duration = Duration::from_secs(50);

/// The SMTP server and the sender.
pub struct Mailer {
    pool: Pool,
    from: Mailbox,
    domain: String,
}

/// Why the mailer cannot be built (the URL is never repeated: it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The SMTP URL is not one lettre reads.
    #[error(
        "the SMTP URL is not valid: use smtp://host:port, smtp://host:port?tls=required or smtps://host:port"
    )]
    Url,
    /// The sender is not an address.
    #[error("the sender {0:?} is not an e-mail address")]
    From(String),
}

/// Where and how to connect, read from `SHOWROOM_SMTP_URL` as lettre reads such a URL
/// (`AsyncSmtpTransport::from_url`): `smtp://` plain (port 25), `?tls=required` or
/// `?tls=opportunistic` STARTTLS (587), `smtps://` TLS (465), `user:password@` for AUTH, a
/// path for the EHLO name.
#[derive(Clone)]
struct Server {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl Server {
    fn parse(url: &str) -> Result<Self, MailerError> {
        let url = url::Url::parse(url).map_err(|_| MailerError::Url)?;
        let host = url.host_str().ok_or(MailerError::Url)?.to_string();
        let tls_param = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        let params = || TlsParameters::new(host.clone()).map_err(|_| MailerError::Url);
        let (port, tls) = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (25, Tls::None),
            ("smtp", Some("required")) => (587, Tls::Required(params()?)),
            ("smtp", Some("opportunistic")) => (587, Tls::Opportunistic(params()?)),
            ("smtps", _) => (465, Tls::Wrapper(params()?)),
            _ => return Err(MailerError::Url),
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_string()),
        };
        let credentials = match url.password() {
            Some(password) => {
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|_| MailerError::Url)
                };
                Some(Credentials::new(decode(url.username())?, decode(password)?))
            }
            None => None,
        };
        Ok(Self {
            port: url.port().unwrap_or(port),
            host,
            tls,
            credentials,
            hello,
        })
    }

    /// A new connection, greeted (and encrypted and authenticated, as the URL says), and
    /// whether its server offers `PIPELINING`.
    async fn connect(&self) -> Result<Conn, Failure> {
        let mut conn = if let Tls::Wrapper(params) = &self.tls {
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                None,
                &self.hello,
                Some(params.clone()),
                None,
            )
            .await?
        } else {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(Failure::Connect)?;
            tcp.set_nodelay(true).map_err(Failure::Connect)?;
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
            match &self.tls {
                Tls::Required(params) => conn.starttls(params.clone(), &self.hello).await?,
                Tls::Opportunistic(params) if conn.can_starttls() => {
                    conn.starttls(params.clone(), &self.hello).await?
                }
                _ => {}
            }
            conn
        };
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        // lettre keeps only the extensions it uses from the greeting, so ask again (once per
        // connection) whether the server takes pipelined commands.
        let ehlo = conn.command(Ehlo::new(self.hello.clone())).await?;
        let pipelining = ehlo.message().any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case("PIPELINING"))
        });
        Ok(Conn {
            smtp: conn,
            pipelining,
        })
    }
}

/// An open SMTP connection, and whether its server offers `PIPELINING`.
struct Conn {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

impl Conn {
    /// Sends one e-mail: pipelined when the server offers it (and the e-mail and its addresses
    /// are ASCII, as ADF e-mails are: lettre encodes their bodies), else as lettre sends it. On
    /// any error the connection is closed (`has_broken`), never reused.
    async fn send(
        &mut self,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Response, lettre::transport::smtp::Error> {
        let ascii = email.is_ascii()
            && envelope
                .from()
                .into_iter()
                .chain(envelope.to())
                .all(|a: &Address| AsRef::<str>::as_ref(a).is_ascii());
        if !(self.pipelining && ascii) {
            return self.smtp.send(envelope, email).await;
        }
        let result = send_pipelined(&mut self.smtp, envelope, email).await;
        if result.is_err() {
            self.smtp.abort().await;
        }
        result
    }
}

/// Sends one e-mail pipelined (RFC 2920): `MAIL`, `RCPT` and `DATA` in one write, their
/// answers read in order; then the body with its dots doubled and the final `.` in one write
/// (what lettre's codec does, in one go). For a server that offers `PIPELINING`, and an ASCII
/// `email` with ASCII addresses; after an error the connection's answers may be out of step, so
/// it must not be used again.
pub async fn send_pipelined(
    smtp: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Response, lettre::transport::smtp::Error> {
    let mut commands = Mail::new(envelope.from().cloned(), vec![]).to_string();
    for to in envelope.to() {
        commands.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
    }
    commands.push_str(&Data.to_string());
    smtp.command(commands).await?;
    for _ in envelope.to() {
        smtp.read_response().await?;
    }
    smtp.read_response().await?;
    smtp.command(with_dots_doubled(&String::from_utf8_lossy(email)))
        .await
}

/// The body as SMTP's `DATA` carries it (RFC 5321 §4.5.2): a `.` that starts a line doubled,
/// then the final `.` on a line of its own.
fn with_dots_doubled(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16);
    if body.starts_with('.') {
        out.push('.');
    }
    out.push_str(&body.replace("\r\n.", "\r\n.."));
    out.push_str("\r\n.\r\n");
    out
}

/// Connections kept open to the SMTP server: at most `keep` idle ones; as many in use as there
/// are e-mails being sent (the worker's attempt slots bound them).
struct Pool {
    server: Server,
    timeout: Duration,
    keep: usize,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

/// Why an e-mail was not sent.
#[derive(Debug)]
enum Failure {
    /// What lettre said (the server's refusal, or the conversation broke).
    Smtp(lettre::transport::smtp::Error),
    /// The TCP connection could not be made.
    Connect(std::io::Error),
    /// The whole send took longer than the time-out.
    TimedOut,
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        Failure::Smtp(e)
    }
}

/// How a send went on one connection.
enum Sent {
    Ok(Response),
    /// Failed; `answered` says whether the server said anything about this e-mail.
    Err {
        error: lettre::transport::smtp::Error,
        answered: bool,
    },
}

impl Pool {
    /// An idle connection (checked when it sat for a while), or `None` for a new one.
    async fn take(&self) -> Option<Conn> {
        loop {
            let (mut conn, since) = self.idle.lock().ok()?.pop()?;
            let idle = since.elapsed();
            if idle > IDLE_FOR || conn.smtp.has_broken() {
                conn.smtp.abort().await;
                continue;
            }
            if idle > CHECK_AFTER && !conn.smtp.test_connected().await {
                conn.smtp.abort().await;
                continue;
            }
            return Some(conn);
        }
    }

    /// Gives a connection back for the next e-mail, or closes it when enough are idle.
    async fn put(&self, mut conn: Conn) {
        if conn.smtp.has_broken() {
            conn.smtp.abort().await;
            return;
        }
        let conn = match self.idle.lock() {
            Ok(mut idle) if idle.len() < self.keep => {
                idle.push((conn, Instant::now()));
                return;
            }
            _ => conn,
        };
        let mut conn = conn;
        let _ = conn.smtp.quit().await;
    }

    async fn send_on(&self, conn: &mut Conn, envelope: &Envelope, email: &[u8]) -> Sent {
        match conn.send(envelope, email).await {
            Ok(r) => Sent::Ok(r),
            Err(error) => Sent::Err {
                answered: error.status().is_some(),
                error,
            },
        }
    }

    /// Sends one e-mail within the time-out: over a pooled connection, or a new one; once more
    /// over a new one when a pooled connection turned out to be closed.
    async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, Failure> {
        let attempt = async {
            if let Some(mut conn) = self.take().await {
                match self.send_on(&mut conn, envelope, email).await {
                    Sent::Ok(r) => {
                        self.put(conn).await;
                        return Ok(r);
                    }
                    Sent::Err { error, answered } => {
                        if answered && !conn.smtp.has_broken() {
                            // The server refused this e-mail; the connection is fine.
                            self.put(conn).await;
                            return Err(error.into());
                        }
                        if answered {
                            return Err(error.into());
                        }
                        // No answer: the connection was closed under us; a new one below.
                        tracing::debug!(error = %error, "pooled SMTP connection was closed; reconnecting");
                        conn.smtp.abort().await;
                    }
                }
            }
            let mut conn = self.server.connect().await?;
            match self.send_on(&mut conn, envelope, email).await {
                Sent::Ok(r) => {
                    self.put(conn).await;
                    Ok(r)
                }
                Sent::Err { error, .. } => {
                    self.put(conn).await;
                    Err(error.into())
                }
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            // The connection in use is dropped with the future: never reused half-way.
            Err(_) => Err(Failure::TimedOut),
        }
    }
}

impl Mailer {
    /// A mailer for `url`, sending as `from`, each e-mail limited to `timeout`, keeping up to
    /// `keep` connections open between e-mails.
    pub fn new(url: &str, from: &str, timeout: Duration, keep: usize) -> Result<Self, MailerError> {
        let server = Server::parse(url)?;
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailerError::From(from.to_string()))?;
        let domain = from.email.domain().to_string();
        Ok(Self {
            pool: Pool {
                server,
                timeout,
                keep: keep.max(1),
                idle: Mutex::new(Vec::new()),
            },
            from,
            domain,
        })
    }

    /// The `Message-ID` of a delivery: the same on every attempt.
    pub fn message_id(&self, delivery: Uuid) -> String {
        format!("<{delivery}@{}>", self.domain)
    }

    /// Connections open and idle now (for tests).
    pub fn idle_connections(&self) -> usize {
        self.pool.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Sends `xml` to `to` as the delivery's e-mail.
    pub async fn send(&self, delivery: Uuid, to: &str, subject: &str, xml: String) -> Answer {
        let to: Address = match to.parse() {
            Ok(a) => a,
            Err(_) => return Answer::permanent(None, "the destination's address is not valid"),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(one_line(subject))
            .message_id(Some(self.message_id(delivery)))
            .header(ContentType::TEXT_PLAIN)
            .body(xml);
        let message = match message {
            Ok(m) => m,
            Err(e) => return Answer::permanent(None, format!("cannot build the e-mail: {e}")),
        };
        match self
            .pool
            .send(message.envelope(), &message.formatted())
            .await
        {
            Ok(response) => Answer::Delivered {
                code: response.code().to_string().parse().ok(),
            },
            Err(Failure::TimedOut) => {
                Answer::failed(None, "the SMTP server did not answer in time", None)
            }
            Err(Failure::Connect(e)) => {
                Answer::failed(None, format!("SMTP: connection: {e}"), None)
            }
            Err(Failure::Smtp(e)) => {
                let code = e.status().and_then(|c| c.to_string().parse().ok());
                let error = if e.is_timeout() {
                    "the SMTP server did not answer in time".to_string()
                } else {
                    format!("SMTP: {e}")
                };
                if e.is_permanent() {
                    Answer::permanent(code, error)
                } else {
                    Answer::failed(code, error, None)
                }
            }
        }
    }
}

/// A subject on one line, at most 200 characters (control characters become spaces).
fn one_line(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_that_start_a_line_are_doubled() {
        assert_eq!(
            with_dots_doubled("a\r\n.b\r\nc.d"),
            "a\r\n..b\r\nc.d\r\n.\r\n"
        );
        assert_eq!(with_dots_doubled(".\r\n."), "..\r\n..\r\n.\r\n");
        assert_eq!(
            with_dots_doubled("x\n.y"),
            "x\n.y\r\n.\r\n",
            "a bare LF is not a line end"
        );
    }

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("Lead —\r\nBcc: x@y.z\t A"), "Lead — Bcc: x@y.z A");
    }

    #[tokio::test]
    async fn message_ids_are_stable_per_delivery() {
        let m = Mailer::new(
            "smtp://127.0.0.1:2525",
            "Showroom <leads@showroom.example>",
            Duration::from_secs(1),
            4,
        )
        .unwrap();
        let id = Uuid::nil();
        assert_eq!(m.message_id(id), format!("<{id}@showroom.example>"));
        assert!(Mailer::new("ftp://x", "a@b.c", Duration::from_secs(1), 4).is_err());
        assert!(Mailer::new("smtp://x", "not an address", Duration::from_secs(1), 4).is_err());
    }

    #[test]
    fn urls_read_as_lettre_reads_them() {
        let s = Server::parse("smtp://mailer:p%40ss@relay.example:2525/ehlo.example?tls=required")
            .unwrap();
        assert_eq!((s.host.as_str(), s.port), ("relay.example", 2525));
        assert!(matches!(s.tls, Tls::Required(_)));
        assert!(s.credentials.is_some());
        assert_eq!(s.hello, ClientId::Domain("ehlo.example".into()));
        let s = Server::parse("smtps://relay.example").unwrap();
        assert_eq!(s.port, 465);
        assert!(matches!(s.tls, Tls::Wrapper(_)));
        let s = Server::parse("smtp://127.0.0.1").unwrap();
        assert_eq!(s.port, 25);
        assert!(matches!(s.tls, Tls::None));
        assert!(Server::parse("smtp://x?tls=sometimes").is_err());
    }
}
