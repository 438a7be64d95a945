//! Migrations as their own step: a service (and the migrate step) starts against a schema one
//! migration newer than it knows, as after a rollback, and leaves the newer migration alone.

use showroom_testkit::{Service, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_starts_against_a_schema_one_migration_newer_than_its_own() -> anyhow::Result<()>
{
    let stack = Stack::start().await?;
    let pool = &stack.pool;
    // A newer release applied a migration this build does not have.
    let future: i64 = 99_991_231_000_000;
    showroom_store::sqlx::query("CREATE TABLE from_a_newer_release (id int)")
        .execute(pool)
        .await?;
    showroom_store::sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer release', true, '\\x00'::bytea, 0)",
    )
    .bind(future)
    .execute(pool)
    .await?;

    // The migrate step says so and changes nothing.
    let report = showroom_store::migrate_reporting(pool).await?;
    assert!(report.applied.is_empty(), "{report}");
    assert_eq!(report.unknown, [future], "{report}");
    assert!(
        report.to_string().contains("newer than this binary"),
        "{report}"
    );

    // A service that migrates at start (the dev default) starts all the same.
    let mut common = stack.common(Service::Router);
    common.run_migrations = true;
    let router = showroom_router::start(
        showroom_router::Config {
            common,
            ..Default::default()
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await?;
    router.stop().await?;
    let (still,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM _sqlx_migrations WHERE version = $1")
            .bind(future)
            .fetch_one(pool)
            .await?;
    assert_eq!(still, 1, "the newer migration is left as it is");
    stack.stop().await
}
