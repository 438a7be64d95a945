//! The dashboard (issue 20, item 5): how fast `GET /api/v1/reports/trends` and
//! `GET /api/v1/reports/departments` answer for a dealer group of 40 rooftops over 90 days,
//! which is what Admin ▸ Dashboard asks for when a manager picks "Last 90 days" (the trends
//! read the 90 days and the 90 before them). The group is seeded in bulk (`INSERT … SELECT
//! generate_series`): chats spread over every department and the last 180 days, a fifth of them
//! with a lead, a tenth rated, one in twenty with an appointment. The baseline, measured in the
//! same run over the same HTTP path: `GET /api/v1/me` (the session and one row).

use std::time::Instant;

use showroom_rest::directory::setup;
use showroom_store::sqlx;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

/// What to run.
pub struct Options {
    /// Rooftops of the group (each with two departments).
    pub rooftops: usize,
    /// Chats seeded over the last 180 days.
    pub chats: usize,
    /// Requests per measurement.
    pub requests: usize,
}

impl Options {
    /// `--rooftops R --chats C --requests N` (defaults 40, 200 000, 30).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            rooftops: get("--rooftops", 40).max(1),
            chats: get("--chats", 200_000).max(1),
            requests: get("--requests", 30).max(1),
        }
    }
}

/// Seeds the rooftops and the chats; answers the departments seeded.
async fn seed(pool: &sqlx::PgPool, t: &Tenant, o: &Options) -> anyhow::Result<usize> {
    let mut departments: Vec<Uuid> = vec![t.sales, t.service];
    let mut rooftops: Vec<Uuid> = vec![t.rooftop, t.rooftop];
    for r in 1..o.rooftops {
        let zone = ["America/Chicago", "America/New_York", "America/Denver"][r % 3];
        let rooftop = setup::rooftop(pool, t.group, &format!("Rooftop {r:02}"), zone).await?;
        for label in ["Sales", "Service"] {
            departments.push(setup::department(pool, t.group, rooftop, label, None, 0).await?);
            rooftops.push(rooftop);
        }
    }
    let agents: Vec<Uuid> = t.agents.iter().map(|a| a.0).collect();
    // Chat i: department i % n, created i * (180 days / chats) ago; 80 % answered after
    // 5–64 s, 10 % missed, the rest offline.
    sqlx::query(
        "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
           state, agent_id, created_at, assigned_at, ended_at, shopper_name) \
         SELECT md5('d' || i)::uuid, $1, $2, ($3::uuid[])[1 + i % cardinality($3::uuid[])], \
           ($4::uuid[])[1 + i % cardinality($4::uuid[])], gen_random_uuid(), \
           CASE WHEN i % 10 < 8 THEN 'ended' WHEN i % 10 = 8 THEN 'missed' ELSE 'offline' END, \
           CASE WHEN i % 10 < 8 THEN ($5::uuid[])[1 + i % cardinality($5::uuid[])] END, \
           now() - make_interval(secs => i * (15552000.0 / $6)), \
           CASE WHEN i % 10 < 8 THEN now() - make_interval(secs => i * (15552000.0 / $6) - 5 - i % 60) END, \
           now() - make_interval(secs => i * (15552000.0 / $6) - 600), 'Shopper ' || i \
         FROM generate_series(0, $6 - 1) i",
    )
    .bind(t.group)
    .bind(t.website)
    .bind(&rooftops)
    .bind(&departments)
    .bind(&agents)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO contacts (id, group_id, first_name, last_name, email) \
         SELECT md5('dk' || i)::uuid, $1, 'Buyer', 'Number' || i, 'dash' || i || '@example.com' \
         FROM generate_series(0, $2 / 5 - 1) i",
    )
    .bind(t.group)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO leads (id, group_id, rooftop_id, contact_id, origin, conversation_id) \
         SELECT md5('dl' || i)::uuid, $1, c.rooftop_id, md5('dk' || i)::uuid, 'agent', c.id \
         FROM generate_series(0, $2 / 5 - 1) i JOIN conversations c ON c.id = md5('d' || (i * 5))::uuid",
    )
    .bind(t.group)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO lead_sources (source_key, lead_id, origin, conversation_id, at) \
         SELECT 'dash:' || i, md5('dl' || i)::uuid, 'agent', md5('d' || (i * 5))::uuid, now() \
         FROM generate_series(0, $1 / 5 - 1) i",
    )
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO chat_ratings (conversation_id, group_id, score, created_at) \
         SELECT md5('d' || (i * 10))::uuid, $1, 1 + i % 5, now() FROM generate_series(0, $2 / 10 - 1) i",
    )
    .bind(t.group)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO appointments (id, group_id, rooftop_id, department_id, conversation_id, kind, \
           starts_at, ends_at, booked_by, created_at) \
         SELECT gen_random_uuid(), c.group_id, c.rooftop_id, c.department_id, c.id, 'test_drive', \
           c.created_at + interval '2 days', c.created_at + interval '2 days 30 minutes', 'agent', \
           c.created_at + interval '5 minutes' \
         FROM generate_series(0, $1 / 20 - 1) i JOIN conversations c ON c.id = md5('d' || (i * 20))::uuid",
    )
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE conversations, leads, lead_sources, chat_ratings, appointments")
        .execute(pool)
        .await?;
    Ok(departments.len())
}

/// Runs `op` `n` times one after the other; p50 and p99 in milliseconds.
async fn measure<F, Fut>(n: usize, mut op: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        op().await?;
        samples.push(t.elapsed().as_micros() as u64);
    }
    crate::percentiles(&samples)
}

/// Seeds, then measures the dashboard's calls and the baseline, and prints them.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let pool = &stack.pool;
    let t = Tenant::seed(pool, "DashLoad", 3).await?;
    let started = Instant::now();
    let departments = seed(pool, &t, &o).await?;
    println!(
        "seeded {} chats over 180 days in {} rooftops ({departments} departments) in {:.1} s",
        o.chats,
        o.rooftops,
        started.elapsed().as_secs_f64()
    );
    let (_, email) = t.add_agent(pool, "gm", "manager", &[]).await?;
    let token = Http::new(&stack.base_url).login(&email, PASSWORD).await?;
    let http = Http::new(&stack.base_url).with_token(&token);
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::days(90);
    let range = format!(
        "from={}&to={}",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let get = |path: String| {
        let http = &http;
        async move {
            let (status, body) = http.get(&path).await?;
            anyhow::ensure!(status == 200, "{path}: {status} {body}");
            Ok(body)
        }
    };
    // Once, to see it answers what the page draws.
    let trend = get(format!("/api/v1/reports/trends?{range}&tz=America/Chicago")).await?;
    let points = trend["current"]["points"].as_array().map_or(0, Vec::len);
    println!(
        "trends: {points} daily points, {} chats in the range, {} in the period before",
        trend["current"]["totals"]["chats"], trend["previous"]["totals"]["chats"]
    );
    let n = o.requests;
    let trends = measure(n, || async {
        get(format!("/api/v1/reports/trends?{range}&tz=America/Chicago")).await?;
        Ok(())
    })
    .await?;
    let one_rooftop = measure(n, || async {
        get(format!(
            "/api/v1/reports/trends?{range}&tz=America/Chicago&rooftop_id={}",
            t.rooftop
        ))
        .await?;
        Ok(())
    })
    .await?;
    let report = measure(n, || async {
        get(format!("/api/v1/reports/departments?{range}")).await?;
        Ok(())
    })
    .await?;
    let me = measure(n, || async {
        get("/api/v1/me".to_string()).await?;
        Ok(())
    })
    .await?;
    println!(
        "\n{} rooftops, {} chats over 180 days, last 90 days, {n} requests each, one at a time",
        o.rooftops, o.chats
    );
    println!("| what | p50 ms | p99 ms | p50 / baseline |");
    println!("| --- | --- | --- | --- |");
    for (what, (p50, p99)) in [
        ("trends, the whole group (90 days + the 90 before)", trends),
        ("trends, one rooftop", one_rooftop),
        ("the departments' table", report),
        ("baseline: GET /api/v1/me", me),
    ] {
        println!("| {what} | {p50:.2} | {p99:.2} | {:.1}× |", p50 / me.0);
    }
    stack.stop().await
}
