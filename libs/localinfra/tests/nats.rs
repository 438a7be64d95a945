//! Starts a real nats-server and talks to it over the raw NATS protocol.

mod common;

use std::time::Duration;

use showroom_localinfra::Nats;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Connects and returns the reader positioned after the `INFO` line, plus that line.
async fn connect(port: u16) -> (BufReader<TcpStream>, String) {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("nats accepts TCP connections");
    let mut reader = BufReader::new(stream);
    let mut info = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut info))
        .await
        .expect("INFO within 5 s")
        .expect("read INFO");
    (reader, info)
}

/// Sends a JetStream API request and returns the JSON reply.
async fn js_request(port: u16, subject: &str, body: &str) -> serde_json::Value {
    let (mut conn, _) = connect(port).await;
    let request = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB _INBOX.test 1\r\n\
         PUB {subject} _INBOX.test {}\r\n{body}\r\n",
        body.len()
    );
    conn.get_mut()
        .write_all(request.as_bytes())
        .await
        .expect("send");
    let read_reply = async {
        loop {
            let mut line = String::new();
            conn.read_line(&mut line).await.expect("read");
            if line.starts_with("PING") {
                conn.get_mut().write_all(b"PONG\r\n").await.expect("pong");
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let size: usize = rest
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse().ok())
                    .expect("MSG size");
                let mut payload = vec![0; size + 2];
                conn.read_exact(&mut payload).await.expect("payload");
                return serde_json::from_slice::<serde_json::Value>(&payload[..size])
                    .expect("JSON reply");
            } else if line.starts_with("-ERR") {
                panic!("server error: {line}");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_reply)
        .await
        .expect("JetStream replies within 10 s")
}

async fn http_get_json(port: u16, path: &str) -> serde_json::Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("monitor port");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("http response");
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test]
async fn starts_with_jetstream_and_cleans_up() {
    let nats = Nats::start(None).await.expect("nats starts");
    assert_eq!(nats.url, format!("nats://127.0.0.1:{}", nats.port));
    let (_, info) = connect(nats.port).await;
    assert!(info.starts_with("INFO "), "got {info:?}");
    assert!(
        info.contains("\"jetstream\":true"),
        "JetStream not on: {info}"
    );
    let health = http_get_json(nats.monitor_port, "/healthz?js-enabled-only=true").await;
    assert_eq!(health["status"], "ok");

    let pid = nats.pid().expect("running");
    let store = nats.store_dir().to_path_buf();
    let log = nats.log_path().to_path_buf();
    assert!(store.exists());
    assert!(
        nats.log().contains("Server is ready"),
        "log: {}",
        nats.log()
    );
    drop(nats);
    common::assert_all_gone(&[pid]);
    assert!(!store.exists(), "throwaway store removed");
    assert!(!log.exists(), "temp dir removed");
}

#[tokio::test]
async fn restart_keeps_port_and_jetstream_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("js");
    let mut nats = Nats::start(Some(store.clone())).await.expect("nats starts");
    let port = nats.port;

    let created = js_request(
        port,
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"],"storage":"file"}"#,
    )
    .await;
    assert!(created.get("error").is_none(), "create failed: {created}");

    nats.stop().await;
    assert!(nats.pid().is_none());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "stopped"
    );

    nats.restart().await.expect("restarts");
    assert_eq!(nats.port, port);
    let info = js_request(port, "$JS.API.STREAM.INFO.ORDERS", "").await;
    assert_eq!(info["config"]["name"], "ORDERS", "stream survived: {info}");

    // Restart while running works too.
    let old_pid = nats.pid().expect("running");
    nats.restart().await.expect("restarts again");
    assert_ne!(nats.pid(), Some(old_pid));
    common::assert_all_gone(&[old_pid]);

    let pid = nats.pid().expect("running");
    drop(nats);
    common::assert_all_gone(&[pid]);
    assert!(store.join("jetstream").exists(), "persistent store kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_servers_side_by_side() {
    let (a, b, c) = tokio::join!(Nats::start(None), Nats::start(None), Nats::start(None));
    let servers = [a.expect("a"), b.expect("b"), c.expect("c")];
    let mut ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "distinct ports");
    let pids: Vec<u32> = servers.iter().filter_map(Nats::pid).collect();
    drop(servers);
    common::assert_all_gone(&pids);
}
