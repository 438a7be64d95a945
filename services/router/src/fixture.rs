//! For tests: a migrated Postgres of its own, reached through a pool of ONE connection (so the
//! plan counts of `pg_prepared_statements` are that session's), with a dealer group, a rooftop,
//! a Sales department and a website.

use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

/// A dealer in a Postgres of its own (stopped when dropped).
pub(crate) struct Dealer {
    /// Kept for its lifetime: the server stops when it is dropped.
    _pg: showroom_localinfra::Postgres,
    pub pool: PgPool,
    pub group: Uuid,
    pub rooftop: Uuid,
    pub department: Uuid,
    pub website: Uuid,
}

/// A dealer group called `name`, with its rooftop, Sales department and website.
pub(crate) async fn dealer(name: &str) -> anyhow::Result<Dealer> {
    let pg = showroom_localinfra::Postgres::start(Default::default()).await?;
    let pool = showroom_store::connect(&pg.url, 1).await?;
    showroom_store::migrate(&pool).await?;
    let [group, rooftop, department, website] = [(); 4].map(|_| Uuid::now_v7());
    for statement in [
        "INSERT INTO dealer_groups (id, name) VALUES ($1, $5)",
        "INSERT INTO rooftops (id, group_id, name, time_zone) \
         VALUES ($2, $1, $5 || ' Honda', 'America/Chicago')",
        "INSERT INTO departments (id, group_id, rooftop_id, label) VALUES ($3, $1, $2, 'Sales')",
        "INSERT INTO websites (id, group_id, rooftop_id, name, widget_key) \
         VALUES ($4, $1, $2, $5, lower($5))",
    ] {
        sqlx::query(statement)
            .bind(group)
            .bind(rooftop)
            .bind(department)
            .bind(website)
            .bind(name)
            .execute(&pool)
            .await?;
    }
    Ok(Dealer {
        _pg: pg,
        pool,
        group,
        rooftop,
        department,
        website,
    })
}
