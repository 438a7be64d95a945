//! Search (issue 19, item 3): `GET /api/v1/search` over a dealer group of many chats, seeded in
//! bulk (`INSERT … SELECT generate_series`: 1 000 000 messages in 10 000 chats by default, with
//! contacts and leads for some), beside a plain indexed lookup measured in the same run on the
//! same Postgres: one message by id (SQL), and `GET /api/v1/me` (the session and one row, over
//! the same HTTP path). The search is measured both ways too: the statements alone
//! (`showroom_rest::search::find`, as a manager: the whole group) and over REST as an agent
//! (their own and their departments' chats). Words: a common English one, a rare one, a
//! Spanish form the Spanish stemmer finds, a phrase, a contact's e-mail and phone.

use std::time::Instant;

use showroom_rest::search::{self, Visibility};
use showroom_store::sqlx;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant};
use uuid::Uuid;

/// What to run.
pub struct Options {
    /// Messages seeded.
    pub messages: usize,
    /// Chats they are spread over.
    pub chats: usize,
    /// Searches per measurement.
    pub searches: usize,
}

impl Options {
    /// `--messages N --chats C --searches S` (defaults 1 000 000, 10 000, 200).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            messages: get("--messages", 1_000_000).max(1),
            chats: get("--chats", 10_000).max(1),
            searches: get("--searches", 200).max(1),
        }
    }
}

/// The searches, in turn.
const QUERIES: &[&str] = &[
    "tacoma",
    "zeppelin",
    "coche",
    "\"trade-in value\"",
    "buyer42@example.com",
    "312 555 0042",
];

/// Seeds `o.chats` ended chats of `t` over the last 90 days and `o.messages` messages over
/// them (shopper and agent in turn, sentences from a small English and Spanish vocabulary,
/// one message in 10 000 with the rare word), and a contact with a lead for one chat in five.
async fn seed(pool: &sqlx::PgPool, t: &Tenant, o: &Options) -> anyhow::Result<()> {
    let agents: Vec<Uuid> = t.agents.iter().map(|a| a.0).collect();
    sqlx::query(
        "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
           state, agent_id, created_at, ended_at, shopper_name) \
         SELECT md5('c' || i)::uuid, $1, $2, $3, CASE WHEN i % 2 = 0 THEN $4 ELSE $5 END, \
           gen_random_uuid(), 'ended', ($6::uuid[])[1 + i % cardinality($6::uuid[])], \
           now() - make_interval(mins => (i * 13)::int), now() - make_interval(mins => (i * 13 - 9)::int), \
           'Shopper ' || i \
         FROM generate_series(0, $7 - 1) i",
    )
    .bind(t.group)
    .bind(t.website)
    .bind(t.rooftop)
    .bind(t.sales)
    .bind(t.service)
    .bind(&agents)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO transcripts (conversation_id, group_id, last_seq) \
         SELECT md5('c' || i)::uuid, $1, ($2 - 1 - i) / $3 + 1 FROM generate_series(0, LEAST($2, $3) - 1) i",
    )
    .bind(t.group)
    .bind(o.messages as i64)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    // Message j is chat j % chats's message number j / chats + 1.
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, body, created_at, client_msg_id) \
         SELECT md5('m' || j)::uuid, md5('c' || (j % $2))::uuid, $1, j / $2 + 1, \
           CASE WHEN (j / $2) % 2 = 0 THEN 'shopper' ELSE 'agent' END, \
           (ARRAY['Is the', 'Do you still have the', 'I would like to test drive the', \
                  'Busco el', '¿Tienen todavía el', 'What is the price of the', 'Can I see the', \
                  'Me interesan los coches como el'])[1 + j % 8] || ' ' || \
           (ARRAY['Tacoma', 'Camry', 'Civic', 'Accord', 'Corolla', 'RAV4', 'CR-V', 'Pilot', \
                  'Highlander', 'Tundra', 'Odyssey', 'Sienna', 'F-150', 'Silverado', 'Model 3', \
                  'Outback', 'Forester', 'Mustang', 'Explorer', 'Wrangler', 'Cherokee', 'Altima', \
                  'Rogue', 'Sentra', 'Elantra', 'Tucson', 'Santa Fe', 'Sorento', 'Telluride', \
                  'Mazda3', 'CX-5', 'Jetta', 'Tiguan', 'Atlas', 'Golf', 'Prius', 'Sequoia', \
                  '4Runner', 'Ridgeline', 'Passport'])[1 + (j / 8) % 40] || ' ' || \
           (ARRAY['in blue?', 'this weekend', 'with financing', 'and what is my trade-in value', \
                  'con financiamiento', 'en color rojo', 'for my daughter', 'before Friday', \
                  'at the Denver store', 'por favor'])[1 + (j / 320) % 10] || \
           CASE WHEN j % 10000 = 4242 THEN ' like a zeppelin' ELSE '' END, \
           now() - make_interval(mins => ((j % $2) * 13)::int) + make_interval(secs => j / $2), 'seed-' || j \
         FROM generate_series(0, $3 - 1) j",
    )
    .bind(t.group)
    .bind(o.chats as i64)
    .bind(o.messages as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO contacts (id, group_id, first_name, last_name, email, phone) \
         SELECT md5('k' || i)::uuid, $1, 'Buyer', 'Number' || i, 'buyer' || i || '@example.com', \
           '+1312555' || lpad(i::text, 4, '0') \
         FROM generate_series(0, $2 / 5 - 1) i",
    )
    .bind(t.group)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO leads (id, group_id, rooftop_id, department_id, contact_id, origin, conversation_id, \
           message, classification) \
         SELECT md5('l' || i)::uuid, $1, $2, $3, md5('k' || i)::uuid, 'agent', md5('c' || (i * 5))::uuid, \
           'Wants a quote', jsonb_build_object('qualified', i % 2 = 0, 'notes', 'Call back about financing') \
         FROM generate_series(0, $4 / 5 - 1) i",
    )
    .bind(t.group)
    .bind(t.rooftop)
    .bind(t.sales)
    .bind(o.chats as i64)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE conversations, messages, contacts, leads, lead_sources, transcripts")
        .execute(pool)
        .await?;
    Ok(())
}

/// Runs `op` `n` times one after the other; p50 and p99 in milliseconds.
async fn measure<F, Fut>(n: usize, mut op: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        op(i).await?;
        samples.push(t.elapsed().as_micros() as u64);
    }
    crate::percentiles(&samples)
}

/// Seeds, then measures the searches and the baselines, and prints them.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let pool = &stack.pool;
    let t = Tenant::seed(pool, "SearchLoad", 3).await?;
    let started = Instant::now();
    seed(pool, &t, &o).await?;
    println!(
        "seeded {} messages in {} chats in {:.1} s",
        o.messages,
        o.chats,
        started.elapsed().as_secs_f64()
    );
    let (_, manager_email) = t.add_agent(pool, "gm", "manager", &[]).await?;
    let http = Http::new(&stack.base_url);
    let agent = http.with_token(&http.login(&t.agents[0].1, PASSWORD).await?);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let n = o.searches;
    let (group, messages) = (t.group, o.messages);

    // Warm up the caches the same way for every measurement.
    for q in QUERIES {
        let s = search::checked(search::Asked {
            q: Some((*q).into()),
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        search::find(pool, t.group, &Visibility::Group, &s).await?;
    }

    let sql = measure(n, |i| {
        let q = QUERIES[i % QUERIES.len()];
        async move {
            let s = search::checked(search::Asked {
                q: Some(q.into()),
                ..Default::default()
            })
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            search::find(pool, group, &Visibility::Group, &s).await?;
            Ok(())
        }
    })
    .await?;
    let rest_search = |who: Http| {
        let who = std::sync::Arc::new(who);
        move |i: usize| {
            let who = who.clone();
            let q = QUERIES[i % QUERIES.len()]
                .replace(' ', "%20")
                .replace('"', "%22");
            async move {
                let (st, v) = who.get(&format!("/api/v1/search?q={q}")).await?;
                anyhow::ensure!(st.is_success(), "search {q}: {st} {v}");
                Ok(())
            }
        }
    };
    let rest_manager = measure(n, rest_search(manager)).await?;
    let rest_agent = measure(n, rest_search(agent.clone())).await?;
    let by_id = measure(n, |i| async move {
        sqlx::query("SELECT id, body FROM messages WHERE id = md5('m' || $1)::uuid")
            .bind(((i * 7919) % messages) as i64)
            .fetch_one(pool)
            .await?;
        Ok(())
    })
    .await?;
    let agent = std::sync::Arc::new(agent);
    let me = measure(n, |_| {
        let agent = agent.clone();
        async move {
            let (st, v) = agent.get("/api/v1/me").await?;
            anyhow::ensure!(st.is_success(), "me: {st} {v}");
            Ok(())
        }
    })
    .await?;

    println!(
        "{} messages in {} chats, {} searches each, one at a time",
        o.messages, o.chats, n
    );
    println!("| what | p50 ms | p99 ms |");
    println!("| --- | --- | --- |");
    for (what, (p50, p99)) in [
        ("search, statements only (manager: the whole group)", sql),
        ("search over REST, manager (the whole group)", rest_manager),
        (
            "search over REST, agent (own and departments' chats)",
            rest_agent,
        ),
        ("baseline: one message by id (SQL)", by_id),
        ("baseline: GET /api/v1/me (REST)", me),
    ] {
        println!("| {what} | {p50:.2} | {p99:.2} |");
    }
    stack.stop().await
}
