//! A plain TCP relay between a client under test and a real server, to cut the connection as a
//! server restarting, an idle time-out or a network fault would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP relay on `127.0.0.1` to a target port: counts the connections it accepted; [`cut`]
/// closes every one of them, both sides; while [`refuse`] holds, a new connection is closed
/// at once.
///
/// [`cut`]: Relay::cut
/// [`refuse`]: Relay::refuse
pub struct Relay {
    /// The port clients connect to.
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    refusing: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
    listener: JoinHandle<()>,
}

impl Relay {
    /// Listens on a free port and relays each connection to `127.0.0.1:target`.
    pub async fn start(target: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let refusing = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (a, r, o) = (accepted.clone(), refusing.clone(), open.clone());
        let listener = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
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
            refusing,
            open,
            listener,
        })
    }

    /// How many connections it accepted (not counting refused ones).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every open connection (dropping both sockets).
    pub async fn cut(&self) {
        for pipe in self.open.lock().await.drain(..) {
            pipe.abort();
            let _ = pipe.await;
        }
    }

    /// Whether new connections are closed at once (`true`) or relayed (`false`).
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.listener.abort();
        if let Ok(open) = self.open.try_lock() {
            for pipe in open.iter() {
                pipe.abort();
            }
        }
    }
}
