//! Operability, checked with the real tools an operator runs: every service of a fleet (a
//! three-node NATS cluster, each service its own process) is scraped by a real Prometheus,
//! whose HTTP API shows every metric family moving during a chat; a real OTLP receiver (a gRPC
//! server speaking the OTLP trace protocol) gets the spans of one chat message, which share one
//! trace from the gateway's handling of `send` through the agent's socket write, and through
//! NATS to notification; the Grafana dashboard asks only for metrics that exist; and the services'
//! JSON logs carry the trace ids.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::service_binary;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::{Value, json};
use showroom_localinfra::Prometheus;
use showroom_proto::delivery::CrmCommand;
use showroom_proto::lead::{CloudEvent, LEAD_CREATED};
use showroom_proto::v1;
use showroom_testkit::{Fleet, Http, PASSWORD, Service, Socket, Tenant, accepted_chat, eventually};
use uuid::Uuid;

// ---- a real OTLP receiver ------------------------------------------------------------------

/// One received span: the service that sent it, and the span.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    trace_id: String,
    attributes: Vec<(String, String)>,
}

impl Got {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Receiver {
    spans: Mutex<Vec<Got>>,
}

fn text(kv: &KeyValue) -> (String, String) {
    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    };
    (kv.key.clone(), v)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = Vec::new();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter().map(text))
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v)
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    got.push(Got {
                        service: service.clone(),
                        name: s.name.clone(),
                        trace_id: hex(&s.trace_id),
                        attributes: s.attributes.iter().map(text).collect(),
                    });
                }
            }
        }
        if let Ok(mut spans) = self.spans.lock() {
            spans.extend(got);
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    /// Serves OTLP/gRPC on a free loopback port; answers the receiver and its endpoint URL.
    async fn start() -> anyhow::Result<(Arc<Receiver>, String)> {
        let receiver = Arc::new(Receiver::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let service = TraceServiceServer::from_arc(receiver.clone());
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
            if let Err(e) = served {
                eprintln!("OTLP receiver stopped: {e}");
            }
        });
        Ok((receiver, format!("http://{addr}")))
    }

    fn spans(&self) -> Vec<Got> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

// ---- a webhook that answers 410 Gone (a dead letter at once) -------------------------------

async fn gone_webhook() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::GONE }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/hook"))
}

/// A `crm.*` request as the operator; the `ok` answer.
async fn crm(
    nats: &async_nats::Client,
    group: Uuid,
    cmd: CrmCommand,
    data: Value,
) -> anyhow::Result<Value> {
    let env =
        json!({"id": Uuid::now_v7(), "tenant": group, "time": chrono::Utc::now(), "data": data});
    let msg = nats
        .request(
            v1::crm_command(group, cmd),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    let reply: Value = serde_json::from_slice(&msg.payload)?;
    reply
        .get("ok")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{} refused: {reply}", cmd.as_str()))
}

// ---- Prometheus ----------------------------------------------------------------------------

/// The value of every series `promql` answers, with its labels.
async fn series(prom: &Prometheus, promql: &str) -> anyhow::Result<Vec<(Value, f64)>> {
    Ok(prom
        .query(promql)
        .await?
        .into_iter()
        .map(|r| {
            let v = r["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            (r["metric"].clone(), v)
        })
        .collect())
}

/// What the test requires of each metric family: a query and the least its value must be
/// (0 for gauges that only have to exist, with every service or label they should have).
struct Expect {
    what: &'static str,
    promql: &'static str,
    at_least: f64,
    /// The series it must have, by this label.
    label: &'static str,
    values: &'static [&'static str],
}

const SERVICES: &[&str] = &[
    "gateway",
    "presence",
    "router",
    "bot",
    "lead-capture",
    "notification",
    "crm-export",
];

const EXPECT: &[Expect] = &[
    Expect {
        what: "every service up and its build",
        promql: "showroom_build_info",
        at_least: 1.0,
        label: "service",
        values: SERVICES,
    },
    Expect {
        what: "sockets open by kind",
        promql: "showroom_sockets_open",
        at_least: 1.0,
        label: "kind",
        values: &["widget", "agent"],
    },
    Expect {
        what: "frames in and out",
        promql: "sum by (direction) (showroom_frames_total)",
        at_least: 3.0,
        label: "direction",
        values: &["in", "out"],
    },
    Expect {
        what: "send to ack latency",
        promql: "showroom_send_ack_duration_seconds_count",
        at_least: 1.0,
        label: "kind",
        values: &["widget", "agent"],
    },
    Expect {
        what: "send to ack latency buckets",
        promql: "sum by (kind) (showroom_send_ack_duration_seconds_bucket{le=\"+Inf\"})",
        at_least: 1.0,
        label: "kind",
        values: &["widget", "agent"],
    },
    Expect {
        what: "routing decisions",
        promql: "sum by (service) (showroom_routing_decisions_total)",
        at_least: 1.0,
        label: "service",
        values: &["router"],
    },
    Expect {
        what: "routing decision latency",
        promql: "showroom_routing_decision_duration_seconds_count",
        at_least: 1.0,
        label: "service",
        values: &["router"],
    },
    Expect {
        what: "offers",
        promql: "showroom_offers_total",
        at_least: 1.0,
        label: "service",
        values: &["router"],
    },
    Expect {
        what: "accepts",
        promql: "showroom_offer_accepts_total",
        at_least: 1.0,
        label: "service",
        values: &["router"],
    },
    Expect {
        what: "outbox rows pending",
        promql: "showroom_outbox_pending_rows",
        at_least: 0.0,
        label: "outbox",
        values: &["conversation_outbox", "lead_outbox", "crm_outbox"],
    },
    Expect {
        what: "outbox oldest age",
        promql: "showroom_outbox_oldest_age_seconds",
        at_least: 0.0,
        label: "outbox",
        values: &["conversation_outbox", "lead_outbox", "crm_outbox"],
    },
    Expect {
        what: "JetStream consumer pending",
        promql: "showroom_jetstream_consumer_pending_messages",
        at_least: 0.0,
        label: "consumer",
        values: &[
            "router-presence",
            "bot-conversations-created",
            "lead-capture-conversations-missed",
            "notification-messages",
        ],
    },
    Expect {
        what: "heartbeats processed",
        promql: "showroom_heartbeats_total",
        at_least: 1.0,
        label: "service",
        values: &["presence"],
    },
    Expect {
        what: "webhook attempts by outcome",
        promql: "showroom_webhook_attempts_total",
        at_least: 1.0,
        label: "outcome",
        values: &["gone"],
    },
    Expect {
        what: "e-mail attempts by outcome",
        promql: "showroom_email_attempts_total{purpose=\"adf\"}",
        at_least: 1.0,
        label: "outcome",
        values: &["delivered"],
    },
    Expect {
        what: "dead letters",
        promql: "showroom_dead_letters_total",
        at_least: 1.0,
        label: "channel",
        values: &["webhook"],
    },
    Expect {
        what: "Postgres pool in use and idle",
        promql: "sum by (service) (showroom_db_pool_connections)",
        at_least: 1.0,
        label: "service",
        values: SERVICES,
    },
    Expect {
        what: "Postgres pool by state",
        promql: "sum by (state) (showroom_db_pool_connections)",
        at_least: 0.0,
        label: "state",
        values: &["in_use", "idle"],
    },
    Expect {
        what: "NATS reconnects",
        promql: "showroom_nats_reconnects_total",
        at_least: 0.0,
        label: "service",
        values: SERVICES,
    },
];

/// What is still missing of `e` (empty when met).
async fn unmet(prom: &Prometheus, e: &Expect) -> anyhow::Result<Vec<String>> {
    let got = series(prom, e.promql).await?;
    Ok(e.values
        .iter()
        .filter(|want| {
            !got.iter()
                .any(|(m, v)| m[e.label] == **want && *v >= e.at_least)
        })
        .map(|want| {
            format!(
                "{} ({}): {}={want} >= {}",
                e.what, e.promql, e.label, e.at_least
            )
        })
        .collect())
}

/// Every `showroom_*` metric name the dashboard's queries use (histogram series reduced to
/// their family).
fn dashboard_metrics() -> anyhow::Result<BTreeSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/grafana/showroom.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    anyhow::ensure!(!exprs.is_empty(), "no PromQL in {}", path.display());
    Ok(showroom_names(&exprs))
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "query", Value::String(s)) => out.push(s.clone()),
                    ("query", Value::Object(q)) => {
                        if let Some(Value::String(s)) = q.get("query") {
                            out.push(s.clone());
                        }
                    }
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The `showroom_...` identifiers in `exprs`.
fn showroom_names(exprs: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("showroom_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_sees_every_service_move_and_one_trace_follows_a_message() -> anyhow::Result<()>
{
    let (receiver, otlp) = Receiver::start().await?;
    let env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), otlp),
        // Spans leave in batches every 200 ms instead of 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY".to_string(), "200".to_string()),
        // Info logs, so the JSON log lines inside spans can be read back.
        ("RUST_LOG".to_string(), "info".to_string()),
    ];
    let mut fleet = Fleet::start_with_env(service_binary(), 1, env).await?;
    let targets: Vec<(String, String)> = fleet
        .admin_addrs()
        .into_iter()
        .map(|(s, _, addr)| (s.name().to_string(), addr))
        .collect();
    let prom = Prometheus::start(&targets).await?;
    let run = observe(&mut fleet, &prom, &receiver).await;
    if run.is_err() {
        println!("{}", fleet.logs());
        println!("--- prometheus\n{}", prom.log());
    }
    run?;
    fleet.stop().await
}

async fn observe(fleet: &mut Fleet, prom: &Prometheus, receiver: &Receiver) -> anyhow::Result<()> {
    // Prometheus reaches all seven admin ports.
    eventually(Duration::from_secs(20), "every target up", || async {
        let targets = prom.targets().await?;
        let up = targets.iter().filter(|t| t["health"] == "up").count();
        Ok((up == SERVICES.len()).then_some(()))
    })
    .await?;

    // A chat: an agent takes it, the shopper writes, the agent answers.
    let t = Tenant::seed(&fleet.pool, "Observed", 1).await?;
    let base = fleet.gateway_urls()[0].clone();
    let ws = base.replacen("http://", "ws://", 1);
    let token = Http::new(&base).login(&t.agents[0].1, PASSWORD).await?;
    let mut agent = Socket::console(&ws, &token).await?;
    let welcome = agent.ask(json!({"type": "hello", "v": 1})).await?;
    anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut shopper = Socket::widget(&ws, &t.key, &t.origin).await?;
    let welcome = shopper.ask(json!({"type": "hello", "v": 1})).await?;
    anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;
    let ack = shopper
        .ask(json!({"type": "send", "client_msg_id": "observed-1", "text": "Is the white Tacoma still there?"}))
        .await?;
    anyhow::ensure!(ack["type"] == "ack", "{ack}");
    let seen = agent
        .recv_matching("message", |m| m["message"]["client_msg_id"] == "observed-1")
        .await?;
    anyhow::ensure!(
        seen["message"]["conversation_id"] == conv.as_str(),
        "{seen}"
    );
    let answered = agent
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "observed-2", "text": "It is!"}))
        .await?;
    anyhow::ensure!(answered["type"] == "ack", "{answered}");

    // A lead to two destinations: a webhook that answers 410 Gone (dead-lettered at once)
    // and an ADF e-mail (delivered to the SMTP catcher).
    let nats = fleet.nats_client().await?;
    let hook = gone_webhook().await?;
    for (name, target) in [
        (
            "Gone CRM",
            json!({"kind": "webhook", "url": hook, "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}),
        ),
        (
            "ADF CRM",
            json!({"kind": "adf_email", "to": "leads@crm.dealer.co"}),
        ),
    ] {
        crm(
            &nats,
            t.group,
            CrmCommand::PutDestination,
            json!({"destination_id": Uuid::now_v7(), "settings": {"rooftop_id": t.rooftop, "name": name, "target": target}}),
        )
        .await?;
    }
    let lead = t.sample_lead(Some((t.sales, "Sales")));
    let event_id = Uuid::now_v7();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
    let js = async_nats::jetstream::new(nats.clone());
    js.publish_with_headers(
        v1::lead_created(t.group),
        headers,
        serde_json::to_vec(&CloudEvent::lead(event_id, LEAD_CREATED, lead))?.into(),
    )
    .await?
    .await?;

    // One trace: the gateway's handling of the shopper's `send`, the write to the agent's
    // socket, and notification's handling of the message event.
    let trace = eventually(Duration::from_secs(20), "the trace of the send", || async {
        let spans = receiver.spans();
        let Some(send) = spans.iter().find(|s| {
            s.service == "gateway"
                && s.name == "widget_frame"
                && s.attribute("frame") == Some("send")
        }) else {
            return Ok(None);
        };
        let of_trace: Vec<&Got> = spans
            .iter()
            .filter(|s| s.trace_id == send.trace_id)
            .collect();
        let has = |service: &str, name: &str, attr: Option<(&str, &str)>| {
            of_trace.iter().any(|s| {
                s.service == service
                    && s.name == name
                    && attr.is_none_or(|(k, v)| s.attribute(k) == Some(v))
            })
        };
        // The agent's socket is on the sender's gateway: the message reaches it in process
        // (`interest::LiveCopies`), with no `nats.fanout` span between.
        let complete = has("gateway", "ws.write", Some(("kind", "agent")))
            && has(
                "notification",
                "nats.consume",
                Some(("consumer", "notification-messages")),
            );
        Ok(complete.then(|| {
            of_trace
                .iter()
                .map(|s| format!("{}:{}", s.service, s.name))
                .collect::<Vec<_>>()
        }))
    })
    .await
    .inspect_err(|_| {
        let spans = receiver.spans();
        println!("{} spans received:", spans.len());
        for s in spans.iter().rev().take(60) {
            println!(
                "  {} {} {} {:?}",
                s.trace_id, s.service, s.name, s.attributes
            );
        }
    })?;
    println!("one trace: {}", trace.join(" → "));
    let trace_id = receiver
        .spans()
        .into_iter()
        .find(|s| {
            s.service == "gateway"
                && s.name == "widget_frame"
                && s.attribute("frame") == Some("send")
        })
        .map(|s| s.trace_id)
        .unwrap_or_default();
    anyhow::ensure!(
        trace_id.len() == 32 && trace_id != "0".repeat(32),
        "a real trace id: {trace_id:?}"
    );

    // Every metric family, moved, through Prometheus's HTTP API.
    let missing = eventually(Duration::from_secs(30), "every metric family", || async {
        let mut missing = Vec::new();
        for e in EXPECT {
            missing.extend(unmet(prom, e).await?);
        }
        Ok(missing.is_empty().then_some(()))
    })
    .await;
    if missing.is_err() {
        for e in EXPECT {
            for m in unmet(prom, e).await? {
                println!("missing: {m}");
            }
        }
    }
    missing?;

    // The dashboard asks only for what exists.
    let names: BTreeSet<String> = prom.metric_names().await?.into_iter().collect();
    let used = dashboard_metrics()?;
    anyhow::ensure!(used.len() >= 10, "the dashboard uses {used:?}");
    let unknown: Vec<&String> = used.iter().filter(|n| !names.contains(*n)).collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "the dashboard asks for metrics no service has: {unknown:?}"
    );

    // The services' JSON logs carry the trace and span ids of the span they were written in.
    let traced_lines = SERVICES
        .iter()
        .filter_map(|s| Service::ALL.iter().find(|x| x.name() == *s))
        .flat_map(|s| {
            std::fs::read_to_string(fleet.log_path(*s, 0))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32))
                .filter(|l| l["span_id"].as_str().is_some_and(|t| t.len() == 16))
                .collect::<Vec<_>>()
        })
        .count();
    anyhow::ensure!(traced_lines > 0, "no log line carries trace_id and span_id");

    // A NATS node goes away: the services on it reconnect, and the counter says so.
    for node in 0..fleet.nats.len() {
        fleet.nats[node].kill().await;
        let moved = eventually(Duration::from_secs(15), "a reconnect counted", || async {
            let got = series(prom, "sum(showroom_nats_reconnects_total)").await?;
            Ok(got.first().is_some_and(|(_, v)| *v >= 1.0).then_some(()))
        })
        .await;
        fleet.nats[node].restart().await?;
        if moved.is_ok() {
            return Ok(());
        }
    }
    anyhow::bail!("no service counted a NATS reconnect after each node was killed in turn")
}

#[tokio::test]
async fn a_service_refuses_to_start_with_a_placeholder_address() {
    let config = showroom_lead_capture::Config {
        console_url: "https://chat.example.invalid/console".into(),
        ..Default::default()
    };
    let refused = showroom_lead_capture::start(config, Default::default()).await;
    let e = format!("{:#}", refused.err().expect("refused"));
    assert!(
        e.contains("SHOWROOM_CONSOLE_URL") && e.contains("chat.example.invalid"),
        "{e}"
    );
    let config = showroom_crm_export::Config {
        smtp_from: "Showroom Leads <leads@example.com>".into(),
        ..Default::default()
    };
    let refused = showroom_crm_export::start(config, Default::default()).await;
    let e = format!("{:#}", refused.err().expect("refused"));
    assert!(e.contains("SHOWROOM_SMTP_FROM"), "{e}");
}
