//! Which statements a benchmark's Postgres time went to (`--statements`): [`stack`] starts the
//! stack's Postgres with `pg_stat_statements` loaded, [`reset`] starts the count, [`print`]
//! prints the costliest statements since, by the time Postgres spent executing and planning
//! them.

use showroom_store::sqlx::{self, PgPool};
use showroom_testkit::{Stack, Tuning};

/// A durable stack (no TLS) tuned by `tuning`, its Postgres counting statements if `counting`.
pub(crate) async fn stack(tuning: Tuning, counting: bool) -> anyhow::Result<Stack> {
    match counting {
        true => Stack::start_durable_counting_statements(tuning).await,
        false => Stack::start_durable_tuned(tuning, false).await,
    }
}

/// Creates the extension (once per database; later calls find it) and starts the count afresh.
pub(crate) async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await?;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(pool)
        .await?;
    Ok(())
}

/// SQL: a statement's text as the tables show it, on one line: whole up to 170 characters,
/// else its first 110 and its last 50, so statements that begin alike (the router's `WITH me`
/// pair) are told apart.
macro_rules! shown {
    () => {
        "(SELECT CASE WHEN length(q) > 170 THEN left(q, 110) || ' … ' || right(q, 50) ELSE q END \
          FROM regexp_replace(query, '\\s+', ' ', 'g') AS q)"
    };
}

/// The statements Postgres spent the most time on (every service's) since [`reset`], executing
/// and planning them, as a Markdown table; `what` names that span in the heading. `per`
/// divides the totals into a cost per unit of work (a message, a decision, a lead) when given,
/// as `(count, unit)`.
pub(crate) async fn print(
    pool: &PgPool,
    what: &str,
    per: Option<(usize, &str)>,
) -> anyhow::Result<()> {
    let top: Vec<(i64, f64, f64, i64, i64, f64, String)> = sqlx::query_as(concat!(
        "SELECT calls, total_exec_time, mean_exec_time, rows, plans, total_plan_time, ",
        shown!(),
        " FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 15"
    ))
    .fetch_all(pool)
    .await?;
    // Time, and the WAL written: what the statements cost on any machine, however busy.
    // Planning counts: a statement whose generic plan is never chosen is planned at every call,
    // and its planning can cost more than its execution.
    let (executing, planning, wal): (f64, f64, f64) = sqlx::query_as(
        "SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(total_plan_time), 0), \
                coalesce(sum(wal_bytes), 0)::float8 \
         FROM pg_stat_statements",
    )
    .fetch_one(pool)
    .await?;
    let all = executing + planning;
    println!();
    print!(
        "Postgres, {what}'s statements by time spent ({:.1} s in all: {:.1} s executing, {:.1} s planning",
        all / 1000.0,
        executing / 1000.0,
        planning / 1000.0
    );
    match per {
        Some((n, unit)) if n > 0 => println!(
            "; {:.3} ms executing, {:.3} ms planning and {:.0} bytes of WAL per {unit}):",
            executing / n as f64,
            planning / n as f64,
            wal / n as f64
        ),
        _ => println!("):"),
    }
    // The share is of executing and planning together; "total s" and "mean ms" are the
    // execution's, "planning s" and "ms a plan" the planning's. A statement planned at every
    // call (its generic plan never chosen) shows as plans ≈ calls.
    println!(
        "| share | calls | total s | mean ms | rows | plans | planning s | ms a plan | statement |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (calls, total, mean, rows, plans, planning, query) in top {
        println!(
            "| {:.1}% | {calls} | {:.1} | {mean:.3} | {rows} | {plans} | {:.1} | {:.3} | `{}` |",
            100.0 * (total + planning) / all.max(1.0),
            total / 1000.0,
            planning / 1000.0,
            planning / (plans.max(1) as f64),
            query.replace('|', "\\|")
        );
    }
    // Every statement is a round trip and a wake-up of a backend, however cheap it runs:
    // counted apart, so a change that saves statements shows even where it saves no time.
    let Some((n, unit)) = per.filter(|(n, _)| *n > 0) else {
        return Ok(());
    };
    let by_calls: Vec<(i64, String)> = sqlx::query_as(concat!(
        "SELECT calls, ",
        shown!(),
        " FROM pg_stat_statements ORDER BY calls DESC LIMIT 15"
    ))
    .fetch_all(pool)
    .await?;
    let (calls,): (i64,) =
        sqlx::query_as("SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements")
            .fetch_one(pool)
            .await?;
    println!();
    println!(
        "Postgres, {what}'s statements by calls ({:.1} per {unit} in all):",
        calls as f64 / n as f64
    );
    println!("| per {unit} | calls | statement |");
    println!("| ---: | ---: | --- |");
    for (c, query) in by_calls {
        println!(
            "| {:.2} | {c} | `{}` |",
            c as f64 / n as f64,
            query.replace('|', "\\|")
        );
    }
    Ok(())
}
