//! Starts real PostgreSQL servers and queries them with psql.

mod common;

use std::time::{Duration, Instant};

use common::psql_query;
use showroom_localinfra::{InfraError, Postgres, PostgresOptions};

/// The postmaster and its current children (checkpointer, walwriter, ...).
fn process_tree(pg: &Postgres) -> Vec<u32> {
    let pid = pg.pid().expect("running");
    let mut pids = common::children(pid);
    assert!(!pids.is_empty(), "postmaster {pid} has children");
    pids.push(pid);
    pids
}

#[tokio::test]
async fn throwaway_server_answers_and_cleans_up() {
    let mut pg = Postgres::start(PostgresOptions::throwaway())
        .await
        .expect("postgres starts");
    assert_eq!(
        pg.url,
        format!("postgres://postgres@127.0.0.1:{}/showroom", pg.port)
    );
    assert_eq!(psql_query(&pg.url, "select 1").as_deref(), Ok("1"));
    assert_eq!(
        psql_query(&pg.url, "select current_database()").as_deref(),
        Ok("showroom")
    );
    assert_eq!(psql_query(&pg.url, "show fsync").as_deref(), Ok("off"));
    assert_eq!(
        psql_query(&pg.url, "show max_connections").as_deref(),
        Ok("200")
    );
    assert_eq!(
        psql_query(&pg.url, "show listen_addresses").as_deref(),
        Ok("127.0.0.1")
    );
    assert_eq!(
        psql_query(
            &pg.url,
            "select pg_encoding_to_char(encoding) from pg_database where datname = 'showroom'"
        )
        .as_deref(),
        Ok("UTF8")
    );

    // Extra databases for test isolation.
    let other = pg
        .create_database("other db")
        .await
        .expect("create database");
    assert_eq!(other, pg.url_for("other db"));
    pg.create_database("other db").await.expect("idempotent");
    assert_eq!(
        psql_query(
            &pg.url,
            "select count(*) from pg_database where datname = 'other db'"
        )
        .as_deref(),
        Ok("1")
    );

    psql_query(&pg.url, "create table t (x int); insert into t values (42)").expect("write");
    let old_tree = process_tree(&pg);
    pg.restart().await.expect("restarts");
    common::assert_all_gone(&old_tree);
    assert_eq!(psql_query(&pg.url, "select x from t").as_deref(), Ok("42"));

    let tree = process_tree(&pg);
    let data_dir = pg.data_dir().to_path_buf();
    let log = pg.log_path().to_path_buf();
    assert!(
        pg.log().contains("ready to accept connections"),
        "{}",
        pg.log()
    );
    drop(pg);
    common::assert_all_gone(&tree);
    assert!(!data_dir.exists(), "throwaway data removed");
    assert!(!log.exists(), "temp dir removed");
}

#[tokio::test]
async fn persistent_data_dir_survives_and_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("pgdata");

    let pg = Postgres::start(PostgresOptions::persistent(&data_dir))
        .await
        .expect("first start initialises");
    assert_eq!(psql_query(&pg.url, "show fsync").as_deref(), Ok("on"));
    psql_query(
        &pg.url,
        "create table kept (v text); insert into kept values ('yes')",
    )
    .expect("write");
    let tree = process_tree(&pg);
    drop(pg);
    common::assert_all_gone(&tree);
    assert!(data_dir.join("PG_VERSION").exists(), "data dir kept");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "dropping a persistent server shuts it down cleanly"
    );

    let mut pg = Postgres::start(PostgresOptions::persistent(&data_dir))
        .await
        .expect("second start reuses");
    assert_eq!(
        psql_query(&pg.url, "select v from kept").as_deref(),
        Ok("yes")
    );
    let port = pg.port;
    pg.stop().await;
    assert!(pg.pid().is_none());
    assert!(psql_query(&pg.url, "select 1").is_err(), "stopped");
    pg.restart().await.expect("restarts");
    assert_eq!(pg.port, port);
    assert_eq!(
        psql_query(&pg.url, "select v from kept").as_deref(),
        Ok("yes")
    );
    let tree = process_tree(&pg);
    drop(pg);
    common::assert_all_gone(&tree);
}

#[tokio::test]
async fn refuses_a_directory_that_is_not_a_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "not postgres").expect("write");
    let error = Postgres::start(PostgresOptions::persistent(dir.path()))
        .await
        .expect_err("must refuse");
    assert!(matches!(error, InfraError::NotADataDir { .. }), "{error}");
    assert!(error.to_string().contains("no PG_VERSION"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_throwaway_servers() {
    let starts = (0..4).map(|_| tokio::spawn(Postgres::start(PostgresOptions::throwaway())));
    let mut servers = Vec::new();
    for start in starts {
        servers.push(start.await.expect("task").expect("postgres starts"));
    }
    let mut ports: Vec<u16> = servers.iter().map(|pg| pg.port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4, "distinct ports");
    let mut pids = Vec::new();
    for pg in &servers {
        assert_eq!(psql_query(&pg.url, "select 1").as_deref(), Ok("1"));
        pids.extend(process_tree(pg));
    }
    drop(servers);
    common::assert_all_gone(&pids);
}

/// Prints how long a throwaway start takes once the template is cached
/// (`cargo test -p showroom-localinfra --test postgres -- --nocapture timing`).
#[tokio::test]
async fn throwaway_start_timing() {
    // Warm the template cache (first start on a machine builds it).
    drop(
        Postgres::start(PostgresOptions::throwaway())
            .await
            .expect("warm-up"),
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let pg = Postgres::start(PostgresOptions::throwaway())
            .await
            .expect("postgres starts");
        times.push(started.elapsed());
        drop(pg);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!("throwaway Postgres start times: {times:?}, median {median:?}");
    assert!(
        median < Duration::from_secs(10),
        "throwaway starts are unexpectedly slow: {times:?}"
    );
}
