//! Idle widget sockets: what one costs the gateway, whether the memory returns after a peak,
//! and many sockets over several gateway processes while some of them chat.
//!
//! The sockets are opened by client processes of this binary (`sockets-client`), because a
//! process may hold at most 20 000 open files here. Memory is the resident set (`VmRSS`) of the
//! server process, read from `/proc`.
//!
//! Three phases per run:
//! 1. **Baseline**: a bare axum WebSocket server with 4 KiB buffers (`sockets-baseline`, this
//!    binary) answering `hello` with a small `welcome`; its RSS before and with N sockets open.
//! 2. **One gateway** (the release `showroom-gateway` binary beside this one, on the stack's
//!    servers): RSS after a warm-up, with N widget sockets after `hello`, and after they close.
//! 3. **Many**: `--total` sockets over `--gateways` gateway processes, `--chat-percent` of them
//!    chatting (a `start`, then a `send` every `--chat-every` seconds, accepted by an agent on
//!    the stack's own gateway), every socket sending `ping` every 25 s as the widget does, for
//!    `--secs` seconds: ping → pong and send → ack round trips, and each gateway's RSS.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use showroom_store::sqlx;
use showroom_testkit::{GatewayProcess, Socket, Stack, Tenant, Tuning};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What to run.
pub struct Options {
    /// Sockets on the one gateway (and the baseline server).
    pub sockets: usize,
    /// Sockets over all gateways in the third phase (0 skips it).
    pub total: usize,
    /// Gateway processes in the third phase.
    pub gateways: usize,
    /// Percent of the third phase's sockets that chat.
    pub chat_percent: f64,
    /// Seconds between a chatting shopper's messages.
    pub chat_every: u64,
    /// How long the third phase runs, in seconds.
    pub secs: u64,
    /// Runs (the report shows medians).
    pub runs: usize,
}

impl Options {
    /// `--sockets N --total T --gateways G --chat-percent P --chat-every S --secs D --runs R`
    /// (defaults 15 000, 50 000, 4, 1, 5, 60, 3).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        let percent = args
            .iter()
            .position(|a| a == "--chat-percent")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.0);
        Self {
            sockets: get("--sockets", 15_000),
            total: get("--total", 50_000),
            gateways: get("--gateways", 4).max(1),
            chat_percent: percent,
            chat_every: get("--chat-every", 5).max(1) as u64,
            secs: get("--secs", 60) as u64,
            runs: get("--runs", 3).max(1),
        }
    }
}

/// The most sockets one client process opens (the open-file limit is 20 000 per process).
const PER_CLIENT: usize = 15_000;

/// Sockets each client process opens at once.
const CONNECTING: usize = 64;

/// The size of the last `welcome` a client read (reported with `open`).
static WELCOME_BYTES: AtomicU64 = AtomicU64::new(0);

/// How often the widget pings.
const PING_EVERY: Duration = Duration::from_secs(25);

/// The client sockets' buffers: small, so the load generator holds many.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// Where a client process connects and what its sockets do.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    url: String,
    origin: String,
    count: usize,
    /// How many of them chat (the first ones).
    chatters: usize,
    /// The department they start chats in.
    department: Option<String>,
    chat_every_secs: u64,
}

/// What a client process reports after the active phase.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Report {
    /// Ping → pong round trips, microseconds.
    pings: Vec<u64>,
    /// Send → ack round trips, microseconds.
    acks: Vec<u64>,
    /// Chats started.
    started: u64,
    /// Error frames, failed sends and sockets that closed early.
    errors: u64,
    /// The first few errors, for the log.
    examples: Vec<String>,
}

/// A client process: opens its sockets, says `hello` on each, then follows the parent's
/// commands on stdin (`go <secs>`, `close`), answering on stdout (`open <ok> <failed>`,
/// `report <json>`, `closed`).
pub async fn client(args: &[String]) -> anyhow::Result<()> {
    let plan: Plan = serde_json::from_str(args.first().context("the plan (JSON)")?)?;
    let (go_tx, go_rx) = watch::channel::<Option<Instant>>(None);
    let (close_tx, close_rx) = watch::channel(false);
    let report = Arc::new(Mutex::new(Report::default()));
    let opened = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut tasks = Vec::with_capacity(plan.count);
    for i in 0..plan.count {
        let plan = plan.clone();
        let (go, close) = (go_rx.clone(), close_rx.clone());
        let (report, opened, failed) = (report.clone(), opened.clone(), failed.clone());
        let connecting = connecting.clone();
        let done = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            let permit = connecting.acquire_owned().await;
            let ws = match open_widget(&plan).await {
                Ok(ws) => ws,
                Err(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    note(&report, format!("open: {e:#}")).await;
                    drop(permit);
                    let _ = done.send(()).await;
                    return;
                }
            };
            drop(permit);
            opened.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(()).await;
            let chatter = i < plan.chatters;
            live(ws, &plan, i, chatter, go, close, report).await;
        }));
    }
    drop(done_tx);
    for _ in 0..plan.count {
        if done_rx.recv().await.is_none() {
            break;
        }
    }
    let mut out = tokio::io::stdout();
    let line = format!(
        "open {} {} {}\n",
        opened.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        WELCOME_BYTES.load(Ordering::Relaxed)
    );
    out.write_all(line.as_bytes()).await?;
    out.flush().await?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(cmd) = stdin.next_line().await? {
        let mut words = cmd.split_whitespace();
        match words.next() {
            Some("go") => {
                let secs: u64 = words.next().and_then(|s| s.parse().ok()).unwrap_or(10);
                let end = Instant::now() + Duration::from_secs(secs);
                let _ = go_tx.send(Some(end));
                tokio::time::sleep_until(end.into()).await;
                // Answers still on their way.
                tokio::time::sleep(Duration::from_secs(2)).await;
                let r = std::mem::take(&mut *report.lock().await);
                let line = format!("report {}\n", serde_json::to_string(&r)?);
                out.write_all(line.as_bytes()).await?;
                out.flush().await?;
            }
            Some("close") => {
                let _ = close_tx.send(true);
                for t in tasks.drain(..) {
                    let _ = t.await;
                }
                out.write_all(b"closed\n").await?;
                out.flush().await?;
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a widget socket and says `hello`; returns once the `welcome` is in.
async fn open_widget(plan: &Plan) -> anyhow::Result<Ws> {
    let mut req = plan.url.as_str().into_client_request()?;
    req.headers_mut()
        .insert("Origin", HeaderValue::from_str(&plan.origin)?);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(req, Some(client_config()), true).await?;
    let hello = json!({"type": "hello", "v": 1, "ref": "h"});
    ws.send(Message::Text(hello.to_string().into())).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let frame = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .context("no welcome within 30 s")?
            .context("closed before the welcome")??;
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t)?;
            match v["type"].as_str() {
                Some("welcome") => {
                    WELCOME_BYTES.store(t.len() as u64, Ordering::Relaxed);
                    return Ok(ws);
                }
                Some("error") => anyhow::bail!("refused: {v}"),
                _ => {}
            }
        }
    }
}

async fn note(report: &Mutex<Report>, e: String) {
    let mut r = report.lock().await;
    r.errors += 1;
    if r.examples.len() < 5 {
        r.examples.push(e);
    }
}

/// A socket after its `welcome`: idle until `go`, then pings (and chats) until the phase ends,
/// then idle until `close`.
async fn live(
    mut ws: Ws,
    plan: &Plan,
    index: usize,
    chatter: bool,
    mut go: watch::Receiver<Option<Instant>>,
    mut close: watch::Receiver<bool>,
    report: Arc<Mutex<Report>>,
) {
    // Idle: only the close (or a frame the gateway pushes) wakes this socket.
    let end = loop {
        tokio::select! {
            r = go.changed() => match (r, *go.borrow()) {
                (Ok(()), Some(end)) => break Some(end),
                (Ok(()), None) => continue,
                (Err(_), _) => break None,
            },
            _ = close.changed() => break None,
            f = ws.next() => if !matches!(f, Some(Ok(_))) {
                note(&report, "closed while idle".into()).await;
                return;
            },
        }
    };
    if let Some(end) = end {
        if let Err(e) = active(&mut ws, plan, index, chatter, end, &report).await {
            note(&report, format!("{e:#}")).await;
        }
        // Idle again until the parent closes.
        loop {
            tokio::select! {
                _ = close.changed() => break,
                f = ws.next() => if !matches!(f, Some(Ok(_))) { return },
            }
        }
    }
    let _ = ws.close(None).await;
}

/// The active phase of one socket.
async fn active(
    ws: &mut Ws,
    plan: &Plan,
    index: usize,
    chatter: bool,
    end: Instant,
    report: &Mutex<Report>,
) -> anyhow::Result<()> {
    // Spread the pings over the interval, as pages loaded at different times do.
    let phase = PING_EVERY.mul_f64(rand::random::<f64>());
    let mut next_ping = Instant::now() + phase;
    let chat_every = Duration::from_secs(plan.chat_every_secs);
    let mut next_chat = if chatter {
        Some(Instant::now() + chat_every.mul_f64(rand::random::<f64>()))
    } else {
        None
    };
    let mut chatting = false;
    let mut pings_sent: Vec<(u64, Instant)> = Vec::new();
    let mut sends: Vec<(u64, Instant)> = Vec::new();
    let mut n = 0u64;
    let (mut pings, mut acks, mut errors) = (Vec::new(), Vec::new(), 0u64);
    let mut examples = Vec::new();
    let mut started = 0;
    while Instant::now() < end {
        let wake = next_chat.map_or(next_ping, |c| c.min(next_ping)).min(end);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if now >= next_ping && now < end {
                    n += 1;
                    let frame = json!({"type": "ping", "ref": format!("p{n}")});
                    ws.send(Message::Text(frame.to_string().into())).await?;
                    pings_sent.push((n, Instant::now()));
                    next_ping += PING_EVERY;
                }
                if let Some(at) = next_chat && now >= at && now < end {
                    n += 1;
                    let frame = if chatting {
                        json!({"type": "send", "ref": format!("s{n}"),
                               "client_msg_id": format!("c{index}-{n}"),
                               "text": "Is the white Tacoma still on the lot?"})
                    } else {
                        json!({"type": "start", "ref": format!("s{n}"),
                               "department_id": plan.department})
                    };
                    ws.send(Message::Text(frame.to_string().into())).await?;
                    sends.push((n, Instant::now()));
                    next_chat = Some(at + chat_every);
                }
            }
            f = ws.next() => {
                let Some(Ok(Message::Text(t))) = f else {
                    anyhow::bail!("the socket closed during the active phase");
                };
                let v: Value = serde_json::from_str(&t)?;
                let r#ref = v["ref"].as_str().unwrap_or("");
                let num = r#ref.get(1..).and_then(|s| s.parse::<u64>().ok());
                match (v["type"].as_str(), r#ref.chars().next(), num) {
                    (Some("pong"), Some('p'), Some(k)) => {
                        if let Some(pos) = pings_sent.iter().position(|(m, _)| *m == k) {
                            pings.push(pings_sent.swap_remove(pos).1.elapsed().as_micros() as u64);
                        }
                    }
                    (Some("ack") | Some("started"), Some('s'), Some(k)) => {
                        if v["type"] == "started" {
                            chatting = true;
                            started += 1;
                        }
                        if let Some(pos) = sends.iter().position(|(m, _)| *m == k) {
                            let took = sends.swap_remove(pos).1.elapsed().as_micros() as u64;
                            if v["type"] == "ack" {
                                acks.push(took);
                            }
                        }
                    }
                    (Some("error"), _, _) => {
                        errors += 1;
                        if examples.len() < 5 {
                            examples.push(v.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut r = report.lock().await;
    r.pings.extend(pings);
    r.acks.extend(acks);
    r.started += started;
    r.errors += errors;
    for e in examples {
        if r.examples.len() < 5 {
            r.examples.push(e);
        }
    }
    Ok(())
}

/// A client process of this binary, driven over its stdin and stdout.
struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Client {
    /// Starts a client and waits until its sockets are open; returns it and how many opened.
    async fn start(plan: &Plan) -> anyhow::Result<(Client, u64)> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("sockets-client")
            .arg(serde_json::to_string(plan)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a sockets client")?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut c = Client {
            child,
            stdin,
            lines,
        };
        let line = c.line("open").await?;
        let mut words = line.split_whitespace().skip(1);
        let ok: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let failed: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let welcome: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        if std::env::var_os("SOCKETS_VERBOSE").is_some() {
            eprintln!("  client: {ok} open, welcome {welcome} bytes");
        }
        if failed > 0 {
            eprintln!("  {failed} of {} sockets failed to open", plan.count);
        }
        Ok((c, ok))
    }

    async fn line(&mut self, prefix: &str) -> anyhow::Result<String> {
        loop {
            let line = self
                .lines
                .next_line()
                .await?
                .with_context(|| format!("the client ended before `{prefix}`"))?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    async fn command(&mut self, cmd: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Starts the active phase (every client at about the same time).
    async fn go(&mut self, secs: u64) -> anyhow::Result<()> {
        self.command(&format!("go {secs}")).await
    }

    async fn report(&mut self) -> anyhow::Result<Report> {
        let line = self.line("report ").await?;
        Ok(serde_json::from_str(&line["report ".len()..])?)
    }

    /// Closes every socket and waits for the process to end.
    async fn close(mut self) -> anyhow::Result<()> {
        self.command("close").await?;
        self.line("closed").await?;
        let _ = self.child.wait().await;
        Ok(())
    }
}

/// Opens `count` sockets with as many client processes as the open-file limit needs.
async fn open_many(plan: &Plan) -> anyhow::Result<(Vec<Client>, u64)> {
    let mut clients = Vec::new();
    let mut opened = 0;
    let mut left = plan.count;
    let mut chatters = plan.chatters;
    while left > 0 {
        let n = left.min(PER_CLIENT);
        let c = chatters.min(n);
        let (client, ok) = Client::start(&Plan {
            count: n,
            chatters: c,
            ..plan.clone()
        })
        .await?;
        clients.push(client);
        opened += ok;
        left -= n;
        chatters -= c;
    }
    Ok((clients, opened))
}

async fn close_all(clients: Vec<Client>) -> anyhow::Result<()> {
    for c in clients {
        c.close().await?;
    }
    Ok(())
}

/// The baseline server: a bare axum WebSocket endpoint with 4 KiB buffers that answers `hello`
/// with `welcome` and `ping` with `pong`. Prints `listening <port>`.
pub async fn baseline_server() -> anyhow::Result<()> {
    use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
    async fn serve(mut socket: WebSocket) {
        while let Some(Ok(frame)) = socket.recv().await {
            let Frame::Text(t) = frame else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&t) else {
                continue;
            };
            let answer = match v["type"].as_str() {
                Some("hello") => json!({"type": "welcome", "ref": v["ref"]}),
                Some("ping") => json!({"type": "pong", "ref": v["ref"]}),
                _ => continue,
            };
            if socket
                .send(Frame::Text(answer.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
    }
    let app = axum::Router::new().route(
        "/ws",
        axum::routing::get(|ws: WebSocketUpgrade| async move {
            ws.read_buffer_size(4096)
                .write_buffer_size(4096)
                .on_upgrade(serve)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?.port());
    axum::serve(listener, app).await?;
    Ok(())
}

/// The baseline server as a process of its own; returns it and its `ws://` URL.
async fn start_baseline() -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("sockets-baseline")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let line = lines.next_line().await?.context("baseline server ended")?;
    let port = line
        .strip_prefix("listening ")
        .context("baseline server's first line")?;
    Ok((child, format!("ws://127.0.0.1:{port}/ws")))
}

/// Waits for a process's RSS to settle (no change over 2 s beyond 1%, at most `max`); returns it.
async fn settled_rss(pid: u32, max: Duration) -> anyhow::Result<u64> {
    let until = Instant::now() + max;
    let mut last = crate::rss(pid)?;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = crate::rss(pid)?;
        if now.abs_diff(last) * 100 <= last || Instant::now() >= until {
            return Ok(now);
        }
        last = now;
    }
}

/// One run's figures.
struct Figures {
    /// Sockets opened a second (connect, upgrade, `hello`, `welcome`), baseline and gateway.
    baseline_opens: f64,
    gateway_opens: f64,
    /// Baseline server: bytes per socket.
    baseline_per_socket: f64,
    /// Gateway: bytes per socket.
    gateway_per_socket: f64,
    /// Gateway RSS before the sockets, at the peak and after they closed.
    before: f64,
    peak: f64,
    after: f64,
    /// Many sockets: opened, pings and acks.
    many: Option<Many>,
}

struct Many {
    opened: u64,
    ping_p50_ms: f64,
    ping_p99_ms: f64,
    pings: u64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    acks: u64,
    started: u64,
    errors: u64,
    rss_per_gateway: Vec<f64>,
}

/// The allocator's settings of this process's environment (`_RJEM_MALLOC_CONF`), passed on to
/// the gateway processes, to try its options without a rebuild.
fn allocator_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k == "_RJEM_MALLOC_CONF")
        .collect()
}

/// A gateway process on the stack's servers, with the allocator's settings of this process.
async fn start_gateway(stack: &Stack, binary: &std::path::Path) -> anyhow::Result<GatewayProcess> {
    stack
        .gateway_process_with(binary, &[], &allocator_env())
        .await
}

/// The gateway binary beside this one.
fn gateway_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("showroom-gateway");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release -p showroom-loadtest -p showroom-gateway",
        path.display()
    );
    Ok(path)
}

fn widget_plan(g: &GatewayProcess, t: &Tenant, count: usize, chatters: usize, o: &Options) -> Plan {
    Plan {
        url: g.ws_url(&format!("/ws/widget?key={}", t.key)),
        origin: t.origin.clone(),
        count,
        chatters,
        department: Some(t.sales.to_string()),
        chat_every_secs: o.chat_every,
    }
}

async fn one_run(
    stack: &Stack,
    tenants: &[Tenant],
    binary: &std::path::Path,
    o: &Options,
) -> anyhow::Result<Figures> {
    // 1. The baseline.
    let (server, url) = start_baseline().await?;
    let pid = server.id().context("baseline pid")?;
    let warm = Plan {
        url: url.clone(),
        origin: "http://localhost".into(),
        count: 100,
        chatters: 0,
        department: None,
        chat_every_secs: o.chat_every,
    };
    close_all(open_many(&warm).await?.0).await?;
    let before = settled_rss(pid, Duration::from_secs(10)).await? as f64;
    let opening = Instant::now();
    let (clients, opened) = open_many(&Plan {
        count: o.sockets,
        ..warm.clone()
    })
    .await?;
    let baseline_opens = opened as f64 / opening.elapsed().as_secs_f64();
    let peak = settled_rss(pid, Duration::from_secs(10)).await? as f64;
    close_all(clients).await?;
    drop(server);
    let baseline_per_socket = (peak - before) / opened.max(1) as f64;
    println!(
        "  baseline: {opened} sockets ({baseline_opens:.0} opened a second), {:.1} MiB → {:.1} MiB, {:.0} bytes each",
        mib(before),
        mib(peak),
        baseline_per_socket
    );

    // 2. One gateway.
    let g = start_gateway(stack, binary).await?;
    let pid = g.pid().context("gateway pid")?;
    let plan = widget_plan(&g, &tenants[0], o.sockets, 0, o);
    close_all(
        open_many(&Plan {
            count: 100,
            ..plan.clone()
        })
        .await?
        .0,
    )
    .await?;
    let before = settled_rss(pid, Duration::from_secs(15)).await? as f64;
    let opening = Instant::now();
    let (clients, opened) = open_many(&plan).await?;
    let gateway_opens = opened as f64 / opening.elapsed().as_secs_f64();
    let peak = settled_rss(pid, Duration::from_secs(15)).await? as f64;
    close_all(clients).await?;
    // Memory given back: what a decaying allocator returns within half a minute.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = settled_rss(pid, Duration::from_secs(10)).await? as f64;
    drop(g);
    let gateway_per_socket = (peak - before) / opened.max(1) as f64;
    println!(
        "  gateway: {opened} sockets ({gateway_opens:.0} opened a second), {:.1} MiB → {:.1} MiB, {:.0} bytes each; {:.1} MiB after they closed",
        mib(before),
        mib(peak),
        gateway_per_socket,
        mib(after)
    );

    // 3. Many sockets over several gateways, some chatting.
    let many = if o.total > 0 {
        Some(many(stack, tenants, binary, o).await?)
    } else {
        None
    };
    Ok(Figures {
        baseline_opens,
        gateway_opens,
        baseline_per_socket,
        gateway_per_socket,
        before,
        peak,
        after,
        many,
    })
}

async fn many(
    stack: &Stack,
    tenants: &[Tenant],
    binary: &std::path::Path,
    o: &Options,
) -> anyhow::Result<Many> {
    let mut gateways = Vec::new();
    for _ in 0..o.gateways {
        gateways.push(start_gateway(stack, binary).await?);
    }
    // Agents on the stack's own gateway accept every chat offered to them.
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut agents = Vec::new();
    for t in tenants {
        let console = stack.agent(&t.agents[0].1, "available").await?;
        agents.push(tokio::spawn(accept_all(console, stop.clone())));
    }
    let per = o.total / o.gateways;
    let chatters_total = (o.total as f64 * o.chat_percent / 100.0).round() as usize;
    let mut clients = Vec::new();
    let mut opened = 0;
    for (i, g) in gateways.iter().enumerate() {
        let t = &tenants[i % tenants.len()];
        let chatters = chatters_total / o.gateways;
        let (mut c, ok) = open_many(&widget_plan(g, t, per, chatters, o)).await?;
        clients.append(&mut c);
        opened += ok;
    }
    println!(
        "  many: {opened} sockets open over {} gateways; active for {} s",
        o.gateways, o.secs
    );
    for c in clients.iter_mut() {
        c.go(o.secs).await?;
    }
    let mut all = Report::default();
    for c in clients.iter_mut() {
        let r = c.report().await?;
        all.pings.extend(r.pings);
        all.acks.extend(r.acks);
        all.started += r.started;
        all.errors += r.errors;
        all.examples.extend(r.examples);
    }
    let mut rss_per_gateway = Vec::new();
    for g in &gateways {
        rss_per_gateway.push(crate::rss(g.pid().context("gateway pid")?)? as f64);
    }
    for e in all.examples.iter().take(5) {
        eprintln!("  error: {e}");
    }
    close_all(clients).await?;
    stop.notify_waiters();
    for a in agents {
        a.abort();
    }
    let (ping_p50_ms, ping_p99_ms) = crate::percentiles(&all.pings)?;
    let (ack_p50_ms, ack_p99_ms) = crate::percentiles(&all.acks)?;
    Ok(Many {
        opened,
        ping_p50_ms,
        ping_p99_ms,
        pings: all.pings.len() as u64,
        ack_p50_ms,
        ack_p99_ms,
        acks: all.acks.len() as u64,
        started: all.started,
        errors: all.errors,
        rss_per_gateway,
    })
}

/// An agent's console that accepts every chat offered to it.
async fn accept_all(mut console: Socket, stop: Arc<tokio::sync::Notify>) {
    loop {
        let frame = tokio::select! {
            _ = stop.notified() => return,
            f = console.next_within(Duration::from_secs(3600)) => f,
        };
        match frame {
            Ok(Some(v)) if v["type"] == "offer" => {
                let id = v["conversation"]["id"].clone();
                let _ = console
                    .send(json!({"type": "accept", "conversation_id": id}))
                    .await;
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Runs the benchmark and prints its tables.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let binary = gateway_binary()?;
    let stack = Stack::start_durable_tuned(Tuning::for_load(), false).await?;
    let mut tenants = Vec::new();
    for i in 0..o.gateways.max(1) {
        tenants.push(Tenant::seed(&stack.pool, &format!("Sockets{i}"), 1).await?);
    }
    sqlx::query("UPDATE agents SET max_chats = 100000")
        .execute(&stack.pool)
        .await?;
    let mut runs = Vec::new();
    for r in 0..o.runs {
        println!("run {} of {}", r + 1, o.runs);
        runs.push(one_run(&stack, &tenants, &binary, &o).await?);
    }
    let m = |f: &dyn Fn(&Figures) -> f64| median(runs.iter().map(f).collect());
    let base = m(&|f| f.baseline_per_socket);
    let gate = m(&|f| f.gateway_per_socket);
    println!();
    println!(
        "idle widget sockets after `hello`, {} on one process, medians of {} runs:",
        o.sockets, o.runs
    );
    println!("| what | bytes per socket | ratio |");
    println!("| --- | ---: | ---: |");
    println!("| bare axum socket, 4 KiB buffers | {base:.0} | 1.00× |");
    println!(
        "| **gateway widget socket** | **{gate:.0}** | {:.2}× |",
        gate / base
    );
    let (base_opens, gate_opens) = (m(&|f| f.baseline_opens), m(&|f| f.gateway_opens));
    println!();
    println!(
        "sockets opened a second (connect, upgrade, `hello`, `welcome`; {CONNECTING} at a time per \
         client process): bare axum {base_opens:.0}, gateway {gate_opens:.0} ({:.2}×)",
        gate_opens / base_opens
    );
    let (before, peak, after) = (m(&|f| f.before), m(&|f| f.peak), m(&|f| f.after));
    println!();
    println!(
        "gateway RSS: {:.1} MiB before, {:.1} MiB at the peak, {:.1} MiB after the sockets closed \
         ({:.2}× the level before the peak)",
        mib(before),
        mib(peak),
        mib(after),
        after / before
    );
    let many: Vec<&Many> = runs.iter().filter_map(|f| f.many.as_ref()).collect();
    if !many.is_empty() {
        let mm = |f: &dyn Fn(&Many) -> f64| median(many.iter().map(|x| f(x)).collect());
        println!();
        println!(
            "{} sockets over {} gateway processes, {}% chatting (a message every {} s), {} s, \
             medians of {} runs:",
            o.total, o.gateways, o.chat_percent, o.chat_every, o.secs, o.runs
        );
        println!("| what | count | p50 ms | p99 ms |");
        println!("| --- | ---: | ---: | ---: |");
        println!(
            "| ping → pong | {:.0} | {:.2} | {:.2} |",
            mm(&|x| x.pings as f64),
            mm(&|x| x.ping_p50_ms),
            mm(&|x| x.ping_p99_ms)
        );
        println!(
            "| send → ack | {:.0} | {:.2} | {:.2} |",
            mm(&|x| x.acks as f64),
            mm(&|x| x.ack_p50_ms),
            mm(&|x| x.ack_p99_ms)
        );
        println!(
            "sockets open: {:.0}; chats started: {:.0}; errors: {:.0}; RSS per gateway: {} MiB",
            mm(&|x| x.opened as f64),
            mm(&|x| x.started as f64),
            mm(&|x| x.errors as f64),
            many.last()
                .map(|x| x
                    .rss_per_gateway
                    .iter()
                    .map(|r| format!("{:.0}", mib(*r)))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }
    stack.stop().await?;
    Ok(())
}
