//! Leads delivered to CRMs: N `lead.created` CloudEvents published on LEADS as fast as
//! JetStream acknowledges them, until crm-export has delivered every one to a webhook and as an
//! ADF e-mail (two deliveries per lead, `delivered` in its Postgres tables), with the retry
//! machinery on: the intake statement, claims under a lease, outcomes fenced and logged, the
//! `delivery.*` events through the outbox. Beside it, on the same servers in the same run: the
//! same events published raw on JetStream, the same bodies POSTed raw to the same receiver, and
//! e-mails with the warm-up's ADF text sent raw to the same maildev, both at crm-export's
//! concurrency.
//!
//! Diagnostics, to say what limits: raw SMTP over connections kept open (with and without
//! `TCP_NODELAY`, and pipelined as crm-export sends), crm-export's own mailer alone, and the
//! same leads spread over the same dealers with only the webhook destination, then with only
//! the ADF e-mail destination.
//!
//! The clock of an end-to-end run stops when the last `delivery.delivered` event of the run
//! arrives on NATS (crm-export publishes it right after the outcome's commit); the delivered
//! rows are then counted in Postgres to confirm.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hdrhistogram::Histogram;
use lettre::AsyncTransport;
use serde_json::{Value, json};
use showroom_proto::delivery::CrmCommand;
use showroom_proto::lead::{CloudEvent, LEAD_CREATED};
use showroom_proto::{Envelope, v1};
use showroom_store::sqlx;
use showroom_testkit::{Stack, Tenant, Tuning};
use uuid::Uuid;

/// What to run.
pub struct Options {
    /// Leads per run (each makes two deliveries).
    pub leads: usize,
    /// Runs (the report shows medians).
    pub runs: usize,
    /// Dealer groups the end-to-end run's leads are spread over, each with its own webhook and
    /// ADF destinations: one models a single dealer's burst (bounded by the cap per
    /// destination), several the system's throughput.
    pub dealers: usize,
    /// Postgres counts its statements (`pg_stat_statements`), and those of the last
    /// webhook-only run (every service's) are printed.
    pub statements: bool,
}

impl Options {
    /// `--leads N --runs R --dealers D [--statements]` (defaults 1000, 3, 1).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            leads: get("--leads", 1_000).max(1),
            runs: get("--runs", 3).max(1),
            dealers: get("--dealers", 1).max(1),
            statements: crate::switch(args, "--statements"),
        }
    }
}

/// The goal, on this 2-core machine.
const GOAL: f64 = 2_000.0;
/// A run fails when no delivery finished for this long.
const STALL: Duration = Duration::from_secs(30);
/// A fixed signing secret (`whsec_` + 32 bytes in base64).
const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Microseconds from `a` to `b` (at least 1: the clocks are the same machine's).
fn micros(a: DateTime<Utc>, b: DateTime<Utc>) -> u64 {
    (b - a).num_microseconds().unwrap_or(0).max(1) as u64
}

/// A webhook receiver on 127.0.0.1:0 that reads the body, answers 200 at once and counts.
async fn receiver() -> anyhow::Result<(Arc<AtomicUsize>, String)> {
    async fn hook(State(n): State<Arc<AtomicUsize>>, _body: axum::body::Bytes) -> StatusCode {
        n.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    }
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(count.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((count, url))
}

/// A `crm.*` request to crm-export: the `ok` answer, or the refusal as an error.
async fn ask(
    nats: &async_nats::Client,
    group: Uuid,
    cmd: CrmCommand,
    data: Value,
) -> anyhow::Result<Value> {
    let env = Envelope::new(group, data);
    let msg = nats
        .request(
            v1::crm_command(group, cmd),
            serde_json::to_vec(&env)?.into(),
        )
        .await
        .with_context(|| format!("request {}", cmd.as_str()))?;
    let reply: Value = serde_json::from_slice(&msg.payload)?;
    match (reply.get("ok"), reply.get("error")) {
        (Some(ok), _) => Ok(ok.clone()),
        (_, Some(e)) => anyhow::bail!("{} refused: {e}", cmd.as_str()),
        _ => anyhow::bail!("odd reply {reply}"),
    }
}

/// Which destinations a tenant gets.
#[derive(Clone, Copy, PartialEq)]
enum Kinds {
    Both,
    WebhookOnly,
    AdfOnly,
}

/// A tenant with its destinations, made through crm-export's requests: the receiver's webhook
/// and an ADF e-mail to maildev (or only one of them), both for every department of the
/// rooftop.
async fn tenant(
    stack: &Stack,
    nats: &async_nats::Client,
    name: &str,
    hook: &str,
    kinds: Kinds,
) -> anyhow::Result<Tenant> {
    let t = Tenant::seed(&stack.pool, name, 1).await?;
    if kinds != Kinds::AdfOnly {
        ask(
            nats,
            t.group,
            CrmCommand::PutDestination,
            json!({"destination_id": Uuid::now_v7(), "settings": {
            "rooftop_id": t.rooftop, "name": "Bench webhook",
            "target": {"kind": "webhook", "url": hook, "secrets": [SECRET]}}}),
        )
        .await?;
    }
    if kinds != Kinds::WebhookOnly {
        ask(
            nats,
            t.group,
            CrmCommand::PutDestination,
            json!({"destination_id": Uuid::now_v7(), "settings": {
                "rooftop_id": t.rooftop, "name": "Bench ADF",
                "target": {"kind": "adf_email", "to": "leads@crm.example"}}}),
        )
        .await?;
    }
    Ok(t)
}

/// One lead's event, ready to publish.
#[derive(Clone)]
struct Event {
    lead: Uuid,
    id: Uuid,
    payload: bytes::Bytes,
}

/// `n` `lead.created` events of the tenant's Sales department, each a fresh lead
/// ([`Tenant::sample_lead`]: a missed chat about a used RAV4, as lead-capture publishes it).
fn events(t: &Tenant, n: usize) -> anyhow::Result<Vec<Event>> {
    (0..n)
        .map(|_| {
            let lead = t.sample_lead(Some((t.sales, "Sales")));
            let (lead_id, id) = (lead.id, Uuid::now_v7());
            let payload = serde_json::to_vec(&CloudEvent::lead(id, LEAD_CREATED, lead))?;
            Ok(Event {
                lead: lead_id,
                id,
                payload: payload.into(),
            })
        })
        .collect()
}

/// Publishes every event on `subject`, each with its id as `Nats-Msg-Id`, as fast as the
/// client takes them, then waits for every ack; answers when each was handed over.
async fn publish(
    js: &async_nats::jetstream::Context,
    subject: &str,
    events: &[Event],
) -> anyhow::Result<Vec<DateTime<Utc>>> {
    // At most `WINDOW` acknowledgements pending: the context lends 5 000 permits for them,
    // and a publish waits for one (with more pending, a burst of over 5 000 waited forever).
    const WINDOW: usize = 1024;
    let settle = |ack: async_nats::jetstream::context::PublishAckFuture| async move {
        anyhow::ensure!(
            !ack.await?.duplicate,
            "JetStream took an event for a duplicate"
        );
        anyhow::Ok(())
    };
    let mut acks = std::collections::VecDeque::with_capacity(WINDOW);
    let mut at = Vec::with_capacity(events.len());
    for e in events {
        if acks.len() >= WINDOW
            && let Some(oldest) = acks.pop_front()
        {
            settle(oldest).await?;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", e.id.to_string().as_str());
        at.push(Utc::now());
        acks.push_back(
            js.publish_with_headers(subject.to_string(), headers, e.payload.clone())
                .await?,
        );
    }
    for ack in acks {
        settle(ack).await?;
    }
    Ok(at)
}

/// Runs `n` operations, `c` at a time; answers operations per second.
async fn rate<F, Fut>(n: usize, c: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(op)
        .buffer_unordered(c)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// A text/plain e-mail like an ADF one: the same sender and recipient, `body` as the text.
fn mail(i: usize, body: String) -> anyhow::Result<lettre::Message> {
    Ok(lettre::Message::builder()
        .from("Showroom Leads <leads@showroom.invalid>".parse()?)
        .to("leads@crm.example".parse()?)
        .subject(format!("Baseline {i}"))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body)?)
}

/// How a raw SMTP diagnostic writes to its kept-open connections.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// lettre's own send, Nagle's algorithm on.
    Lettre,
    /// lettre's own send (four round trips per e-mail), `TCP_NODELAY`.
    NoDelay,
    /// `TCP_NODELAY`, and pipelined as crm-export sends to a server offering `PIPELINING` (two
    /// round trips per e-mail; `showroom_crm_export::email::send_pipelined`).
    Pipelined,
}

/// Diagnostic: `n` e-mails over `c` SMTP connections kept open (each connection greets once,
/// then carries its share of the e-mails one after another), written as `wire` says (lettre
/// writes the message and its final `.` apart, which Nagle's algorithm holds until the
/// server's delayed ACK); answers e-mails per second.
async fn smtp_kept_open(
    port: u16,
    n: usize,
    c: usize,
    body: &str,
    wire: Wire,
) -> anyhow::Result<f64> {
    use lettre::transport::smtp::client::AsyncSmtpConnection;
    use lettre::transport::smtp::extension::ClientId;
    let started = Instant::now();
    let workers = (0..c.min(n)).map(|w| async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(wire != Wire::Lettre)?;
        let mut conn =
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &ClientId::default())
                .await?;
        for i in (w..n).step_by(c) {
            let m = mail(i, body.to_string())?;
            if wire == Wire::Pipelined {
                showroom_crm_export::email::send_pipelined(&mut conn, m.envelope(), &m.formatted())
                    .await?;
            } else {
                conn.send(m.envelope(), &m.formatted()).await?;
            }
        }
        conn.quit().await?;
        anyhow::Ok(())
    });
    futures::future::try_join_all(workers).await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Empties maildev after a baseline once all its `n` e-mails are stored. maildev stores an
/// e-mail a moment after it answered `250`, so clearing at once could leave the last few to be
/// counted with the next phase's.
async fn clear_when_stored(
    smtp: &showroom_localinfra::SmtpCatcher,
    n: usize,
) -> anyhow::Result<()> {
    smtp.wait_for_messages(n, Duration::from_secs(60)).await?;
    smtp.clear().await?;
    Ok(())
}

/// Delivered and ended-without-success deliveries of a group (not test sends).
async fn counts(pool: &sqlx::PgPool, group: Uuid) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'delivered'), \
                count(*) FILTER (WHERE status IN ('dead_lettered', 'failed', 'cancelled')) \
         FROM crm_deliveries WHERE group_id = $1 AND NOT test",
    )
    .bind(group)
    .fetch_one(pool)
    .await?)
}

/// Counts the `delivery.delivered` events of the groups (core NATS, subscribed before the
/// run's leads are published).
struct Watch {
    subs: Vec<async_nats::Subscriber>,
}

impl Watch {
    async fn new(nats: &async_nats::Client, groups: &[Uuid]) -> anyhow::Result<Self> {
        let mut subs = Vec::new();
        for g in groups {
            subs.push(nats.subscribe(v1::delivery_event(*g, "delivered")).await?);
        }
        nats.flush().await?;
        Ok(Self { subs })
    }

    /// Waits until `want` delivered events arrived, then checks the groups' rows in Postgres;
    /// fails when none arrived for [`STALL`] or a delivery ended without success.
    async fn wait(self, pool: &sqlx::PgPool, groups: &[Uuid], want: usize) -> anyhow::Result<()> {
        let mut events = futures::stream::select_all(self.subs);
        let mut seen = 0;
        while seen < want {
            match tokio::time::timeout(STALL, events.next()).await {
                Ok(Some(_)) => seen += 1,
                Ok(None) => anyhow::bail!("the subscription ended"),
                Err(_) => {
                    let (delivered, ended) = counts_of(pool, groups).await?;
                    anyhow::bail!(
                        "stalled: {seen} of {want} delivered events ({delivered} rows delivered, \
                         {ended} ended without success), none for {STALL:?}"
                    );
                }
            }
        }
        let (delivered, ended) = counts_of(pool, groups).await?;
        anyhow::ensure!(
            ended == 0 && delivered as usize == want,
            "{delivered} of {want} deliveries delivered, {ended} ended without success"
        );
        Ok(())
    }
}

async fn counts_of(pool: &sqlx::PgPool, groups: &[Uuid]) -> anyhow::Result<(i64, i64)> {
    let (mut delivered, mut ended) = (0, 0);
    for g in groups {
        let (d, e) = counts(pool, *g).await?;
        delivered += d;
        ended += e;
    }
    Ok((delivered, ended))
}

/// Waits until `want` deliveries of the group are delivered, polling every 25 ms (the
/// warm-up).
async fn wait_delivered(pool: &sqlx::PgPool, group: Uuid, want: i64) -> anyhow::Result<()> {
    let (mut last, mut moved) = (-1, Instant::now());
    loop {
        let (delivered, ended) = counts(pool, group).await?;
        if delivered >= want {
            return Ok(());
        }
        anyhow::ensure!(
            ended == 0,
            "{ended} deliveries ended without success ({delivered} of {want} delivered)"
        );
        if delivered != last {
            (last, moved) = (delivered, Instant::now());
        }
        anyhow::ensure!(
            moved.elapsed() < STALL,
            "stalled: {delivered} of {want} deliveries delivered, none for {STALL:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `n` leads spread over `dealers` new tenants with `kinds` destinations, published on LEADS
/// and waited for until every delivery is `delivered`; answers leads per second.
#[allow(clippy::too_many_arguments)]
async fn spread(
    stack: &Stack,
    nats: &async_nats::Client,
    js: &async_nats::jetstream::Context,
    hook: &str,
    name: &str,
    kinds: Kinds,
    n: usize,
    dealers: usize,
) -> anyhow::Result<f64> {
    let mut ts = Vec::new();
    for d in 0..dealers {
        ts.push(tenant(stack, nats, &format!("{name}.{d}"), hook, kinds).await?);
    }
    let share = |d: usize| n / dealers + usize::from(d < n % dealers);
    let mut batches = Vec::new();
    for (d, t) in ts.iter().enumerate() {
        batches.push(events(t, share(d))?);
    }
    let groups: Vec<Uuid> = ts.iter().map(|t| t.group).collect();
    let per_lead = if kinds == Kinds::Both { 2 } else { 1 };
    let watch = Watch::new(nats, &groups).await?;
    let started = Instant::now();
    for (t, b) in ts.iter().zip(&batches) {
        publish(js, &v1::lead_created(t.group), b).await?;
    }
    watch.wait(&stack.pool, &groups, per_lead * n).await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// One end-to-end run's figures.
struct Run {
    leads_per_sec: f64,
    publish_per_sec: f64,
    /// Publish → the lead's last delivery.
    total: Histogram<u64>,
    /// Publish → its deliveries stored by the intake.
    intake: Histogram<u64>,
    /// Delivery stored → its first attempt started (waiting for a free slot).
    queued: Histogram<u64>,
    /// The delivered attempt, start to end, per kind.
    webhook: Histogram<u64>,
    email: Histogram<u64>,
    attempts: i64,
    webhooks_seen: usize,
    emails_seen: usize,
}

/// Reads each delivery's timestamps back from crm-export's tables.
async fn stages(
    pool: &sqlx::PgPool,
    group: Uuid,
    published: &HashMap<Uuid, DateTime<Utc>>,
) -> anyhow::Result<(Histogram<u64>, [Histogram<u64>; 4], i64)> {
    type Row = (
        Uuid,
        String,
        DateTime<Utc>,
        i32,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.lead_id, t.kind, d.created_at, d.attempts, f.started_at, a.started_at, a.finished_at \
         FROM crm_deliveries d JOIN crm_destinations t ON t.id = d.destination_id \
         JOIN crm_attempts f ON f.delivery_id = d.id AND f.attempt = 1 \
         JOIN crm_attempts a ON a.delivery_id = d.id AND a.outcome = 'delivered' \
         WHERE d.group_id = $1 AND NOT d.test",
    )
    .bind(group)
    .fetch_all(pool)
    .await?;
    let mut h: [Histogram<u64>; 4] = [
        Histogram::new(3)?,
        Histogram::new(3)?,
        Histogram::new(3)?,
        Histogram::new(3)?,
    ];
    let mut done: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let mut attempts = 0;
    for (lead, kind, created, n, first, started, finished) in rows {
        let Some(&at) = published.get(&lead) else {
            continue;
        };
        let finished = finished.context("a delivered attempt without its end")?;
        attempts += i64::from(n);
        h[0].record(micros(at, created))?;
        h[1].record(micros(created, first))?;
        h[if kind == "webhook" { 2 } else { 3 }].record(micros(started, finished))?;
        let last = done.entry(lead).or_insert(finished);
        *last = (*last).max(finished);
    }
    anyhow::ensure!(
        done.len() == published.len(),
        "{} of {} leads have their deliveries",
        done.len(),
        published.len()
    );
    let mut total = Histogram::new(3)?;
    for (lead, finished) in done {
        total.record(micros(published[&lead], finished))?;
    }
    Ok((total, h, attempts))
}

/// Runs the benchmark and prints its report.
pub async fn run(o: Options) -> anyhow::Result<()> {
    eprintln!("starting real servers (Postgres with fsync on), maildev and the seven services…");
    let stack = crate::statements::stack(Tuning::default(), o.statements).await?;
    let nats = stack.nats_client().await?;
    let js = async_nats::jetstream::new(nats.clone());
    let (seen, hook) = receiver().await?;
    let crm = Stack::crm_export_tuning();
    let c = crm.max_in_flight;
    let n = o.leads;

    // Warm-up through crm-export (connections, caches), which also gives the ADF's size.
    eprintln!("warming up…");
    let warm = tenant(&stack, &nats, "Leads Warmup", &hook, Kinds::Both).await?;
    let warm_events = events(&warm, 20)?;
    publish(&js, &v1::lead_created(warm.group), &warm_events).await?;
    wait_delivered(&stack.pool, warm.group, 2 * warm_events.len() as i64).await?;
    let mails = stack.smtp.messages().await?;
    // The baselines send the same ADF text (maildev's work per e-mail depends on the body).
    let adf_body = mails
        .first()
        .and_then(|m| m["text"].as_str())
        .context("an ADF e-mail in maildev")?
        .to_string();
    let adf_len = adf_body.len();
    stack.smtp.clear().await?;

    // Baselines' means: a stream like LEADS, a client like crm-export's, the same transport.
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_LEADS".into(),
        subjects: vec!["bench.leads.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .context("creating the baseline stream")?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(crm.webhook_timeout_ms))
        .build()?;
    let smtp_timeout = Duration::from_millis(crm.smtp_timeout_ms);
    let smtp = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&format!(
        "smtp://127.0.0.1:{}",
        stack.smtp.smtp_port
    ))?
    .timeout(Some(smtp_timeout))
    .build();

    let (mut raw_js, mut raw_http, mut raw_smtp) = (Vec::new(), Vec::new(), Vec::new());
    let (mut kept_open, mut kept_open_nodelay) = (Vec::new(), Vec::new());
    let (mut kept_open_pipelined, mut mailer_only) = (Vec::new(), Vec::new());
    // crm-export's own mailer, on its own: the ADF e-mail path without the deliveries'
    // machinery (claims, outcomes, events) around it.
    let mailer = Arc::new(showroom_crm_export::email::Mailer::new(
        &format!("smtp://127.0.0.1:{}", stack.smtp.smtp_port),
        "Showroom Leads <leads@showroom.invalid>",
        smtp_timeout,
        c,
    )?);
    let (mut webhook_only, mut adf_only) = (Vec::new(), Vec::new());
    let mut runs = Vec::new();
    for run in 0..o.runs {
        let t = tenant(
            &stack,
            &nats,
            &format!("Leads Bench {run}"),
            &hook,
            Kinds::Both,
        )
        .await?;
        let batch = events(&t, n)?;
        eprintln!("run {} of {}: baselines…", run + 1, o.runs);
        let started = Instant::now();
        publish(&js, "bench.leads.created", &batch).await?;
        raw_js.push(n as f64 / started.elapsed().as_secs_f64());
        let before = seen.load(Ordering::Relaxed);
        raw_http.push(
            rate(n, c, |i| {
                let (http, hook, body) = (http.clone(), hook.clone(), batch[i].payload.clone());
                async move {
                    let r = http
                        .post(hook)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "receiver said {}", r.status());
                    Ok(())
                }
            })
            .await?,
        );
        anyhow::ensure!(seen.load(Ordering::Relaxed) - before == n);
        raw_smtp.push(
            rate(n, c, |i| {
                let (smtp, body) = (smtp.clone(), adf_body.clone());
                async move {
                    smtp.send(mail(i, body)?).await?;
                    Ok(())
                }
            })
            .await?,
        );
        clear_when_stored(&stack.smtp, n).await?;
        let port = stack.smtp.smtp_port;
        kept_open.push(smtp_kept_open(port, n, c, &adf_body, Wire::Lettre).await?);
        clear_when_stored(&stack.smtp, n).await?;
        kept_open_nodelay.push(smtp_kept_open(port, n, c, &adf_body, Wire::NoDelay).await?);
        clear_when_stored(&stack.smtp, n).await?;
        kept_open_pipelined.push(smtp_kept_open(port, n, c, &adf_body, Wire::Pipelined).await?);
        clear_when_stored(&stack.smtp, n).await?;
        mailer_only.push(
            rate(n, c, |i| {
                let (mailer, xml) = (mailer.clone(), adf_body.clone());
                async move {
                    let subject = format!("Lead from Showroom chat — Baseline {i}");
                    let answer = mailer
                        .send(Uuid::now_v7(), "leads@crm.example", &subject, xml)
                        .await;
                    anyhow::ensure!(
                        matches!(
                            answer,
                            showroom_crm_export::answer::Answer::Delivered { .. }
                        ),
                        "the mailer said {answer:?}"
                    );
                    Ok(())
                }
            })
            .await?,
        );
        clear_when_stored(&stack.smtp, n).await?;

        eprintln!(
            "run {} of {}: {n} leads through crm-export…",
            run + 1,
            o.runs
        );
        // The same n leads, spread over the dealers (the run's tenant is the first).
        let mut extra = Vec::new();
        for d in 1..o.dealers {
            extra.push(
                tenant(
                    &stack,
                    &nats,
                    &format!("Leads Bench {run}.{d}"),
                    &hook,
                    Kinds::Both,
                )
                .await?,
            );
        }
        let dealers: Vec<&Tenant> = std::iter::once(&t).chain(extra.iter()).collect();
        let share = |d: usize| n / o.dealers + usize::from(d < n % o.dealers);
        let mut batches = vec![batch.clone()];
        batches[0].truncate(share(0));
        for (d, x) in dealers.iter().enumerate().skip(1) {
            batches.push(events(x, share(d))?);
        }
        let before = seen.load(Ordering::Relaxed);
        let groups: Vec<Uuid> = dealers.iter().map(|x| x.group).collect();
        let watch = Watch::new(&nats, &groups).await?;
        let started = Instant::now();
        let mut published_at: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        for (x, b) in dealers.iter().zip(&batches) {
            let at = publish(&js, &v1::lead_created(x.group), b).await?;
            published_at.extend(b.iter().zip(at).map(|(e, at)| (e.lead, at)));
        }
        let published = started.elapsed();
        watch.wait(&stack.pool, &groups, 2 * n).await?;
        let elapsed = started.elapsed();
        // Each dealer's stages, from its own leads' publish times, merged.
        let of = |b: &[Event]| -> HashMap<Uuid, DateTime<Utc>> {
            b.iter().map(|e| (e.lead, published_at[&e.lead])).collect()
        };
        let (mut total, [mut intake, mut queued, mut webhook, mut email], mut attempts) =
            stages(&stack.pool, t.group, &of(&batches[0])).await?;
        for (x, b) in dealers.iter().zip(&batches).skip(1) {
            let (t2, [i2, q2, w2, e2], a2) = stages(&stack.pool, x.group, &of(b)).await?;
            total.add(&t2)?;
            intake.add(&i2)?;
            queued.add(&q2)?;
            webhook.add(&w2)?;
            email.add(&e2)?;
            attempts += a2;
        }
        let emails_seen = stack.smtp.messages().await?.len();
        stack.smtp.clear().await?;
        runs.push(Run {
            leads_per_sec: n as f64 / elapsed.as_secs_f64(),
            publish_per_sec: n as f64 / published.as_secs_f64(),
            total,
            intake,
            queued,
            webhook,
            email,
            attempts,
            webhooks_seen: seen.load(Ordering::Relaxed) - before,
            emails_seen,
        });

        // Diagnostics: the same leads over the same number of dealers, with the webhook alone
        // (no SMTP in the way), then with the ADF e-mail alone.
        eprintln!("run {} of {}: {n} leads to webhooks only…", run + 1, o.runs);
        if o.statements {
            crate::statements::reset(&stack.pool).await?;
        }
        webhook_only.push(
            spread(
                &stack,
                &nats,
                &js,
                &hook,
                &format!("Leads Hook {run}"),
                Kinds::WebhookOnly,
                n,
                o.dealers,
            )
            .await?,
        );
        if o.statements && run + 1 == o.runs {
            let what = format!("the last webhook-only run's {n} leads");
            crate::statements::print(&stack.pool, &what, Some((n, "lead"))).await?;
        }
        eprintln!(
            "run {} of {}: {n} leads to ADF e-mails only…",
            run + 1,
            o.runs
        );
        adf_only.push(
            spread(
                &stack,
                &nats,
                &js,
                &hook,
                &format!("Leads Adf {run}"),
                Kinds::AdfOnly,
                n,
                o.dealers,
            )
            .await?,
        );
        stack.smtp.clear().await?;
    }

    let med = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let leads = med(&|r| r.leads_per_sec);
    let (js_rate, http_rate, smtp_rate) = (median(raw_js), median(raw_http), median(raw_smtp));
    let (kept_open, kept_open_nodelay) = (median(kept_open), median(kept_open_nodelay));
    let (kept_open_pipelined, mailer_only) = (median(kept_open_pipelined), median(mailer_only));
    println!();
    println!(
        "Leads to CRMs: {n} leads per run over {} dealer group(s), each lead to its dealer's \
         webhook and ADF e-mail ({} deliveries), crm-export max_in_flight = {c}, \
         per_destination_in_flight = {}, median of {} runs",
        o.dealers,
        2 * n,
        crm.slots()?.1,
        o.runs
    );
    println!();
    println!("| scenario | per second |");
    println!("| --- | ---: |");
    println!("| raw JetStream publish + ack, same events | {js_rate:.0} |");
    println!("| raw HTTP POST to the same receiver, C = {c}, same bodies | {http_rate:.0} |");
    println!(
        "| raw SMTP to the same maildev, C = {c}, the same {adf_len}-byte ADF text (lettre's pooled transport) | {smtp_rate:.0} |"
    );
    println!(
        "| diagnostic: raw SMTP over {c} connections kept open, same bodies | {kept_open:.0} |"
    );
    println!(
        "| raw SMTP over {c} kept-open connections with TCP_NODELAY (maildev's own ceiling) | {kept_open_nodelay:.0} |"
    );
    println!(
        "| diagnostic: the same, pipelined as crm-export sends (two round trips per e-mail, not four) | {kept_open_pipelined:.0} |"
    );
    println!(
        "| diagnostic: crm-export's mailer alone (`email::Mailer`, its pool of {c}), the same ADF text, C = {c} | {mailer_only:.0} |"
    );
    println!(
        "| publish of the run's events on LEADS (acks awaited) | {:.0} |",
        med(&|r| r.publish_per_sec)
    );
    println!("| **leads delivered end to end** | **{leads:.0}** |");
    println!(
        "| **deliveries end to end** | **{:.0}** |",
        med(&|r| 2.0 * r.leads_per_sec)
    );
    let (webhook_only, adf_only) = (median(webhook_only), median(adf_only));
    println!("| leads end to end, webhook destinations only, same dealers | {webhook_only:.0} |");
    println!("| leads end to end, ADF e-mail destinations only, same dealers | {adf_only:.0} |");
    println!();
    println!(
        "goal ≥ {GOAL:.0} leads/s on this 2-core machine: {leads:.0} leads/s, {}",
        if leads >= GOAL { "met" } else { "NOT met" }
    );
    let floor = js_rate.min(http_rate).min(smtp_rate);
    println!(
        "ratios: leads/s ÷ raw JetStream {:.3}×, ÷ raw HTTP {:.3}×, ÷ raw SMTP {:.3}×, ÷ min(baselines) {:.2}×",
        leads / js_rate,
        leads / http_rate,
        leads / smtp_rate,
        leads / floor
    );
    println!(
        "diagnostic: leads/s ÷ raw SMTP over kept-open connections {:.3}×, with TCP_NODELAY {:.3}×",
        leads / kept_open,
        leads / kept_open_nodelay
    );
    println!(
        "webhook only: {webhook_only:.0} leads/s (goal ≥ {GOAL:.0}: {}), ÷ raw HTTP {:.3}×",
        if webhook_only >= GOAL {
            "met"
        } else {
            "NOT met"
        },
        webhook_only / http_rate
    );
    println!(
        "ADF e-mail only: {adf_only:.0} leads/s, ÷ raw SMTP kept open with TCP_NODELAY {:.2}× (goal ≥ 0.8×: {}), ÷ the same pipelined {:.2}×",
        adf_only / kept_open_nodelay,
        if adf_only >= 0.8 * kept_open_nodelay {
            "met"
        } else {
            "NOT met"
        },
        adf_only / kept_open_pipelined
    );
    println!(
        "crm-export's mailer alone: {mailer_only:.0} e-mails/s, ÷ raw SMTP kept open with TCP_NODELAY {:.2}×",
        mailer_only / kept_open_nodelay
    );
    println!();
    println!("latency of a lead in a burst of {n} (medians of the runs' percentiles):");
    let row = |name: &str, h: &dyn Fn(&Run) -> &Histogram<u64>| {
        println!(
            "  {name:<52} p50 {:>9.1} ms   p99 {:>9.1} ms",
            med(&|r| ms(h(r), 0.5)),
            med(&|r| ms(h(r), 0.99))
        );
    };
    row("publish → its last delivery delivered", &|r| &r.total);
    row("publish → deliveries stored (intake)", &|r| &r.intake);
    row("stored → first attempt started (queue)", &|r| &r.queued);
    row("webhook attempt (claimed → outcome recorded)", &|r| {
        &r.webhook
    });
    row("ADF e-mail attempt (claimed → outcome recorded)", &|r| {
        &r.email
    });
    for (i, r) in runs.iter().enumerate() {
        println!(
            "run {}: {:.0} leads/s; {} attempts for {} deliveries; on the wire {} webhooks, {} e-mails",
            i + 1,
            r.leads_per_sec,
            r.attempts,
            2 * n,
            r.webhooks_seen,
            r.emails_seen
        );
    }
    stack.stop().await
}
