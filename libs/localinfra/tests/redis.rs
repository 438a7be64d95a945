//! Starts a real redis-server and talks RESP to it.

mod common;

use std::time::Duration;

use showroom_localinfra::Redis;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Sends inline commands and returns the first reply line of each.
async fn send(port: u16, commands: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("redis accepts");
    let mut conn = BufReader::new(stream);
    let mut replies = Vec::new();
    for command in commands {
        conn.get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .expect("send");
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), conn.read_line(&mut line))
            .await
            .expect("reply in time")
            .expect("read");
        if line.starts_with('$') && line.trim() != "$-1" {
            let mut value = String::new();
            conn.read_line(&mut value).await.expect("bulk");
            line = value;
        }
        replies.push(line.trim_end().to_owned());
    }
    replies
}

#[tokio::test]
async fn answers_ping_restarts_empty_and_cleans_up() {
    let mut redis = Redis::start().await.expect("redis starts");
    assert_eq!(redis.url, format!("redis://127.0.0.1:{}", redis.port));
    let port = redis.port;
    assert_eq!(
        send(
            port,
            &[
                "PING",
                "SET greeting hello",
                "GET greeting",
                "CONFIG GET save"
            ]
        )
        .await,
        ["+PONG", "+OK", "hello", "*2"]
    );

    redis.restart().await.expect("restarts");
    assert_eq!(redis.port, port);
    assert_eq!(
        send(port, &["PING", "GET greeting"]).await,
        ["+PONG", "$-1"]
    );

    redis.stop().await;
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "stopped"
    );
    redis.restart().await.expect("restarts after stop");
    assert_eq!(send(port, &["PING"]).await, ["+PONG"]);

    let pid = redis.pid().expect("running");
    let log = redis.log_path().to_path_buf();
    assert!(
        redis.log().contains("Ready to accept connections"),
        "{}",
        redis.log()
    );
    drop(redis);
    common::assert_all_gone(&[pid]);
    assert!(!log.exists(), "temp dir removed");
}
