//! The per-department numbers of `GET /api/v1/reports/departments`, from real chats through
//! the sockets against real servers: answered, missed and offline chats counted per
//! department, the missed rate, time to pick up and to the first reply, chats per agent, the
//! empty departments, the range, who may read it, and that a group sees only its own chats.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant};
use uuid::Uuid;

const REPORT: &str = "/api/v1/reports/departments";

/// A member of the tenant with `role`, logged in over REST.
async fn logged_in(stack: &Stack, t: &Tenant, local: &str, role: &str) -> anyhow::Result<Http> {
    let (_, email) = t.add_agent(&stack.pool, local, role, &[]).await?;
    let token = Http::new(&stack.base_url).login(&email, PASSWORD).await?;
    Ok(Http::new(&stack.base_url).with_token(&token))
}

fn id_of(frame: &Value) -> String {
    frame["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A new shopper starts a chat in `department`; answers the socket and the `started` frame.
async fn start(stack: &Stack, t: &Tenant, department: Uuid) -> anyhow::Result<(Socket, Value)> {
    let (mut w, _) = stack.shopper(t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": department}))
        .await?;
    anyhow::ensure!(started["type"] == "started", "{started}");
    Ok((w, started))
}

/// The shopper writes, the agent takes the chat after `wait`, replies, and the shopper ends it.
async fn answered_chat(
    stack: &Stack,
    t: &Tenant,
    agent: &mut Socket,
    wait: Duration,
) -> anyhow::Result<()> {
    let (mut w, started) = start(stack, t, t.sales).await?;
    let conv = id_of(&started);
    assert_eq!(started["conversation"]["state"], "incoming", "{started}");
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": "s-1", "text": "Is it still for sale?"}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    agent.recv_matching("offer", |o| id_of(o) == conv).await?;
    tokio::time::sleep(wait).await;
    let taken = agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    assert_eq!(taken["type"], "accepted", "{taken}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ack = agent
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a-1", "text": "It is!"}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let ended = w.ask(json!({"type": "end"})).await?;
    assert_eq!(ended["conversation"]["state"], "ended", "{ended}");
    Ok(())
}

/// The report's entry for a department.
fn entry(report: &Value, department: Uuid) -> Value {
    report["departments"]
        .as_array()
        .expect("departments")
        .iter()
        .find(|d| d["department"]["id"] == department.to_string())
        .unwrap_or_else(|| panic!("department {department} missing from {report}"))
        .clone()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    // `+00:00` percent-encoded, as a client must in a query string.
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
        .replace('+', "%2B")
}

fn assert_empty(d: &Value) {
    for n in [
        "chats",
        "answered",
        "missed",
        "offline",
        "timed_out",
        "ended",
    ] {
        assert_eq!(d[n], 0, "{n}: {d}");
    }
    for n in [
        "missed_rate",
        "time_to_pickup_secs",
        "time_to_first_response_secs",
    ] {
        assert!(d[n].is_null(), "{n}: {d}");
    }
    assert_eq!(d["chats_per_agent"], json!([]), "{d}");
}

/// A duration object with plausible values: above zero, within a few seconds.
fn plausible(d: &Value, at_least: f64) -> (f64, f64) {
    let (p50, avg) = (d["p50"].as_f64().unwrap(), d["avg"].as_f64().unwrap());
    for v in [p50, avg] {
        assert!(v > 0.0 && v < 5.0, "implausible seconds {v} in {d}");
    }
    assert!(avg >= at_least, "{d}: avg under {at_least}");
    (p50, avg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manager_reads_each_departments_numbers() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Reports", 2).await?;
    // Departments without chats: Parts at the same rooftop, Sales at a second rooftop.
    let parts = setup::department(&stack.pool, t.group, t.rooftop, "Parts", None, 2).await?;
    let east = setup::rooftop(&stack.pool, t.group, "Reports East", "America/New_York").await?;
    let east_sales = setup::department(&stack.pool, t.group, east, "Sales", None, 0).await?;
    let manager = logged_in(&stack, &t, "manager", "manager").await?;
    let before = Utc::now();

    // Sales: two agents online. Three answered chats (sales0 two, sales1 one), the first after a
    // short wait.
    let mut sales0 = stack.agent(&t.agents[0].1, "available").await?;
    let mut sales1 = stack.agent(&t.agents[1].1, "available").await?;
    answered_chat(&stack, &t, &mut sales0, Duration::from_millis(600)).await?;
    answered_chat(&stack, &t, &mut sales1, Duration::from_millis(100)).await?;
    answered_chat(&stack, &t, &mut sales0, Duration::from_millis(100)).await?;

    // One nobody takes: missed after a second.
    let (status, body) = manager
        .put(
            &format!("/api/v1/departments/{}/routing", t.sales),
            &json!({"incoming_timeout_secs": 1}).to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let (mut w, _) = start(&stack, &t, t.sales).await?;
    w.recv_matching("conversation", |f| f["conversation"]["state"] == "missed")
        .await?;

    // Service: nobody online, so the offline flow at once.
    let (_w, started) = start(&stack, &t, t.service).await?;
    assert_eq!(started["conversation"]["state"], "offline", "{started}");
    let after = Utc::now();

    let (status, report) = manager.get(REPORT).await?;
    assert_eq!(status, 200, "{report}");
    // The default range: the seven days up to now.
    let from: DateTime<Utc> = report["from"].as_str().unwrap().parse()?;
    let to: DateTime<Utc> = report["to"].as_str().unwrap().parse()?;
    assert!(
        to >= after && to - from == chrono::Duration::days(7),
        "{report}"
    );

    // Every department, grouped by rooftop: Reports Honda (Sales, Service, Parts), Reports East.
    let listed: Vec<String> = report["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}/{}", d["rooftop"]["name"], d["department"]["label"]))
        .collect();
    assert_eq!(
        listed,
        [
            "\"Reports East\"/\"Sales\"",
            "\"Reports Honda\"/\"Sales\"",
            "\"Reports Honda\"/\"Service\"",
            "\"Reports Honda\"/\"Parts\""
        ],
        "{report}"
    );

    let sales = entry(&report, t.sales);
    assert_eq!(sales["rooftop"]["id"], t.rooftop.to_string());
    assert_eq!(sales["department"]["label"], "Sales");
    for (n, want) in [
        ("chats", 4),
        ("answered", 3),
        ("missed", 1),
        ("offline", 0),
        ("timed_out", 0),
        ("ended", 3),
    ] {
        assert_eq!(sales[n], want, "{n}: {sales}");
    }
    assert_eq!(sales["missed_rate"].as_f64(), Some(0.25), "{sales}");
    // One chat waited 0.6 s: the mean pick-up is at least 0.2 s.
    let (pickup_p50, pickup_avg) = plausible(&sales["time_to_pickup_secs"], 0.2);
    // Every answered chat got its reply after being picked up.
    let (reply_p50, reply_avg) = plausible(&sales["time_to_first_response_secs"], 0.2);
    assert!(
        reply_p50 > pickup_p50 && reply_avg > pickup_avg,
        "a reply before the pick-up: {sales}"
    );
    assert_eq!(
        sales["chats_per_agent"],
        json!([
            {"agent": {"id": t.agents[0].0, "name": "Agent0 Reports"}, "chats": 2},
            {"agent": {"id": t.agents[1].0, "name": "Agent1 Reports"}, "chats": 1},
        ]),
        "{sales}"
    );

    let service = entry(&report, t.service);
    for (n, want) in [("chats", 1), ("answered", 0), ("missed", 0), ("offline", 1)] {
        assert_eq!(service[n], want, "{n}: {service}");
    }
    // Every chat went offline: no rate, no times, nobody's chats.
    for n in [
        "missed_rate",
        "time_to_pickup_secs",
        "time_to_first_response_secs",
    ] {
        assert!(service[n].is_null(), "{n}: {service}");
    }
    assert_eq!(service["chats_per_agent"], json!([]));

    assert_empty(&entry(&report, parts));
    let east_entry = entry(&report, east_sales);
    assert_eq!(east_entry["rooftop"]["name"], "Reports East");
    assert_empty(&east_entry);

    // An explicit range around the chats counts them all; one ending before them, none.
    let around = format!(
        "{REPORT}?from={}&to={}",
        rfc3339(before - chrono::Duration::seconds(1)),
        rfc3339(after + chrono::Duration::seconds(1))
    );
    let (status, explicit) = manager.get(&around).await?;
    assert_eq!(status, 200, "{explicit}");
    assert_eq!(entry(&explicit, t.sales)["chats"], 4, "{explicit}");
    assert_eq!(entry(&explicit, t.service)["chats"], 1, "{explicit}");
    let earlier = format!("{REPORT}?to={}", rfc3339(before));
    let (status, none) = manager.get(&earlier).await?;
    assert_eq!(status, 200, "{none}");
    for d in none["departments"].as_array().unwrap() {
        assert_empty(d);
    }

    // An admin may read it too.
    let admin = logged_in(&stack, &t, "admin", "admin").await?;
    let (status, by_admin) = admin.get(REPORT).await?;
    assert_eq!(status, 200, "{by_admin}");
    assert_eq!(entry(&by_admin, t.sales)["chats"], 4);

    // Another group's manager sees their own departments only, with none of these chats.
    let other = Tenant::seed(&stack.pool, "Elsewhere", 1).await?;
    let theirs = logged_in(&stack, &other, "manager", "manager").await?;
    let (status, foreign) = theirs.get(REPORT).await?;
    assert_eq!(status, 200, "{foreign}");
    let ids: Vec<&str> = foreign["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["department"]["id"].as_str().unwrap())
        .collect();
    let (o_sales, o_service) = (other.sales.to_string(), other.service.to_string());
    assert_eq!(ids, [o_sales.as_str(), o_service.as_str()], "{foreign}");
    for d in foreign["departments"].as_array().unwrap() {
        assert_empty(d);
    }
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_managers_read_reports_and_bad_ranges_are_refused() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Guarded", 1).await?;
    let manager = logged_in(&stack, &t, "manager", "manager").await?;

    // No session: 401; an agent: 403 in the JSON error style.
    let (status, body) = Http::new(&stack.base_url).get(REPORT).await?;
    assert_eq!(status, 401, "{body}");
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    let agent = Http::new(&stack.base_url).with_token(&token);
    let (status, body) = agent.get(REPORT).await?;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    // Bad parameters: 400 naming the parameter.
    for (query, code, names) in [
        ("from=yesterday", "bad_from", "`from`"),
        ("to=2026-13-01T00:00:00Z", "bad_to", "`to`"),
        ("from=2026-11-22T10:00:00", "bad_from", "`from`"),
        (
            "from=2026-11-22T10:00:00Z&to=2026-11-22T10:00:00Z",
            "bad_range",
            "`from`",
        ),
        (
            "from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z",
            "bad_range",
            "`to`",
        ),
        (
            "from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z",
            "bad_range",
            "366 days",
        ),
        ("from=2999-01-01T00:00:00Z", "bad_range", "`from`"),
    ] {
        let (status, body) = manager.get(&format!("{REPORT}?{query}")).await?;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(names),
            "{query}: {body}"
        );
    }
    // 366 days exactly, with an offset, is fine.
    let (status, body) = manager
        .get(&format!(
            "{REPORT}?from=2025-01-01T00:00:00%2B02:00&to=2026-01-02T00:00:00%2B02:00"
        ))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "2024-12-31T22:00:00Z", "{body}");
    assert_eq!(body["departments"].as_array().unwrap().len(), 2, "{body}");
    stack.stop().await
}
