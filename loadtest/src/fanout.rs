//! `fanout`: how much of the bus each gateway replica receives. Several gateway processes hold
//! the sockets of many dealer groups (each group's agent console on one gateway, its shoppers
//! spread over all of them); every chat exchanges messages; then each gateway's own counters
//! say how many live messages (`showroom_live_events_total`, only the conversations its sockets
//! watch) and how many conversation, internal chat and presence events
//! (`showroom_followed_events_total`: only those of the dealer groups whose sockets it holds, and
//! the requests on the same subjects) it received, beside everything published in the same run
//! (the baseline: before fan-out by interest and by group, every gateway received all of it).
//!
//! With `--proxy nginx`, every socket goes through a real nginx that routes them as the
//! production ingress does (the socket paths hashed on their `route`, the dealer group); with
//! `--proxy haproxy`, through HAProxy hashing the same way with bounded loads
//! (`hash-balance-factor 125`; both `showroom_localinfra::GatewayProxy`). The sockets carry
//! the routes the pages send: the console its agent's group, the widget the route it asks before
//! its first socket. Where each group lands is then the proxy's doing, not the benchmark's.
//!
//! A count, not a speed: the figures do not depend on the machine's load, so one run is enough.

use std::time::Duration;

use serde_json::json;
use showroom_localinfra::{GatewayProxy, ProxyKind};
use showroom_testkit::accepted_chat;
use showroom_testkit::{GatewayProcess, Http, PASSWORD, Socket, Stack, Tenant, Tuning};

/// What to run.
pub struct Options {
    /// Gateway processes.
    pub gateways: usize,
    /// Dealer groups.
    pub groups: usize,
    /// Chats per group.
    pub chats: usize,
    /// Messages per chat (shopper and agent in turn).
    pub messages: usize,
    /// Every socket of a group on its agent's gateway (a load balancer that hashes by group),
    /// instead of each shopper on another gateway than the agent.
    pub by_group: bool,
    /// Every socket through a proxy that hashes it by its route.
    pub proxy: Option<ProxyKind>,
}

impl Options {
    /// `--gateways G --groups N --chats C --messages M [--by-group | --proxy nginx|haproxy
    /// [--balance-factor F]]` (defaults 4, 40, 4, 10, spread; `--proxy` alone is nginx; F 125).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            gateways: get("--gateways", 4).max(1),
            groups: get("--groups", 40).max(1),
            chats: get("--chats", 4).max(1),
            messages: get("--messages", 10),
            by_group: crate::switch(args, "--by-group"),
            proxy: args.iter().position(|a| a == "--proxy").map(|i| {
                match args.get(i + 1).map(String::as_str) {
                    Some("haproxy") => ProxyKind::HaProxy {
                        balance_factor: get("--balance-factor", 125).max(100) as u32,
                    },
                    _ => ProxyKind::Nginx,
                }
            }),
        }
    }
}

/// Where a group's sockets connect.
enum Place<'a> {
    /// Directly to gateways: the agent's on `home`, shopper `j`'s on `home + 1 + j` (so every
    /// chat has its two sides on two gateways, the worst a load balancer can do), or on `home`
    /// too with `--by-group`.
    Direct(&'a [GatewayProcess]),
    /// Through the proxy at this base URL, with the routes the pages send.
    Proxy(&'a str),
}

/// A shopper's widget socket, at `place`: through the proxy, as a new visitor's widget does
/// (asks its website's route, then connects with it).
async fn shopper_socket(t: &Tenant, place: &Place<'_>, gateway: usize) -> anyhow::Result<Socket> {
    match place {
        Place::Direct(gateways) => {
            let g = &gateways[gateway % gateways.len()];
            Socket::widget(&g.ws_url(""), &t.key, &t.origin).await
        }
        Place::Proxy(base) => {
            let asked: serde_json::Value = reqwest::Client::new()
                .get(format!("{base}/api/v1/widget/{}/route", t.key))
                .header("Origin", &t.origin)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let route = asked["route"].as_str().unwrap_or_default();
            let url = format!(
                "{}/ws/widget?key={}&route={route}",
                base.replacen("http://", "ws://", 1),
                t.key
            );
            Socket::connect(&url, &[("Origin", &t.origin)])
                .await
                .map_err(|r| anyhow::anyhow!("widget refused: {r:?}"))
        }
    }
}

/// One group's chats (see [`Place`] for where each socket goes). The sockets stay open until
/// the end.
async fn group_chats(
    t: &Tenant,
    place: &Place<'_>,
    home: usize,
    o: &Options,
) -> anyhow::Result<Vec<Socket>> {
    let mut agent = match place {
        Place::Direct(gateways) => {
            let gw = &gateways[home % gateways.len()];
            let token = Http::new(&gw.base_url)
                .login(&t.agents[0].1, PASSWORD)
                .await?;
            Socket::console(&gw.ws_url(""), &token).await?
        }
        Place::Proxy(base) => {
            let token = Http::new(base).login(&t.agents[0].1, PASSWORD).await?;
            let url = format!(
                "{}/ws/console?route={}",
                base.replacen("http://", "ws://", 1),
                t.group
            );
            let bearer = format!("Bearer {token}");
            Socket::connect(&url, &[("Authorization", &bearer)])
                .await
                .map_err(|r| anyhow::anyhow!("console refused: {r:?}"))?
        }
    };
    agent.ask(json!({"type": "hello", "v": 1})).await?;
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut open = Vec::new();
    for j in 0..o.chats {
        let gateway = match o.by_group {
            true => home,
            false => home + 1 + j,
        };
        let mut shopper = shopper_socket(t, place, gateway).await?;
        shopper.ask(json!({"type": "hello", "v": 1})).await?;
        let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
        for m in 0..o.messages {
            let id = format!("{j}-{m}");
            let ack = if m % 2 == 0 {
                shopper
                    .ask(json!({"type": "send", "client_msg_id": id, "text": "Is it in stock?"}))
                    .await?
            } else {
                agent
                    .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": id, "text": "It is."}))
                    .await?
            };
            anyhow::ensure!(ack["type"] == "ack", "{ack}");
        }
        open.push(shopper);
    }
    open.push(agent);
    Ok(open)
}

/// Runs the measurement and prints its table.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.with_file_name("showroom-service");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release -p showroom-loadtest -p showroom-testkit --bin showroom-service",
        binary.display()
    );
    let stack = Stack::start_durable_tuned(Tuning::for_load(), false).await?;
    let mut tenants = Vec::new();
    for i in 0..o.groups {
        tenants.push(Tenant::seed(&stack.pool, &format!("Fanout{i}"), 1).await?);
    }
    showroom_store::sqlx::query("UPDATE agents SET max_chats = 1000")
        .execute(&stack.pool)
        .await?;
    let mut gateways = Vec::new();
    for _ in 0..o.gateways {
        gateways.push(
            stack
                .gateway_process_with(&binary, &["gateway"], &[])
                .await?,
        );
    }
    let mut ports = Vec::new();
    for g in &gateways {
        let port = g.base_url.rsplit(':').next().unwrap_or_default();
        ports.push(port.parse()?);
    }
    let proxy = match o.proxy {
        Some(kind) => Some(GatewayProxy::start(kind, &ports).await?),
        None => None,
    };
    let proxy_url = std::sync::Arc::new(proxy.as_ref().map(|p| p.url.clone()));
    let gateways = std::sync::Arc::new(gateways);
    let o = std::sync::Arc::new(o);
    // At most 32 groups setting up at once: each logs in, and the gateways hash passwords a
    // few at a time (more at once are answered `busy`).
    let setting_up = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut runs = Vec::new();
    for (i, t) in tenants.into_iter().enumerate() {
        let (gateways, o, proxy_url) = (gateways.clone(), o.clone(), proxy_url.clone());
        let setting_up = setting_up.clone();
        runs.push(tokio::spawn(async move {
            let _turn = setting_up.acquire_owned().await?;
            let place = match proxy_url.as_deref() {
                Some(base) => Place::Proxy(base),
                None => Place::Direct(&gateways),
            };
            group_chats(&t, &place, i, &o).await
        }));
    }
    let mut sockets = Vec::new();
    for r in runs {
        sockets.push(r.await??);
    }
    let messages: i64 = showroom_store::sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&stack.pool)
        .await?;
    let messages = messages as f64;
    // Every event the streams hold: the run's (the stack is new).
    let js = showroom_bus::async_nats::jetstream::new(stack.nats_client().await?);
    let mut events = 0.0;
    for name in streams() {
        events += js.get_stream(name).await?.info().await?.state.messages as f64;
    }
    // Every live copy has arrived once each gateway's counts stop moving.
    let mut counts = received(&gateways).await?;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let again = received(&gateways).await?;
        if again == counts {
            break;
        }
        counts = again;
    }
    println!();
    println!(
        "fan-out by interest: {} gateway processes, {} dealer groups, {} chats of {} messages each \
         ({messages} messages stored in all), sockets {}",
        o.gateways,
        o.groups,
        o.chats,
        o.messages,
        match (o.proxy, o.by_group) {
            (Some(ProxyKind::Nginx), _) =>
                "through nginx, hashed by their route (the production ingress's rule)",
            (Some(ProxyKind::HaProxy { .. }), _) =>
                "through HAProxy, hashed by their route with bounded loads (hash-balance-factor)",
            (None, true) => "by group (a group's sockets on one gateway)",
            (None, false) => "spread (each chat's shopper and agent on different gateways)",
        }
    );
    println!(
        "| gateway | dealer groups followed | live messages received | share of all messages | stream events received | share of all {events:.0} stream events | share of all messages and events |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, (live, followed)) in counts.iter().enumerate() {
        let groups = gateways[i]
            .metric(showroom_telemetry::metrics::names::FOLLOWED_GROUPS, "")
            .await?;
        println!(
            "| {} | {groups:.0} | {live:.0} | {:.1}% | {followed:.0} | {:.1}% | {:.1}% |",
            i + 1,
            100.0 * live / messages,
            100.0 * followed / events,
            100.0 * (live + followed) / (messages + events),
        );
    }
    println!(
        "baseline (every gateway received everything before fan-out by interest): 100% of {messages} messages"
    );
    drop(sockets);
    drop(proxy);
    stack.stop().await
}

/// The streams of the events a gateway follows by group (internal chat messages, in MESSAGES,
/// are left out: the run writes none).
fn streams() -> [&'static str; 3] {
    use showroom_proto::v1;
    [
        v1::conversations_stream().name,
        v1::internal_stream().name,
        v1::presence_stream().name,
    ]
}

/// Per gateway: live messages and stream events received so far (the requests on the same
/// subjects count as received).
async fn received(gateways: &[GatewayProcess]) -> anyhow::Result<Vec<(f64, f64)>> {
    use showroom_telemetry::metrics::names;
    let mut out = Vec::new();
    for g in gateways {
        let mut followed = 0.0;
        for name in streams() {
            let label = format!("stream=\"{name}\"");
            followed += g.metric(names::FOLLOWED_EVENTS, &label).await?;
        }
        out.push((
            g.metric(names::LIVE_EVENTS, "kind=\"message\"").await?,
            followed,
        ));
    }
    Ok(out)
}
