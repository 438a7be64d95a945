//! ADF e-mails over kept-open SMTP connections, against a real maildev
//! (`SHOWROOM_MAILDEV_DIR`, else the repo's `deploy/`). Between the mailer and maildev sits a
//! plain TCP relay that counts connections and the client's round trips, and can cut them all,
//! as a server restarting or timing out idle clients would.

use std::path::PathBuf;
use std::time::Duration;

use showroom_crm_export::answer::Answer;
use showroom_crm_export::email::Mailer;
use showroom_localinfra::{Relay, SmtpCatcher};
use uuid::Uuid;

fn maildev_dir() -> PathBuf {
    std::env::var_os("SHOWROOM_MAILDEV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy"))
}

const ADF: &str = "<?xml version=\"1.0\"?><?adf version=\"1.0\"?><adf><prospect/></adf>";

async fn send(mailer: &Mailer) -> Answer {
    mailer
        .send(
            Uuid::now_v7(),
            "leads@crm.showroom.test",
            "Lead from Showroom chat — Pool Test",
            ADF.to_string(),
        )
        .await
}

#[tokio::test]
async fn e_mails_share_a_kept_open_connection_and_a_closed_one_is_replaced() -> anyhow::Result<()> {
    let mut maildev = SmtpCatcher::start(&maildev_dir()).await?;
    let relay = Relay::start(maildev.smtp_port).await?;
    let mailer = Mailer::new(
        &format!("smtp://127.0.0.1:{}", relay.port),
        "Showroom Leads <leads@showroom.test>",
        Duration::from_secs(10),
        4,
    )?;

    // One after another, the e-mails go over one connection, kept open between them.
    for _ in 0..3 {
        assert!(matches!(send(&mailer).await, Answer::Delivered { .. }));
    }
    assert_eq!(relay.accepted(), 1, "one connection");
    assert_eq!(mailer.idle_connections(), 1, "kept open");

    // maildev offers PIPELINING: an e-mail on a kept-open connection is two round trips (the
    // envelope and DATA in one write, then the body), not lettre's four.
    let before = relay.client_turns();
    for _ in 0..3 {
        assert!(matches!(send(&mailer).await, Answer::Delivered { .. }));
    }
    assert_eq!(
        relay.client_turns() - before,
        3 * 2,
        "two round trips per e-mail"
    );

    // The server side goes away while the connection sits in the pool; the next e-mail,
    // right away (no NOOP check for a connection idle this briefly), finds it closed and goes
    // over a new one.
    relay.cut().await;
    let answer = send(&mailer).await;
    assert!(
        matches!(answer, Answer::Delivered { .. }),
        "a closed pooled connection is replaced: {answer:?}"
    );
    assert_eq!(relay.accepted(), 2, "a new connection");

    // The same once the connection sat idle long enough to be checked first.
    relay.cut().await;
    tokio::time::sleep(showroom_crm_export::email::CHECK_AFTER + Duration::from_millis(200)).await;
    let answer = send(&mailer).await;
    assert!(
        matches!(answer, Answer::Delivered { .. }),
        "an idle pooled connection is checked: {answer:?}"
    );

    let mails = maildev
        .wait_for_messages(8, Duration::from_secs(10))
        .await?;
    assert_eq!(mails.len(), 8, "every e-mail arrived once");
    maildev.stop().await;
    Ok(())
}
