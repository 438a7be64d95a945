//! The fault test: Showroom as production runs it (a three-node NATS cluster with streams of
//! three replicas, Postgres, Redis, and two processes of each of the seven services, see
//! [`Fleet`]) under a steady chat load, while faults come one at a time, each followed by a
//! restart: `kill -9` of one NATS node, `kill -9` of one replica of every service, a Postgres
//! restart.
//!
//! The load: shoppers on widget sockets start chats, agents on console sockets accept them,
//! both write (each shopper's question gets the agent's answer), chats end, and messages are
//! left that become leads for a webhook receiver and an ADF e-mail address. Clients behave as
//! `docs/protocol.md` tells them to: on a closed socket they reconnect to any gateway and
//! resume (`hello` with `last_seq`; the console `open`s its chats after the last seq it has),
//! and resend an unanswered frame with the same `client_msg_id` / `form_id`.
//!
//! Afterwards, from the database, the sockets and the receivers: every acknowledged message is
//! in the transcript and reached the other side exactly once; every message left made exactly
//! one `lead.created` and one delivery per destination; no chat was assigned twice; no chat
//! went offline for want of an answer; no widget missed that an agent took its chat. A table
//! per fault prints messages acknowledged, lost, duplicated and the longest stall a shopper saw;
//! any loss or duplicate fails the test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::service_binary;
use axum::body::Bytes;
use axum::extract::State;
use futures::StreamExt;
use serde_json::{Value, json};
use showroom_testkit::{Fleet, Http, PASSWORD, Service, Socket, Tenant, eventually};
use uuid::Uuid;

/// Shoppers chatting at once (one per agent).
const SHOPPERS: usize = 3;
/// Questions a shopper asks per chat.
const QUESTIONS: usize = 3;
/// How long each phase's load runs with the fault in place, and after the restart.
const FAULT_FOR: Duration = Duration::from_secs(8);
const RECOVER_FOR: Duration = Duration::from_secs(6);
/// How long a client waits for an answer before it resends.
/// How long a client waits for an answer before it resends: longer than the gateway's own wait
/// for a service (5 s), after which it answers `unavailable`.
const ANSWER_WITHIN: Duration = Duration::from_secs(6);

/// What the run saw, shared by every client.
#[derive(Default)]
struct Record {
    /// The phase now running (index into the table).
    phase: AtomicUsize,
    /// Acknowledged messages: (conversation, seq) → (phase, author side).
    acked: Mutex<HashMap<(String, i64), (usize, Side)>>,
    /// Messages each side got: (side, conversation, seq) → (live frames, in an answer).
    got: Mutex<HashMap<Delivered, (usize, bool)>>,
    /// The longest a shopper waited, per phase and for what: an answer to a frame (`ack`),
    /// the agent's answer to a question, an agent to take the chat.
    stall: Mutex<BTreeMap<(usize, Wait), Duration>>,
    /// `form_id`s answered `message_left`.
    left: Mutex<HashSet<String>>,
    /// Conversations accepted, with the agent that got each.
    accepted: Mutex<HashMap<String, Vec<usize>>>,
    /// Chats that went `offline` (with the reason).
    offline: Mutex<Vec<String>>,
    /// Chats whose widget never heard that an agent took them.
    stale: Mutex<Vec<String>>,
    /// What each shopper is doing now, for a run that hangs.
    doing: Mutex<BTreeMap<usize, String>>,
}

/// A message at one side: (side, conversation, seq).
type Delivered = (Side, String, i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wait {
    Ack,
    Answer,
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Shopper,
    Agent,
}

impl Record {
    fn doing(&self, shopper: usize, what: String) {
        self.doing.lock().unwrap().insert(shopper, what);
    }

    fn stalled(&self, what: Wait, d: Duration) {
        let phase = self.phase.load(Ordering::Relaxed);
        let mut s = self.stall.lock().unwrap();
        let e = s.entry((phase, what)).or_default();
        *e = (*e).max(d);
    }

    /// A message reached `side`: `live` as a `message` frame (each counts: twice is a
    /// duplicate), or in an answer the client asked for (`welcome`, `history`), which a client
    /// merges by seq.
    fn got(&self, side: Side, m: &Value, live: bool) {
        let (Some(conv), Some(seq)) = (m["conversation_id"].as_str(), m["seq"].as_i64()) else {
            return;
        };
        let mut got = self.got.lock().unwrap();
        let e = got.entry((side, conv.to_string(), seq)).or_default();
        if live {
            e.0 += 1;
        } else {
            e.1 = true;
        }
    }

    fn acked(&self, side: Side, ack: &Value) {
        if let (Some(conv), Some(seq)) = (ack["conversation_id"].as_str(), ack["seq"].as_i64()) {
            let phase = self.phase.load(Ordering::Relaxed);
            self.acked
                .lock()
                .unwrap()
                .entry((conv.to_string(), seq))
                .or_insert((phase, side));
        }
    }
}

/// Connects to the first gateway that takes the socket, starting at `turn`.
async fn widget(gateways: &[String], turn: &mut usize, t: &Tenant) -> Option<Socket> {
    for _ in 0..gateways.len() {
        *turn += 1;
        let base = gateways[*turn % gateways.len()].replacen("http://", "ws://", 1);
        match tokio::time::timeout(
            Duration::from_secs(10),
            Socket::widget(&base, &t.key, &t.origin),
        )
        .await
        {
            Ok(Ok(s)) => return Some(s),
            Ok(Err(e)) => println!("widget socket refused by {base}: {e}"),
            Err(_) => println!("widget socket to {base}: no upgrade within 10 s"),
        }
    }
    None
}

/// A shopper that keeps chatting until `stop`, across any fault.
struct Shopper {
    id: usize,
    gateways: Vec<String>,
    t: Arc<Tenant>,
    rec: Arc<Record>,
    sock: Option<Socket>,
    turn: usize,
    visitor: Option<String>,
    conversation: Option<String>,
    last_seq: i64,
    /// Answers (agent messages) seen in the current chat, by text.
    answers: HashSet<String>,
    state: String,
    /// The latest `conversation` frame of a chat it does not know yet.
    early: Option<Value>,
}

/// How far along a conversation is (`bot` < `incoming` < `active` < closed).
fn stage(c: &Value) -> usize {
    match c["state"].as_str() {
        Some("bot") => 1,
        Some("incoming") => 2,
        Some("active") => 3,
        _ => 4,
    }
}

impl Shopper {
    /// A socket that said hello (resuming after `last_seq`), reconnecting as needed.
    async fn socket(&mut self) -> &mut Socket {
        if self.sock.is_none() {
            self.rec.doing(self.id, "connecting".into());
        }
        loop {
            if self.sock.is_some() {
                break;
            }
            let Some(mut s) = widget(&self.gateways, &mut self.turn, &self.t).await else {
                println!("shopper {}: no gateway takes a socket", self.id);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut hello = json!({"type": "hello", "v": 1, "last_seq": self.last_seq});
            if let Some(v) = &self.visitor {
                hello["visitor_token"] = json!(v);
            }
            self.rec.doing(self.id, format!("hello on {}", self.turn));
            if s.send(hello).await.is_err() {
                continue;
            }
            match s.recv_type("welcome").await {
                Err(e) => println!("shopper {}: no welcome: {e}", self.id),
                Ok(w) if w["type"] != "welcome" => println!("shopper {}: {w}", self.id),
                Ok(w) => {
                    self.visitor = w["visitor_token"].as_str().map(str::to_string);
                    if let Some(c) = w["conversation"]["id"].as_str()
                        && Some(c) == self.conversation.as_deref()
                    {
                        self.state = w["conversation"]["state"].as_str().unwrap_or("").into();
                        for m in w["messages"].as_array().into_iter().flatten() {
                            self.saw(m, false);
                        }
                    }
                    self.sock = Some(s);
                }
            }
        }
        self.sock.as_mut().expect("connected")
    }

    fn saw(&mut self, m: &Value, live: bool) {
        if m["conversation_id"].as_str() != self.conversation.as_deref() {
            return;
        }
        self.rec.got(Side::Shopper, m, live);
        self.last_seq = self.last_seq.max(m["seq"].as_i64().unwrap_or(0));
        if m["author"]["kind"] == "agent" {
            self.answers
                .insert(m["text"].as_str().unwrap_or("").to_string());
        }
    }

    /// Reads frames for up to `wait`, handling messages and conversation changes; the first
    /// frame answering `ref_` (if any) is returned.
    async fn pump(&mut self, wait: Duration, ref_: Option<&str>) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let next = self.socket().await.next_within(left).await;
            let f = match next {
                Ok(Some(f)) => f,
                Ok(None) => return None,
                Err(_) => {
                    self.sock = None;
                    return None;
                }
            };
            match f["type"].as_str() {
                Some("message") => self.saw(&f["message"], true),
                Some("conversation")
                    if f["conversation"]["id"].as_str() != self.conversation.as_deref() =>
                {
                    // It may precede the `started` of its chat (docs/protocol.md).
                    self.early = Some(f["conversation"].clone());
                }
                Some("conversation") | Some("started") | Some("history")
                    if f["conversation"]["id"].as_str() == self.conversation.as_deref() =>
                {
                    self.state = f["conversation"]["state"].as_str().unwrap_or("").into();
                    if self.state == "offline" {
                        self.rec.offline.lock().unwrap().push(format!(
                            "{:?}: {}",
                            self.conversation, f["conversation"]["offline_reason"]
                        ));
                    }
                    for m in f["messages"].as_array().cloned().into_iter().flatten() {
                        self.saw(&m, false);
                    }
                }
                _ => {}
            }
            if ref_.is_some() && f["ref"].as_str() == ref_ {
                return Some(f);
            }
        }
    }

    /// Sends `frame` until something answers it with other than `unavailable`; the answer.
    /// Gives up after a minute, naming the last answer.
    async fn ask(&mut self, frame: Value) -> anyhow::Result<Value> {
        let began = Instant::now();
        let r = Uuid::now_v7().simple().to_string();
        let mut frame = frame;
        frame["ref"] = json!(r);
        let mut last = Value::Null;
        while began.elapsed() < Duration::from_secs(60) {
            self.rec.doing(self.id, format!("sending {frame}"));
            if self.socket().await.send(frame.clone()).await.is_err() {
                self.sock = None;
                continue;
            }
            self.rec
                .doing(self.id, format!("waiting for the answer to {frame}"));
            match self.pump(ANSWER_WITHIN, Some(&r)).await {
                Some(a) if a["code"] != "unavailable" => {
                    self.rec.stalled(Wait::Ack, began.elapsed());
                    return Ok(a);
                }
                Some(a) => last = a,
                None => println!(
                    "shopper {}: no answer to {} within {ANSWER_WITHIN:?}, resending",
                    self.id, frame["type"]
                ),
            }
        }
        anyhow::bail!(
            "shopper {}: no answer to {frame} within 60 s (last: {last})",
            self.id
        )
    }

    async fn run(mut self, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
        let mut round = 0;
        while !stop.load(Ordering::Relaxed) {
            round += 1;
            if round % 3 == 0 {
                let form = format!("form-{}-{round}", self.id);
                let a = self
                    .ask(
                        json!({"type": "leave_message", "form_id": form, "first_name": "Ana",
                        "last_name": (["Ruiz", "Lopez", "Kim", "Smith"][self.id % 4]),
                        "email": format!("{form}@example.com"), "message": "Please call me"}),
                    )
                    .await?;
                anyhow::ensure!(a["type"] == "message_left", "{a}");
                self.rec.left.lock().unwrap().insert(form);
                continue;
            }
            let started = self
                .ask(json!({"type": "start", "department_id": self.t.sales}))
                .await?;
            if started["type"] != "started" {
                println!("shopper {}: start answered {started}", self.id);
                // The previous chat is still open (its end was lost with a socket): end it.
                self.ask(json!({"type": "end"})).await?;
                continue;
            }
            self.conversation = started["conversation"]["id"].as_str().map(str::to_string);
            self.state = started["conversation"]["state"]
                .as_str()
                .unwrap_or("")
                .into();
            // A `conversation` frame of this chat that came first, if it is further along.
            if let Some(e) = self.early.take()
                && e["id"].as_str() == self.conversation.as_deref()
                && stage(&e) > stage(&started["conversation"])
            {
                self.state = e["state"].as_str().unwrap_or("").into();
            }
            self.last_seq = 0;
            self.answers.clear();
            for m in started["messages"]
                .as_array()
                .cloned()
                .into_iter()
                .flatten()
            {
                self.saw(&m, false);
            }
            // An agent takes it.
            let waited = Instant::now();
            self.rec.doing(
                self.id,
                format!("waiting for an agent in {:?}", self.conversation),
            );
            while self.state != "active" && waited.elapsed() < Duration::from_secs(30) {
                if matches!(
                    self.state.as_str(),
                    "offline" | "missed" | "ended" | "timed_out"
                ) {
                    break;
                }
                self.pump(Duration::from_millis(300), None).await;
            }
            self.rec.stalled(Wait::Agent, waited.elapsed());
            if self.state != "active" {
                // Asked again, the gateway says where the chat is: an agent who took it while
                // no frame said so is a state frame lost on the way.
                let seen = self.state.clone();
                let now = self.ask(json!({"type": "history", "after_seq": 0})).await?;
                if now["conversation"]["state"] == "active" {
                    self.rec.stale.lock().unwrap().push(format!(
                        "{:?}: the widget saw {seen} for 30 s, the chat was active",
                        self.conversation
                    ));
                }
            }
            if waited.elapsed() > Duration::from_secs(5) {
                println!(
                    "shopper {}: waited {:.1} s for an agent in {:?} (state {})",
                    self.id,
                    waited.elapsed().as_secs_f64(),
                    self.conversation,
                    self.state
                );
            }
            if self.state != "active" {
                continue;
            }
            for q in 0..QUESTIONS {
                let cmid = format!("q-{}-{round}-{q}", self.id);
                let ack = self
                    .ask(json!({"type": "send", "client_msg_id": cmid, "text": cmid}))
                    .await?;
                anyhow::ensure!(ack["type"] == "ack", "{ack}");
                self.rec.acked(Side::Shopper, &ack);
                let answer = format!("answer to {cmid}");
                let waited = Instant::now();
                self.rec
                    .doing(self.id, format!("waiting for the answer to {cmid}"));
                while !self.answers.contains(&answer) && waited.elapsed() < Duration::from_secs(20)
                {
                    self.pump(Duration::from_millis(300), None).await;
                }
                self.rec.stalled(Wait::Answer, waited.elapsed());
                if waited.elapsed() > Duration::from_secs(5) {
                    println!(
                        "shopper {}: waited {:.1} s for the answer to {cmid} in {:?}",
                        self.id,
                        waited.elapsed().as_secs_f64(),
                        self.conversation
                    );
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            self.ask(json!({"type": "end"})).await?;
        }
        Ok(())
    }
}

/// An agent that accepts every offer and answers every question, until `stop`.
struct Agent {
    id: usize,
    email: String,
    gateways: Vec<String>,
    rec: Arc<Record>,
    sock: Option<Socket>,
    turn: usize,
    token: Option<String>,
    /// Its chats and the last seq it has of each.
    chats: HashMap<String, i64>,
    /// Sends not yet acknowledged: ref → frame.
    pending: HashMap<String, Value>,
    answered: HashSet<String>,
}

impl Agent {
    async fn connect(&mut self) {
        while self.sock.is_none() {
            self.turn += 1;
            let base = self.gateways[self.turn % self.gateways.len()].clone();
            if self.token.is_none() {
                self.token = Http::new(&base).login(&self.email, PASSWORD).await.ok();
            }
            let Some(token) = self.token.clone() else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let Ok(mut s) = Socket::console(&base.replacen("http://", "ws://", 1), &token).await
            else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let ok = async {
                s.send(json!({"type": "hello", "v": 1})).await?;
                let w = s.recv_type("welcome").await?;
                s.send(json!({"type": "set_status", "status": "available"}))
                    .await?;
                anyhow::Ok(w)
            }
            .await;
            let Ok(w) = ok else { continue };
            for c in w["active"].as_array().into_iter().flatten() {
                if let Some(id) = c["id"].as_str() {
                    self.chats.entry(id.to_string()).or_insert(0);
                }
            }
            // Catch up on every chat after the last message it has, take the chats offered
            // while it was away (a console lists them under Incoming), resend what is pending.
            let mut frames: Vec<Value> = self
                .chats
                .iter()
                .map(|(c, seq)| json!({"type": "open", "conversation_id": c, "after_seq": seq}))
                .collect();
            frames.extend(
                w["incoming"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| json!({"type": "accept", "conversation_id": c["id"]})),
            );
            frames.extend(self.pending.values().cloned());
            let mut sent = true;
            for f in frames {
                sent &= s.send(f).await.is_ok();
            }
            if sent {
                self.sock = Some(s);
            }
        }
    }

    fn saw(&mut self, m: &Value, live: bool) {
        let Some(conv) = m["conversation_id"].as_str() else {
            return;
        };
        let Some(last) = self.chats.get_mut(conv) else {
            return;
        };
        self.rec.got(Side::Agent, m, live);
        *last = (*last).max(m["seq"].as_i64().unwrap_or(0));
        let text = m["text"].as_str().unwrap_or("");
        if m["author"]["kind"] == "shopper"
            && text.starts_with("q-")
            && self.answered.insert(text.to_string())
        {
            let r = Uuid::now_v7().simple().to_string();
            self.pending.insert(
                r.clone(),
                json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("a-{text}"),
                    "text": format!("answer to {text}"), "ref": r}),
            );
        }
    }

    async fn run(mut self, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
        let mut resend_at = Instant::now() + ANSWER_WITHIN;
        while !stop.load(Ordering::Relaxed) {
            self.connect().await;
            let before: HashSet<String> = self.pending.keys().cloned().collect();
            let next = match self.sock.as_mut() {
                Some(sock) => sock.next_within(Duration::from_millis(200)).await,
                None => continue,
            };
            let f = match next {
                Ok(f) => f.unwrap_or(Value::Null),
                Err(_) => {
                    self.sock = None;
                    continue;
                }
            };
            let mut reply = None;
            match f["type"].as_str() {
                Some("offer") => {
                    reply =
                        Some(json!({"type": "accept", "conversation_id": f["conversation"]["id"]}));
                }
                Some("accepted") => {
                    if let Some(c) = f["conversation"]["id"].as_str() {
                        // Live messages follow after the chat's `last_seq` of this frame; what
                        // the shopper wrote before the accept is read with `open`, as the
                        // console does when it shows the chat.
                        let have = *self.chats.entry(c.to_string()).or_insert(0);
                        reply =
                            Some(json!({"type": "open", "conversation_id": c, "after_seq": have}));
                        self.rec
                            .accepted
                            .lock()
                            .unwrap()
                            .entry(c.to_string())
                            .or_default()
                            .push(self.id);
                    }
                }
                Some("message") => self.saw(&f["message"], true),
                Some("history") => {
                    for m in f["messages"].as_array().into_iter().flatten() {
                        self.saw(m, false);
                    }
                }
                Some("ack") => {
                    if let Some(r) = f["ref"].as_str() {
                        self.pending.remove(r);
                    }
                    self.rec.acked(Side::Agent, &f);
                }
                Some("error")
                    if !matches!(
                        f["code"].as_str(),
                        Some("conversation_closed" | "already_taken")
                    ) =>
                {
                    println!("agent {}: {f}", self.id);
                }
                Some("error") => {
                    if let Some(r) = f["ref"].as_str() {
                        self.pending.remove(r);
                    }
                }
                _ => {}
            }
            // Offers are accepted, new answers go out at once, unanswered ones again later.
            let due = Instant::now() >= resend_at;
            let mut out: Vec<Value> = reply.into_iter().collect();
            out.extend(
                self.pending
                    .iter()
                    .filter(|(r, _)| due || !before.contains(*r))
                    .map(|(_, f)| f.clone()),
            );
            if let Some(sock) = self.sock.as_mut() {
                for frame in out {
                    if sock.send(frame).await.is_err() {
                        self.sock = None;
                        break;
                    }
                }
            }
            if due {
                resend_at = Instant::now() + ANSWER_WITHIN;
            }
        }
        Ok(())
    }
}

/// A webhook receiver: the `webhook-id` of every request, in order.
async fn receiver() -> anyhow::Result<(Arc<Mutex<Vec<String>>>, String)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(seen): State<Arc<Mutex<Vec<String>>>>,
                 headers: axum::http::HeaderMap,
                 _body: Bytes| async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    seen.lock().unwrap().push(id);
                    "ok"
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((seen, url))
}

/// One row of the table.
struct Row {
    fault: &'static str,
    acked: usize,
    lost: usize,
    duplicated: usize,
    /// For an ack, for the agent's answer, for an agent.
    stall: [Duration; 3],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_or_doubled_when_any_one_node_or_process_dies()
-> anyhow::Result<()> {
    // Every shopper and agent is on 127.0.0.1 and starts chats back to back: the limits on
    // conversations per address (and on messages) are raised, as for any load test.
    let limits = showroom_rest::limits::LimitsConfig::for_load_tests().env();
    let mut fleet = Fleet::start_with_env(service_binary(), 2, limits).await?;
    let t = Arc::new(Tenant::seed(&fleet.pool, "Faults", SHOPPERS).await?);
    let gateways = fleet.gateway_urls();

    // The rooftop's leads go to a webhook and to an ADF e-mail address.
    let (hooks, hook_url) = receiver().await?;
    let (_, manager_email) = t.add_agent(&fleet.pool, "mgr", "manager", &[]).await?;
    let http = Http::new(&gateways[0]);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    for target in [
        json!({"kind": "webhook", "url": hook_url, "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}),
        json!({"kind": "adf_email", "to": "leads@crm.example"}),
    ] {
        let (status, v) = manager
            .put(
                &format!("/api/v1/crm/destinations/{}", Uuid::now_v7()),
                &json!({"rooftop_id": t.rooftop, "name": "CRM", "target": target}).to_string(),
            )
            .await?;
        anyhow::ensure!(status == 200, "{v}");
    }

    let rec = Arc::new(Record::default());
    let stop = Arc::new(AtomicBool::new(false));
    let agents_stop = Arc::new(AtomicBool::new(false));
    let (mut agents, mut shoppers) = (Vec::new(), Vec::new());
    for (i, (_, email)) in t.agents.iter().take(SHOPPERS).enumerate() {
        let agent = Agent {
            id: i,
            email: email.clone(),
            gateways: gateways.clone(),
            rec: rec.clone(),
            sock: None,
            turn: i,
            token: None,
            chats: HashMap::new(),
            pending: HashMap::new(),
            answered: HashSet::new(),
        };
        agents.push(tokio::spawn(agent.run(agents_stop.clone())));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..SHOPPERS {
        let shopper = Shopper {
            id: i,
            gateways: gateways.clone(),
            t: t.clone(),
            rec: rec.clone(),
            sock: None,
            turn: i,
            visitor: None,
            conversation: None,
            last_seq: 0,
            answers: HashSet::new(),
            state: String::new(),
            early: None,
        };
        shoppers.push(tokio::spawn(shopper.run(stop.clone())));
    }

    let faults = [
        "none",
        "kill -9 of one NATS node",
        "kill -9 of one replica of each service",
        "Postgres restart",
    ];
    tokio::time::sleep(FAULT_FOR).await;
    for (phase, fault) in faults.iter().enumerate().skip(1) {
        rec.phase.store(phase, Ordering::Relaxed);
        println!("fault: {fault}");
        match phase {
            1 => fleet.nats[1].kill().await,
            2 => {
                for s in Service::ALL {
                    fleet.kill_replica(s, 0).await?;
                }
            }
            _ => fleet.pg.stop().await,
        }
        tokio::time::sleep(FAULT_FOR).await;
        match phase {
            1 => fleet.nats[1].restart().await?,
            2 => {
                for s in Service::ALL {
                    fleet.start_replica(s, 0).await?;
                }
            }
            _ => fleet.pg.restart().await?,
        }
        tokio::time::sleep(RECOVER_FOR).await;
    }
    // Shoppers finish their chats while the agents still answer; then the agents stop.
    stop.store(true, Ordering::Relaxed);
    for (i, l) in shoppers.into_iter().enumerate() {
        let done = tokio::time::timeout(Duration::from_secs(120), l).await;
        if !matches!(done, Ok(Ok(Ok(())))) {
            println!("{}", fleet.logs());
            println!("shoppers: {:#?}", rec.doing.lock().unwrap());
        }
        done.map_err(|_| anyhow::anyhow!("shopper {i} did not finish within 120 s"))???;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    agents_stop.store(true, Ordering::Relaxed);
    for l in agents {
        tokio::time::timeout(Duration::from_secs(30), l).await???;
    }
    // Let the last answers and deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Every acknowledged message: in the transcript, and at the other side once.
    let acked = rec.acked.lock().unwrap().clone();
    let got = rec.got.lock().unwrap().clone();
    let stored: HashSet<(String, i64)> = showroom_store::sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT conversation_id, seq FROM messages WHERE group_id = $1",
    )
    .bind(t.group)
    .fetch_all(&fleet.pool)
    .await?
    .into_iter()
    .map(|(c, s)| (c.to_string(), s))
    .collect();
    let mut rows: Vec<Row> = faults
        .iter()
        .map(|f| Row {
            fault: f,
            acked: 0,
            lost: 0,
            duplicated: 0,
            stall: [Duration::ZERO; 3],
        })
        .collect();
    let mut problems = Vec::new();
    for ((conv, seq), (phase, side)) in &acked {
        let row = &mut rows[*phase];
        row.acked += 1;
        let other = match side {
            Side::Shopper => Side::Agent,
            Side::Agent => Side::Shopper,
        };
        let (times, replayed) = got
            .get(&(other, conv.clone(), *seq))
            .copied()
            .unwrap_or_default();
        if !stored.contains(&(conv.clone(), *seq)) || (times == 0 && !replayed) {
            row.lost += 1;
            problems.push(format!(
                "{conv} seq {seq} ({side:?}): stored {}, at the {other:?} {times}×",
                stored.contains(&(conv.clone(), *seq))
            ));
        }
    }
    for ((side, conv, seq), (times, _)) in &got {
        if *times > 1 {
            let phase = acked
                .get(&(conv.clone(), *seq))
                .map(|(p, _)| *p)
                .unwrap_or(0);
            rows[phase].duplicated += 1;
            problems.push(format!("{conv} seq {seq} reached the {side:?} {times}×"));
        }
    }
    for ((phase, what), stall) in rec.stall.lock().unwrap().iter() {
        rows[*phase].stall[*what as usize] = *stall;
    }

    // No chat assigned twice; none offline for want of an answer.
    for (conv, agents) in rec.accepted.lock().unwrap().iter() {
        if agents.iter().collect::<HashSet<_>>().len() > 1 {
            problems.push(format!("{conv} accepted by {agents:?}"));
        }
    }
    let (twice,): (i64,) = showroom_store::sqlx::query_as(
        "SELECT count(*) FROM (SELECT conversation_id FROM participants WHERE kind = 'agent' \
         GROUP BY conversation_id HAVING count(*) > 1) x",
    )
    .fetch_one(&fleet.pool)
    .await?;
    if twice > 0 {
        problems.push(format!("{twice} chats had two agents"));
    }
    let offline: Vec<(Uuid, Option<String>)> = showroom_store::sqlx::query_as(
        "SELECT c.id, l.trigger FROM conversations c LEFT JOIN left_messages l ON l.conversation_id = c.id \
         WHERE c.group_id = $1 AND c.state = 'offline'",
    )
    .bind(t.group)
    .fetch_all(&fleet.pool)
    .await?;
    for o in &offline {
        problems.push(format!("chat {} went offline ({:?})", o.0, o.1));
    }
    problems.extend(
        rec.offline
            .lock()
            .unwrap()
            .iter()
            .map(|o| format!("offline: {o}")),
    );
    problems.extend(rec.stale.lock().unwrap().iter().cloned());

    // Every message left: one lead, one lead.created, one delivery per destination.
    let left = rec.left.lock().unwrap().len();
    let (leads,): (i64,) = showroom_store::sqlx::query_as(
        "SELECT count(*) FROM leads WHERE group_id = $1 AND origin = 'message_left'",
    )
    .bind(t.group)
    .fetch_one(&fleet.pool)
    .await?;
    if leads as usize != left {
        problems.push(format!("{left} messages left made {leads} leads"));
    }
    let created = lead_created_events(&fleet).await?;
    for (lead, n) in &created {
        if *n != 1 {
            problems.push(format!("lead {lead}: {n} lead.created events"));
        }
    }
    if created.len() != left {
        problems.push(format!(
            "{left} messages left, lead.created for {}",
            created.len()
        ));
    }
    let deliveries = eventually(Duration::from_secs(60), "every delivery made", || async {
        let rows: Vec<(String, i64)> = showroom_store::sqlx::query_as(
            "SELECT status, count(*) FROM crm_deliveries WHERE group_id = $1 AND NOT test GROUP BY status",
        )
        .bind(t.group)
        .fetch_all(&fleet.pool)
        .await?;
        let delivered = rows
            .iter()
            .find(|(s, _)| s == "delivered")
            .map(|r| r.1)
            .unwrap_or(0);
        Ok((delivered as usize >= 2 * left).then_some(rows))
    })
    .await;
    match deliveries {
        Ok(rows) if rows.len() == 1 => {}
        Ok(rows) => problems.push(format!("deliveries: {rows:?}")),
        Err(e) => problems.push(format!("{e}")),
    }
    let hooks = hooks.lock().unwrap().clone();
    let distinct: HashSet<&String> = hooks.iter().collect();
    // Each lead once per id: one webhook-id per lead, none missing. A crm-export replica killed
    // between the POST and recording its outcome leaves the delivery to be sent again when its
    // lease ends, with the same webhook-id, which the receiver deduplicates (Standard Webhooks;
    // docs/crm-export.md): such a repeat is counted, not a failure.
    if distinct.len() != left {
        problems.push(format!(
            "{left} leads: the webhook got {} distinct webhook-ids ({} requests)",
            distinct.len(),
            hooks.len()
        ));
    }
    let repeats = hooks.len() - distinct.len();
    if repeats > 0 {
        println!(
            "{repeats} webhook request(s) repeated with the same webhook-id (a crm-export replica killed mid-attempt)"
        );
    }

    println!(
        "\n| fault | messages acknowledged | lost | duplicated | longest stall: ack | agent's answer | an agent takes the chat |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1} s | {:.1} s | {:.1} s |",
            r.fault,
            r.acked,
            r.lost,
            r.duplicated,
            r.stall[0].as_secs_f64(),
            r.stall[1].as_secs_f64(),
            r.stall[2].as_secs_f64()
        );
    }
    println!(
        "\nmessages left: {left}, leads: {leads}, webhook requests: {}",
        hooks.len()
    );
    anyhow::ensure!(
        rows.iter().map(|r| r.acked).sum::<usize>() > 0,
        "no message was acknowledged"
    );
    if std::env::var_os("SHOWROOM_FAULT_LOGS").is_some() {
        println!("{}", fleet.logs());
    }
    anyhow::ensure!(left > 0, "no message was left");
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("\n"));
    fleet.stop().await
}

/// `lead.created` events on the LEADS stream, per lead id.
async fn lead_created_events(fleet: &Fleet) -> anyhow::Result<HashMap<String, usize>> {
    let client = fleet.nats_client().await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("LEADS").await?;
    let total = stream.cached_info().state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await?;
    let mut messages = consumer.messages().await?;
    let mut per = HashMap::new();
    for _ in 0..total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("LEADS ended early"))??;
        let ev: Value = serde_json::from_slice(&m.payload)?;
        if ev["type"] == "showroom.lead.created" {
            *per.entry(ev["data"]["id"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
    }
    Ok(per)
}
