//! A plain TCP relay between a client under test and a real server, to cut the connection as a
//! server restarting, an idle time-out or a network fault would, and to count the client's
//! turns to speak (its round trips).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP relay on `127.0.0.1` to a target port: counts the connections it accepted and the
/// client's turns ([`client_turns`]); [`cut`] closes every one of them, both sides; while
/// [`refuse`] holds, a new connection is closed at once.
///
/// [`client_turns`]: Relay::client_turns
/// [`cut`]: Relay::cut
/// [`refuse`]: Relay::refuse
pub struct Relay {
    /// The port clients connect to.
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    turns: Arc<AtomicUsize>,
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
        let turns = Arc::new(AtomicUsize::new(0));
        let refusing = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (a, t, r, o) = (
            accepted.clone(),
            turns.clone(),
            refusing.clone(),
            open.clone(),
        );
        let listener = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                a.fetch_add(1, Ordering::SeqCst);
                let turns = t.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await {
                        // Who spoke last on this connection: a client's bytes after the
                        // server's (or first) start a new turn.
                        let server_spoke = Arc::new(AtomicBool::new(true));
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        let up = pipe(client_read, server_write, || {
                            if server_spoke.swap(false, Ordering::SeqCst) {
                                turns.fetch_add(1, Ordering::SeqCst);
                            }
                        });
                        let down = pipe(server_read, client_write, || {
                            server_spoke.store(true, Ordering::SeqCst);
                        });
                        tokio::join!(up, down);
                    }
                });
                o.lock().await.push(pipe);
            }
        });
        Ok(Self {
            port,
            accepted,
            turns,
            refusing,
            open,
            listener,
        })
    }

    /// How many connections it accepted (not counting refused ones).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many times, over all connections, a client spoke after its server had (or first):
    /// its round trips. Commands pipelined in one write are one turn.
    pub fn client_turns(&self) -> usize {
        self.turns.load(Ordering::SeqCst)
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

/// Copies `from` to `to` until either side closes, calling `seen` for each chunk read, before
/// it is written on.
async fn pipe(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, seen: impl Fn()) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen();
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
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
