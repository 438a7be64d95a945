//! `showroom-loadtest`: benchmarks that print figures beside baselines measured in the same run.
//!
//! `messages`: a shopper's `send` until its `ack` through the gateway (a durable Postgres
//! commit, then the bus), with C conversations writing at once, against the floor under it: a
//! raw single-row Postgres insert and a raw JetStream publish, same concurrency, same servers,
//! and the same promise behind a bare WebSocket server ([`socket_floor`]).
//!
//! `presence`: heartbeats processed per second end to end (NATS → presence → Redis) beside raw
//! pipelined `ZADD`s, and the availability query's p50/p99 beside a raw Redis `ZCOUNT` pipeline.
//!
//! `routing`: routing decisions (`conversation.start` answered by the router) per second and
//! their p50/p99 with one and three replicas, beside the same durable write straight in Postgres
//! and a bare NATS request/reply, and the floor of a decision behind a bare responder
//! ([`decision_floor`]); and the CPU a decision costs each process ([`cpu`]).
//!
//! `leads`: leads per second from a `lead.created` event on LEADS until crm-export has
//! delivered it to a webhook and as an ADF e-mail, with per-lead latencies, beside raw
//! JetStream publishes, raw HTTP POSTs to the same receiver and raw SMTP sends to the same
//! maildev.
//!
//! `sockets`: what an idle widget socket costs a gateway process beside a bare axum socket,
//! whether the memory returns after the peak, and many sockets over several gateway processes
//! with ping and send round trips. Its client processes (`sockets-client`) and the baseline
//! server (`sockets-baseline`) are this binary too.
//!
//! `fanout`: how much of the bus each of several gateway processes receives while they hold
//! the sockets of many dealer groups, beside everything published in the same run; with
//! `--proxy`, through a real nginx that hashes the sockets by their route (the dealer group).
//!
//! `soak`: a dealer group's day compressed into minutes on every service as processes of its
//! own (200 rooftops, 2 000 agents, shoppers arriving at random, chatting, transferred, missed
//! and turned into leads): per minute, messages per second, the p50 and p99 of shopper → agent
//! beside a bare NATS request/reply, each process's RSS beside the first minute's, and errors.
//!
//! `search`: `GET /api/v1/search`'s p50/p99 over 1 000 000 messages in 10 000 chats seeded in
//! bulk, beside a plain lookup by id in the same run.
//!
//! `dashboard`: `GET /api/v1/reports/trends` and `…/departments` for 40 rooftops over 90 days
//! (200 000 chats over 180 days seeded in bulk), beside `GET /api/v1/me` in the same run.
//!
//! `--statements` (`messages`, `routing`, `leads`): which statements Postgres spent one phase's
//! time on, per message, decision or lead ([`statements`]).

mod cpu;
mod dashboard;
mod decision_floor;
mod fanout;
mod leads;
mod messages;
mod presence;
mod routing;
mod search;
mod shared_commits;
mod soak;
mod socket_floor;
mod sockets;
mod statements;

use std::process::ExitCode;

/// The value of `--flag N` in `args`, or `default`.
pub(crate) fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the switch `--name` is in `args`.
pub(crate) fn switch(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// A process's resident set in bytes (`VmRSS` of `/proc/<pid>/status`).
pub(crate) fn rss(pid: u32) -> anyhow::Result<u64> {
    use anyhow::Context;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

/// p50 and p99 of microsecond samples, in milliseconds (NaN without samples).
pub(crate) fn percentiles(samples: &[u64]) -> anyhow::Result<(f64, f64)> {
    if samples.is_empty() {
        return Ok((f64::NAN, f64::NAN));
    }
    let mut h = hdrhistogram::Histogram::<u64>::new(3)?;
    for s in samples {
        h.record(*s)?;
    }
    Ok((
        h.value_at_quantile(0.50) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    ))
}

/// Sets each of `agents` Available through presence (their chosen status).
pub(crate) async fn set_available(
    nats: &async_nats::Client,
    group: uuid::Uuid,
    agents: &[uuid::Uuid],
) -> anyhow::Result<()> {
    use showroom_proto::presence::{AgentStatus, SetStatus};
    for a in agents {
        let env = showroom_proto::Envelope::new(
            group,
            SetStatus {
                agent_id: *a,
                status: AgentStatus::Available,
                changed_by: *a,
            },
        );
        nats.request(
            showroom_proto::v1::presence_set_status(group),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    }
    Ok(())
}

// The services run in this process (`messages`, `routing`, `leads`) allocate as in production.
showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("messages") | None => {
            messages::run(messages::Options::parse(&args[args.len().min(1)..])).await
        }
        Some("presence") => presence::run(presence::Options::parse(&args[1..])).await,
        Some("routing") => routing::run(routing::Options::parse(&args[1..])).await,
        Some("leads") => leads::run(leads::Options::parse(&args[1..])).await,
        Some("sockets") => sockets::run(sockets::Options::parse(&args[1..])).await,
        Some("sockets-client") => sockets::client(&args[1..]).await,
        Some("sockets-baseline") => sockets::baseline_server().await,
        Some("soak") => soak::run(soak::Options::parse(&args[1..])).await,
        Some("fanout") => fanout::run(fanout::Options::parse(&args[1..])).await,
        Some("search") => search::run(search::Options::parse(&args[1..])).await,
        Some("dashboard") => dashboard::run(dashboard::Options::parse(&args[1..])).await,
        Some(other) => {
            eprintln!(
                "unknown benchmark `{other}`; available: messages, presence, routing, leads, sockets, soak, fanout, search, dashboard"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadtest failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
