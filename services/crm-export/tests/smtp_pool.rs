//! ADF e-mails over kept-open SMTP connections, against a real maildev
//! (`SHOWROOM_MAILDEV_DIR`, else the repo's `deploy/`). Between the mailer and maildev sits a
//! plain TCP relay that counts connections and can cut them all, as a server restarting or
//! timing out idle clients would.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use showroom_crm_export::answer::Answer;
use showroom_crm_export::email::Mailer;
use showroom_localinfra::SmtpCatcher;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use uuid::Uuid;

fn maildev_dir() -> PathBuf {
    std::env::var_os("SHOWROOM_MAILDEV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy"))
}

/// A TCP relay on 127.0.0.1 to `target`: counts the connections it accepted; `cut` closes
/// every one of them, both sides.
struct Relay {
    port: u16,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (a, o) = (accepted.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                o.lock().await.push(pipe);
            }
        });
        Ok(Self {
            port,
            accepted,
            open,
        })
    }

    /// Closes every connection (dropping both sockets).
    async fn cut(&self) {
        for pipe in self.open.lock().await.drain(..) {
            pipe.abort();
            let _ = pipe.await;
        }
    }
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
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 1, "one connection");
    assert_eq!(mailer.idle_connections(), 1, "kept open");

    // The server side goes away while the connection sits in the pool; the next e-mail,
    // right away (no NOOP check for a connection idle this briefly), finds it closed and goes
    // over a new one.
    relay.cut().await;
    let answer = send(&mailer).await;
    assert!(
        matches!(answer, Answer::Delivered { .. }),
        "a closed pooled connection is replaced: {answer:?}"
    );
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 2, "a new connection");

    // The same once the connection sat idle long enough to be checked first.
    relay.cut().await;
    tokio::time::sleep(showroom_crm_export::email::CHECK_AFTER + Duration::from_millis(200)).await;
    let answer = send(&mailer).await;
    assert!(
        matches!(answer, Answer::Delivered { .. }),
        "an idle pooled connection is checked: {answer:?}"
    );

    let mails = maildev
        .wait_for_messages(5, Duration::from_secs(10))
        .await?;
    assert_eq!(mails.len(), 5, "every e-mail arrived once");
    maildev.stop().await;
    Ok(())
}
