//! Starts maildev and sends it a real e-mail over SMTP.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use showroom_localinfra::{InfraError, SmtpCatcher};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Where maildev is installed: `$SHOWROOM_MAILDEV_DIR`, else the repo's
/// `deploy/` (`npm ci --prefix deploy`).
fn maildev_dir() -> PathBuf {
    std::env::var_os("SHOWROOM_MAILDEV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy"))
}

/// Reads one (possibly multi-line) SMTP reply and checks its code.
async fn expect_reply(conn: &mut BufReader<TcpStream>, code: &str) {
    loop {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), conn.read_line(&mut line))
            .await
            .expect("SMTP reply in time")
            .expect("read");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

async fn send_mail(port: u16, subject: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("SMTP port");
    let mut conn = BufReader::new(stream);
    expect_reply(&mut conn, "220").await;
    for (command, code) in [
        ("EHLO test.local".to_owned(), "250"),
        ("MAIL FROM:<bot@showroom.test>".to_owned(), "250"),
        ("RCPT TO:<dealer@example.test>".to_owned(), "250"),
        ("DATA".to_owned(), "354"),
        (
            format!(
                "From: bot@showroom.test\r\nTo: dealer@example.test\r\nSubject: {subject}\r\n\r\nA new lead.\r\n."
            ),
            "250",
        ),
        ("QUIT".to_owned(), "221"),
    ] {
        conn.get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .expect("send");
        expect_reply(&mut conn, code).await;
    }
}

#[tokio::test]
async fn says_how_to_install_maildev_when_missing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let error = SmtpCatcher::start(empty.path())
        .await
        .expect_err("not installed");
    assert!(
        matches!(error, InfraError::MaildevMissing { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("npm ci --prefix deploy"),
        "{error}"
    );
}

/// Needs maildev installed: `npm ci --prefix deploy` (or point
/// `SHOWROOM_MAILDEV_DIR` at a dir where `npm install maildev` ran), then
/// `cargo test -p showroom-localinfra --test smtp -- --include-ignored`.
#[tokio::test]
#[ignore = "needs maildev: npm ci --prefix deploy (or SHOWROOM_MAILDEV_DIR), then --include-ignored"]
async fn catches_mail() {
    let dir = maildev_dir();
    assert!(
        SmtpCatcher::is_installed(&dir),
        "maildev is not installed in {}: run `npm ci --prefix deploy` or set SHOWROOM_MAILDEV_DIR",
        dir.display()
    );
    let catcher = SmtpCatcher::start(&dir).await.expect("maildev starts");
    assert_eq!(
        catcher.web_url,
        format!("http://127.0.0.1:{}", catcher.web_port)
    );
    assert!(catcher.messages().await.expect("list").is_empty());

    send_mail(catcher.smtp_port, "New lead: Golf GTI").await;
    let messages = catcher
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .expect("mail arrives");
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["subject"], "New lead: Golf GTI",
        "{}",
        messages[0]
    );

    catcher.clear().await.expect("clear");
    assert!(catcher.messages().await.expect("list").is_empty());

    let pid = catcher.pid().expect("running");
    drop(catcher);
    common::assert_all_gone(&[pid]);
}
