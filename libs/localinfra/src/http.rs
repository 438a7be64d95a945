//! A minimal HTTP/1.1 client for loopback health checks and maildev's API.
//!
//! Only plain HTTP to 127.0.0.1 is needed, so this avoids pulling an HTTP
//! client stack into every test binary.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{InfraError, Result};
use crate::port;

/// A response: status code and (de-chunked) body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Sends `method path` to 127.0.0.1:`port` and reads the whole response.
pub(crate) async fn request(
    method: &'static str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<Response> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let fail = |reason: String| InfraError::Http {
        method,
        url: url.clone(),
        reason,
    };
    let exchange = async {
        let mut stream = port::connect(port).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
             Connection: close\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Err(_) => return Err(fail(format!("no complete answer within {timeout:?}"))),
    };
    parse(&raw).map_err(fail)
}

/// Parses a complete `Connection: close` response.
fn parse(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| "response has no header end".to_owned())?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if name == "content-length" {
            length = value.parse::<usize>().ok();
        }
    }
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(length) = length {
        body.truncate(length);
    }
    Ok(Response { status, body })
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| "truncated chunk header".to_owned())?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data
            .get(..size)
            .ok_or_else(|| "truncated chunk".to_owned())?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
        let response = parse(raw).expect("parses");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"[]");
    }

    #[test]
    fn parses_chunked_body() {
        let raw = b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let response = parse(raw).expect("parses");
        assert_eq!(response.status, 404);
        assert_eq!(response.body, b"abcde");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"nonsense").is_err());
        assert!(parse(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }
}
