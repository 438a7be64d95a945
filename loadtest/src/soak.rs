//! A dealer group's day compressed into a few minutes, on production's shape: every service as
//! processes of its own (the release `showroom-service` binary beside this one, through
//! [`Fleet`]: a three-node NATS cluster, Postgres, Redis, the SMTP catcher), so each process's
//! resident set is its own.
//!
//! The scenario:
//! - **One dealer group** seeded straight in Postgres: `--rooftops` rooftops, each with a
//!   website and a Sales and a Service department, and `--agents` agents spread over them
//!   (about two in three in Sales), each holding up to [`MAX_CHATS`] chats. Every department
//!   misses a chat after [`INCOMING_TIMEOUT_SECS`] (the product's five minutes, compressed).
//! - **Agents** log in over HTTP and hold a console socket each: `hello`, then Available; they
//!   accept offers after a moment, answer each shopper message after a short think time, and
//!   hand about [`TRANSFER_SHARE`] of their chats to a colleague of the same department
//!   (`transfer`, which the colleague accepts). One rooftop in ten has its agents Away: its
//!   chats go offline at once.
//! - **Shoppers** arrive at random (exponential gaps, thinned to a day's curve: a quiet
//!   morning, a midday peak at `--rate` chats started per second, an evening shoulder), each on
//!   a random rooftop's website: `start` in Sales or Service, wait for an agent, then 3 to 6
//!   messages with think time, each waited for until the agent answers, then `end`. A chat that
//!   goes offline or is missed becomes a lead through the leave-a-message form
//!   (`leave_message`), as the widget offers it; so does a shopper whose `start` is still
//!   refused busy after the widget's tries (turned away).
//!
//! Measured per minute: chats started, answered, missed and offline, messages left, transfers,
//! leads (rows in `leads`), messages per second (every `ack`, shoppers' and agents'), the p50 and
//! p99 of shopper `send` → the agent's console receiving that `message` frame (the send time
//! travels in the `client_msg_id`; one process, one clock), errors, and every process's RSS
//! (`VmRSS`: each service replica, each NATS node, Redis).
//!
//! The baselines, measured in the same run before the soak starts, on the same servers: a bare
//! NATS request/reply through the cluster (the headline ratio: one bus round trip, what the
//! message's path cannot go below) and a raw single-row Postgres insert round trip. Memory is
//! compared with the first minute's.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use showroom_rest::directory::setup::{self, NewAgent};
use showroom_store::sqlx::{self, PgPool};
use showroom_testkit::{Fleet, Http, PASSWORD, Service, Socket};
use tokio::task::JoinSet;
use uuid::Uuid;

/// What to run.
#[derive(Clone, Copy)]
pub struct Options {
    /// Length of the compressed day, in minutes.
    pub minutes: usize,
    /// Rooftops of the group (one website each).
    pub rooftops: usize,
    /// Agents over all rooftops.
    pub agents: usize,
    /// Chats started per second at the midday peak.
    pub rate: usize,
    /// Processes of every service.
    pub replicas: usize,
}

impl Options {
    /// `--minutes M --rooftops R --agents A --rate C --replicas N` (defaults 10, 200, 2 000,
    /// 120, 1). At the peak, 120 chats a second of about nine messages each (the shopper's and
    /// the agent's answers) are about 1 000 messages a second.
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            minutes: get("--minutes", 10).max(1),
            rooftops: get("--rooftops", 200).max(1),
            agents: get("--agents", 2_000).max(1),
            rate: get("--rate", 120).max(1),
            replicas: get("--replicas", 1).max(1),
        }
    }
}

/// Chats an agent holds at once (the product's default is 3; a dealer's busy agents take more).
const MAX_CHATS: i32 = 8;

/// Seconds an offered chat waits before it is missed (the product's 300, compressed).
const INCOMING_TIMEOUT_SECS: i32 = 30;

/// How long a shopper waits for an agent before giving up (after the chat would be missed).
const AGENT_WAIT: Duration = Duration::from_secs(45);

/// How long a shopper waits for the `ack` and the agent's answer to a message.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// The share of accepted chats an agent transfers to a colleague.
const TRANSFER_SHARE: f64 = 0.05;

/// Shoppers connected at once, at most: the load generator's open-file limit is 20 000, and the
/// agents' consoles and the clients' connections need some.
const MAX_SHOPPERS: usize = 12_000;

/// How long the shoppers still chatting at the end of the day may take to finish.
const DRAIN: Duration = Duration::from_secs(55);

/// How many times a shopper sends a `start` answered `unavailable` again, after 2–4 s, 4–8 s,
/// then 8–16 s (the widget's `START_TRIES`, `services/gateway/assets/widget.js`).
const START_TRIES: u32 = 5;

/// The messages per second and the p99 the issue asks for (figures, never asserted).
const TARGET_MSGS_PER_SEC: f64 = 1_000.0;
const TARGET_P99_MS: f64 = 20.0;

/// The rate of chats started at `f` (0.0 to 1.0) through the day, as a share of the peak: a
/// quiet morning, the midday peak, a dip, an evening shoulder, closing time.
fn day_curve(f: f64) -> f64 {
    const POINTS: [(f64, f64); 8] = [
        (0.0, 0.10),
        (0.2, 0.25),
        (0.4, 1.00),
        (0.5, 1.00),
        (0.65, 0.45),
        (0.8, 0.60),
        (0.9, 0.40),
        (1.0, 0.10),
    ];
    let f = f.clamp(0.0, 1.0);
    for w in POINTS.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if f <= x1 {
            return y0 + (y1 - y0) * (f - x0) / (x1 - x0);
        }
    }
    POINTS[POINTS.len() - 1].1
}

/// A uniformly random duration between `lo` and `hi` seconds.
fn between(lo: f64, hi: f64) -> Duration {
    Duration::from_secs_f64(rand::random_range(lo..hi))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------------------------
// The dealer group.

/// One rooftop: its website and departments.
struct Rooftop {
    key: String,
    origin: String,
    sales: Uuid,
    service: Uuid,
    /// Its agents are Away all day: its chats go offline.
    away: bool,
}

/// One agent: who, where, and in which department.
struct Seat {
    id: Uuid,
    email: String,
    department: Uuid,
    away: bool,
}

struct Group {
    rooftops: Vec<Rooftop>,
    seats: Vec<Seat>,
}

/// Seeds the group as [`showroom_testkit::Tenant::seed`] does (the directory's setup writes,
/// the bot's settings with the Lead Gate off), with the agents after the first in one bulk
/// insert that copies the first one's password hash (2 000 argon2 hashes would take minutes).
async fn seed(pool: &PgPool, o: &Options) -> anyhow::Result<Group> {
    let group = setup::group(pool, "Soak Motor Group").await?;
    sqlx::query("UPDATE dealer_groups SET mfa_policy = 'off' WHERE id = $1")
        .bind(group)
        .execute(pool)
        .await?;
    let no_gate = showroom_proto::bot::BotSettings {
        lead_gate: false,
        ..Default::default()
    };
    let mut rooftops = Vec::with_capacity(o.rooftops);
    for r in 0..o.rooftops {
        let rooftop =
            setup::rooftop(pool, group, &format!("Soak Rooftop {r}"), "America/Chicago").await?;
        let sales = setup::department(pool, group, rooftop, "Sales", Some("Front End"), 0).await?;
        let service =
            setup::department(pool, group, rooftop, "Service", Some("Back End"), 1).await?;
        let key = format!("soak-{r}");
        let origin = format!("https://www.rooftop{r}.soak.example");
        let website = setup::website(
            pool,
            group,
            rooftop,
            &format!("rooftop{r}.soak.example"),
            &key,
            std::slice::from_ref(&origin),
        )
        .await?;
        showroom_bot::settings::store(pool, group, website, &no_gate).await?;
        rooftops.push(Rooftop {
            key,
            origin,
            sales,
            service,
            away: r % 10 == 9,
        });
    }
    // A missed chat in compressed time.
    sqlx::query(
        "INSERT INTO department_routing (department_id, group_id, incoming_timeout_secs) \
         SELECT id, group_id, $2 FROM departments WHERE group_id = $1",
    )
    .bind(group)
    .bind(INCOMING_TIMEOUT_SECS)
    .execute(pool)
    .await
    .context("compressing the departments' incoming time-out")?;

    // Agent i works at rooftop i % R; the k-th agent of a rooftop is in Service when k % 3 == 2.
    let mut seats = Vec::with_capacity(o.agents);
    for i in 0..o.agents {
        let r = &rooftops[i % o.rooftops];
        let k = i / o.rooftops;
        seats.push(Seat {
            id: Uuid::nil(),
            email: format!("agent{i}@soak.example"),
            department: if k % 3 == 2 { r.service } else { r.sales },
            away: r.away,
        });
    }
    seats[0].id = setup::agent(
        pool,
        group,
        NewAgent {
            email: &seats[0].email,
            password: PASSWORD,
            first_name: "Agent0",
            last_name: "Soak",
            role: "agent",
            departments: &[seats[0].department],
        },
    )
    .await?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM agents WHERE id = $1")
        .bind(seats[0].id)
        .fetch_one(pool)
        .await?;
    for s in seats.iter_mut().skip(1) {
        s.id = Uuid::now_v7();
    }
    let rest = &seats[1..];
    let ids: Vec<Uuid> = rest.iter().map(|s| s.id).collect();
    let emails: Vec<String> = rest.iter().map(|s| s.email.clone()).collect();
    let firsts: Vec<String> = (1..o.agents).map(|i| format!("Agent{i}")).collect();
    let departments: Vec<Uuid> = rest.iter().map(|s| s.department).collect();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role) \
         SELECT id, $1, email, $2, first_name, 'Soak', 'agent' \
         FROM unnest($3::uuid[], $4::text[], $5::text[]) AS a(id, email, first_name)",
    )
    .bind(group)
    .bind(&hash)
    .bind(&ids)
    .bind(&emails)
    .bind(&firsts)
    .execute(&mut *tx)
    .await
    .context("inserting the agents")?;
    sqlx::query(
        "INSERT INTO agent_memberships (agent_id, department_id, group_id) \
         SELECT agent_id, department_id, $1 FROM unnest($2::uuid[], $3::uuid[]) AS m(agent_id, department_id)",
    )
    .bind(group)
    .bind(&ids)
    .bind(&departments)
    .execute(&mut *tx)
    .await
    .context("inserting the memberships")?;
    sqlx::query("UPDATE agents SET max_chats = $2 WHERE group_id = $1")
        .bind(group)
        .bind(MAX_CHATS)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Group { rooftops, seats })
}

// ---------------------------------------------------------------------------------------------
// What is counted.

/// One minute's figures.
#[derive(Default)]
struct Minute {
    started: u64,
    answered: u64,
    missed: u64,
    offline: u64,
    /// Shoppers who waited [`AGENT_WAIT`] for an agent and left.
    abandoned: u64,
    /// `leave_message` answered `message_left`.
    left: u64,
    transfers_requested: u64,
    /// Transfers the colleague accepted.
    transferred: u64,
    /// `ack`s: messages stored, shoppers' and agents'.
    messages: u64,
    /// Shopper `send` → the agent's `message` frame, microseconds.
    latencies: Vec<u64>,
    /// Shopper `send` → its `ack` (stored and published), microseconds: the message path's
    /// own delay, apart from the delivery to the agent.
    acks: Vec<u64>,
    errors: u64,
    /// Two agents accepting one broadcast chat: one gets `already_taken` (not an error).
    races: u64,
    /// Starts answered `unavailable` and sent again, as the widget does ([`START_TRIES`]).
    start_retries: u64,
    /// Shoppers whose start was still `unavailable` after every try: the widget offers them
    /// the leave-a-message form, and they leave a message (counted in `left` too).
    turned_away: u64,
    /// An `offer` frame's age as a console reads it (now less the chat's `created_at`),
    /// microseconds: how late offers reach the agents.
    offer_ages: Vec<u64>,
    /// How late the load generator's own 100 ms ticks wake, microseconds: whether it keeps up.
    tick_lag: Vec<u64>,
    /// Sampled at the end of the minute: rows in `leads` so far, and every process's RSS.
    leads_total: Option<i64>,
    rss: Vec<u64>,
    /// How long the minute was (the last, the drain, is shorter).
    secs: f64,
}

/// Everything the shoppers and agents count, by minute of the day.
struct Stats {
    start: Instant,
    minutes: Mutex<Vec<Minute>>,
    error_kinds: Mutex<BTreeMap<String, u64>>,
    examples: Mutex<Vec<String>>,
    /// Chats the agents hold, as their consoles' frames told them (compared each minute with
    /// the chats the router has active).
    held: std::sync::atomic::AtomicI64,
    /// Agents holding [`MAX_CHATS`] chats (they accept no offer).
    full: std::sync::atomic::AtomicI64,
}

impl Stats {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            minutes: Mutex::new(Vec::new()),
            error_kinds: Mutex::new(BTreeMap::new()),
            examples: Mutex::new(Vec::new()),
            held: Default::default(),
            full: Default::default(),
        }
    }

    /// Microseconds since the start (what a shopper's `client_msg_id` carries).
    fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn at(&self, minute: usize, f: impl FnOnce(&mut Minute)) {
        let mut m = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        while m.len() <= minute {
            m.push(Minute::default());
        }
        f(&mut m[minute]);
    }

    /// Counts into the current minute.
    fn add(&self, f: impl FnOnce(&mut Minute)) {
        self.at((self.start.elapsed().as_secs() / 60) as usize, f);
    }

    /// An error of `kind` (a short fixed text), with its details for the first few.
    fn error(&self, kind: &str, detail: impl std::fmt::Display) {
        self.add(|m| m.errors += 1);
        *self
            .error_kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind.to_string())
            .or_default() += 1;
        let mut ex = self.examples.lock().unwrap_or_else(|e| e.into_inner());
        if ex.len() < 8 {
            ex.push(format!("{kind}: {detail}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Agents.

/// A console logged in, said `hello` and set Available (or Away).
async fn connect_agent(seat: &Seat, base: &str) -> anyhow::Result<Socket> {
    let http = Http::new(base);
    let mut tries = 0;
    // Password checks run a few at a time: a login that waited too long is answered 503.
    let token = loop {
        match http.login(&seat.email, PASSWORD).await {
            Ok(t) => break t,
            Err(_) if tries < 10 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500 * tries)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("logging {} in", seat.email)),
        }
    };
    let mut c = Socket::console(&base.replacen("http://", "ws://", 1), &token).await?;
    let welcome = c.ask(json!({"type": "hello", "v": 1})).await?;
    anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
    let status = if seat.away { "away" } else { "available" };
    let st = c
        .ask(json!({"type": "set_status", "status": status}))
        .await?;
    anyhow::ensure!(st["type"] == "status" && st["status"] == status, "{st}");
    Ok(c)
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Accept(String),
    Reply(String),
    Transfer(String),
    TransferReply(String),
}

impl Action {
    fn conversation(&self) -> Option<&str> {
        match self {
            Action::Accept(c) | Action::Reply(c) | Action::Transfer(c) => Some(c),
            Action::TransferReply(_) => None,
        }
    }
}

const AGENT_LINES: [&str; 4] = [
    "Yes, it is still on the lot. When would you like to come by?",
    "Let me check the stock for you, one moment.",
    "We can do a test drive this afternoon if that suits you.",
    "I can send you the out-the-door price by e-mail.",
];

/// One agent's console at work.
struct Agent {
    index: usize,
    me: String,
    sock: Socket,
    /// Colleagues of the same department (transfer targets).
    colleagues: Vec<Uuid>,
    stats: Arc<Stats>,
    /// The chats this agent has now.
    held: HashSet<String>,
    pending: Vec<(Instant, Action)>,
    /// Chats to transfer after the next answer.
    to_transfer: HashSet<String>,
    n: u64,
}

fn closed(state: &str) -> bool {
    !matches!(state, "bot" | "incoming" | "active")
}

impl Agent {
    async fn run(mut self, stop: Arc<AtomicBool>) -> Socket {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut due = Vec::new();
            self.pending.retain(|(at, a)| {
                if *at <= now {
                    due.push(a.clone());
                    false
                } else {
                    true
                }
            });
            for a in due {
                if let Err(e) = self.act(a).await {
                    self.stats.error("agent: send failed", format!("{e:#}"));
                    return self.sock;
                }
            }
            let next = self
                .pending
                .iter()
                .map(|(at, _)| *at)
                .min()
                .unwrap_or(now + Duration::from_millis(250))
                .min(now + Duration::from_millis(250));
            match self
                .sock
                .next_within(next.saturating_duration_since(Instant::now()))
                .await
            {
                Ok(Some(v)) => {
                    let before = self.held.len();
                    self.on_frame(v);
                    self.count_held(before);
                }
                Ok(None) => {}
                Err(e) => {
                    self.stats.error("agent: console closed", format!("{e:#}"));
                    return self.sock;
                }
            }
        }
        self.sock
    }

    /// Keeps [`Stats::held`] and [`Stats::full`] up to date after the held chats changed.
    fn count_held(&self, before: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let (now, max) = (self.held.len(), MAX_CHATS as usize);
        self.stats
            .held
            .fetch_add(now as i64 - before as i64, Relaxed);
        self.stats
            .full
            .fetch_add(i64::from(now >= max) - i64::from(before >= max), Relaxed);
    }

    fn later(&mut self, wait: Duration, a: Action) {
        self.pending.push((Instant::now() + wait, a));
    }

    fn drop_chat(&mut self, conv: &str) {
        self.held.remove(conv);
        self.to_transfer.remove(conv);
        self.pending.retain(|(_, a)| a.conversation() != Some(conv));
    }

    fn on_frame(&mut self, v: Value) {
        let conv_of = |c: &Value| c["id"].as_str().unwrap_or_default().to_string();
        match v["type"].as_str().unwrap_or_default() {
            "offer" => {
                let created = v["conversation"]["created_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if let Some(created) = created {
                    let age = (chrono::Utc::now() - created.to_utc()).num_microseconds();
                    self.stats
                        .add(|m| m.offer_ages.push(age.unwrap_or(0).max(0) as u64));
                }
                if self.held.len() >= MAX_CHATS as usize {
                    return;
                }
                let conv = conv_of(&v["conversation"]);
                self.later(between(0.2, 1.0), Action::Accept(conv));
            }
            "offer_withdrawn" => {
                let conv = v["conversation_id"].as_str().unwrap_or_default();
                let gone = Action::Accept(conv.to_string());
                self.pending.retain(|(_, a)| *a != gone);
            }
            "accepted" => {
                let conv = conv_of(&v["conversation"]);
                if !self.colleagues.is_empty() && rand::random::<f64>() < TRANSFER_SHARE {
                    self.to_transfer.insert(conv.clone());
                }
                self.held.insert(conv);
            }
            "conversation" => {
                let c = &v["conversation"];
                let conv = conv_of(c);
                let state = c["state"].as_str().unwrap_or_default();
                let agent = c["agent"]["id"].as_str();
                if closed(state) || agent.is_some_and(|a| a != self.me) {
                    self.drop_chat(&conv);
                } else if state == "active" && agent == Some(self.me.as_str()) {
                    self.held.insert(conv);
                }
            }
            "message" => {
                let m = &v["message"];
                if m["author"]["kind"] != "shopper" {
                    return;
                }
                let sent = m["client_msg_id"]
                    .as_str()
                    .and_then(|id| id.rsplit('-').next())
                    .and_then(|t| t.parse::<u64>().ok());
                if let Some(sent) = sent {
                    let took = self.stats.micros().saturating_sub(sent);
                    self.stats.add(|m| m.latencies.push(took));
                }
                let conv = m["conversation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if self.held.contains(&conv) {
                    self.later(between(0.5, 2.0), Action::Reply(conv));
                }
            }
            "ack" => self.stats.add(|m| m.messages += 1),
            "transfer_offer" => {
                let id = v["transfer"]["id"].as_str().unwrap_or_default().to_string();
                self.later(between(0.5, 1.5), Action::TransferReply(id));
            }
            "transfer" => {
                // The answer to this agent's own `transfer_reply`.
                let mine = v["ref"].as_str().is_some_and(|r| r.starts_with('x'));
                if mine && v["transfer"]["state"] == "accepted" {
                    self.stats.add(|m| m.transferred += 1);
                    let conv = v["transfer"]["conversation_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    self.held.insert(conv.clone());
                    // A word to the shopper, which also answers a message sent while the chat
                    // moved (the colleague who had it no longer follows it).
                    self.later(between(0.2, 0.6), Action::Reply(conv));
                }
            }
            "error" => {
                let code = v["code"].as_str().unwrap_or_default();
                let on = v["ref"].as_str().and_then(|r| r.chars().next());
                match (on, code) {
                    (Some('a'), "already_taken" | "not_allowed" | "conversation_closed") => {
                        self.stats.add(|m| m.races += 1)
                    }
                    (Some('a'), _) => self.stats.error("agent: accept refused", &v),
                    (Some('m'), _) => self.stats.error("agent: send refused", &v),
                    (Some('t'), _) => self.stats.error("agent: transfer refused", &v),
                    (Some('x'), _) => self.stats.error("agent: transfer_reply refused", &v),
                    _ => self.stats.error("agent: error frame", &v),
                }
            }
            _ => {}
        }
    }

    async fn act(&mut self, a: Action) -> anyhow::Result<()> {
        self.n += 1;
        let n = self.n;
        match a {
            Action::Accept(conv) => {
                if self.held.len() < MAX_CHATS as usize {
                    self.sock
                        .send(json!({"type": "accept", "conversation_id": conv, "ref": format!("a{n}")}))
                        .await?;
                }
            }
            Action::Reply(conv) => {
                if !self.held.contains(&conv) {
                    return Ok(());
                }
                let text = AGENT_LINES[n as usize % AGENT_LINES.len()];
                self.sock
                    .send(json!({"type": "send", "conversation_id": conv,
                                 "client_msg_id": format!("a{}-{n}", self.index),
                                 "text": text, "ref": format!("m{n}")}))
                    .await?;
                if self.to_transfer.remove(&conv) {
                    self.later(Duration::from_secs(1), Action::Transfer(conv));
                }
            }
            Action::Transfer(conv) => {
                if !self.held.contains(&conv) || self.colleagues.is_empty() {
                    return Ok(());
                }
                let to = self.colleagues[rand::random_range(0..self.colleagues.len())];
                self.stats.add(|m| m.transfers_requested += 1);
                self.sock
                    .send(
                        json!({"type": "transfer", "conversation_id": conv, "to_agent": to,
                                 "note": "Wants a trade-in appraisal", "ref": format!("t{n}")}),
                    )
                    .await?;
            }
            Action::TransferReply(id) => {
                // A colleague with no room left declines.
                let accept = self.held.len() < MAX_CHATS as usize;
                self.sock
                    .send(
                        json!({"type": "transfer_reply", "transfer_id": id, "accept": accept,
                                 "ref": format!("x{n}")}),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Shoppers.

const SHOPPER_LINES: [&str; 5] = [
    "Is the white RAV4 still available?",
    "What would my monthly payment be with 3,000 down?",
    "Do you take trade-ins? I have a 2016 Civic.",
    "Can I book an oil change for Saturday morning?",
    "Thanks, that helps.",
];

/// An answer that is not the one expected, as an error of `kind` (the kinds are counted).
/// The leave-a-message form, as the widget offers it when a chat cannot go live or start.
async fn leave_message(
    mut w: Socket,
    idx: u64,
    department: Uuid,
    stats: &Stats,
) -> anyhow::Result<()> {
    let left = w
        .ask(
            json!({"type": "leave_message", "first_name": "Maria", "last_name": "Lopez",
                    "email": format!("shopper{idx}@soak.example"),
                    "message": "Nobody was free: please call me about the RAV4.",
                    "department_id": department, "form_id": format!("f{idx}")}),
        )
        .await
        .context("shopper: leave_message")?;
    if left["type"] != "message_left" {
        return Err(refused("shopper: leave_message refused", &left));
    }
    stats.add(|m| m.left += 1);
    w.close().await;
    Ok(())
}

fn refused(kind: &'static str, answer: &Value) -> anyhow::Error {
    let code = answer["code"].as_str().unwrap_or_default();
    anyhow::anyhow!("{answer}").context(format!("{kind} ({code})"))
}

/// One shopper's visit: a chat, or a message left when nobody can take it.
async fn shopper(idx: u64, ws_base: String, roof: Arc<Group>, r: usize, stats: Arc<Stats>) {
    if let Err(e) = visit(idx, &ws_base, &roof.rooftops[r], &stats).await {
        // The outermost context is the kind; the chain is the detail.
        stats.error(&e.to_string(), format!("{e:#}"));
    }
}

async fn visit(idx: u64, ws_base: &str, r: &Rooftop, stats: &Stats) -> anyhow::Result<()> {
    let mut w = Socket::widget(ws_base, &r.key, &r.origin)
        .await
        .context("shopper: widget refused")?;
    let welcome = w
        .ask(json!({"type": "hello", "v": 1}))
        .await
        .context("shopper: hello")?;
    if welcome["type"] != "welcome" {
        return Err(refused("shopper: hello refused", &welcome));
    }
    let department = if rand::random::<f64>() < 0.7 {
        r.sales
    } else {
        r.service
    };
    let start = json!({"type": "start", "department_id": department, "name": "Soak Shopper",
                       "page_url": format!("{}/used/rav4", r.origin)});
    let mut tries = 0;
    let started = loop {
        let answer = w.ask(start.clone()).await.context("shopper: start")?;
        // Busy: the same start again a few times, each wait twice the last, as the widget does.
        if answer["code"] == "unavailable" && tries < START_TRIES {
            tries += 1;
            stats.add(|m| m.start_retries += 1);
            let base = f64::from(2u32.pow(tries).min(8));
            tokio::time::sleep(between(base, 2.0 * base)).await;
            continue;
        }
        break answer;
    };
    if started["code"] == "unavailable" {
        // Still busy: the widget offers the form, and the shopper leaves a message.
        stats.add(|m| m.turned_away += 1);
        return leave_message(w, idx, department, stats).await;
    }
    if started["type"] != "started" {
        return Err(refused("shopper: start refused", &started));
    }
    stats.add(|m| m.started += 1);
    let conv = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut state = started["conversation"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Wait for an agent (a `conversation` frame may have come before `started`: it is kept).
    let deadline = Instant::now() + AGENT_WAIT;
    while !closed(&state) && state != "active" {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Some(v) = w
            .next_within(left)
            .await
            .context("shopper: closed while waiting for an agent")?
            && v["type"] == "conversation"
            && v["conversation"]["id"] == conv.as_str()
        {
            state = v["conversation"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    }
    match state.as_str() {
        "active" => stats.add(|m| m.answered += 1),
        "missed" | "offline" => {
            stats.add(|m| {
                if state == "missed" {
                    m.missed += 1
                } else {
                    m.offline += 1
                }
            });
            return leave_message(w, idx, department, stats).await;
        }
        "incoming" | "bot" => {
            stats.add(|m| m.abandoned += 1);
            let _ = w.ask(json!({"type": "end"})).await;
            w.close().await;
            return Ok(());
        }
        other => anyhow::bail!("shopper: chat {other} before an agent came"),
    }

    let messages = rand::random_range(3..=6);
    for i in 0..messages {
        let think = if i == 0 {
            between(0.5, 2.0)
        } else {
            between(2.0, 6.0)
        };
        tokio::time::sleep(think).await;
        let sent = stats.micros();
        let r = format!("s{i}");
        w.send(
            json!({"type": "send", "client_msg_id": format!("s{idx}-{i}-{sent}"),
                      "text": SHOPPER_LINES[i % SHOPPER_LINES.len()], "ref": r}),
        )
        .await
        .context("shopper: send failed")?;
        // Until the message is stored and an agent wrote after it.
        let deadline = Instant::now() + ANSWER_WAIT;
        let (mut acked, mut answer): (Option<i64>, i64) = (None, 0);
        loop {
            if acked.is_some_and(|s| answer > s) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                match acked {
                    None => anyhow::bail!("shopper: no ack within {ANSWER_WAIT:?}"),
                    Some(_) => anyhow::bail!("shopper: no answer within {ANSWER_WAIT:?}"),
                }
            }
            let Some(v) = w
                .next_within(left)
                .await
                .context("shopper: socket closed mid-chat")?
            else {
                continue;
            };
            match v["type"].as_str().unwrap_or_default() {
                "ack" if v["ref"] == r.as_str() => {
                    acked = v["seq"].as_i64();
                    let took = stats.micros().saturating_sub(sent);
                    stats.add(|m| {
                        m.messages += 1;
                        m.acks.push(took);
                    });
                }
                "message" if v["message"]["author"]["kind"] == "agent" => {
                    answer = answer.max(v["message"]["seq"].as_i64().unwrap_or(0));
                }
                "conversation" => {
                    let s = v["conversation"]["state"].as_str().unwrap_or_default();
                    if closed(s) {
                        anyhow::bail!("shopper: chat {s} mid-chat");
                    }
                }
                "error" => return Err(refused("shopper: error frame mid-chat", &v)),
                _ => {}
            }
        }
    }
    let ended = w
        .ask(json!({"type": "end"}))
        .await
        .context("shopper: end")?;
    if ended["type"] != "conversation" {
        return Err(refused("shopper: end refused", &ended));
    }
    w.close().await;
    Ok(())
}

/// Shoppers arriving over the day; returns those still chatting at its end.
async fn arrivals(
    o: &Options,
    group: Arc<Group>,
    gateways: Vec<String>,
    stats: Arc<Stats>,
) -> JoinSet<()> {
    let day = Duration::from_secs(o.minutes as u64 * 60);
    let peak = o.rate as f64;
    let mut shoppers = JoinSet::new();
    let mut next = stats.start;
    let mut idx = 0u64;
    loop {
        // Exponential gaps at the peak rate, thinned to the curve.
        next += Duration::from_secs_f64(-(1.0 - rand::random::<f64>()).ln() / peak);
        if next >= stats.start + day {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        while shoppers.try_join_next().is_some() {}
        let f = stats.start.elapsed().as_secs_f64() / day.as_secs_f64();
        if rand::random::<f64>() >= day_curve(f) {
            continue;
        }
        if shoppers.len() >= MAX_SHOPPERS {
            stats.error("shopper: not started (too many at once)", MAX_SHOPPERS);
            continue;
        }
        idx += 1;
        let ws = gateways[idx as usize % gateways.len()].replacen("http://", "ws://", 1);
        let r = rand::random_range(0..group.rooftops.len());
        shoppers.spawn(shopper(idx, ws, group.clone(), r, stats.clone()));
    }
    shoppers
}

// ---------------------------------------------------------------------------------------------
// Baselines and samples.

/// A bare NATS request/reply through the cluster (the responder in this process), `n` in a
/// row; microseconds each.
async fn nats_baseline(fleet: &Fleet, n: usize) -> anyhow::Result<Vec<u64>> {
    let client = fleet.nats_client().await?;
    let mut sub = client.subscribe("soak.baseline").await?;
    let responder = {
        let client = client.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(reply) = m.reply {
                    let _ = client.publish(reply, m.payload).await;
                }
            }
        })
    };
    client.flush().await?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client
            .request("soak.baseline", "Is the RAV4 still available?".into())
            .await
            .context("baseline request")?;
        out.push(t.elapsed().as_micros() as u64);
    }
    responder.abort();
    Ok(out)
}

/// A raw single-row insert on the same Postgres, `n` in a row; microseconds each.
async fn postgres_baseline(pool: &PgPool, n: usize) -> anyhow::Result<Vec<u64>> {
    sqlx::query(
        "CREATE TABLE soak_baseline (id uuid PRIMARY KEY, conversation_id uuid NOT NULL, body text NOT NULL)",
    )
    .execute(pool)
    .await?;
    let conv = Uuid::now_v7();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        sqlx::query("INSERT INTO soak_baseline (id, conversation_id, body) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(conv)
            .bind("Is the RAV4 still available?")
            .execute(pool)
            .await?;
        out.push(t.elapsed().as_micros() as u64);
    }
    Ok(out)
}

/// The processes whose memory is followed: every replica, every NATS node, Redis.
fn processes(fleet: &Fleet) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = fleet
        .pids()
        .into_iter()
        .map(|(s, i, pid)| (format!("{}-{i}", s.name()), pid))
        .collect();
    for (i, n) in fleet.nats.iter().enumerate() {
        if let Some(pid) = n.pid() {
            out.push((format!("nats-{i}"), pid));
        }
    }
    if let Some(pid) = fleet.redis.pid() {
        out.push(("redis".into(), pid));
    }
    out
}

/// Records the end of minute `k`: leads so far and every process's RSS; prints its row.
async fn sample(
    k: usize,
    secs: f64,
    stats: &Stats,
    pool: &PgPool,
    procs: &[(String, u32)],
    (signals, admin): (&Signals, &[(Service, usize, String)]),
) -> anyhow::Result<()> {
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(pool)
        .await?;
    let rss: Vec<u64> = procs
        .iter()
        .map(|(_, p)| crate::rss(*p).unwrap_or(0))
        .collect();
    stats.at(k, |m| {
        m.leads_total = Some(leads);
        m.rss = rss;
        m.secs = secs;
    });
    let mut signals = signals.read(admin).await;
    // The router's time-outs that are due and not fired yet, and the agents' chats as the
    // router has them against what the agents' consoles were told.
    let (due, due_age, active): (i64, f64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversation_timers WHERE due_at <= now()), \
           coalesce((SELECT extract(epoch FROM now() - min(due_at))::float8 \
                     FROM conversation_timers WHERE due_at <= now()), 0), \
           (SELECT count(*) FROM conversations WHERE state = 'active' AND agent_id IS NOT NULL)",
    )
    .fetch_one(pool)
    .await?;
    signals.push_str(&format!(
        ", timers due {due} (oldest {due_age:.0} s), chats active {active}, held by the agents {} \
         ({} agents full)",
        stats.held.load(std::sync::atomic::Ordering::Relaxed),
        stats.full.load(std::sync::atomic::Ordering::Relaxed)
    ));
    let m = stats.minutes.lock().unwrap_or_else(|e| e.into_inner());
    let row = &m[k];
    let (p50, p99) = crate::percentiles(&row.latencies)?;
    let (offer50, offer99) = crate::percentiles(&row.offer_ages)?;
    let (_, tick99) = crate::percentiles(&row.tick_lag)?;
    let (ack50, ack99) = crate::percentiles(&row.acks)?;
    signals.push_str(&format!(
        ", offers reach consoles p50 {:.1} s p99 {:.1} s after the chat began, shoppers' send → \
         ack p50 {ack50:.1} ms p99 {ack99:.1} ms, load generator's ticks late p99 {tick99:.0} ms",
        offer50 / 1000.0,
        offer99 / 1000.0
    ));
    let label = if secs >= 60.0 {
        format!("minute {}", k + 1)
    } else {
        format!("drain ({secs:.0} s)")
    };
    eprintln!(
        "  {label}: {} chats started, {:.0} msgs/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {} errors, {} leads so far",
        row.started,
        row.messages as f64 / secs.max(1.0),
        row.errors,
        leads
    );
    eprintln!("    {} answered; {signals}", row.answered);
    Ok(())
}

/// The services' own counters and gauges, read from every replica's `/metrics` at the end of
/// each minute, so a minute that goes wrong shows where: offers made, the router's outbox,
/// requests shed, and what the gateways received from the streams they follow.
#[derive(Default)]
struct Signals {
    /// The last value of each counter, to print the minute's increase.
    last: Mutex<BTreeMap<&'static str, f64>>,
}

/// What is read: a short label, the service, the metric and a label its series must carry,
/// and whether it is a counter (printed as the minute's increase) or a gauge (its value).
const SIGNALS: &[(&str, Service, &str, &str, bool)] = &[
    (
        "decisions",
        Service::Router,
        "showroom_routing_decisions_total",
        "",
        true,
    ),
    ("offers", Service::Router, "showroom_offers_total", "", true),
    (
        "accepts",
        Service::Router,
        "showroom_offer_accepts_total",
        "",
        true,
    ),
    (
        "router outbox",
        Service::Router,
        "showroom_outbox_pending_rows",
        "",
        false,
    ),
    (
        "outbox age s",
        Service::Router,
        "showroom_outbox_oldest_age_seconds",
        "",
        false,
    ),
    (
        "shed",
        Service::Router,
        "showroom_requests_shed_total",
        "",
        true,
    ),
    (
        "gateway shed",
        Service::Gateway,
        "showroom_requests_shed_total",
        "",
        true,
    ),
    (
        "conversation events",
        Service::Gateway,
        "showroom_followed_events_total",
        "CONVERSATIONS",
        true,
    ),
    (
        "their age s",
        Service::Gateway,
        "showroom_followed_event_age_seconds",
        "CONVERSATIONS",
        false,
    ),
    (
        "desktop notice messages",
        Service::Gateway,
        "showroom_followed_events_total",
        "notices",
        true,
    ),
    (
        "gateway sockets",
        Service::Gateway,
        "showroom_sockets_open",
        "",
        false,
    ),
    (
        "live conversations",
        Service::Gateway,
        "showroom_live_conversations",
        "",
        false,
    ),
    (
        "gateway NATS reconnects",
        Service::Gateway,
        "showroom_nats_reconnects_total",
        "",
        true,
    ),
    (
        "db in use",
        Service::Router,
        "showroom_db_pool_connections",
        "in_use",
        false,
    ),
];

impl Signals {
    /// Reads every signal (summed over the replicas) and describes the minute.
    async fn read(&self, admin: &[(Service, usize, String)]) -> String {
        let mut pages: Vec<(Service, String)> = Vec::new();
        for (service, _, addr) in admin {
            let page = async {
                reqwest::get(format!("http://{addr}/metrics"))
                    .await?
                    .text()
                    .await
            };
            if let Ok(Ok(text)) = tokio::time::timeout(Duration::from_secs(3), page).await {
                pages.push((*service, text));
            }
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (label, service, name, with, counter) in SIGNALS {
            let value: f64 = pages
                .iter()
                .filter(|(s, _)| s == service)
                .map(|(_, p)| showroom_testkit::metric_sum(p, name, with))
                .sum();
            if *counter {
                let before = last.insert(label, value).unwrap_or(0.0);
                out.push(format!("{label} +{:.0}", value - before));
            } else {
                out.push(format!("{label} {value:.0}"));
            }
        }
        out.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

/// The `showroom-service` binary beside this one.
fn service_binary() -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::current_exe()?.with_file_name("showroom-service");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release -p showroom-loadtest -p showroom-testkit --bin showroom-service",
        path.display()
    );
    Ok(path)
}

/// Runs the soak and prints its tables.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let binary = service_binary()?;
    eprintln!(
        "starting the fleet: a 3-node NATS cluster, Postgres, Redis, SMTP and {} process(es) of every service…",
        o.replicas
    );
    // One load generator on 127.0.0.1 starts every chat: the limits per address are raised.
    let limits = showroom_rest::limits::LimitsConfig::for_load_tests().env();
    let fleet = Fleet::start_with_env(&binary, o.replicas, limits).await?;
    let result = soak(&fleet, &o).await;
    if result.is_err() {
        eprintln!("{}", fleet.logs());
    }
    fleet.stop().await?;
    result
}

async fn soak(fleet: &Fleet, o: &Options) -> anyhow::Result<()> {
    let gateways = fleet.gateway_urls();
    eprintln!("seeding {} rooftops and {} agents…", o.rooftops, o.agents);
    let group = Arc::new(seed(&fleet.pool, o).await?);

    eprintln!("baselines: 2 000 bare NATS request/replies, 2 000 raw Postgres inserts…");
    let nats = crate::percentiles(&nats_baseline(fleet, 2_000).await?)?;
    let pg = crate::percentiles(&postgres_baseline(&fleet.pool, 2_000).await?)?;

    eprintln!(
        "logging {} agents in over {} gateway(s)…",
        o.agents,
        gateways.len()
    );
    let t = Instant::now();
    let consoles: Vec<anyhow::Result<Socket>> =
        futures::stream::iter(group.seats.iter().enumerate())
            .map(|(i, seat)| {
                let base = gateways[i % gateways.len()].clone();
                async move { connect_agent(seat, &base).await }
            })
            .buffered(8)
            .collect()
            .await;
    eprintln!("  {:.1} s", t.elapsed().as_secs_f64());
    // The statements' costs count from here (when the fleet's Postgres has pg_stat_statements).
    let counted = crate::statements::reset(&fleet.pool).await;
    if let Err(e) = &counted {
        eprintln!("no statement costs: pg_stat_statements is not available ({e})");
    }
    // The day's clock starts as the agents go to work: minute 1 is the first of the day.
    let stats = Arc::new(Stats::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut agents = Vec::new();
    for (i, (seat, sock)) in group.seats.iter().zip(consoles).enumerate() {
        let sock = sock.with_context(|| format!("agent {} console", seat.email))?;
        let colleagues = group
            .seats
            .iter()
            .filter(|s| s.department == seat.department && s.id != seat.id)
            .map(|s| s.id)
            .collect();
        let agent = Agent {
            index: i,
            me: seat.id.to_string(),
            sock,
            colleagues,
            stats: stats.clone(),
            held: HashSet::new(),
            pending: Vec::new(),
            to_transfer: HashSet::new(),
            n: 0,
        };
        agents.push(tokio::spawn(agent.run(stop.clone())));
    }

    let procs = processes(fleet);
    let (signals, admin) = (Signals::default(), fleet.admin_addrs());
    signals.read(&admin).await;
    eprintln!(
        "the day: {} minutes, peak {} chats/s, {} processes followed",
        o.minutes,
        o.rate,
        procs.len()
    );
    let start = stats.start;
    // The load generator's own lag: a 100 ms tick that wakes late says it is short of CPU.
    let ticks = {
        let (stats, stop) = (stats.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let due = Instant::now() + Duration::from_millis(100);
                tokio::time::sleep_until(due.into()).await;
                let late = due.elapsed().as_micros() as u64;
                stats.add(|m| m.tick_lag.push(late));
            }
        })
    };
    let arriving = {
        let (group, gateways, stats) = (group.clone(), gateways.clone(), stats.clone());
        let o = *o;
        tokio::spawn(async move { arrivals(&o, group, gateways, stats).await })
    };
    for k in 0..o.minutes {
        tokio::time::sleep_until((start + Duration::from_secs(60 * (k as u64 + 1))).into()).await;
        sample(k, 60.0, &stats, &fleet.pool, &procs, (&signals, &admin)).await?;
    }
    let mut shoppers = arriving.await?;
    // The chats still going at closing time finish (or are cut off).
    let drain_start = Instant::now();
    let cut = tokio::time::timeout(DRAIN, async {
        while shoppers.join_next().await.is_some() {}
    })
    .await
    .is_err();
    let still = shoppers.len();
    shoppers.shutdown().await;
    if cut {
        stats.error("shopper: cut off at closing time", still);
    }
    let drain_secs = drain_start.elapsed().as_secs_f64();
    // The drain counts in the minute after the day, whatever its length.
    let drain_index = o.minutes;
    {
        let mut m = stats.minutes.lock().unwrap_or_else(|e| e.into_inner());
        // Anything counted past the drain's own minute belongs to it.
        while m.len() > drain_index + 1 {
            let extra = m.pop().expect("a minute");
            let d = &mut m[drain_index];
            d.started += extra.started;
            d.answered += extra.answered;
            d.missed += extra.missed;
            d.offline += extra.offline;
            d.abandoned += extra.abandoned;
            d.left += extra.left;
            d.transfers_requested += extra.transfers_requested;
            d.transferred += extra.transferred;
            d.messages += extra.messages;
            d.latencies.extend(extra.latencies);
            d.acks.extend(extra.acks);
            d.errors += extra.errors;
            d.races += extra.races;
            d.start_retries += extra.start_retries;
            d.turned_away += extra.turned_away;
            d.offer_ages.extend(extra.offer_ages);
            d.tick_lag.extend(extra.tick_lag);
        }
    }
    // Leads made from the last messages left reach Postgres a moment later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sample(
        drain_index,
        drain_secs,
        &stats,
        &fleet.pool,
        &procs,
        (&signals, &admin),
    )
    .await?;

    stop.store(true, Ordering::Relaxed);
    ticks.await?;
    for a in agents {
        a.await?.close().await;
    }
    report(o, &stats, &procs, nats, pg)?;
    match counted {
        Ok(_) => crate::statements::print(&fleet.pool, "the day", None).await,
        Err(_) => Ok(()),
    }
}

fn report(
    o: &Options,
    stats: &Stats,
    procs: &[(String, u32)],
    nats: (f64, f64),
    pg: (f64, f64),
) -> anyhow::Result<()> {
    let minutes = stats.minutes.lock().unwrap_or_else(|e| e.into_inner());
    let away = (0..o.rooftops).filter(|r| r % 10 == 9).count();
    println!();
    println!(
        "Soak: {} rooftops, {} agents ({} rooftops' agents Away), peak {} chats/s, a day of {} minutes, {} process(es) of every service",
        o.rooftops, o.agents, away, o.rate, o.minutes, o.replicas
    );
    println!(
        "baselines, same run, before the soak: bare NATS request/reply p50 {:.2} ms, p99 {:.2} ms; \
         raw Postgres insert p50 {:.2} ms, p99 {:.2} ms",
        nats.0, nats.1, pg.0, pg.1
    );
    println!();
    println!(
        "| minute | chats | answered | missed | offline | left a message | transfers (accepted/asked) | leads | msgs/s | p50 ms | p99 ms | p99 / NATS p99 | ack p50 ms | ack p99 ms | errors |"
    );
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut all = Vec::new();
    let mut peak: Option<(usize, f64, f64)> = None;
    let mut prev_leads = 0;
    for (k, m) in minutes.iter().enumerate() {
        let (p50, p99) = crate::percentiles(&m.latencies)?;
        let (ack50, ack99) = crate::percentiles(&m.acks)?;
        let rate = m.messages as f64 / m.secs.max(1.0);
        let leads = m.leads_total.unwrap_or(prev_leads);
        let label = if k < o.minutes {
            format!("{}", k + 1)
        } else {
            format!("drain ({:.0} s)", m.secs)
        };
        println!(
            "| {label} | {} | {} | {} | {} | {} | {}/{} | {} | {rate:.0} | {p50:.2} | {p99:.2} | {:.1}× | {ack50:.2} | {ack99:.2} | {} |",
            m.started,
            m.answered,
            m.missed,
            m.offline,
            m.left,
            m.transferred,
            m.transfers_requested,
            leads - prev_leads,
            p99 / nats.1,
            m.errors
        );
        prev_leads = leads;
        all.extend_from_slice(&m.latencies);
        if k < o.minutes && peak.is_none_or(|(_, r, _)| rate > r) {
            peak = Some((k, rate, p99));
        }
    }
    let (p50, p99) = crate::percentiles(&all)?;
    let sum = |f: fn(&Minute) -> u64| minutes.iter().map(f).sum::<u64>();
    println!();
    println!(
        "whole day: {} chats started, {} answered, {} missed, {} offline, {} abandoned, {} messages left, \
         {} transfers accepted of {} asked, {} leads, {} accept races (two agents, one chat), \
         {} starts sent again after `unavailable`, {} shoppers turned away busy after every try \
         (each left a message)",
        sum(|m| m.started),
        sum(|m| m.answered),
        sum(|m| m.missed),
        sum(|m| m.offline),
        sum(|m| m.abandoned),
        sum(|m| m.left),
        sum(|m| m.transferred),
        sum(|m| m.transfers_requested),
        prev_leads,
        sum(|m| m.races),
        sum(|m| m.start_retries),
        sum(|m| m.turned_away),
    );
    println!(
        "shopper send → agent's message frame, whole day: p50 {p50:.2} ms, p99 {p99:.2} ms; \
         {:.1}× / {:.1}× the bare NATS request/reply, {:.1}× / {:.1}× the raw Postgres insert",
        p50 / nats.0,
        p99 / nats.1,
        p50 / pg.0,
        p99 / pg.1
    );
    if let Some((k, rate, p99)) = peak {
        println!(
            "busiest minute ({}): {rate:.0} msgs/s = {:.2}× the {TARGET_MSGS_PER_SEC:.0} msgs/s target; \
             p99 {p99:.2} ms = {:.2}× the {TARGET_P99_MS:.0} ms target ({:.1}× the bare NATS request/reply's p99)",
            k + 1,
            rate / TARGET_MSGS_PER_SEC,
            p99 / TARGET_P99_MS,
            p99 / nats.1
        );
    }

    // Memory: each process at the end of every minute, against the first minute's.
    println!();
    let day: Vec<&Minute> = minutes.iter().take(o.minutes).collect();
    let mut header = "| process |".to_string();
    let mut rule = "| --- |".to_string();
    for k in 0..minutes.len() {
        header.push_str(&if k < o.minutes {
            format!(" m{} MiB |", k + 1)
        } else {
            " drain MiB |".to_string()
        });
        rule.push_str(" ---: |");
    }
    header.push_str(" last minute / m1 | max / m1 |");
    rule.push_str(" ---: | ---: |");
    println!("{header}");
    println!("{rule}");
    let mut worst: Option<(String, f64)> = None;
    for (i, (name, _)) in procs.iter().enumerate() {
        let at = |m: &Minute| m.rss.get(i).copied().unwrap_or(0);
        let mut row = format!("| {name} |");
        for m in minutes.iter() {
            row.push_str(&format!(" {:.1} |", mib(at(m))));
        }
        let first = day.first().map(|m| at(m)).unwrap_or(0).max(1) as f64;
        let last = day.last().map(|m| at(m)).unwrap_or(0) as f64 / first;
        let max = day.iter().map(|m| at(m)).max().unwrap_or(0) as f64 / first;
        row.push_str(&format!(" {last:.3}× | {max:.3}× |"));
        println!("{row}");
        if worst.as_ref().is_none_or(|(_, w)| last > *w) {
            worst = Some((name.clone(), last));
        }
    }
    if let Some((name, growth)) = worst {
        println!(
            "RSS growth after minute 1 (last minute of the day / minute 1): worst {name} {:+.1}% (target ≤ +5%)",
            (growth - 1.0) * 100.0
        );
    }

    println!();
    let kinds = stats.error_kinds.lock().unwrap_or_else(|e| e.into_inner());
    println!("errors: {}", kinds.values().sum::<u64>());
    for (kind, n) in kinds.iter() {
        println!("  {n:>6}  {kind}");
    }
    for e in stats
        .examples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        eprintln!("  e.g. {e}");
    }
    Ok(())
}
