//! The dashboard's trends (`GET /api/v1/reports/trends`, `libs/rest/src/trends_api.rs`) and
//! the report's CSV (`GET /api/v1/reports/departments.csv`): chats started through the widget,
//! then placed in time (their `created_at` and pickup moved in Postgres, the only way to have
//! chats on past days), rated, and read back per day in a dealer's time zone and in UTC, with
//! the period before; who may read them; the CSV parsed back with a Spanish name.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use showroom_rest::directory::setup;
use showroom_store::sqlx;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

const TRENDS: &str = "/api/v1/reports/trends";

/// A member of the tenant with `role`, logged in over REST.
async fn logged_in(stack: &Stack, t: &Tenant, local: &str, role: &str) -> anyhow::Result<Http> {
    let (_, email) = t.add_agent(&stack.pool, local, role, &[]).await?;
    let token = Http::new(&stack.base_url).login(&email, PASSWORD).await?;
    Ok(Http::new(&stack.base_url).with_token(&token))
}

/// A chat started by a shopper (in Sales; nobody is online: it goes offline), then placed in
/// `department` at `at`, picked up `pickup` seconds later (when given) and left in `state`.
async fn chat_at(
    stack: &Stack,
    t: &Tenant,
    department: Uuid,
    (at, pickup, state): (&str, Option<i32>, &str),
) -> anyhow::Result<Uuid> {
    let (mut w, _) = stack.shopper(t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    anyhow::ensure!(started["type"] == "started", "{started}");
    let id: Uuid = started["conversation"]["id"]
        .as_str()
        .unwrap_or("")
        .parse()?;
    let at: DateTime<Utc> = at.parse()?;
    sqlx::query(
        "UPDATE conversations SET created_at = $2, \
             assigned_at = $2 + make_interval(secs => $3), state = $4, department_id = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(pickup.map(f64::from))
    .bind(state)
    .bind(department)
    .execute(&stack.pool)
    .await?;
    Ok(id)
}

/// An appointment booked at `made` for `starts` (half an hour) in `department` of `rooftop`,
/// in `state`, for `name`.
async fn appointment(
    stack: &Stack,
    t: &Tenant,
    (rooftop, department): (Uuid, Uuid),
    (made, starts, state, name): (&str, &str, &str, &str),
) -> anyhow::Result<()> {
    let (made, starts): (DateTime<Utc>, DateTime<Utc>) = (made.parse()?, starts.parse()?);
    sqlx::query(
        "INSERT INTO appointments (id, group_id, rooftop_id, department_id, kind, starts_at, \
             ends_at, state, name, booked_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'test_drive', $5, $5 + interval '30 minutes', $6, $7, \
             'shopper', $8, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(t.group)
    .bind(rooftop)
    .bind(department)
    .bind(starts)
    .bind(state)
    .bind(name)
    .bind(made)
    .execute(&stack.pool)
    .await?;
    Ok(())
}

async fn rate(stack: &Stack, t: &Tenant, conversation: Uuid, score: i16) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO chat_ratings (conversation_id, group_id, score) VALUES ($1, $2, $3)")
        .bind(conversation)
        .bind(t.group)
        .bind(score)
        .execute(&stack.pool)
        .await?;
    Ok(())
}

/// `field` of every point of `period`, as text (`null` for none).
fn series(report: &Value, period: &str, field: &str) -> Vec<String> {
    report[period]["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no {period} points in {report}"))
        .iter()
        .map(|p| p[field].to_string())
        .collect()
}

fn query(from: &str, to: &str, rest: &str) -> String {
    format!(
        "{TRENDS}?from={}&to={}{rest}",
        from.replace('+', "%2B"),
        to.replace('+', "%2B")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trends_cut_days_in_the_dealers_time_zone_and_compare_with_the_period_before()
-> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Trends", 1).await?;
    let pena = setup::rooftop(&stack.pool, t.group, "Peña Motors", "America/Chicago").await?;
    let ventas = setup::department(&stack.pool, t.group, pena, "Ventas", None, 0).await?;
    let manager = logged_in(&stack, &t, "manager", "manager").await?;

    // Four days of Chicago's October (CDT, UTC-5): Oct 4 22:00 local is Oct 5 in UTC.
    let late = chat_at(
        &stack,
        &t,
        t.sales,
        ("2026-10-05T03:00:00Z", Some(30), "ended"),
    )
    .await?;
    let noon = chat_at(
        &stack,
        &t,
        t.sales,
        ("2026-10-05T15:00:00Z", Some(90), "ended"),
    )
    .await?;
    chat_at(&stack, &t, ventas, ("2026-10-07T12:00:00Z", None, "missed")).await?;
    // The period before (as long: Sep 30 to Oct 4, Chicago), one chat.
    chat_at(
        &stack,
        &t,
        t.sales,
        ("2026-10-02T12:00:00Z", Some(10), "ended"),
    )
    .await?;
    rate(&stack, &t, late, 5).await?;
    rate(&stack, &t, noon, 2).await?;
    // Appointments count when they were booked, while they stand.
    let sales = (t.rooftop, t.sales);
    let kept = (
        "2026-10-05T16:00:00Z",
        "2026-10-20T15:00:00Z",
        "booked",
        "Ann",
    );
    appointment(&stack, &t, sales, kept).await?;
    let dropped = (
        "2026-10-06T16:00:00Z",
        "2026-10-21T15:00:00Z",
        "cancelled",
        "Bo",
    );
    appointment(&stack, &t, sales, dropped).await?;

    let (from, to) = ("2026-10-04T00:00:00-05:00", "2026-10-08T00:00:00-05:00");
    let (status, chicago) = manager.get(&query(from, to, "&tz=America/Chicago")).await?;
    assert_eq!(status, 200, "{chicago}");
    assert_eq!(
        (&chicago["bucket"], &chicago["tz"]),
        (&json!("day"), &json!("America/Chicago"))
    );
    let ats = series(&chicago, "current", "at");
    assert_eq!(
        ats,
        [
            "\"2026-10-04T05:00:00Z\"",
            "\"2026-10-05T05:00:00Z\"",
            "\"2026-10-06T05:00:00Z\"",
            "\"2026-10-07T05:00:00Z\""
        ],
        "local midnights: {chicago}"
    );
    assert_eq!(series(&chicago, "current", "chats"), ["1", "1", "0", "1"]);
    assert_eq!(
        series(&chicago, "current", "answered"),
        ["1", "1", "0", "0"]
    );
    assert_eq!(
        series(&chicago, "current", "pickup_p50_secs"),
        ["30.0", "90.0", "null", "null"]
    );
    assert_eq!(
        series(&chicago, "current", "missed_rate"),
        ["0.0", "0.0", "null", "1.0"]
    );
    assert_eq!(
        series(&chicago, "current", "csat_avg"),
        ["5.0", "2.0", "null", "null"]
    );
    assert_eq!(
        series(&chicago, "current", "appointments"),
        ["0", "1", "0", "0"]
    );
    let totals = &chicago["current"]["totals"];
    assert_eq!(
        (
            &totals["chats"],
            &totals["pickup_p50_secs"],
            &totals["csat_avg"],
            &totals["csat_count"]
        ),
        (&json!(3), &json!(60.0), &json!(3.5), &json!(2)),
        "{totals}"
    );
    // The period before: as long, just before, with as many points.
    assert_eq!(chicago["previous"]["to"], chicago["current"]["from"]);
    assert_eq!(series(&chicago, "previous", "chats"), ["0", "0", "1", "0"]);
    assert_eq!(chicago["previous"]["totals"]["chats"], 1);

    // The same range cut in UTC: the late chat joins the noon one on Oct 5, and the range's
    // last hours make a fifth day.
    let (_, utc) = manager.get(&query(from, to, "&tz=UTC")).await?;
    assert_eq!(
        series(&utc, "current", "chats"),
        ["0", "2", "0", "1", "0"],
        "{utc}"
    );

    // Hourly points; one rooftop; one department.
    let (_, hourly) = manager
        .get(&query(
            "2026-10-05T00:00:00Z",
            "2026-10-06T00:00:00Z",
            "&tz=UTC",
        ))
        .await?;
    assert_eq!(hourly["bucket"], "hour", "{hourly}");
    let chats = series(&hourly, "current", "chats");
    assert_eq!(chats.len(), 24);
    assert_eq!((chats[3].as_str(), chats[15].as_str()), ("1", "1"));
    let (_, only_pena) = manager
        .get(&query(
            from,
            to,
            &format!("&tz=America/Chicago&rooftop_id={pena}"),
        ))
        .await?;
    assert_eq!(series(&only_pena, "current", "chats"), ["0", "0", "0", "1"]);
    let (_, only_sales) = manager
        .get(&query(
            from,
            to,
            &format!("&tz=America/Chicago&department_id={}", t.sales),
        ))
        .await?;
    assert_eq!(
        series(&only_sales, "current", "chats"),
        ["1", "1", "0", "0"]
    );

    // Bad input is named.
    for (rest, code) in [
        ("&tz=Mars/Base", "bad_tz"),
        ("&bucket=week", "bad_bucket"),
        ("&rooftop_id=nope", "bad_query"),
    ] {
        let (status, body) = manager.get(&query(from, to, rest)).await?;
        assert_eq!(
            (status.as_u16(), &body["error"]["code"]),
            (400, &json!(code)),
            "{rest}: {body}"
        );
    }
    let (status, body) = manager
        .get(&query(
            "2026-01-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            "&bucket=hour",
        ))
        .await?;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (400, &json!("bad_bucket"))
    );

    // Another group's rooftop, and a rooftop manager's other rooftop: 404. An agent: 403.
    let other = Tenant::seed(&stack.pool, "Elsewhere", 1).await?;
    let (status, _) = manager
        .get(&query(from, to, &format!("&rooftop_id={}", other.rooftop)))
        .await?;
    assert_eq!(status, 404);
    let (status, _) = manager
        .get(&query(from, to, &format!("&department_id={}", other.sales)))
        .await?;
    assert_eq!(status, 404);
    let (rm, rm_email) = t
        .add_agent(&stack.pool, "pena-manager", "rooftop_manager", &[])
        .await?;
    sqlx::query("INSERT INTO agent_rooftops (agent_id, rooftop_id, group_id) VALUES ($1, $2, $3)")
        .bind(rm)
        .bind(pena)
        .bind(t.group)
        .execute(&stack.pool)
        .await?;
    let token = Http::new(&stack.base_url)
        .login(&rm_email, PASSWORD)
        .await?;
    let rooftop_manager = Http::new(&stack.base_url).with_token(&token);
    let (status, _) = rooftop_manager
        .get(&query(from, to, &format!("&rooftop_id={}", t.rooftop)))
        .await?;
    assert_eq!(status, 404);
    let (status, theirs) = rooftop_manager
        .get(&query(from, to, "&tz=America/Chicago"))
        .await?;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(series(&theirs, "current", "chats"), ["0", "0", "0", "1"]);
    let agent = logged_in(&stack, &t, "agent", "agent").await?;
    assert_eq!(agent.get(&query(from, to, "")).await?.0, 403);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_report_downloads_as_csv_that_a_spreadsheet_reads_back() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Csv", 1).await?;
    let pena = setup::rooftop(&stack.pool, t.group, "Peña Motors", "America/Chicago").await?;
    let ventas = setup::department(&stack.pool, t.group, pena, "Ventas Año", None, 0).await?;
    let manager = logged_in(&stack, &t, "manager", "manager").await?;
    let rated = chat_at(
        &stack,
        &t,
        ventas,
        ("2026-10-05T15:00:00Z", Some(40), "ended"),
    )
    .await?;
    chat_at(&stack, &t, ventas, ("2026-10-06T15:00:00Z", None, "missed")).await?;
    rate(&stack, &t, rated, 4).await?;

    let path = "/api/v1/reports/departments.csv?from=2026-10-01T00:00:00Z&to=2026-10-10T00:00:00Z";
    let (status, bytes) = manager.download(path).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 with a byte-order mark");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    assert_eq!(
        &header[..5],
        ["rooftop", "department", "from", "to", "chats"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let ventas_row = rows
        .iter()
        .find(|r| &r[col("department")] == "Ventas Año")
        .expect("the Spanish department's row");
    assert_eq!(&ventas_row[col("rooftop")], "Peña Motors");
    assert_eq!(
        (
            &ventas_row[col("chats")],
            &ventas_row[col("answered")],
            &ventas_row[col("missed_rate")],
            &ventas_row[col("pickup_p50_secs")],
            &ventas_row[col("csat_avg")],
            &ventas_row[col("csat_count")],
        ),
        ("2", "1", "0.5000", "40.0000", "4.0000", "1")
    );
    // The rooftop's own row comes after its departments, department empty.
    let rollup = rows
        .iter()
        .position(|r| &r[col("rooftop")] == "Peña Motors" && r[col("department")].is_empty())
        .expect("Peña Motors' row");
    let ventas_at = rows
        .iter()
        .position(|r| &r[col("department")] == "Ventas Año")
        .unwrap();
    assert!(ventas_at < rollup);

    // The rooftop's appointments as CSV, the shopper's Spanish name intact, the local time in
    // the rooftop's zone.
    let booked = (
        "2026-10-05T16:00:00Z",
        "2026-10-07T15:00:00Z",
        "booked",
        "José Peña",
    );
    appointment(&stack, &t, (pena, ventas), booked).await?;
    let path_appts = format!(
        "/api/v1/appointments.csv?rooftop_id={pena}&from=2026-10-01T00:00:00Z&to=2026-10-10T00:00:00Z"
    );
    let (status, bytes) = manager.download(&path_appts).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            &rows[0][at("name")],
            &rows[0][at("department")],
            &rows[0][at("local_start")],
            &rows[0][at("kind")],
            &rows[0][at("state")],
        ),
        (
            "José Peña",
            "Ventas Año",
            "2026-10-07 10:00",
            "test_drive",
            "booked"
        )
    );
    let (_, audit) = manager
        .get("/api/v1/audit?kind=appointments_exported")
        .await?;
    assert_eq!(audit["events"][0]["detail"]["count"], 1, "{audit}");

    // The download is in the audit trail; an agent may not download it.
    let (_, audit) = manager.get("/api/v1/audit?kind=report_exported").await?;
    let events = audit["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["detail"]["report"], "departments");
    let agent = logged_in(&stack, &t, "agent", "agent").await?;
    assert_eq!(agent.download(path).await?.0, 403);
    assert_eq!(agent.download(&path_appts).await?.0, 403);
    Ok(())
}
