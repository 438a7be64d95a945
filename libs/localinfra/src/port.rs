//! Free loopback ports and small TCP helpers for readiness probes.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error::{InfraError, Result};

/// How long one readiness probe may take before it counts as "not yet".
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the kernel for a currently free TCP port on 127.0.0.1.
///
/// Servers are started on ports from here so that parallel tests and a
/// running dev stack never collide on fixed ports. The port is released
/// before this returns, so another process could in theory grab it first;
/// the `start` functions retry with a new port when a server reports
/// "address already in use".
pub fn free_port() -> Result<u16, InfraError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(InfraError::NoFreePort)?;
    let port = listener
        .local_addr()
        .map_err(InfraError::NoFreePort)?
        .port();
    drop(listener);
    Ok(port)
}

/// The loopback address of `port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Connects to 127.0.0.1:`port`, giving up after [`PROBE_TIMEOUT`].
pub(crate) async fn connect(port: u16) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(loopback(port))).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

/// Connects, optionally writes `send`, and returns the first line the server
/// sends (without the line ending). Used for NATS `INFO`, Redis `+PONG` and
/// the SMTP greeting.
pub(crate) async fn first_line(port: u16, send: Option<&[u8]>) -> std::io::Result<String> {
    let probe = async {
        let mut stream = TcpStream::connect(loopback(port)).await?;
        if let Some(bytes) = send {
            stream.write_all(bytes).await?;
        }
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        Ok(line.trim_end().to_owned())
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer in time",
        )),
    }
}
