//! What one statement's plan costs, run for real (`EXPLAIN (ANALYZE, BUFFERS)`): for tests that
//! keep a hot statement reaching its rows by key however the tables grow, and whatever the
//! statistics say. And how often a session planned a prepared statement ([`plans_of`]): for
//! tests that keep a hot statement from being planned afresh at every call.

use sqlx::postgres::{PgArguments, PgConnection, Postgres};
use sqlx::query::Query;
use sqlx::types::{Json, JsonValue};

/// One statement's plan, after running it.
#[derive(Debug)]
pub struct Explained {
    /// Shared buffers the statement touched (hit or read), its own and its triggers'.
    pub buffers: i64,
    /// The tables it read whole (sequential scans), by name.
    pub read_whole: Vec<String>,
    /// The indexes it scanned, by name, in plan order.
    pub indexes: Vec<String>,
    /// The plan as Postgres printed it, for a failing test's message.
    pub plan: JsonValue,
}

/// How many generic and custom plans this session (`db`, one connection) made of the prepared
/// statement whose text begins with `start`, as `(generic, custom)`; `(0, 0)` if it has none.
///
/// Postgres makes a custom plan for each of a prepared statement's first five executions, and
/// from then on runs its generic plan unless that plan's estimate costs more than the custom
/// ones did, in which case it plans every execution afresh (`custom` grows with the calls).
pub async fn plans_of(db: &mut PgConnection, start: &str) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(sum(generic_plans), 0)::int8, coalesce(sum(custom_plans), 0)::int8 \
         FROM pg_prepared_statements WHERE starts_with(statement, $1)",
    )
    .bind(start)
    .fetch_one(db)
    .await
}

/// Runs `sql` under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` on `db` with the parameters
/// `bind` gives it. It really runs: call it in a transaction to roll back what it writes.
pub async fn explain(
    db: &mut PgConnection,
    sql: &str,
    bind: impl FnOnce(Query<'_, Postgres, PgArguments>) -> Query<'_, Postgres, PgArguments>,
) -> Result<Explained, sqlx::Error> {
    fn walk(node: &JsonValue, whole: &mut Vec<String>, indexes: &mut Vec<String>) {
        if node["Node Type"] == "Seq Scan" {
            whole.push(node["Relation Name"].as_str().unwrap_or("?").to_string());
        }
        if let Some(index) = node["Index Name"].as_str() {
            indexes.push(index.to_string());
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            walk(child, whole, indexes);
        }
    }
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}");
    let row = bind(sqlx::query(sqlx::AssertSqlSafe(explain)))
        .fetch_one(db)
        .await?;
    let Json(plan): Json<JsonValue> = sqlx::Row::try_get(&row, 0)?;
    let top = &plan[0]["Plan"];
    let buffers = top["Shared Hit Blocks"].as_i64().unwrap_or(0)
        + top["Shared Read Blocks"].as_i64().unwrap_or(0);
    let (mut read_whole, mut indexes) = (Vec::new(), Vec::new());
    walk(top, &mut read_whole, &mut indexes);
    Ok(Explained {
        buffers,
        read_whole,
        indexes,
        plan,
    })
}
