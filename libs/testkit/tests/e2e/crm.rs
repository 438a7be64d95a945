//! crm-export end to end: leads published on LEADS (as lead-capture does: CloudEvents with the
//! event id as `Nats-Msg-Id`) reach ADF e-mail destinations (read back from the real SMTP
//! catcher and validated against the ADF DTD with xmllint) and signed webhooks (a real HTTP
//! receiver on loopback), retried, dead-lettered, redelivered, and delivered once by id across
//! a stop in the middle of an attempt, and shared fairly: one dealer's slow endpoint with a
//! backlog holds up no other dealer. Destinations and the log go through crm-export's NATS
//! requests.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use showroom_proto::delivery::CrmCommand;
use showroom_proto::lead::{CloudEvent, LEAD_CREATED, Lead};
use showroom_proto::v1;
use showroom_testkit::{Service, Stack, Tenant, eventually};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// The copy of the ADF 1.0 DTD kept in the repository.
fn dtd() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../services/crm-export/adf/adf-1.0.dtd")
}

/// Talks to crm-export over NATS, and publishes leads as lead-capture would.
pub(crate) struct Crm {
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    group: Uuid,
}

impl Crm {
    pub(crate) async fn new(stack: &Stack, group: Uuid) -> anyhow::Result<Self> {
        let nats = stack.nats_client().await?;
        let js = async_nats::jetstream::new(nats.clone());
        Ok(Self { nats, js, group })
    }

    /// A `crm.*` request: the `ok` answer, or the refusal as an error.
    async fn ask(&self, cmd: CrmCommand, data: Value) -> anyhow::Result<Value> {
        self.try_ask(cmd, data)
            .await?
            .map_err(|e| anyhow::anyhow!("{} refused: {e}", cmd.as_str()))
    }

    /// A `crm.*` request: `Ok(answer)` or `Err(refusal)`. Retries for a while when nobody
    /// answers (crm-export just restarted: its endpoints' subscriptions may still be on the
    /// way); nobody got such a request, so asking again is safe.
    async fn try_ask(&self, cmd: CrmCommand, data: Value) -> anyhow::Result<Result<Value, Value>> {
        let env = json!({"id": Uuid::now_v7(), "tenant": self.group, "time": chrono::Utc::now(), "data": data});
        let payload = serde_json::to_vec(&env)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let msg = loop {
            match self
                .nats
                .request(v1::crm_command(self.group, cmd), payload.clone().into())
                .await
            {
                Ok(msg) => break msg,
                Err(e)
                    if e.kind() == async_nats::RequestErrorKind::NoResponders
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("request {}", cmd.as_str())),
            }
        };
        let reply: Value = serde_json::from_slice(&msg.payload)?;
        match (reply.get("ok"), reply.get("error")) {
            (Some(ok), _) => Ok(Ok(ok.clone())),
            (_, Some(e)) => Ok(Err(e.clone())),
            _ => bail!("odd reply {reply}"),
        }
    }

    pub(crate) async fn put_destination(&self, id: Uuid, settings: Value) -> anyhow::Result<Value> {
        self.ask(
            CrmCommand::PutDestination,
            json!({"destination_id": id, "settings": settings}),
        )
        .await
    }

    /// Publishes `lead.created` on LEADS (the event id is the `Nats-Msg-Id`).
    async fn publish_lead(&self, event_id: Uuid, lead: &Lead) -> anyhow::Result<()> {
        let event = CloudEvent::lead(event_id, LEAD_CREATED, lead.clone());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
        self.js
            .publish_with_headers(
                v1::lead_created(self.group),
                headers,
                serde_json::to_vec(&event)?.into(),
            )
            .await?
            .await?;
        Ok(())
    }

    /// The deliveries of a lead, with their logs.
    async fn deliveries_of(&self, lead: Uuid) -> anyhow::Result<Vec<Value>> {
        let v = self
            .ask(CrmCommand::Deliveries, json!({"lead_id": lead}))
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Waits until the lead's only delivery has `status`; answers it.
    async fn wait_status(
        &self,
        lead: Uuid,
        status: &str,
        within: Duration,
    ) -> anyhow::Result<Value> {
        eventually(within, &format!("lead {lead} {status}"), || async {
            let list = self.deliveries_of(lead).await?;
            Ok(list.into_iter().find(|d| d["status"] == status))
        })
        .await
    }
}

/// A lead of the tenant's rooftop, as lead-capture would publish it.
fn lead_for(t: &Tenant, department: Option<(Uuid, &str)>) -> Lead {
    t.sample_lead(department)
}

// ---- a real webhook receiver on loopback ---------------------------------------------------

/// What the receiver answers to the next request.
#[derive(Clone)]
enum Reply {
    /// This status (and `Retry-After`, if given).
    Status(u16, Option<&'static str>),
    /// Never answers (until the client goes away).
    Hang,
}

#[derive(Clone)]
struct Seen {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// How long it takes before each answer.
    delay: Duration,
    /// Requests it has not answered yet, and the most there ever were at once.
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts on 127.0.0.1:0; answers 200 unless scripted otherwise.
    async fn start(script: Vec<Reply>) -> anyhow::Result<(Self, String)> {
        Self::start_with(script, Duration::ZERO).await
    }

    /// Starts a receiver that answers 200 to everything, each answer after `delay`.
    async fn start_slow(delay: Duration) -> anyhow::Result<(Self, String)> {
        Self::start_with(vec![], delay).await
    }

    async fn start_with(script: Vec<Reply>, delay: Duration) -> anyhow::Result<(Self, String)> {
        let r = Receiver {
            script: Arc::new(Mutex::new(script.into())),
            delay,
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((r, format!("http://{addr}/hook")))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    async fn wait_requests(&self, n: usize, within: Duration) -> anyhow::Result<Vec<Seen>> {
        eventually(within, &format!("{n} webhook requests"), || async {
            let seen = self.seen();
            Ok((seen.len() >= n).then_some(seen))
        })
        .await
    }

    /// Requests open at the receiver now.
    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The most requests that were ever open at the receiver at once.
    fn most_open(&self) -> usize {
        self.most_open.load(Ordering::SeqCst)
    }
}

/// Counts a request as open while its handler runs (also when the client gives up and the
/// handler is dropped).
struct OpenRequest(Arc<AtomicUsize>);

impl OpenRequest {
    fn new(r: &Receiver) -> Self {
        let now = r.open.fetch_add(1, Ordering::SeqCst) + 1;
        r.most_open.fetch_max(now, Ordering::SeqCst);
        Self(r.open.clone())
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let _open = OpenRequest::new(&r);
    let reply = {
        if let Ok(mut seen) = r.seen.lock() {
            seen.push(Seen {
                at: Instant::now(),
                headers,
                body,
            });
        }
        r.script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or(Reply::Status(200, None))
    };
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Status(code, retry_after) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, "receiver says so").into_response();
            if let Some(ra) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static(ra));
            }
            response
        }
    }
}

/// A fresh signing secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> (String, Vec<u8>) {
    let key: Vec<u8> = Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(Uuid::new_v4().as_bytes())
        .copied()
        .collect();
    (format!("whsec_{}", B64.encode(&key)), key)
}

/// Recomputes a Standard Webhooks signature.
fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Runs xmllint against the repository's copy of the ADF DTD.
pub(crate) async fn xmllint(xml: &str, extra: &[&str]) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new("xmllint")
        .args(extra)
        .arg("--dtdvalid")
        .arg(dtd())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("xmllint (apt-get install libxml2-utils; deploy/install.sh does)")?;
    let mut stdin = child.stdin.take().context("xmllint stdin")?;
    stdin.write_all(xml.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    ensure!(
        out.status.success(),
        "xmllint refused the ADF: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // --xpath ends its answer with a newline.
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_becomes_one_valid_adf_email_with_hostile_text_escaped() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Adf", 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    let hostile = "<b>O'Hara & Sons</b>";
    let dest = Uuid::now_v7();
    let shown = crm
        .put_destination(
            dest,
            json!({"rooftop_id": t.rooftop, "name": "DealerSocket", "target": {
                "kind": "adf_email", "to": "leads@crm.example", "dealership_name": hostile}}),
        )
        .await?;
    assert_eq!(shown["target"]["kind"], "adf_email");
    assert_eq!(shown["rooftop"]["id"], json!(t.rooftop));

    let mut lead = lead_for(&t, Some((t.sales, "Sales")));
    lead.contact.last_name = hostile.into();
    lead.message = Some("Price? ]]> <script>alert(1)</script> & \u{1b}[31m \"quoted\"".into());
    // The last payment estimate the shopper saw: the vehicle's <finance> (issue 20, item 2).
    lead.payment = Some(crate::payment::lease_estimate());
    // A trade-in whose comments are hostile too: a second vehicle, in the DTD's order.
    lead.trade_in = Some(showroom_proto::trade_in::TradeIn {
        year: Some(2011),
        make: Some("BMW".into()),
        model: Some("528i".into()),
        mileage: Some(98_000),
        mileage_unit: showroom_proto::trade_in::MileageUnit::Km,
        condition: Some(showroom_proto::trade_in::Condition::Poor),
        vin: Some("WBAFR7C57BC608385".into()),
        payoff_cents: Some(1_234_505),
        comments: Some(hostile.into()),
    });
    // And a test drive booked in the chat, its note hostile too: the customer's <timeframe>,
    // the vehicle's interest, a comment line; one ADF with all three is valid.
    let starts: chrono::DateTime<chrono::Utc> = "2026-12-12T16:00:00Z".parse()?;
    lead.appointments = vec![showroom_proto::appointment::LeadAppointment {
        id: Uuid::now_v7(),
        kind: showroom_proto::appointment::AppointmentKind::TestDrive,
        state: showroom_proto::appointment::AppointmentState::Booked,
        starts_at: starts,
        ends_at: starts + chrono::Duration::minutes(30),
        time_zone: "America/Chicago".into(),
        department: "Sales".into(),
        note: Some(hostile.into()),
    }];
    crm.publish_lead(Uuid::now_v7(), &lead).await?;

    let mails = stack
        .smtp
        .wait_for_messages(1, Duration::from_secs(15))
        .await?;
    ensure!(mails.len() == 1, "one e-mail: {mails:?}");
    let mail = &mails[0];
    let subject = mail["subject"].as_str().unwrap_or_default();
    assert_eq!(subject, format!("Lead from Showroom chat — {hostile}"));
    assert_eq!(mail["to"][0]["address"], "leads@crm.example");
    let xml = mail["text"].as_str().context("a text body")?.to_string();
    assert!(mail["html"].is_null() || mail["html"] == false, "{mail}");
    assert!(xml.starts_with("<?xml"), "only the XML: {xml}");
    assert!(
        xml.contains("&lt;b&gt;O&apos;Hara &amp; Sons&lt;/b&gt;"),
        "escaped: {xml}"
    );
    assert!(!xml.contains("<b>") && !xml.contains("<script>"), "{xml}");
    xmllint(&xml, &["--noout"]).await?;
    for (path, want) in [
        (
            "string(//customer/timeframe/earliestdate)",
            "2026-12-12T10:00:00-06:00",
        ),
        ("string(//vehicle[@interest='trade-in']/make)", "BMW"),
        ("count(//vehicle)", "2"),
    ] {
        assert_eq!(
            xmllint(&xml, &["--xpath", path]).await?,
            want,
            "{path}: {xml}"
        );
    }
    // Parsed back, the hostile text is the text that was sent.
    let last = xmllint(&xml, &["--xpath", "string(//customer//name[@part='last'])"]).await?;
    assert_eq!(last, hostile);
    let vendor = xmllint(&xml, &["--xpath", "string(//vendorname)"]).await?;
    assert_eq!(vendor, hostile);
    let id = xmllint(
        &xml,
        &["--xpath", "string(//prospect/id[@source='Showroom'])"],
    )
    .await?;
    assert_eq!(
        id,
        lead.conversation_id
            .map(|c| c.to_string())
            .unwrap_or_default()
    );
    let phone = xmllint(&xml, &["--xpath", "string(//phone[@type='cellphone'])"]).await?;
    assert_eq!(phone, "+13125550123");
    let comments = xmllint(&xml, &["--xpath", "string(//customer/comments)"]).await?;
    assert!(
        comments.contains("Preferred language: Spanish"),
        "{comments}"
    );
    assert!(
        comments.contains("Transcript: https://showroom.example/console#conversation=1"),
        "{comments}"
    );
    assert!(
        comments.contains(
            "File: trade-in <1>.png (image/png): https://showroom.example/api/v1/attachments/1"
        ),
        "{comments}"
    );
    assert!(comments.contains("]]> <script>"), "{comments}");
    for (path, want) in [
        ("string(//vehicle/year)", "2021"),
        ("string(//vehicle/make)", "Toyota"),
        ("string(//vehicle/model)", "RAV4"),
        ("string(//vehicle/vin)", "2T3P1RFV5MW123456"),
        ("string(//vehicle/stock)", "U12345"),
        ("string(//vehicle/price)", "28500"),
        ("string(//vehicle/finance/method)", "lease"),
        (
            "string(//vehicle/finance/amount[@type='monthly'])",
            "397.37",
        ),
        (
            "string(//vehicle/finance/amount[@type='downpayment'])",
            "2000.00",
        ),
        (
            "string(//vehicle/finance/balance[@type='residual'])",
            "17400.00",
        ),
        ("string(//provider/name)", "Showroom"),
        (
            "string(//vehicle[@interest='trade-in'][@status='used']/model)",
            "528i",
        ),
        (
            "string(//vehicle[@interest='trade-in']/vin)",
            "WBAFR7C57BC608385",
        ),
        (
            "string(//vehicle[@interest='trade-in']/odometer/@units)",
            "km",
        ),
        (
            "string(//vehicle[@interest='trade-in']/comments)",
            "Condition: poor. Payoff: 12345.05. <b>O'Hara & Sons</b>",
        ),
    ] {
        assert_eq!(xmllint(&xml, &["--xpath", path]).await?, want, "{path}");
    }

    // The log: one delivery, delivered at the first attempt; the Message-ID is built from it.
    let d = crm
        .wait_status(lead.id, "delivered", Duration::from_secs(5))
        .await?;
    assert_eq!(d["kind"], "adf_email");
    assert_eq!(d["log"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["log"][0]["outcome"], "delivered");
    assert_eq!(d["log"][0]["status_code"], 250);
    let message_id = mail["headers"]["message-id"]
        .as_str()
        .or(mail["messageId"].as_str())
        .unwrap_or_default()
        .to_string();
    let delivery_id = d["id"].as_str().unwrap_or_default();
    assert!(
        message_id.contains(&format!("{delivery_id}@showroom.localhost")),
        "Message-ID {message_id} of delivery {delivery_id}"
    );

    // A lead without a vehicle, names or e-mail is still a valid ADF.
    let mut bare = lead_for(&t, None);
    bare.vehicle = None;
    bare.contact.first_name = String::new();
    bare.contact.last_name = String::new();
    bare.contact.email = None;
    bare.conversation_id = None;
    crm.publish_lead(Uuid::now_v7(), &bare).await?;
    let mails = stack
        .smtp
        .wait_for_messages(2, Duration::from_secs(15))
        .await?;
    let xml = mails[1]["text"].as_str().unwrap_or_default();
    xmllint(xml, &["--noout"]).await?;
    let id = xmllint(xml, &["--xpath", "string(//prospect/id)"]).await?;
    assert_eq!(id, bare.id.to_string(), "the lead id without a chat");

    // A test send: marked as a test, valid too, and in the log with test: true.
    let sent = crm
        .ask(CrmCommand::TestSend, json!({"destination_id": dest}))
        .await?;
    assert_eq!(sent["status"], "delivered", "{sent}");
    assert_eq!(sent["test"], true);
    let mails = stack
        .smtp
        .wait_for_messages(3, Duration::from_secs(15))
        .await?;
    assert!(
        mails[2]["subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[TEST] ")
    );
    xmllint(mails[2]["text"].as_str().unwrap_or_default(), &["--noout"]).await?;
    let log = crm
        .ask(CrmCommand::Deliveries, json!({"destination_id": dest}))
        .await?;
    assert_eq!(log.as_array().map(Vec::len), Some(3), "{log}");
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_becomes_one_signed_webhook_during_a_secret_rotation() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Hook", 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    let (receiver, url) = Receiver::start(vec![]).await?;
    let (old, old_key) = new_secret();
    let (new, new_key) = new_secret();
    let dest = Uuid::now_v7();
    let shown = crm
        .put_destination(
            dest,
            json!({"rooftop_id": t.rooftop, "name": "Hook", "target": {
                "kind": "webhook", "url": url, "secrets": [old, new]}}),
        )
        .await?;
    let hints = shown["target"]["secret_hints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(hints.len(), 2);
    assert!(
        !shown.to_string().contains(&old[6..]),
        "secrets are never shown: {shown}"
    );
    // A Service-only destination gets nothing from a Sales lead.
    let (service_receiver, service_url) = Receiver::start(vec![]).await?;
    crm.put_destination(
        Uuid::now_v7(),
        json!({"rooftop_id": t.rooftop, "department_id": t.service, "name": "Service CRM",
               "target": {"kind": "webhook", "url": service_url, "secrets": [new_secret().0]}}),
    )
    .await?;
    // A bad destination is refused field by field.
    let refused = crm
        .try_ask(
            CrmCommand::PutDestination,
            json!({"destination_id": Uuid::now_v7(), "settings": {"rooftop_id": t.rooftop, "name": "x",
                "target": {"kind": "webhook", "url": "ftp://x", "secrets": ["nope"]}}}),
        )
        .await?
        .err()
        .context("refused")?;
    assert_eq!(refused["code"], "bad_request");
    assert!(refused["fields"]["target.url"].is_string(), "{refused}");
    assert!(refused["fields"]["target.secrets"].is_string(), "{refused}");

    let lead = lead_for(&t, Some((t.sales, "Sales")));
    let event_id = Uuid::now_v7();
    crm.publish_lead(event_id, &lead).await?;
    // The same event again (JetStream drops it) and another event about the same lead (the
    // delivery is unique per lead and destination): still one delivery.
    crm.publish_lead(event_id, &lead).await?;
    crm.publish_lead(Uuid::now_v7(), &lead).await?;

    let seen = receiver.wait_requests(1, Duration::from_secs(15)).await?;
    let d = crm
        .wait_status(lead.id, "delivered", Duration::from_secs(5))
        .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let seen_after = receiver.seen();
    assert_eq!(seen_after.len(), 1, "exactly one request");
    assert_eq!(crm.deliveries_of(lead.id).await?.len(), 1);
    assert!(
        service_receiver.seen().is_empty(),
        "the Service destination got a Sales lead"
    );

    let r = &seen[0];
    assert_eq!(r.header("webhook-id"), d["id"].as_str().unwrap_or_default());
    assert!(r.header("content-type").starts_with("application/json"));
    let ts = r.header("webhook-timestamp");
    let ts_n: i64 = ts.parse()?;
    assert!((chrono::Utc::now().timestamp() - ts_n).abs() < 60, "{ts}");
    let sigs: BTreeSet<String> = r
        .header("webhook-signature")
        .split(' ')
        .map(String::from)
        .collect();
    let id = r.header("webhook-id");
    assert_eq!(
        sigs,
        BTreeSet::from([
            sign(&old_key, &id, &ts, &r.body),
            sign(&new_key, &id, &ts, &r.body)
        ]),
        "signed with both secrets"
    );
    let body: Value = serde_json::from_slice(&r.body)?;
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["type"], LEAD_CREATED);
    assert_eq!(body["id"], json!(event_id));
    assert_eq!(body["data"]["id"], json!(lead.id));
    assert_eq!(body["data"]["contact"]["email"], "maria.lopez@example.com");

    // After the rotation only the new secret signs.
    crm.put_destination(
        dest,
        json!({"rooftop_id": t.rooftop, "name": "Hook", "target": {
            "kind": "webhook", "url": url, "secrets": [new]}}),
    )
    .await?;
    let sent = crm
        .ask(CrmCommand::TestSend, json!({"destination_id": dest}))
        .await?;
    assert_eq!(sent["status"], "delivered", "{sent}");
    let seen = receiver.wait_requests(2, Duration::from_secs(5)).await?;
    let r = &seen[1];
    let test_body: Value = serde_json::from_slice(&r.body)?;
    assert_eq!(test_body["type"], "showroom.lead.test");
    assert_eq!(
        r.header("webhook-signature"),
        sign(
            &new_key,
            &r.header("webhook-id"),
            &r.header("webhook-timestamp"),
            &r.body
        )
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_dead_lettered_and_redelivered_with_the_same_id()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Retry", 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    let mut events = crm.nats.subscribe(v1::delivery_event(t.group, "*")).await?;
    // 1 attempt + 3 retries (the test stacks' schedule), all 500: dead.
    let (receiver, url) = Receiver::start(vec![Reply::Status(500, None); 4]).await?;
    let dest = Uuid::now_v7();
    crm.put_destination(
        dest,
        json!({"rooftop_id": t.rooftop, "name": "Flaky", "target": {
            "kind": "webhook", "url": url, "secrets": [new_secret().0]}}),
    )
    .await?;
    let lead = lead_for(&t, None);
    crm.publish_lead(Uuid::now_v7(), &lead).await?;

    let dead = crm
        .wait_status(lead.id, "dead_lettered", Duration::from_secs(20))
        .await?;
    let outcomes: Vec<&str> = dead["log"]
        .as_array()
        .map(|l| l.iter().filter_map(|a| a["outcome"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        outcomes,
        ["failed", "failed", "failed", "dead_lettered"],
        "{dead}"
    );
    assert!(
        dead["log"]
            .as_array()
            .is_some_and(|l| l.iter().all(|a| a["status_code"] == 500))
    );
    assert!(
        dead["log"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{dead}"
    );
    let seen = receiver.seen();
    assert_eq!(seen.len(), 4);
    // The waits grow with the schedule (150, 300, 450 ms, each ±10%).
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(120), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(380), "{gaps:?}");

    let letters = crm
        .ask(CrmCommand::DeadLetters, json!({"destination_id": dest}))
        .await?;
    assert_eq!(letters.as_array().map(Vec::len), Some(1), "{letters}");
    assert_eq!(letters[0]["id"], dead["id"]);

    // Redelivered: delivered now, with the same webhook-id as every earlier attempt.
    let again = crm
        .ask(CrmCommand::Redeliver, json!({"delivery_id": dead["id"]}))
        .await?;
    assert_eq!(again["status"], "pending");
    let done = crm
        .wait_status(lead.id, "delivered", Duration::from_secs(10))
        .await?;
    assert_eq!(done["attempts"], 5);
    assert_eq!(done["log"][4]["outcome"], "delivered");
    let ids: BTreeSet<String> = receiver
        .seen()
        .iter()
        .map(|s| s.header("webhook-id"))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([dead["id"].as_str().unwrap_or_default().to_string()])
    );
    // A delivered lead is no dead letter, and cannot be redelivered.
    let refused = crm
        .try_ask(CrmCommand::Redeliver, json!({"delivery_id": dead["id"]}))
        .await?
        .err()
        .context("refused")?;
    assert_eq!(refused["code"], "not_allowed");
    let letters = crm.ask(CrmCommand::DeadLetters, json!({})).await?;
    assert_eq!(letters.as_array().map(Vec::len), Some(0));

    // The outcomes on DELIVERIES: three failures, the dead letter, the delivery.
    let mut kinds = Vec::new();
    while kinds.len() < 5 {
        let msg = tokio::time::timeout(
            Duration::from_secs(5),
            futures::StreamExt::next(&mut events),
        )
        .await
        .context("a delivery event")?
        .context("subscription open")?;
        let env: Value = serde_json::from_slice(&msg.payload)?;
        assert_eq!(env["tenant"], json!(t.group));
        assert_eq!(env["data"]["delivery"]["id"], dead["id"]);
        kinds.push(
            msg.subject
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(
        kinds,
        ["failed", "failed", "failed", "dead_lettered", "delivered"]
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_410_disables_the_destination() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Gone", 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    let (slow, slow_url) = Receiver::start(vec![Reply::Status(503, Some("2"))]).await?;
    let (gone, gone_url) = Receiver::start(vec![Reply::Status(410, None)]).await?;
    let slow_dest = Uuid::now_v7();
    let gone_dest = Uuid::now_v7();
    crm.put_destination(
        slow_dest,
        json!({"rooftop_id": t.rooftop, "name": "Busy", "target": {
            "kind": "webhook", "url": slow_url, "secrets": [new_secret().0]}}),
    )
    .await?;
    let gone_settings = json!({"rooftop_id": t.rooftop, "name": "Closed", "target": {
        "kind": "webhook", "url": gone_url, "secrets": [new_secret().0]}});
    crm.put_destination(gone_dest, gone_settings.clone())
        .await?;

    let lead = lead_for(&t, None);
    crm.publish_lead(Uuid::now_v7(), &lead).await?;
    let seen = slow.wait_requests(2, Duration::from_secs(15)).await?;
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After: 2 beats the 150 ms schedule: {gap:?}"
    );
    let list = crm.deliveries_of(lead.id).await?;
    let busy = list
        .iter()
        .find(|d| d["destination_id"] == json!(slow_dest))
        .context("the busy destination's delivery")?;
    assert_eq!(busy["log"][0]["status_code"], 503);
    let closed = list
        .iter()
        .find(|d| d["destination_id"] == json!(gone_dest))
        .context("the closed destination's delivery")?;
    assert_eq!(closed["status"], "dead_lettered", "{closed}");
    assert_eq!(closed["log"][0]["outcome"], "gone");
    assert_eq!(
        closed["log"].as_array().map(Vec::len),
        Some(1),
        "no retry after 410"
    );

    let dests = crm.ask(CrmCommand::ListDestinations, json!({})).await?;
    let d = dests
        .as_array()
        .and_then(|l| l.iter().find(|d| d["id"] == json!(gone_dest)))
        .context("listed")?;
    assert_eq!(d["enabled"], false);
    assert!(
        d["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("410"),
        "{d}"
    );

    // Disabled: the next lead is not sent there; redelivering waits for it to be enabled.
    let next = lead_for(&t, None);
    crm.publish_lead(Uuid::now_v7(), &next).await?;
    crm.wait_status(next.id, "delivered", Duration::from_secs(10))
        .await?;
    assert_eq!(crm.deliveries_of(next.id).await?.len(), 1);
    assert_eq!(gone.seen().len(), 1);
    let refused = crm
        .try_ask(CrmCommand::Redeliver, json!({"delivery_id": closed["id"]}))
        .await?
        .err()
        .context("refused while disabled")?;
    assert_eq!(refused["code"], "not_allowed");
    crm.put_destination(gone_dest, gone_settings).await?;
    crm.ask(CrmCommand::Redeliver, json!({"delivery_id": closed["id"]}))
        .await?;
    let seen = gone.wait_requests(2, Duration::from_secs(10)).await?;
    assert_eq!(seen[0].header("webhook-id"), seen[1].header("webhook-id"));
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_mid_delivery_the_receiver_gets_each_lead_once_by_id() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Kill", 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    let (receiver, url) = Receiver::start(vec![Reply::Hang]).await?;
    let dest = Uuid::now_v7();
    crm.put_destination(
        dest,
        json!({"rooftop_id": t.rooftop, "name": "Slow CRM", "target": {
            "kind": "webhook", "url": url, "secrets": [new_secret().0]}}),
    )
    .await?;
    let first = lead_for(&t, None);
    crm.publish_lead(Uuid::now_v7(), &first).await?;
    // The receiver has the request and hangs; crm-export stops in the middle of it.
    receiver.wait_requests(1, Duration::from_secs(15)).await?;
    stack.stop_service(Service::CrmExport).await?;

    // While it is down a second lead comes (nothing is lost: the consumer is durable), and a
    // replica that died mid-attempt leaves a third claimed under a lease that has not ended.
    let second = lead_for(&t, None);
    crm.publish_lead(Uuid::now_v7(), &second).await?;
    let third = lead_for(&t, None);
    let orphan = Uuid::now_v7();
    let payload = serde_json::to_string(&CloudEvent::lead(
        Uuid::now_v7(),
        LEAD_CREATED,
        third.clone(),
    ))?;
    // (A claim writes only the delivery: its attempt's log row comes with the outcome.)
    showroom_store::sqlx::query(
        "INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, payload, attempts, \
         next_attempt_at, claim_id, claimed_at) \
         VALUES ($1, $2, $3, $4, $5, 1, now() + interval '2 seconds', $6, now())",
    )
    .bind(orphan)
    .bind(t.group)
    .bind(dest)
    .bind(third.id)
    .bind(payload)
    .bind(Uuid::new_v4())
    .execute(&stack.pool)
    .await?;

    stack.start_service(Service::CrmExport).await?;
    for lead in [&first, &second, &third] {
        crm.wait_status(lead.id, "delivered", Duration::from_secs(20))
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let seen = receiver.seen();
    let mut ids: Vec<String> = seen.iter().map(|s| s.header("webhook-id")).collect();
    let first_d = &crm.deliveries_of(first.id).await?[0];
    let first_id = first_d["id"].as_str().unwrap_or_default().to_string();
    // The first lead went out twice on the wire (the hung attempt, then the retry), with one id.
    assert_eq!(ids.iter().filter(|i| **i == first_id).count(), 2, "{ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three leads, three ids: {ids:?}");
    let bodies: BTreeSet<String> = seen
        .iter()
        .filter_map(|s| serde_json::from_slice::<Value>(&s.body).ok())
        .map(|b| b["data"]["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        bodies,
        BTreeSet::from([first.id, second.id, third.id].map(|i| i.to_string()))
    );

    // The log says what happened: the stop interrupted attempt 1, attempt 2 delivered; the dead
    // replica's attempt came back after its lease.
    let outcomes = |d: &Value| -> Vec<String> {
        d["log"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|a| a["outcome"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(outcomes(first_d), ["interrupted", "delivered"], "{first_d}");
    let third_d = &crm.deliveries_of(third.id).await?[0];
    assert_eq!(outcomes(third_d), ["interrupted", "delivered"], "{third_d}");
    assert_eq!(third_d["id"], json!(orphan));
    let second_d = &crm.deliveries_of(second.id).await?[0];
    assert_eq!(outcomes(second_d), ["delivered"]);
    stack.stop().await
}

/// A dealer group's deliveries not finished yet (pending, in flight included).
async fn pending_of(stack: &Stack, group: Uuid) -> anyhow::Result<i64> {
    Ok(showroom_store::sqlx::query_scalar(
        "SELECT count(*) FROM crm_deliveries WHERE group_id = $1 AND status = 'pending'",
    )
    .bind(group)
    .fetch_one(&stack.pool)
    .await?)
}

/// One dealer's slow endpoint with a backlog larger than all the attempt slots holds up no
/// other dealer group: it never has more than `per_destination_in_flight` requests open at
/// once, and another group's lead goes out while most of the backlog still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_destination_with_a_backlog_does_not_hold_up_other_dealers() -> anyhow::Result<()> {
    const BACKLOG: usize = 40;
    let stack = Stack::start().await?;
    let tuning = Stack::crm_export_tuning();
    let (slots, cap) = tuning.slots()?;
    ensure!(
        BACKLOG > slots && cap < slots,
        "the backlog ({BACKLOG}) must be larger than all the slots ({slots}), the cap ({cap}) smaller"
    );
    let slow_t = Tenant::seed(&stack.pool, "Crm Slow", 1).await?;
    let fast_t = Tenant::seed(&stack.pool, "Crm Fast", 1).await?;
    let slow_crm = Crm::new(&stack, slow_t.group).await?;
    let fast_crm = Crm::new(&stack, fast_t.group).await?;
    // Slow, but well within the test stacks' 2 s webhook time-out: every attempt succeeds.
    let delay = Duration::from_millis(1000);
    let (slow, slow_url) = Receiver::start_slow(delay).await?;
    let (fast, fast_url) = Receiver::start(vec![]).await?;
    slow_crm
        .put_destination(
            Uuid::now_v7(),
            json!({"rooftop_id": slow_t.rooftop, "name": "Slow CRM", "target": {
                "kind": "webhook", "url": slow_url, "secrets": [new_secret().0]}}),
        )
        .await?;
    fast_crm
        .put_destination(
            Uuid::now_v7(),
            json!({"rooftop_id": fast_t.rooftop, "name": "Fast CRM", "target": {
                "kind": "webhook", "url": fast_url, "secrets": [new_secret().0]}}),
        )
        .await?;

    // The slow dealer's backlog first: it takes its share of the slots and waits on them.
    for _ in 0..BACKLOG {
        slow_crm
            .publish_lead(Uuid::now_v7(), &lead_for(&slow_t, None))
            .await?;
    }
    eventually(
        Duration::from_secs(15),
        "the slow receiver to hold its share of the attempts",
        || async { Ok((slow.open() >= cap).then_some(())) },
    )
    .await?;

    // Then one lead of another dealer group: out at once, not behind the backlog.
    let lead = lead_for(&fast_t, None);
    let published = Instant::now();
    fast_crm.publish_lead(Uuid::now_v7(), &lead).await?;
    fast_crm
        .wait_status(lead.id, "delivered", Duration::from_secs(10))
        .await?;
    let took = published.elapsed();
    let left = pending_of(&stack, slow_t.group).await?;
    eprintln!(
        "the other dealer's lead was delivered {took:?} after it was published, with {left} of \
         the slow dealer's {BACKLOG} leads still pending"
    );
    ensure!(
        left >= 20,
        "the other dealer's lead waited behind the backlog: delivered after {took:?}, when only \
         {left} of {BACKLOG} slow leads were left"
    );
    assert_eq!(fast.seen().len(), 1);

    // The backlog drains, never more than the cap at once, each lead once.
    eventually(
        Duration::from_secs(60),
        "the slow dealer's backlog to drain",
        || async { Ok((pending_of(&stack, slow_t.group).await? == 0).then_some(())) },
    )
    .await?;
    assert_eq!(
        slow.most_open(),
        cap,
        "at most per_destination_in_flight requests open at once at the slow receiver"
    );
    let ids: BTreeSet<String> = slow.seen().iter().map(|s| s.header("webhook-id")).collect();
    assert_eq!(ids.len(), BACKLOG, "every lead of the backlog, once by id");
    let delivered: i64 = showroom_store::sqlx::query_scalar(
        "SELECT count(*) FROM crm_deliveries WHERE group_id = $1 AND status = 'delivered'",
    )
    .bind(slow_t.group)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(delivered, BACKLOG as i64);
    stack.stop().await
}

/// The REST calls (libs/rest/src/crm_api.rs): managers manage, agents read the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_manages_destinations_and_reads_the_log() -> anyhow::Result<()> {
    use reqwest::Method;
    use showroom_testkit::{Http, PASSWORD};

    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Rest", 1).await?;
    let (_, manager_email) = t
        .add_agent(&stack.pool, "boss", "manager", &[t.sales])
        .await?;
    let http = Http::new(&stack.base_url);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let agent = http.with_token(&http.login(&t.agents[0].1, PASSWORD).await?);
    let (receiver, url) = Receiver::start(vec![]).await?;
    let dest = Uuid::now_v7();
    let path = format!("/api/v1/crm/destinations/{dest}");
    let body = json!({"rooftop_id": t.rooftop, "department_id": t.sales, "name": "Sales CRM",
        "target": {"kind": "webhook", "url": url, "secrets": [new_secret().0]}})
    .to_string();

    let (status, v) = agent.put(&path, &body).await?;
    assert_eq!(status, 403, "{v}");
    let (status, v) = agent.get("/api/v1/crm/destinations").await?;
    assert_eq!(status, 403, "{v}");
    let (status, v) = manager.put(&path, &body).await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["department"]["label"], "Sales");
    assert!(
        v["target"]["secret_hints"][0]
            .as_str()
            .is_some_and(|h| h.starts_with("whsec_…"))
    );
    let (status, v) = manager
        .put("/api/v1/crm/destinations/not-a-uuid", &body)
        .await?;
    assert_eq!(status, 400, "{v}");
    let bad = json!({"rooftop_id": t.rooftop, "name": "x",
        "target": {"kind": "adf_email", "to": "nobody"}})
    .to_string();
    let (status, v) = manager.put(&path, &bad).await?;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["fields"]["target.to"].is_string() || v["fields"]["target.to"].is_string(),
        "{v}"
    );
    let (status, v) = manager
        .get(&format!(
            "/api/v1/crm/destinations?rooftop_id={}",
            t.rooftop
        ))
        .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");

    let (status, v) = manager
        .call(Method::POST, &format!("{path}/test"), None)
        .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "delivered", "{v}");
    assert_eq!(v["log"][0]["status_code"], 200, "{v}");

    let crm = Crm::new(&stack, t.group).await?;
    let lead = lead_for(&t, Some((t.sales, "Sales")));
    crm.publish_lead(Uuid::now_v7(), &lead).await?;
    receiver.wait_requests(2, Duration::from_secs(15)).await?;
    let log = eventually(
        Duration::from_secs(5),
        "the delivered lead in the log",
        || async {
            let (status, v) = agent
                .get(&format!("/api/v1/crm/deliveries?lead_id={}", lead.id))
                .await?;
            ensure!(status == 200, "{status} {v}");
            Ok((v[0]["status"] == "delivered").then_some(v))
        },
    )
    .await?;
    assert_eq!(log[0]["log"][0]["outcome"], "delivered");
    let (status, v) = agent.get("/api/v1/crm/dead-letters").await?;
    assert_eq!((status.as_u16(), v.clone()), (200, json!([])));
    let (status, v) = agent
        .get(&format!(
            "/api/v1/crm/deliveries?destination_id={dest}&limit=9999"
        ))
        .await?;
    assert_eq!(status, 400, "{v}");
    let delivery = log[0]["id"].as_str().unwrap_or_default();
    let (status, v) = manager
        .call(
            Method::POST,
            &format!("/api/v1/crm/deliveries/{delivery}/redeliver"),
            None,
        )
        .await?;
    assert_eq!(status, 403, "not a dead letter: {v}");
    let (status, v) = manager
        .call(
            Method::POST,
            &format!("/api/v1/crm/deliveries/{}/redeliver", Uuid::now_v7()),
            None,
        )
        .await?;
    assert_eq!(status, 404, "{v}");

    let (status, v) = manager.call(Method::DELETE, &path, None).await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["cancelled"], 0);
    let (status, v) = manager.call(Method::DELETE, &path, None).await?;
    assert_eq!(status, 404, "{v}");
    let (_, v) = manager.get("/api/v1/crm/destinations").await?;
    assert_eq!(v, json!([]));
    // The log of a removed destination stays readable.
    let (_, v) = agent
        .get(&format!("/api/v1/crm/deliveries?destination_id={dest}"))
        .await?;
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");

    let (_, doc) = http.get("/api/openapi.json").await?;
    for p in [
        "/api/v1/crm/destinations",
        "/api/v1/crm/destinations/{id}",
        "/api/v1/crm/destinations/{id}/test",
        "/api/v1/crm/deliveries",
        "/api/v1/crm/dead-letters",
        "/api/v1/crm/deliveries/{id}/redeliver",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} in the OpenAPI document");
    }
    stack.stop().await
}

/// The Lead Gate on for `t`'s website (the bot's default settings, so a chat collects the
/// shopper's contact) and Sales chats missed after `secs` without an answer: a chat that
/// becomes a lead with an ADF.
pub(crate) async fn gate_and_miss_after(
    stack: &Stack,
    t: &Tenant,
    secs: i32,
) -> anyhow::Result<()> {
    showroom_bot::settings::store(
        &stack.pool,
        t.group,
        t.website,
        &showroom_proto::bot::BotSettings::default(),
    )
    .await?;
    showroom_store::sqlx::query(
        "INSERT INTO department_routing (department_id, group_id, incoming_timeout_secs) VALUES ($1, $2, $3)",
    )
    .bind(t.sales)
    .bind(t.group)
    .bind(secs)
    .execute(&stack.pool)
    .await?;
    Ok(())
}

/// The whole path, no stand-ins: a shopper's missed chat (with the Lead Gate's data) and then
/// another shopper's message left each become one lead (lead-capture), one bus event an
/// integrator reads, one ADF e-mail that validates, and one signed webhook that verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missed_chat_and_a_message_left_each_reach_the_crm_once() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Crm Path", 1).await?;
    gate_and_miss_after(&stack, &t, 1).await?;
    let crm = Crm::new(&stack, t.group).await?;
    let (receiver, url) = Receiver::start(vec![]).await?;
    let (secret, key) = new_secret();
    crm.put_destination(
        Uuid::now_v7(),
        json!({"rooftop_id": t.rooftop, "name": "Hook", "target": {"kind": "webhook", "url": url, "secrets": [secret]}}),
    )
    .await?;
    crm.put_destination(
        Uuid::now_v7(),
        json!({"rooftop_id": t.rooftop, "name": "ADF", "target": {"kind": "adf_email", "to": "leads@crm-path.example"}}),
    )
    .await?;
    let nats = stack.nats_client().await?;
    let mut integrator =
        showroom_testkit::watch::subscribed(&nats, format!("showroom.v1.{}.lead.*", t.group))
            .await?;

    // 1. A missed chat with the gate's data.
    let _agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    w.ask(json!({"type": "start", "department_id": t.sales,
        "vehicle": {"year": 2024, "make": "Honda", "model": "Pilot", "vin": "5FNYG1H48RB012345"}}))
        .await?;
    for answer in ["Maria", "O'Hara-Smith", "(312) 555-2368"] {
        w.recv_matching("message", |f| f["message"]["author"]["kind"] == "bot")
            .await?;
        let ack = w
            .ask(json!({"type": "send", "client_msg_id": Uuid::new_v4().to_string(), "text": answer}))
            .await?;
        ensure!(ack["type"] == "ack", "{ack}");
    }
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;

    // 2. Someone else leaves a message.
    let mut w2 = showroom_testkit::Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w2.ask(json!({"type": "hello", "v": 1})).await?;
    let left = w2
        .ask(json!({"type": "leave_message", "form_id": "x", "first_name": "Ana", "last_name": "Ruiz",
            "email": "ana@crm-path.example", "message": "Trade-in value?"}))
        .await?;
    ensure!(left["type"] == "message_left", "{left}");

    // Two bus events, two webhooks, two ADF e-mails: one each per lead.
    let mut leads = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(
            Duration::from_secs(15),
            futures::StreamExt::next(&mut integrator),
        )
        .await?
        .context("no lead event")?;
        let ev: Value = serde_json::from_slice(&m.payload)?;
        assert_eq!(ev["type"], LEAD_CREATED, "{ev}");
        leads.push(ev);
    }
    let origins: BTreeSet<String> = leads
        .iter()
        .map(|e| e["data"]["origin"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        origins,
        BTreeSet::from(["message_left".to_string(), "missed_chat".to_string()])
    );
    let hooks = receiver.wait_requests(2, Duration::from_secs(15)).await?;
    for r in &hooks {
        let sig = sign(
            &key,
            &r.header("webhook-id"),
            &r.header("webhook-timestamp"),
            &r.body,
        );
        assert_eq!(r.header("webhook-signature"), sig, "verifies");
        let body: Value = serde_json::from_slice(&r.body)?;
        assert!(
            leads.iter().any(|e| e["id"] == body["id"]),
            "the bus event itself"
        );
    }
    let mails = eventually(Duration::from_secs(15), "two ADF e-mails", || async {
        let all = stack.smtp.messages().await?;
        let adf: Vec<Value> = all
            .into_iter()
            .filter(|m| m["to"][0]["address"] == "leads@crm-path.example")
            .collect();
        Ok((adf.len() >= 2).then_some(adf))
    })
    .await?;
    for m in &mails {
        let xml = m["text"].as_str().unwrap_or_default();
        xmllint(xml, &["--noout"]).await?;
    }
    let missed_xml = mails
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .find(|x| x.contains("5FNYG1H48RB012345"))
        .context("the missed chat's ADF")?;
    let last = xmllint(
        missed_xml,
        &["--xpath", "string(//customer/contact/name[@part='last'])"],
    )
    .await?;
    assert_eq!(last, "O'Hara-Smith");
    let phone = xmllint(
        missed_xml,
        &["--xpath", "string(//customer/contact/phone/@type)"],
    )
    .await?;
    assert_eq!(phone, "cellphone");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.seen().len(), 2, "no second delivery");
    stack.stop().await
}
