//! Just enough of the PostgreSQL wire protocol (v3, trust auth, simple
//! query) to tell whether a server accepts logins and to create databases,
//! without a driver or a `psql` process per poll.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::port;

/// An `ErrorResponse` from the server, or a protocol/IO failure (empty code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgError {
    /// SQLSTATE, e.g. `57P03` (cannot connect now); empty for IO errors.
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (SQLSTATE {})", self.message, self.code)
        }
    }
}

fn io_error(e: impl std::fmt::Display) -> PgError {
    PgError {
        code: String::new(),
        message: e.to_string(),
    }
}

/// An authenticated session, ready for queries.
pub(crate) struct Session {
    stream: TcpStream,
}

impl Session {
    /// Connects to 127.0.0.1:`port` and logs in as `user` to `database`.
    /// Only trust authentication is supported (that is how we initdb).
    pub(crate) async fn connect(port: u16, user: &str, database: &str) -> Result<Session, PgError> {
        let stream = port::connect(port).await.map_err(io_error)?;
        let mut session = Session { stream };
        let mut body = Vec::new();
        body.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
        for (key, value) in [
            ("user", user),
            ("database", database),
            ("application_name", "showroom-localinfra"),
        ] {
            body.extend_from_slice(key.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        session.send(None, &body).await?;
        loop {
            let (kind, payload) = session.receive().await?;
            match kind {
                b'R' => {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-1);
                    if code != 0 {
                        return Err(io_error(format!(
                            "server asks for authentication method {code}; \
                             only trust auth is supported (was this data dir made by initdb --auth=trust?)"
                        )));
                    }
                }
                b'E' => return Err(parse_error(&payload)),
                b'Z' => return Ok(session),
                // ParameterStatus, BackendKeyData, NoticeResponse, ...
                _ => {}
            }
        }
    }

    /// Runs `sql` with the simple query protocol and returns the first error,
    /// if any, after the server is ready for the next query.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), PgError> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(Some(b'Q'), &body).await?;
        let mut first_error = None;
        loop {
            let (kind, payload) = self.receive().await?;
            match kind {
                b'E' => {
                    first_error.get_or_insert_with(|| parse_error(&payload));
                }
                b'Z' => break,
                _ => {}
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Says goodbye politely so the server does not log "unexpected EOF".
    pub(crate) async fn close(mut self) {
        let _ = self.send(Some(b'X'), &[]).await;
    }

    async fn send(&mut self, kind: Option<u8>, body: &[u8]) -> Result<(), PgError> {
        let length = i32::try_from(body.len() + 4).map_err(io_error)?;
        let mut message = Vec::with_capacity(body.len() + 5);
        message.extend(kind);
        message.extend_from_slice(&length.to_be_bytes());
        message.extend_from_slice(body);
        self.stream.write_all(&message).await.map_err(io_error)
    }

    async fn receive(&mut self) -> Result<(u8, Vec<u8>), PgError> {
        let mut header = [0_u8; 5];
        self.stream
            .read_exact(&mut header)
            .await
            .map_err(io_error)?;
        let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let length = usize::try_from(length.saturating_sub(4))
            .map_err(|_| io_error("negative message length"))?;
        if length > 64 * 1024 * 1024 {
            return Err(io_error("absurd message length"));
        }
        let mut payload = vec![0_u8; length];
        self.stream
            .read_exact(&mut payload)
            .await
            .map_err(io_error)?;
        Ok((header[0], payload))
    }
}

/// Parses the fields of an `ErrorResponse`.
fn parse_error(payload: &[u8]) -> PgError {
    let mut code = String::new();
    let mut message = String::new();
    for field in payload.split(|&b| b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    PgError { code, message }
}

/// Ready when we can log in to the `postgres` database; what we saw otherwise
/// (e.g. "the database system is starting up").
pub(crate) async fn probe(port: u16) -> Result<(), String> {
    let attempt = async {
        let session = Session::connect(port, "postgres", "postgres").await?;
        session.close().await;
        Ok::<_, PgError>(())
    };
    match tokio::time::timeout(port::PROBE_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".to_owned()),
    }
}

/// `CREATE DATABASE name`, treating "already exists" as success.
pub(crate) async fn create_database(
    port: u16,
    name: &str,
    timeout: Duration,
) -> Result<(), PgError> {
    let work = async {
        let mut session = Session::connect(port, "postgres", "postgres").await?;
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        let result = match session.execute(&sql).await {
            Err(e) if e.code == "42P04" => Ok(()), // duplicate_database
            other => other,
        };
        session.close().await;
        result
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(io_error(format!("no answer within {timeout:?}"))))
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("showroom"), "\"showroom\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn parses_error_fields() {
        let payload = b"SFATAL\0C57P03\0Mthe database system is starting up\0\0";
        let error = parse_error(payload);
        assert_eq!(error.code, "57P03");
        assert_eq!(error.message, "the database system is starting up");
    }
}
